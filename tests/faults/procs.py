"""``python3 -m controlplane run`` processes for the fault matrix: settings files,
start, metric scrapes, decision-log reads. Each process is stopped by its PID."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from controlplane.ports import free_port

__all__ = ["ControllerProcess", "start_controller", "decisions"]

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ControllerProcess:
    name: str
    proc: subprocess.Popen[bytes]
    metrics_port: int
    db: Path
    log: Path

    def metric(self, line_prefix: str) -> float | None:
        """The value of the first exposition line starting with ``line_prefix``."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5, trust_env=False).text
        for line in text.splitlines():
            if line.startswith(line_prefix):
                return float(line.rsplit(" ", 1)[1])
        return None

    def healthz(self) -> int:
        return httpx.get(
            f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=5, trust_env=False
        ).status_code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


def start_controller(
    name: str,
    workdir: Path,
    *,
    kube_url: str,
    prometheus_url: str,
    policies: list[dict[str, Any]],
    leader: bool,
) -> ControllerProcess:
    """Write settings and policies under ``workdir`` and start ``controlplane run`` with them."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    db = workdir / f"{name}.db"
    settings: dict[str, Any] = {
        "prometheus": {"url": prometheus_url, "timeout_s": 2.0},
        "kubernetes": {"enabled": True, "host": kube_url},
        # lease 2 s, renew deadline 1.5 s, retry 0.3 s: a take-over within about 2.3 s.
        "leader": {
            "enabled": leader,
            "namespace": "default",
            "identity": name,
            "lease_duration_s": 2.0,
            "renew_deadline_s": 1.5,
            "retry_period_s": 0.3,
        },
        "loop": {"tick_s": 1.0, "database": str(db), "metrics_port": port, "metrics_addr": "127.0.0.1"},
        "api": {"enabled": False},
    }
    (workdir / f"{name}.yaml").write_text(yaml.safe_dump(settings))
    (workdir / "policies.yaml").write_text(yaml.safe_dump_all(policies))
    log = workdir / f"{name}.log"
    cmd = [
        sys.executable, "-m", "controlplane", "run",
        "--config", str(workdir / f"{name}.yaml"), "--policies", str(workdir / "policies.yaml"),
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    return ControllerProcess(name, proc, port, db, log)


def decisions(db: Path) -> list[dict[str, Any]]:
    """Rows of the decision log (id, desired, current, binding, patched), read-only, oldest first."""
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        con.row_factory = sqlite3.Row
        rows = con.execute(
            "SELECT id, current, desired, binding, patched, valid FROM decisions ORDER BY id"
        ).fetchall()
        return [dict(r) for r in rows]
    except sqlite3.OperationalError:
        return []  # the schema is not created yet
    finally:
        con.close()
