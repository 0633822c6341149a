"""Crash safety: SIGKILL the API server (uvicorn subprocess) in the middle of a burst of writes,
restart it on the same store, and find every acknowledged write and no partial one.

Real components: the ``controlplane api serve`` process (uvicorn) on 127.0.0.1, stopped by its
PID, over a SQLite file and over a real PostgreSQL server (``tests/harness/postgres.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.ports import free_port
from controlplane.store import Database
from tests.api.conftest import STATIC, bearer
from tests.conftest import REPO

WRITERS = 4
KILL_AFTER_ACKS = 120  # acknowledged writes before the kill; the writers keep sending until it lands


class ApiProcess:
    def __init__(self, db: str, tokens: Path) -> None:
        self.db, self.tokens = db, tokens
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ApiProcess:
        cmd = [
            sys.executable,
            "-m",
            "controlplane",
            "api",
            "serve",
            "--db",
            str(self.db),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--tokens-file",
            str(self.tokens),
            "--rate-per-s",
            "100000",
            "--rate-burst",
            "100000",
        ]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.proc.stderr.read() if self.proc.stderr else b"").decode()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the API server did not come up in 30 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path, secrets_dir: Path) -> Iterator[ApiProcess]:
    store = str(tmp_path / "api.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    p = ApiProcess(store, secrets_dir / "tokens")
    yield p
    p.stop()


def _writer(
    url: str, worker: int, acked: list[tuple[str, Any]], lock: threading.Lock, stop: threading.Event
) -> None:
    """Create a policy, then update it again and again; every 5th step also sets an override."""
    headers = bearer(STATIC["admin"])
    name = f"w{worker}"
    body = {
        "name": name,
        "target": {"kind": "kubernetes", "namespace": "ml", "deployment": name},
        "max_replicas": 1,
    }
    with httpx.Client(base_url=url, headers=headers, timeout=5) as c:
        step = 0
        while not stop.is_set():
            step += 1
            body["max_replicas"] = step
            try:
                if step == 1:
                    r = c.post("/v1/policies", json=body)
                elif step % 5 == 0:
                    target = f"ml/{name}-{step}"
                    r = c.post(
                        "/v1/overrides",
                        json={"target": target, "kind": "pause", "ttl_s": 3600, "reason": "x"},
                    )
                else:
                    r = c.put(f"/v1/policies/{name}", json=body)
            except httpx.TransportError:
                return  # the server is gone: this request was never acknowledged
            if r.is_success:
                with lock:
                    acked.append(("override", r.json()) if step % 5 == 0 else ("policy", r.json()))


def test_sigkill_mid_burst_loses_no_acknowledged_write_and_leaves_nothing_partial(server: ApiProcess) -> None:
    server.start()
    acked: list[tuple[str, Any]] = []
    lock, stop = threading.Lock(), threading.Event()
    threads = [
        threading.Thread(target=_writer, args=(server.url, w, acked, lock, stop)) for w in range(WRITERS)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < KILL_AFTER_ACKS and time.monotonic() < deadline:
        time.sleep(0.005)
    server.kill()
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert len(acked) >= KILL_AFTER_ACKS

    server.start()
    headers = bearer(STATIC["viewer"])
    with httpx.Client(base_url=server.url, headers=headers, timeout=5) as c:
        for kind, body in acked:
            if kind == "policy":
                v = c.get(f"/v1/policies/{body['name']}/versions/{body['version']}")
                assert (
                    v.status_code == 200
                    and v.json()["policy"]["max_replicas"] == body["policy"]["max_replicas"]
                )
            else:
                listed = c.get("/v1/overrides", params={"target": body["target"]}).json()
                assert [o["id"] for o in listed] == [body["id"]]
    server.stop()

    db = Database(server.db)
    try:
        one = lambda sql: db.query_one(sql)[0]  # noqa: E731
        if db.dialect == "sqlite":
            assert one("PRAGMA integrity_check") == "ok"
        assert (
            one(
                "SELECT COUNT(*) FROM policy_versions v LEFT JOIN policies p ON p.name = v.name"
                " WHERE p.name IS NULL"
            )
            == 0
        )
        assert (
            one(
                "SELECT COUNT(*) FROM policies p LEFT JOIN policy_versions v"
                " ON v.name = p.name AND v.version = p.current_version WHERE v.name IS NULL"
            )
            == 0
        )
        # one audit row per version written and per override created, no more and no fewer
        assert one("SELECT COUNT(*) FROM policy_versions") == one(
            "SELECT COUNT(*) FROM audit WHERE kind = 'policy' AND action IN ('create', 'update')"
        )
        assert one("SELECT COUNT(*) FROM overrides") == one(
            "SELECT COUNT(*) FROM audit WHERE kind = 'override' AND action = 'create'"
        )
        assert one("SELECT COUNT(*) FROM policy_versions") >= sum(1 for k, _ in acked if k == "policy")
    finally:
        db.close()
