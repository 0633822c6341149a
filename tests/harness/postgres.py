"""A real PostgreSQL server (Debian's ``postgresql`` package) on 127.0.0.1 for tests.

Fixtures (registered in tests/conftest.py):

``postgres_server``
    One server for the whole session: ``initdb`` into a temp dir, ``postgres``
    on a free port with its socket in that dir, trust authentication for the
    ``controlplane`` superuser on loopback only. Stopped by PID at the end
    (SIGINT, PostgreSQL's fast shutdown; SIGKILL after 15 s).
``postgres_url``
    A fresh, empty database on that server for one test:
    ``postgresql://controlplane@127.0.0.1:PORT/t_N``.
``postgres_own_server``
    A server of the test's own, for tests that kill and restart it.

PostgreSQL refuses to run as root, so as root the server runs as the
``postgres`` user the package creates. Without the binaries the fixtures skip,
except under CI (``CI`` set), where they fail: CI installs the package.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.ports import free_port

__all__ = ["PostgresServer", "postgres_server", "postgres_url", "postgres_own_server", "postgres_bindir"]

USER = "controlplane"


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin dir (``CONTROLPLANE_PG_BINDIR`` overrides)."""
    override = os.environ.get("CONTROLPLANE_PG_BINDIR")
    if override:
        return Path(override)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path else None


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.workdir = Path(tempfile.mkdtemp(prefix="controlplane-pg-"))
        self.datadir = self.workdir / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.workdir, pw.pw_uid, pw.pw_gid)
            self._run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    @property
    def base_url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}"

    def start(self) -> PostgresServer:
        subprocess.run(
            [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", USER, "--auth=trust", "-E", "UTF8",
             "--no-instructions"],
            check=True, capture_output=True, cwd=self.workdir, **self._run_as,
        )  # fmt: skip
        self._spawn("wb")
        return self

    def _spawn(self, log_mode: str) -> None:
        self.log = open(self.workdir / "postgres.log", log_mode)  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
             "-k", str(self.workdir), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.workdir, **self._run_as,
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.read_log()
            try:
                psycopg.connect(f"{self.base_url}/postgres", connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise AssertionError(f"PostgreSQL did not come up in {timeout_s} s:\n{self.read_log()}")

    def read_log(self) -> str:
        path = self.workdir / "postgres.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def create_database(self) -> str:
        import psycopg

        name = f"t_{next(self._names)}"
        with psycopg.connect(f"{self.base_url}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{self.base_url}/{name}"

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash); its backends exit when they notice."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        """Start again on the same data dir and port (after :meth:`kill` or :meth:`stop`)."""
        self.stop(remove=False)
        for stale in self.workdir.glob(".s.PGSQL.*"):
            stale.unlink(missing_ok=True)
        self._spawn("ab")

    def stop(self, remove: bool = True) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if getattr(self, "log", None) is not None:
            self.log.close()
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _started() -> PostgresServer:
    bindir = postgres_bindir()
    if bindir is None or not (bindir / "postgres").exists():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (Debian package postgresql); scripts/test installs it")
        pytest.skip("PostgreSQL is not installed (Debian package postgresql)")
    return PostgresServer(bindir).start()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = _started()
    yield server
    server.stop()


@pytest.fixture
def postgres_own_server() -> Iterator[PostgresServer]:
    server = _started()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()
