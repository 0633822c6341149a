"""The vLLM serving tier's manifests do what the operations guide says they do."""

from __future__ import annotations

import re

import pytest

from tests.deploy.manifests import OVERLAYS, container, documents, find

NS = "llm-serving"


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_gpu_image_and_openai_server_args(overlay: str) -> None:
    dep = find(overlay, "Deployment", "vllm-chat", NS)
    c = container(dep, "vllm")
    assert c["image"].startswith("vllm/vllm-openai:v")
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    args = dict(a.removeprefix("--").split("=", 1) for a in c["args"] if "=" in a)
    assert {"model", "served-model-name", "port"} <= set(args)
    port = next(p for p in c["ports"] if p["name"] == "http")
    assert int(args["port"]) == port["containerPort"] == 8000


def test_probes_sized_for_model_loading(overlay: str) -> None:
    c = container(find(overlay, "Deployment", "vllm-chat", NS), "vllm")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/health", probe
    start = c["startupProbe"]
    # 90 failures x 10 s = 900 s = 15 min of weight loading before liveness may restart it.
    assert start["failureThreshold"] * start["periodSeconds"] >= 600


def test_drain_sleep_then_grace_for_streams(overlay: str) -> None:
    pod = find(overlay, "Deployment", "vllm-chat", NS)["spec"]["template"]["spec"]
    cmd = container({"spec": {"template": {"spec": pod}}}, "vllm")["lifecycle"]["preStop"]["exec"]["command"]
    sleep_s = int(re.search(r"sleep (\d+)", " ".join(cmd)).group(1))  # type: ignore[union-attr]
    # sleep 15 s for endpoints to drop, then at least 2 min for in-flight streams: 180 >= 15 + 120.
    assert sleep_s >= 5
    assert pod["terminationGracePeriodSeconds"] >= sleep_s + 120


def test_service_and_monitors_select_the_pods(overlay: str) -> None:
    dep = find(overlay, "Deployment", "vllm-chat", NS)
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    svc = find(overlay, "Service", "vllm-chat", NS)
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    pm = find(overlay, "PodMonitor", "vllm", NS)
    assert pm["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    port_names = {p["name"] for p in container(dep, "vllm")["ports"]}
    assert {e["port"] for e in pm["spec"]["podMetricsEndpoints"]} <= port_names
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == "8000"


def test_dcgm_exporter_scrape_keeps_workload_labels(overlay: str) -> None:
    """honorLabels: the GPU series keep the serving pod's namespace/pod, which the GPU selectors match."""
    sm = find(overlay, "ServiceMonitor", "dcgm-exporter")
    assert all(e["honorLabels"] is True for e in sm["spec"]["endpoints"])


def test_every_object_names_its_namespace(overlay: str) -> None:
    """No kustomize namespace transformer is used, so every namespaced object says where it goes."""
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
    for d in documents(overlay):
        if d["kind"] not in cluster_scoped:
            assert d["metadata"].get("namespace"), f"{d['kind']} {d['metadata']['name']}"
