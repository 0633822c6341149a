"""A minimal Debian root made with debootstrap, a checkout copied in, commands run in it by chroot.

The root is what a new user's bare Debian 12 machine holds: ``debootstrap --variant=minbase
--include=git,ca-certificates,python3`` (no pip, no venv module, no compiler). Three things a
chroot lacks and a booted machine has are added, none of them Python: resolv.conf, the host's
locally added CA certificates (a TLS-inspecting proxy in front of the package registries), and a
``policy-rc.d`` that stops package scripts from starting services (a chroot has no init; a booted
machine starts them and scripts/install stops them). /proc, /dev and /dev/pts are mounted for the
run and always unmounted; the tree is deleted only once nothing is mounted under it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = "git,ca-certificates,python3"
ENV_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def ensure_debootstrap() -> str:
    """The debootstrap binary, installed from Debian when missing."""
    found = shutil.which("debootstrap")
    if found is None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=True, env=env)
        found = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    return found


def debootstrap_command(root: Path, mirror: str = DEFAULT_MIRROR) -> list[str]:
    return [
        "nice", "-n", "10", ensure_debootstrap(),
        "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(root), mirror,
    ]


def build_root(root: Path, mirror: str = DEFAULT_MIRROR) -> None:
    subprocess.run(debootstrap_command(root, mirror), check=True, capture_output=True, text=True)
    rc_d = root / "usr" / "sbin" / "policy-rc.d"
    rc_d.write_text("#!/bin/sh\n# a chroot has no init: package scripts start no service\nexit 101\n")
    rc_d.chmod(0o755)
    shutil.copyfile("/etc/resolv.conf", root / "etc" / "resolv.conf")
    local_ca = Path("/usr/local/share/ca-certificates")
    if local_ca.is_dir():
        for cert in sorted(local_ca.glob("*.crt")):
            shutil.copyfile(cert, root / "usr" / "local" / "share" / "ca-certificates" / cert.name)
        subprocess.run(["chroot", str(root), "update-ca-certificates"], check=True, capture_output=True)


def copy_checkout(repo: Path, dest: Path) -> int:
    """The git-tracked files of ``repo`` as they are in the working tree; returns how many."""
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], check=True, capture_output=True).stdout
    count = 0
    for name in listed.decode().split("\0"):
        src = repo / name
        if not name or not (src.exists() or src.is_symlink()):
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
        count += 1
    return count


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve())
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def _processes_in(root: Path) -> list[int]:
    prefix = str(root.resolve())
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                proc_root = os.readlink(entry / "root")
            except OSError:
                continue
            if proc_root == prefix or proc_root.startswith(prefix + "/"):
                pids.append(int(entry.name))
    return pids


@contextmanager
def mounted(root: Path) -> Iterator[None]:
    """/proc, /dev and /dev/pts inside ``root`` for the block; left processes ended, then unmounted."""
    done: list[Path] = []
    try:
        for point, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"]),
                            ("dev/pts", ["--bind", "/dev/pts"]), ("dev/shm", ["--bind", "/dev/shm"])):
            if point == "dev/shm" and not Path("/dev/shm").is_dir():
                continue
            (root / point).mkdir(exist_ok=True)
            subprocess.run(["mount", *args, str(root / point)], check=True)
            done.append(root / point)
        yield
    finally:
        for pid in _processes_in(root):  # only what the commands run in this root started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
        for point in reversed(done):
            if subprocess.run(["umount", str(point)], check=False).returncode != 0:
                subprocess.run(["umount", "--lazy", str(point)], check=False)


def run_in(root: Path, command: str, cwd: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    """``command`` by bash as root inside ``root``, from ``cwd``, with a bare login environment."""
    return subprocess.run(
        ["chroot", str(root), "/usr/bin/env", "-i", "HOME=/root", f"PATH={ENV_PATH}", "LANG=C.UTF-8",
         "/bin/bash", "-c", f"cd {cwd} && {command}"],
        capture_output=True, text=True, timeout=timeout_s,
    )


def remove_root(root: Path) -> None:
    """Delete the tree, refusing while anything is still mounted under it."""
    left = _mounts_under(root)
    if left:
        raise RuntimeError(f"not deleting {root}: still mounted: {left}")
    subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=True)
