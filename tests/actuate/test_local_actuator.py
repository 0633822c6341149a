"""The local actuator with real emulator processes: start, publish when ready, drain.

Drain order matters to clients: a replica leaves the targets file first, stays up
while routers re-read that file, finishes what it holds, and only then is stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from controlplane.actuate.local import LocalActuator, emulator_command
from controlplane.policy.decision import Decision
from controlplane.policy.model import ScalingPolicy

POLICY = ScalingPolicy.model_validate(
    {"name": "grp", "target": {"kind": "local", "group": "grp", "profile": "cpu-tiny"}, "max_replicas": 3}
)


def _decision(current: int, desired: int, valid: bool = True, shadow: bool = False) -> Decision:
    return Decision(
        target=POLICY.target_key, policy="grp", at=time.time(), valid=valid, current=current, desired=desired,
        binding="test", reasons=(), shadow=shadow,
    )


def _published(actuator: LocalActuator) -> list[str]:
    path = actuator.targets_dir / "grp.json"
    return [t for g in json.loads(path.read_text()) for t in g["targets"]] if path.exists() else []


def _wait_ready(actuator: LocalActuator, n: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while actuator.status(POLICY, time.time()).ready < n:
        assert time.monotonic() < deadline, "replicas not ready in time"
        time.sleep(0.2)


def test_scale_up_publishes_ready_replicas_and_scale_down_drains_in_order(tmp_path: Path) -> None:
    actuator = LocalActuator(tmp_path, command_for=emulator_command(["--startup-s", "0"]), deregister_s=1.5)
    try:
        result = actuator.scale(POLICY, _decision(0, 2), time.time())
        assert result.patched and result.replicas == 2
        # Started but not yet healthy: counted as pending, not published.
        status = actuator.status(POLICY, time.time())
        assert status.spec == 2 and status.ready + status.pending == 2
        _wait_ready(actuator, 2)
        assert len(_published(actuator)) == 2
        newest = max(actuator.replicas("grp"), key=lambda r: r.started_at)
        assert actuator.scale(POLICY, _decision(2, 1), time.time()).patched
        # Out of the routing table at once, but still running while routers catch up.
        assert f"127.0.0.1:{newest.port}" not in _published(actuator)
        assert actuator.status(POLICY, time.time()).spec == 1
        time.sleep(0.5)
        assert newest.proc.poll() is None
        deadline = time.monotonic() + 15
        while newest.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert newest.proc.poll() is not None, "drained replica was not stopped"
        # Equal count: nothing to do; invalid and shadow decisions never act.
        assert not actuator.scale(POLICY, _decision(1, 1), time.time()).patched
        assert not actuator.scale(POLICY, _decision(1, 3, valid=False), time.time()).patched
        assert not actuator.scale(POLICY, _decision(1, 3, shadow=True), time.time()).patched
        assert actuator.status(POLICY, time.time()).spec == 1
    finally:
        actuator.close()
    assert all(r.proc.poll() is not None for r in actuator.replicas("grp")) or not actuator.replicas("grp")
