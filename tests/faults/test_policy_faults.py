"""Fault matrix (e) and (k): Elasticsearch down, and a malformed policy pushed
through the admin API and as a ScalingPolicy resource.

(e) The log path (LogEnrichedSource over a search client) points at a refused
port: log_error_rate goes missing with the reason, the metrics path decides
alone, so the healthy rig still scales 2 -> 1 when the floor drops.
(k) A policy the model refuses (a cross-field rule) is answered 422 by the API
naming the field, and refused by the custom-resource syncer with the field named
and a Warning Event; the running policy keeps its version and keeps deciding.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from controlplane.actuate.kubeclient import make_api_client
from controlplane.clock import SystemClock
from controlplane.config import ControllerConfig
from controlplane.controller import build_controller
from controlplane.ports import free_port
from controlplane.sources.crd import CrdSyncer
from controlplane.sources.logclients import make_search_client
from controlplane.sources.logs import LogEnrichedSource, LogSource
from tests.faults.rig import metric, policy, ticks_after_floor_drop, wait_for, warm
from tests.harness.kube_standin import SCALING_POLICIES

# Bounded: a case that hangs fails at 90 s instead of holding the suite (all run in CI, none opt-in).
pytestmark = pytest.mark.timeout(90)

LV = {"policy": "chat", "target": "default/chat"}
TOKEN = "fault-matrix-admin-token"


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens here any more: connection refused


def test_e_elasticsearch_down_metrics_scaling_continues(world, kube, tmp_path) -> None:
    from tests.faults.rig import controller

    ctl = controller(kube.url, world.prometheus.url, tmp_path / "cp.db", [policy("chat")])
    search = make_search_client("elasticsearch", _refused_url(), timeout_s=1.0)
    ctl.loop.source = LogEnrichedSource(ctl.loop.source, LogSource(search, "vllm-logs-*"))
    try:
        warm(ctl)
        (d,) = ticks_after_floor_drop(ctl, "chat", n=1)
        assert (d.valid, d.current, d.desired) == (True, 2, 1), (d.binding, d.reasons)
        assert kube.replicas("chat") == 1
        assert metric(ctl, "controlplane_signal_missing", **LV, signal="log_error_rate") == 1
        assert metric(ctl, "controlplane_signal_missing", **LV, signal="waiting_requests") == 0
        assert metric(ctl, "controlplane_scale_events_total", **LV, direction="down") == 1
        record = ctl.loop.log.list(target="default/chat", limit=1)[0]
        assert record.patched
    finally:
        ctl.stop()
        search.close()


@pytest.fixture
def api_controller(world, kube, tmp_path: Path) -> Any:
    """The controller with its admin API on a free port, policies in SQLite seeded with ``chat``."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKEN} admin fault-matrix\n")
    port = free_port()
    cfg = ControllerConfig.model_validate(
        {
            "prometheus": {"url": world.prometheus.url, "timeout_s": 1.0},
            "kubernetes": {"enabled": True, "host": kube.url},
            "loop": {"database": str(tmp_path / "cp.db"), "metrics_port": 0, "tick_s": 1.0},
            "api": {"enabled": True, "host": "127.0.0.1", "port": port, "tokens_file": str(tokens)},
        }
    )
    ctl = build_controller(cfg, policies=[policy("chat")])
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        trust_env=False,
        timeout=10,
    )

    def up() -> bool:
        try:
            return http.get("/v1/policies/chat").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for("the admin API", up, timeout_s=20)
        yield ctl, http
    finally:
        http.close()
        ctl.stop()


# (label, change to the running policy, field the answer must name)
MALFORMED = [
    ("floor above ceiling", {"min_replicas": 7, "max_replicas": 6}, "min_replicas"),
    ("panic window not shorter", {"windows": {"stable_s": 4.0, "panic_s": 4.0}}, "windows.panic_s"),
    ("negative step", {"steps": {"max_up_pods": -1}}, "steps.max_up_pods"),
]


@pytest.mark.parametrize(("label", "change", "field"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_k_malformed_policy_through_the_api_is_refused(api_controller, label, change, field) -> None:
    ctl, http = api_controller
    before = http.get("/v1/policies/chat").json()
    body = {**policy("chat").to_dict(), **change}
    r = http.put("/v1/policies/chat", json=body)
    assert r.status_code == 422
    assert field in [d.get("field") for d in r.json()["detail"]], r.json()
    after = http.get("/v1/policies/chat").json()
    assert after["version"] == before["version"]
    (running,) = ctl.loop.policies.list_policies()
    assert running == policy("chat")
    d = ctl.loop.tick()[0]
    assert d.policy == "chat" and d.bounds == (2, 6), "the old policy still decides"


def test_k_malformed_scaling_policy_resource_is_refused(api_controller, kube) -> None:
    ctl, _ = api_controller
    api = make_api_client(kube.url)
    custom = client.CustomObjectsApi(api)
    syncer = CrdSyncer(api, ctl.loop.policies, SystemClock())
    try:
        doc = policy("crdchat").to_dict()
        spec = {k: v for k, v in doc.items() if k != "name"}
        kube.put_object(
            SCALING_POLICIES,
            "default",
            {
                "apiVersion": "controlplane.io/v1",
                "kind": "ScalingPolicy",
                "metadata": {"name": "crdchat"},
                "spec": spec,
            },
        )
        assert syncer.sync_once().created == ["crdchat"]
        running = ctl.loop.policies.get_policy("crdchat")
        # A change the CRD's schema cannot catch (a cross-field rule): min above max.
        current = custom.get_namespaced_custom_object(
            "controlplane.io", "v1", "default", "scalingpolicies", "crdchat"
        )
        current["spec"]["min_replicas"] = 9
        custom.replace_namespaced_custom_object(
            "controlplane.io", "v1", "default", "scalingpolicies", "crdchat", current
        )
        report = syncer.sync_once()
        assert report.rejected["default/crdchat"].startswith("spec.min_replicas"), report
        assert ctl.loop.policies.get_policy("crdchat") == running, "the running policy is unchanged"
        events = [e for e in kube.events() if e.get("reason") == "InvalidPolicy"]
        assert len(events) == 1 and "spec.min_replicas" in events[0]["message"]
        assert events[0]["involvedObject"]["kind"] == "ScalingPolicy" and events[0]["type"] == "Warning"
        syncer.sync_once()
        assert len([e for e in kube.events() if e.get("reason") == "InvalidPolicy"]) == 1, (
            "once per resourceVersion"
        )
    finally:
        api.close()
