"""Two controller processes, one Lease, one Deployment on the API server stand-in.

Each process (tests/actuate/leader_proc.py) elects on the Lease and, while
leading, makes the replica count what a shared file says. The test kills the
leader by PID (SIGKILL: no release, the lease must expire) and checks from the
stand-in's request log that the successor's first action is not a repeat of the
old leader's patch. Lease 2 s, renew deadline 1.5 s, retry 0.3 s keep it short.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.kube_standin import KubeStandIn

REPO = Path(__file__).resolve().parents[2]
LEASE = "llm-controlplane-leader"
SCALE = "/deployments/chat/scale"


def wait_for(what: str, pred: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def wall_kube():
    with KubeStandIn() as server:
        yield server


def test_killed_leader_is_replaced_without_a_duplicate_patch(wall_kube, tmp_path):
    kube = wall_kube
    kube.add_deployment("chat", 2)
    desired = tmp_path / "desired"
    desired.write_text("3")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for ident in ("ctl-a", "ctl-b"):
            procs[ident] = subprocess.Popen(
                [
                    sys.executable,
                    str(REPO / "tests/actuate/leader_proc.py"),
                    "--host",
                    kube.url,
                    "--identity",
                    ident,
                    "--desired-file",
                    str(desired),
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )

        def holder() -> str:
            lease = kube.lease(LEASE)
            return lease["spec"].get("holderIdentity", "") if lease else ""

        wait_for("a leader", lambda: holder() in procs)
        wait_for("the first patch", lambda: kube.replicas("chat") == 3)
        first = holder()
        other = next(i for i in procs if i != first)
        scale_patches = kube.requests("PATCH", SCALE)
        assert len(scale_patches) == 1
        assert scale_patches[0].user_agent == f"llm-controlplane/{first}"
        assert scale_patches[0].field_manager == "llm-controlplane"

        procs[first].kill()  # SIGKILL by PID: no chance to release the lease
        procs[first].wait(timeout=10)
        wait_for("the other to take over", lambda: holder() == other)
        spec = kube.lease(LEASE)["spec"]
        assert spec["leaseTransitions"] == 1

        # let the new leader run several ticks with the same desired count
        mark = len(kube.requests())
        wait_for(
            "the new leader to read the scale",
            lambda: (
                sum(
                    1
                    for r in kube.requests()[mark:]
                    if r.path.endswith(SCALE) and r.user_agent == f"llm-controlplane/{other}"
                )
                >= 3
            ),
        )
        assert len(kube.requests("PATCH", SCALE)) == 1, "the new leader adopted 3; it did not patch it again"

        desired.write_text("4")
        wait_for("the new leader's patch", lambda: kube.replicas("chat") == 4)
        scale_patches = kube.requests("PATCH", SCALE)
        assert [(p.user_agent, p.body["spec"]["replicas"]) for p in scale_patches] == [
            (f"llm-controlplane/{first}", 3),
            (f"llm-controlplane/{other}", 4),
        ]

        procs[other].terminate()  # SIGTERM: a clean stop releases the lease
        assert procs[other].wait(timeout=10) == 0
        assert holder() == ""
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stdout is not None:
                print(proc.args[4], proc.stdout.read())  # shown by pytest only when the test fails
                proc.stdout.close()
