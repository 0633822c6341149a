"""The fault matrix's world: one real Prometheus (Debian binary) scraping emulator
replicas labelled as the pods of three Deployments, and a Kubernetes API stand-in
per case.

- ``chat``: emulator 0 as pod chat-7d9f8-e0.
- ``nanchat``: emulator 0 again; the NaN case adds a target whose queue gauge is NaN.
- ``stalechat``: emulator 1 alone; the stale-data case stops it.

Started once for the session (discovery alone takes up to 5 s); every process is
stopped by PID at the end.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.rig import POD_HASH, NaNExporter
from tests.harness.emulator import EmulatorReplica, start_emulators, stop_all
from tests.harness.kube_standin import KubeStandIn
from tests.harness.prometheus import PrometheusServer


@dataclass
class World:
    prometheus: PrometheusServer
    emulators: list[EmulatorReplica]
    nan: NaNExporter


def group(target: str, deployment: str, pod_suffix: str) -> dict:
    return {
        "targets": [target],
        "labels": {"namespace": "default", "pod": f"{deployment}-{POD_HASH}-{pod_suffix}"},
    }


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    if shutil.which("prometheus") is None:
        pytest.skip("needs the Debian prometheus binary")
    tmp = tempfile.TemporaryDirectory(prefix="cp-faults-")
    root = Path(tmp.name)
    emulators = start_emulators(2, root, name_prefix="fault")
    nan = NaNExporter().__enter__()
    (root / "prom").mkdir()
    prom = PrometheusServer(root / "prom", jobs=("vllm",))
    try:
        e0, e1 = (e.target for e in emulators)
        prom.set_target_groups(
            "vllm",
            [
                group(e0, "chat", "e0"),
                group(e0, "nanchat", "e0"),
                group(e1, "stalechat", "e1"),
            ],
        )
        prom.start()
        prom.wait_for_up("vllm", 3, timeout_s=30)
        yield World(prom, emulators, nan)
    finally:
        prom.stop()
        nan.__exit__(None, None, None)
        stop_all(emulators)
        tmp.cleanup()


@pytest.fixture
def kube() -> Iterator[KubeStandIn]:
    """A fresh stand-in (wall clock) holding Deployments chat, nanchat and stalechat at 2 replicas."""
    with KubeStandIn() as server:
        for name in ("chat", "nanchat", "stalechat"):
            server.add_deployment(name, replicas=2)
        yield server
