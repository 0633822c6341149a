"""PromQL for each signal of one serving deployment, built from the catalog's names.

Owns: the query text behind every :class:`controlplane.signals.Signals` field,
the per-replica breakdowns dashboards show, and the freshness query (the
``timestamp()`` of the newest sample) that tells a stale series from a live one.
Must not import: any I/O library (pure string building; the source runs these).

Conventions, so that every consumer reads the same numbers:
- rates and quantiles use one window ``window_s``, rendered as a PromQL duration;
- histogram quantiles sum the per-replica buckets ``by (le)`` before
  ``histogram_quantile``, giving the deployment-wide quantile;
- a family renamed across vLLM versions is read as ``new or old``, with the
  ``or`` outside any aggregation over ``le`` so that two bucket layouts never mix;
- a quantile or ratio over an empty window is NaN in Prometheus; the source
  turns it into a missing reading, never a zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.catalog import Selector, family, names_for

__all__ = [
    "duration",
    "request_rate",
    "prompt_tokens_rate",
    "generation_tokens_rate",
    "waiting_requests",
    "running_requests",
    "by_replica",
    "kv_cache_usage_mean",
    "kv_cache_usage_max",
    "histogram_quantile",
    "ttft_quantile",
    "size_buckets",
    "ttft_p95_fastest_replica",
    "itl_quantile",
    "e2e_quantile",
    "error_ratio",
    "preemption_rate",
    "prefix_cache_hit_ratio",
    "gpu_utilization",
    "gpu_memory_used_bytes",
    "ready_replicas",
    "newest_sample",
    "SignalQuery",
    "signal_queries",
    "ERROR_REASONS",
]

# finished_reason values of vllm:request_success_total that count as failed requests.
ERROR_REASONS = ("error", "abort")

_MIB = 1048576


def duration(seconds: float) -> str:
    """A PromQL range duration: 60 -> ``60s``, 1.5 -> ``1500ms`` (PromQL has no decimals)."""
    if not seconds > 0:
        raise ValueError(f"window_s: must be > 0, got {seconds}")
    ms = round(seconds * 1000)
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def _first_of(exprs: list[str]) -> str:
    """``a or b``: the first name that has series wins (current vLLM name, then older ones)."""
    return " or ".join(exprs) if len(exprs) == 1 else " or ".join(f"({e})" for e in exprs)


def _sum_rate(name: str, sel: Selector, window_s: float, *more: tuple[str, str, str]) -> str:
    return f"sum(rate({name}{sel.render(*more)}[{duration(window_s)}]))"


def request_rate(sel: Selector, window_s: float) -> str:
    """Finished requests per second, every finished_reason (demand served, failed or not)."""
    return _sum_rate("vllm:request_success_total", sel, window_s)


def prompt_tokens_rate(sel: Selector, window_s: float) -> str:
    """Prefill tokens per second."""
    return _sum_rate("vllm:prompt_tokens_total", sel, window_s)


def generation_tokens_rate(sel: Selector, window_s: float) -> str:
    """Generated tokens per second."""
    return _sum_rate("vllm:generation_tokens_total", sel, window_s)


def waiting_requests(sel: Selector) -> str:
    """Requests queued, summed over replicas."""
    return f"sum(vllm:num_requests_waiting{sel.render()})"


def running_requests(sel: Selector) -> str:
    """Requests in the running batch, summed over replicas."""
    return f"sum(vllm:num_requests_running{sel.render()})"


def by_replica(name: str, sel: Selector, agg: str = "sum") -> str:
    """One series per replica of a gauge (old vLLM names as fallback): for dashboards."""
    exprs = [f"{agg} by ({sel.replica_label}) ({n}{sel.render()})" for n in names_for(name)]
    return _first_of(exprs)


def kv_cache_usage_mean(sel: Selector) -> str:
    """Mean KV-cache usage over replicas, ratio 0-1."""
    return _first_of([f"avg({n}{sel.render()})" for n in names_for("vllm:kv_cache_usage_perc")])


def kv_cache_usage_max(sel: Selector) -> str:
    """Fullest replica's KV-cache usage, ratio 0-1 (a hot replica preempts before the mean shows it)."""
    return _first_of([f"max({n}{sel.render()})" for n in names_for("vllm:kv_cache_usage_perc")])


