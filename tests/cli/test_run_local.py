"""``controlplane run`` on one machine: local replicas started by the controller
itself, scraped by a real Prometheus, decided on, and stopped with the controller."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from controlplane.local.prometheus import PrometheusServer
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the Debian prometheus binary")


def _targets(path: Path) -> list[str]:
    try:
        return [t for group in json.loads(path.read_text()) for t in group["targets"]]
    except (OSError, ValueError):
        return []


def test_run_starts_min_replicas_decides_and_stops_them(tmp_path: Path) -> None:
    work = tmp_path / "local"
    prom = PrometheusServer(tmp_path / "prom", file_sd_globs=[str(work / "targets" / "*.json")]).start()
    config = {
        "prometheus": {"url": prom.url, "timeout_s": 2.0},
        "loop": {"tick_s": 1.0, "database": str(tmp_path / "cp.db"), "metrics_port": 0},
        "api": {"enabled": False},
        "local": {"enabled": True, "workdir": str(work), "extra_args": ["--startup-s", "1"], "drain_grace_s": 5.0},
    }
    policy = {
        "name": "box",
        "target": {"kind": "local", "group": "box", "profile": "cpu-tiny"},
        "min_replicas": 1,
        "max_replicas": 2,
        "windows": {"stable_s": 5.0, "panic_s": 1.0, "scale_down_stabilization_s": 5.0},
        "max_signal_age_s": 10.0,
    }
    (tmp_path / "controller.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    run_log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "run", "--config", str(tmp_path / "controller.yaml"),
         "--policies", str(tmp_path / "policy.yaml")],
        stdout=subprocess.DEVNULL,
        stderr=run_log,
    )
    targets_file = work / "targets" / "box.json"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _targets(targets_file):
            time.sleep(0.5)
        replicas = _targets(targets_file)
        assert len(replicas) == 1, "the controller did not start min_replicas"
        log = DecisionLog(Database(tmp_path / "cp.db"))
        while time.monotonic() < deadline and not any(r.decision.valid and r.decision.current == 1 for r in log.list(limit=50)):
            time.sleep(0.5)
        first = log.list(limit=200)[-1].decision
        assert (first.current, first.desired, first.binding) == (0, 1, "min_replicas")
        assert any(r.decision.valid and r.decision.current == 1 for r in log.list(limit=50)), "no valid decision on data"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            run_log.close()
            prom.stop()
    assert proc.returncode == 0
    log_text = (tmp_path / "run.log").read_text()
    assert f"loaded {tmp_path / 'controller.yaml'}; decisions in {tmp_path / 'cp.db'}; admin API off;" in log_text
    assert f"1 policy from {tmp_path / 'policy.yaml'}: box" in log_text
    assert "apscheduler" not in log_text, "library INFO lines at the service's INFO level"
    # The controller stopped the replica it started.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{replicas[0]}/health", timeout=1.0)


def test_single_machine_examples_load() -> None:
    from controlplane.config import load_config
    from controlplane.controller import load_policies_file

    repo = Path(__file__).resolve().parents[2]
    config = load_config(repo / "examples" / "single-machine.yaml")
    assert config.local.enabled and config.local.server == "emulator"
    (policy,) = load_policies_file(repo / "examples" / "policy-single-machine.yaml")
    assert policy.target.kind == "local"
