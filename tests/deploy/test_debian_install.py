"""The README's first command, verbatim, on a minimal Debian 12 root (opt-in, as root, ~10 minutes).

``CONTROLPLANE_DEBIAN=1 python3 -m pytest -s tests/deploy/test_debian_install.py``. debootstrap
builds the root under /tmp (``--variant=minbase --include=git,ca-certificates,python3``: no pip,
no venv module), the checkout's git-tracked files are copied in, and the first command of the
README runs in it by chroot: scripts/install, then the demo from the virtual environment. The
demo's summary and chart must exist, a second scripts/install must change nothing, and the
system Python must have gained no package. ``CONTROLPLANE_DEBIAN_DEMO_ARGS`` (e.g.
``--load-seconds 40 --tail-seconds 15``) is appended to a command ending in ``controlplane demo``
for a shorter demo; ``CONTROLPLANE_DEBIAN_MIRROR`` names another Debian mirror. Needs the
Debian mirror and PyPI.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import pytest

from .debian_root import DEFAULT_MIRROR, build_root, copy_checkout, mounted, remove_root, run_in

REPO = Path(__file__).resolve().parents[2]
CHECKOUT = "/root/llm-controlplane"

pytestmark = [
    pytest.mark.debian,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0,
                       reason="debootstrap and chroot need root on Linux"),
]


def readme_first_command() -> str:
    """The first line of the README's first ``bash`` block: the install-and-demo command."""
    match = re.search(r"```bash\n(.+?)\n", (REPO / "README.md").read_text())
    assert match, "README.md has no ```bash block"
    return match.group(1).strip()


def _tree(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(path)): (p.lstat().st_mtime_ns, p.lstat().st_size) for p in path.rglob("*")}


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _no_bars(text: str) -> str:
    """stderr without the load generator's progress-bar lines."""
    return "\n".join(line for line in text.replace("\r", "\n").splitlines() if "req/s]" not in line)


def test_readme_first_command_on_minimal_debian_12() -> None:
    command = readme_first_command()
    assert "scripts/install" in command and "controlplane demo" in command, command
    extra = os.environ.get("CONTROLPLANE_DEBIAN_DEMO_ARGS", "").strip()
    if extra and command.endswith("controlplane demo"):
        command = f"{command} {extra}"
    root = Path(tempfile.mkdtemp(prefix="controlplane-debian12-", dir="/tmp"))
    try:
        started = time.monotonic()
        build_root(root, os.environ.get("CONTROLPLANE_DEBIAN_MIRROR", DEFAULT_MIRROR))
        built_s = time.monotonic() - started
        checkout = root / CHECKOUT.lstrip("/")
        copied = copy_checkout(REPO, checkout)
        with mounted(root):
            started = time.monotonic()
            first = run_in(root, command, CHECKOUT, timeout_s=3000)
            first_s = time.monotonic() - started
            print(f"\nroot built in {built_s:.0f} s; {copied} files copied; `{command}`: rc {first.returncode}"
                  f" in {first_s:.0f} s\nstdout:\n{_tail(first.stdout, 30)}\nstderr:\n{_tail(_no_bars(first.stderr), 10)}")
            assert first.returncode == 0, _tail(first.stdout) + "\n" + _tail(_no_bars(first.stderr))

            venv_before = _tree(checkout / ".venv")
            started = time.monotonic()
            again = run_in(root, "bash scripts/install", CHECKOUT, timeout_s=600)
            print(f"second `bash scripts/install`: rc {again.returncode} in {time.monotonic() - started:.1f} s:"
                  f" {again.stdout.strip()}")
            system = run_in(
                root,
                "python3 -c 'import importlib.util as u, sys;"
                " sys.exit(\" \".join(m for m in (\"pip\", \"fastapi\", \"numpy\") if u.find_spec(m)) or None)'",
                "/", timeout_s=60,
            )
        assert again.returncode == 0, again.stderr
        assert "pip skipped" in again.stdout
        assert _tree(checkout / ".venv") == venv_before, "a second scripts/install changed the environment"
        assert system.returncode == 0, f"the system Python gained packages: {system.stderr.strip()}"

        out = first.stdout
        for label in ("requests (ok / errors)", "TTFT p50 / p95 (s)", "decisions (invalid)", "chart: demo-out/demo.png"):
            assert label in out, f"{label!r} missing from the demo's output:\n{_tail(out)}"
        demo_out = checkout / "demo-out"
        summary = json.loads((demo_out / "summary.json").read_text())
        assert summary["requests"] > 0 and summary["decisions"] > 0, summary
        assert (demo_out / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        remove_root(root)
