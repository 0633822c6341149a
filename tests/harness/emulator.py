"""Emulated vLLM replicas (``python3 -m controlplane emulator``) as subprocesses for tests.

Fixtures (registered in tests/conftest.py):

``emulator_factory``
    ``start(n=1, profile="cpu-tiny", model_name=None, time_scale=1.0,
    startup_s=0.0, extra_args=())`` starts ``n`` replicas on free 127.0.0.1
    ports, waits until each answers ``GET /health`` with 200, and returns them
    as :class:`EmulatorReplica` objects (``url``, ``target`` = ``host:port``
    for a Prometheus file_sd file, ``metrics()`` for the raw exposition). All
    are stopped at teardown.
``emulator``
    One ready cpu-tiny replica.

Each replica is stopped by its own PID: SIGTERM (the emulator drains for at most
``drain_grace_s`` wall seconds), then SIGKILL after 10 s more.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from controlplane.ports import free_port

__all__ = ["EmulatorReplica", "start_emulators", "stop_all", "emulator_factory", "emulator", "parse_metrics"]



@dataclass
class EmulatorReplica:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def target(self) -> str:
        """``host:port``, as a Prometheus target."""
        return f"127.0.0.1:{self.port}"

    def metrics(self) -> str:
        r = httpx.get(f"{self.url}/metrics", timeout=10, trust_env=False)
        r.raise_for_status()
        return r.text

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM this replica's PID; SIGKILL if it has not exited 10 s after its drain grace."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self._reap()

    def _reap(self) -> None:
        try:
            self.proc.wait(12)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def stop_all(replicas: Sequence[EmulatorReplica]) -> None:
    """SIGTERM every replica first (they drain in parallel), then wait for each."""
    for r in replicas:
        if r.proc.poll() is None:
            r.proc.terminate()
    for r in replicas:
        r._reap()


def parse_metrics(text: str) -> dict[str, float]:
    """Exposition text -> ``{'name{labels}': value}`` (labels as written), for exact comparisons."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
    return out


def _wait_healthy(replica: EmulatorReplica, timeout_s: float, http: httpx.Client) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if replica.proc.poll() is not None:
            raise RuntimeError(
                f"emulator {replica.name} exited with {replica.proc.returncode}: {replica.log_tail()}"
            )
        try:
            if http.get(f"{replica.url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"emulator {replica.name} not healthy within {timeout_s} s: {replica.log_tail()}")


def start_emulators(
    n: int,
    workdir: Path,
    *,
    profile: str = "cpu-tiny",
    model_name: str | None = None,
    time_scale: float = 1.0,
    startup_s: float = 0.0,
    drain_grace_s: float = 2.0,
    name_prefix: str = "emu",
    extra_args: Sequence[str] = (),
    ready_timeout_s: float = 30.0,
) -> list[EmulatorReplica]:
    """Start ``n`` replicas and wait for all to be healthy; stops them again if any fails."""
    replicas: list[EmulatorReplica] = []
    try:
        for i in range(n):
            port = free_port()
            name = f"{name_prefix}-{i}"
            args = [
                sys.executable,
                "-m",
                "controlplane",
                "emulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ]
            args += ["--profile", profile, "--time-scale", f"{time_scale:g}", "--startup-s", f"{startup_s:g}"]
            args += ["--drain-grace-s", f"{drain_grace_s:g}", "--replica-name", name]
            if model_name:
                args += ["--model-name", model_name]
            args += list(extra_args)
            log_path = workdir / f"{name}.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
            replicas.append(EmulatorReplica(name, port, proc, log_path, args))
        with httpx.Client(trust_env=False) as http:
            for r in replicas:
                _wait_healthy(r, ready_timeout_s, http)
    except BaseException:
        stop_all(replicas)
        raise
    return replicas


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., list[EmulatorReplica]]]:
    """``start(n=1, **options)`` -> ready replicas; every replica started is stopped at teardown."""
    started: list[EmulatorReplica] = []
    tmp = tempfile.TemporaryDirectory(prefix="cp-emu-")
    batch = 0

    def start(n: int = 1, **options: object) -> list[EmulatorReplica]:
        nonlocal batch
        batch += 1
        options.setdefault("name_prefix", f"emu{batch}")
        replicas = start_emulators(n, Path(tmp.name), **options)  # type: ignore[arg-type]
        started.extend(replicas)
        return replicas

    try:
        yield start
    finally:
        stop_all(started)
        tmp.cleanup()


@pytest.fixture
def emulator(emulator_factory: Callable[..., list[EmulatorReplica]]) -> EmulatorReplica:
    """One ready cpu-tiny emulator replica."""
    return emulator_factory(1)[0]
