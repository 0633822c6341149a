"""The PromQL behind each signal, as exact strings (a change here changes every dashboard)."""

from __future__ import annotations

import pytest

from controlplane import promql
from controlplane.catalog import Selector
from controlplane.signals import SIGNAL_UNITS

LOCAL = Selector.local("chat")
K8S = Selector.kubernetes("serving", "llama", model_name="m")
S = '{job="vllm",group="chat"}'


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(60, "60s"), (1, "1s"), (1.5, "1500ms"), (0.25, "250ms"), (300.0, "300s")],
    ids=["minute", "second", "fraction", "quarter", "float-whole"],
)
def test_duration(seconds: float, text: str) -> None:
    assert promql.duration(seconds) == text


def test_duration_rejects_nonpositive() -> None:
    with pytest.raises(ValueError, match="window_s"):
        promql.duration(0)


CASES = [
    ("request_rate", promql.request_rate(LOCAL, 60), f"sum(rate(vllm:request_success_total{S}[60s]))"),
    ("prompt_tokens", promql.prompt_tokens_rate(LOCAL, 30), f"sum(rate(vllm:prompt_tokens_total{S}[30s]))"),
    (
        "gen_tokens",
        promql.generation_tokens_rate(LOCAL, 30),
        f"sum(rate(vllm:generation_tokens_total{S}[30s]))",
    ),
    ("waiting", promql.waiting_requests(LOCAL), f"sum(vllm:num_requests_waiting{S})"),
    ("running", promql.running_requests(LOCAL), f"sum(vllm:num_requests_running{S})"),
    (
        "waiting_by_replica",
        promql.by_replica("vllm:num_requests_waiting", LOCAL),
        f"sum by (replica) (vllm:num_requests_waiting{S})",
    ),
    (
        "kv_by_pod_with_alias",
        promql.by_replica("vllm:kv_cache_usage_perc", K8S, agg="max"),
        '(max by (pod) (vllm:kv_cache_usage_perc{namespace="serving",model_name="m"}))'
        ' or (max by (pod) (vllm:gpu_cache_usage_perc{namespace="serving",model_name="m"}))',
    ),
    (
        "kv_mean_alias",
        promql.kv_cache_usage_mean(LOCAL),
        f"(avg(vllm:kv_cache_usage_perc{S})) or (avg(vllm:gpu_cache_usage_perc{S}))",
    ),
    (
        "kv_max_alias",
        promql.kv_cache_usage_max(LOCAL),
        f"(max(vllm:kv_cache_usage_perc{S})) or (max(vllm:gpu_cache_usage_perc{S}))",
    ),
    (
        "ttft_p95",
        promql.ttft_quantile(0.95, LOCAL, 60),
        f"histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{S}[60s])))",
    ),
    (
        "ttft_p50",
        promql.ttft_quantile(0.5, LOCAL, 60),
        f"histogram_quantile(0.5, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{S}[60s])))",
    ),
    (
        # The alias "or" sits outside histogram_quantile: two bucket layouts never mix.
        "itl_p95_alias",
        promql.itl_quantile(0.95, LOCAL, 60),
        f"(histogram_quantile(0.95, sum by (le) (rate(vllm:inter_token_latency_seconds_bucket{S}[60s]))))"
        f" or (histogram_quantile(0.95, sum by (le) (rate(vllm:time_per_output_token_seconds_bucket{S}[60s]))))",
    ),
    (
        "e2e_p95",
        promql.e2e_quantile(0.95, LOCAL, 60),
        f"histogram_quantile(0.95, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket{S}[60s])))",
    ),
    (
        "error_ratio",
        promql.error_ratio(LOCAL, 60),
        '(sum(rate(vllm:request_success_total{job="vllm",group="chat",finished_reason=~"error|abort"}[60s]))'
        f" or vector(0)) / sum(rate(vllm:request_success_total{S}[60s]))",
    ),
    ("preemptions", promql.preemption_rate(LOCAL, 60), f"sum(rate(vllm:num_preemptions_total{S}[60s]))"),
    (
        "prefix_cache_hit_ratio_with_alias",
        promql.prefix_cache_hit_ratio(LOCAL, 60),
        f"(sum(rate(vllm:prefix_cache_hits_total{S}[60s])) / sum(rate(vllm:prefix_cache_queries_total{S}[60s])))"
        f" or (sum(rate(vllm:gpu_prefix_cache_hits_total{S}[60s]))"
        f" / sum(rate(vllm:gpu_prefix_cache_queries_total{S}[60s])))",
    ),
    (
        "gpu_util_percent_to_ratio",
        promql.gpu_utilization(K8S),
        'avg(DCGM_FI_DEV_GPU_UTIL{namespace="serving",pod=~"llama-[a-z0-9]+-[a-z0-9]+"}) / 100',
    ),
    (
        # 1 MiB = 1,048,576 bytes.
        "gpu_mem_mib_to_bytes",
        promql.gpu_memory_used_bytes(K8S),
        'sum(DCGM_FI_DEV_FB_USED{namespace="serving",pod=~"llama-[a-z0-9]+-[a-z0-9]+"}) * 1048576',
    ),
    ("ready_local", promql.ready_replicas(LOCAL), f"sum(up{S})"),
    (
        "ready_k8s",
        promql.ready_replicas(K8S),
        'sum(kube_deployment_status_replicas_ready{namespace="serving",deployment="llama"})',
    ),
    (
        "newest_counter",
        promql.newest_sample("vllm:request_success_total", LOCAL),
        f"max(timestamp(vllm:request_success_total{S}))",
    ),
    (
        "newest_histogram_uses_count",
        promql.newest_sample("vllm:time_to_first_token_seconds", LOCAL),
        f"max(timestamp(vllm:time_to_first_token_seconds_count{S}))",
    ),
    (
        "newest_alias",
        promql.newest_sample("vllm:kv_cache_usage_perc", LOCAL),
        f"(max(timestamp(vllm:kv_cache_usage_perc{S}))) or (max(timestamp(vllm:gpu_cache_usage_perc{S})))",
    ),
    (
        "newest_ksm",
        promql.newest_sample("kube_deployment_status_replicas_ready", K8S),
        'max(timestamp(kube_deployment_status_replicas_ready{namespace="serving",deployment="llama"}))',
    ),
]


@pytest.mark.parametrize(("got", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_signal_promql(got: str, want: str) -> None:
    assert got == want


def test_signal_queries_cover_every_prometheus_signal() -> None:
    # log_error_rate comes from the log source, not Prometheus.
    queries = promql.signal_queries(LOCAL, 60)
    assert set(queries) == set(SIGNAL_UNITS) - {"log_error_rate"}
    assert queries["ready_replicas"].freshness_family == "up"
    assert (
        promql.signal_queries(K8S, 60)["ready_replicas"].freshness_family
        == "kube_deployment_status_replicas_ready"
    )


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: promql.histogram_quantile("vllm:time_to_first_token_seconds", 1.0, LOCAL, 60), "q"),
        (lambda: promql.histogram_quantile("vllm:num_requests_waiting", 0.5, LOCAL, 60), "name"),
        (lambda: promql.request_rate(LOCAL, -1), "window_s"),
    ],
    ids=["quantile-range", "not-histogram", "window"],
)
def test_bad_arguments_name_the_field(call, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=field):
        call()
