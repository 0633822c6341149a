"""The metric catalog: names, aliases and label selectors, checked against real vLLM output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controlplane.catalog import (
    ALL_FAMILIES,
    CONTROLPLANE,
    DCGM,
    VLLM,
    VLLM_ALIASES,
    Selector,
    escape_label_value,
    family,
    names_for,
)
from controlplane.policy.model import KubernetesTarget, LocalTarget

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "vllm-0.32-cpu-metrics.txt"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc"),
        ("vllm:time_per_output_token_seconds", "vllm:inter_token_latency_seconds"),
        ("vllm:gpu_prefix_cache_queries_total", "vllm:prefix_cache_queries_total"),
        ("vllm:gpu_prefix_cache_hits_total", "vllm:prefix_cache_hits_total"),
    ],
    ids=["kv-cache", "itl", "prefix-queries", "prefix-hits"],
)
def test_old_vllm_names_resolve_to_current(old: str, new: str) -> None:
    assert VLLM_ALIASES[old] == new
    assert family(old).name == new
    assert names_for(old) == (new, old)


def test_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="vllm:nope"):
        family("vllm:nope")


def test_dcgm_units_are_as_dcgm_exporter_reports_them() -> None:
    assert DCGM["DCGM_FI_DEV_GPU_UTIL"].unit == "percent 0-100"
    assert DCGM["DCGM_FI_DEV_FB_USED"].unit == "MiB"
    assert DCGM["DCGM_FI_DEV_FB_FREE"].unit == "MiB"
    assert {"gpu", "UUID", "modelName", "Hostname", "pod", "namespace", "container"} <= set(
        DCGM["DCGM_FI_DEV_GPU_UTIL"].labels
    )


def test_own_metrics_carry_policy_labels() -> None:
    for name in (
        "controlplane_desired_replicas",
        "controlplane_current_replicas",
        "controlplane_ready_replicas",
        "controlplane_decision_valid",
        "controlplane_scale_events_total",
        "controlplane_anomaly_score",
        "controlplane_forecast_error_ratio",
    ):
        assert CONTROLPLANE[name].labels[:2] == ("policy", "target"), name
    assert CONTROLPLANE["controlplane_tick_duration_seconds"].type == "histogram"
    assert CONTROLPLANE["controlplane_step_errors_total"].labels == ("step",)


def test_every_counter_is_named_with_total_and_no_name_repeats() -> None:
    for name, f in ALL_FAMILIES.items():
        assert name == f.name
        if f.type == "counter":
            assert name.endswith("_total"), name


def test_series_suffix_only_for_histograms() -> None:
    assert (
        VLLM["vllm:time_to_first_token_seconds"].series("_bucket")
        == "vllm:time_to_first_token_seconds_bucket"
    )
    with pytest.raises(ValueError, match="not a histogram"):
        VLLM["vllm:num_requests_waiting"].series("_bucket")


def _reference_families(text: str) -> dict[str, tuple[str, set[str]]]:
    """name -> (type, label names seen) for every vllm family in an exposition."""
    types: dict[str, str] = {}
    labels: dict[str, set[str]] = {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (vllm:\S+) (\w+)", line)
        if m and not m.group(1).endswith("_created"):
            types[m.group(1)] = m.group(2)
            labels[m.group(1)] = set()
            continue
        m = re.match(r"(vllm:[a-z0-9_]+)\{(.*)\} ", line)
        if m:
            base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
            key = m.group(1) if m.group(1) in types else base
            if key in labels:
                labels[key] |= {kv.split("=")[0] for kv in re.findall(r'(\w+)="', m.group(2))} - {"le"}
    return {n: (types[n], labels[n]) for n in types}


def test_catalog_matches_the_real_vllm_exposition() -> None:
    if not REFERENCE.is_file():
        pytest.skip("../shared/reference is not beside this checkout")
    seen = _reference_families(REFERENCE.read_text())
    assert len(seen) >= 38  # 38 vllm families in vLLM 0.32's CPU build
    for name, (type_, label_names) in seen.items():
        f = VLLM[name]
        assert f.type == type_, name
        if name != "vllm:cache_config_info":  # its labels are the whole config; we list the useful ones
            assert set(f.labels) == label_names, name


# --- Selector -----------------------------------------------------------------


def test_local_selector_uses_the_job_and_group_label() -> None:
    # The local actuator publishes replicas as file_sd targets of job "vllm", labelled group/replica.
    sel = Selector.local("chat")
    assert sel.render() == '{job="vllm",group="chat"}'
    assert (
        sel.render(("finished_reason", "=", "error")) == '{job="vllm",group="chat",finished_reason="error"}'
    )
    assert Selector.local("chat", model_name="tiny").render() == '{job="vllm",group="chat",model_name="tiny"}'
    assert sel.replica_label == "replica"


def test_kubernetes_selector_by_model_name_or_pod_names() -> None:
    by_model = Selector.kubernetes("serving", "llama-8b", model_name="meta/llama")
    assert by_model.render() == '{namespace="serving",model_name="meta/llama"}'
    # DCGM series carry no model_name: the GPUs are found by pod name.
    assert by_model.render(which="gpu") == '{namespace="serving",pod=~"llama-8b-[a-z0-9]+-[a-z0-9]+"}'
    by_pod = Selector.kubernetes("serving", "llama.v2", extra={"tier": "gold"})
    assert by_pod.render() == '{namespace="serving",pod=~"llama\\\\.v2-[a-z0-9]+-[a-z0-9]+",tier="gold"}'
    assert by_pod.replica_label == "pod"


def test_selector_for_policy_targets() -> None:
    k = Selector.for_target(KubernetesTarget(namespace="ns", deployment="d", model_name="m"))
    assert k.render() == '{namespace="ns",model_name="m"}'
    assert (k.namespace, k.deployment) == ("ns", "d")
    assert Selector.for_target(LocalTarget(group="g")).render() == '{job="vllm",group="g"}'


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("plain", "plain"), ('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("a\nb", "a\\nb")],
    ids=["plain", "quote", "backslash", "newline"],
)
def test_label_values_are_escaped(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped


@pytest.mark.parametrize(
    ("matchers", "field"),
    [((("bad-label", "=", "x"),), "selector.label"), ((("ok", "==", "x"),), "selector.op")],
    ids=["label-name", "operator"],
)
def test_bad_matchers_name_the_field(matchers: tuple[tuple[str, str, str], ...], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Selector(matchers=matchers)