def histogram_quantile(name: str, q: float, sel: Selector, window_s: float, over_replicas: str | None = None) -> str:
    """Deployment-wide ``q`` quantile of a vLLM histogram over the window; with
    ``over_replicas`` (``min``, ``max``), that aggregation of each replica's own quantile."""
    if not 0 < q < 1:
        raise ValueError(f"q: must be in (0, 1), got {q}")
    if family(name).type != "histogram":
        raise ValueError(f"name: {name} is not a histogram")
    w = duration(window_s)
    by = "le" if over_replicas is None else f"{sel.replica_label}, le"
    exprs = [f"histogram_quantile({q:g}, sum by ({by}) (rate({n}_bucket{sel.render()}[{w}])))" for n in names_for(name)]
    if over_replicas is not None:
        exprs = [f"{over_replicas}({e})" for e in exprs]
    return _first_of(exprs)


def size_buckets(name: str, sel: Selector, window_s: float) -> str:
    """Requests/s per ``le`` of one of vLLM's token-count histograms (``vllm:request_prompt_tokens``,
    ``vllm:request_generation_tokens``) over the window, summed over the replicas: one series per
    bucket bound, +Inf included. The size mix model-based sizing replays."""
    if family(name).type != "histogram":
        raise ValueError(f"name: {name} is not a histogram")
    w = duration(window_s)
    return _first_of([f"sum by (le) (rate({n}_bucket{sel.render()}[{w}]))" for n in names_for(name)])


def ttft_quantile(q: float, sel: Selector, window_s: float) -> str:
    return histogram_quantile("vllm:time_to_first_token_seconds", q, sel, window_s)


def ttft_p95_fastest_replica(sel: Selector, window_s: float) -> str:
    """The lowest of the replicas' own TTFT p95s over the window: while one replica is slow and
    another still serves at its usual latency, the slowness is the replica's, not the load's."""
    return histogram_quantile("vllm:time_to_first_token_seconds", 0.95, sel, window_s, over_replicas="min")


def itl_quantile(q: float, sel: Selector, window_s: float) -> str:
    return histogram_quantile("vllm:inter_token_latency_seconds", q, sel, window_s)


def e2e_quantile(q: float, sel: Selector, window_s: float) -> str:
    return histogram_quantile("vllm:e2e_request_latency_seconds", q, sel, window_s)


def error_ratio(sel: Selector, window_s: float) -> str:
    """Share of finished requests that ended in error or abort.

    The numerator falls back to ``vector(0)`` only because the denominator still
    needs series: with no request series at all the ratio is empty (missing), and
    with no traffic in the window it is 0/0 = NaN (missing).
    """
    failed = _sum_rate(
        "vllm:request_success_total", sel, window_s, ("finished_reason", "=~", "|".join(ERROR_REASONS))
    )
    return f"({failed} or vector(0)) / {request_rate(sel, window_s)}"


def preemption_rate(sel: Selector, window_s: float) -> str:
    """Preemptions per second: the KV cache is full enough to evict running requests."""
    return _sum_rate("vllm:num_preemptions_total", sel, window_s)


def prefix_cache_hit_ratio(sel: Selector, window_s: float) -> str:
    """Share of the prompt tokens looked up in the prefix cache that were found there (hits over
    queries, both in tokens). No lookups in the window is 0/0 = NaN (missing); a server started
    without prefix caching counts none, so its ratio stays missing rather than a false 0."""
    hits, queries = names_for("vllm:prefix_cache_hits_total"), names_for("vllm:prefix_cache_queries_total")
    return _first_of([f"{_sum_rate(h, sel, window_s)} / {_sum_rate(q, sel, window_s)}"
                      for h, q in zip(hits, queries, strict=True)])


def gpu_utilization(sel: Selector) -> str:
    """Mean DCGM GPU utilisation of the deployment's GPUs, ratio 0-1 (DCGM reports percent)."""
    return f"avg(DCGM_FI_DEV_GPU_UTIL{sel.render(which='gpu')}) / 100"


def gpu_memory_used_bytes(sel: Selector) -> str:
    """Framebuffer memory used on the deployment's GPUs, bytes (DCGM reports MiB)."""
    return f"sum(DCGM_FI_DEV_FB_USED{sel.render(which='gpu')}) * {_MIB}"


def ready_replicas(sel: Selector) -> str:
    """Replicas ready to serve.

    Kubernetes: kube-state-metrics' ready count of the Deployment. Local: the
    number of scrape targets whose last scrape succeeded, ``sum(up)`` (equal to
    ``count(up == 1)``, but 0 rather than empty when every target is down, so
    that "all down" is a measurement and "no targets" stays missing).
    """
    if sel.deployment is not None:
        return f"sum(kube_deployment_status_replicas_ready{_ksm_matchers(sel)})"
    return f"sum(up{sel.render(which='up')})"


def _ksm_matchers(sel: Selector) -> str:
    """kube-state-metrics names the Deployment in labels ``namespace`` and ``deployment``."""
    ksm = Selector(
        matchers=(("namespace", "=", sel.namespace or ""), ("deployment", "=", sel.deployment or ""))
    )
    return ksm.render()


def newest_sample(name: str, sel: Selector) -> str:
    """Unix time of the newest sample behind a family (histograms: their ``_count``)."""
    f = family(name)
    suffix = "_count" if f.type == "histogram" else ""
    if name.startswith("kube_"):
        matchers = _ksm_matchers(sel)
    else:
        matchers = sel.render(which="gpu" if name.startswith("DCGM_") else "up" if name == "up" else "vllm")
    return _first_of([f"max(timestamp({n}{suffix}{matchers}))" for n in names_for(name)])


@dataclass(frozen=True, slots=True)
class SignalQuery:
    """The PromQL for one signal, and the family whose newest sample dates it."""

    signal: str
    expr: str
    freshness_family: str


def signal_queries(sel: Selector, window_s: float) -> dict[str, SignalQuery]:
    """Every Prometheus-backed signal of :class:`~controlplane.signals.Signals`, by field name."""
    w = window_s
    ready_family = "kube_deployment_status_replicas_ready" if sel.deployment else "up"
    table = [
        ("request_rate", request_rate(sel, w), "vllm:request_success_total"),
        ("prompt_tokens_rate", prompt_tokens_rate(sel, w), "vllm:prompt_tokens_total"),
        ("generation_tokens_rate", generation_tokens_rate(sel, w), "vllm:generation_tokens_total"),
        ("waiting_requests", waiting_requests(sel), "vllm:num_requests_waiting"),
        ("running_requests", running_requests(sel), "vllm:num_requests_running"),
        ("kv_cache_usage_mean", kv_cache_usage_mean(sel), "vllm:kv_cache_usage_perc"),
        ("kv_cache_usage_max", kv_cache_usage_max(sel), "vllm:kv_cache_usage_perc"),
        ("ttft_p50", ttft_quantile(0.5, sel, w), "vllm:time_to_first_token_seconds"),
        ("ttft_p95", ttft_quantile(0.95, sel, w), "vllm:time_to_first_token_seconds"),
        ("ttft_p99", ttft_quantile(0.99, sel, w), "vllm:time_to_first_token_seconds"),
        ("ttft_p95_fastest_replica", ttft_p95_fastest_replica(sel, w), "vllm:time_to_first_token_seconds"),
        ("itl_p95", itl_quantile(0.95, sel, w), "vllm:inter_token_latency_seconds"),
        ("e2e_p95", e2e_quantile(0.95, sel, w), "vllm:e2e_request_latency_seconds"),
        ("error_ratio", error_ratio(sel, w), "vllm:request_success_total"),
        ("preemption_rate", preemption_rate(sel, w), "vllm:num_preemptions_total"),
        ("prefix_cache_hit_ratio", prefix_cache_hit_ratio(sel, w), "vllm:prefix_cache_queries_total"),
        ("gpu_utilization", gpu_utilization(sel), "DCGM_FI_DEV_GPU_UTIL"),
        ("gpu_memory_used_bytes", gpu_memory_used_bytes(sel), "DCGM_FI_DEV_FB_USED"),
        ("ready_replicas", ready_replicas(sel), ready_family),
    ]
    return {name: SignalQuery(name, expr, fam) for name, expr, fam in table}
