"""PrometheusSource end to end: the real ``prometheus`` binary scraping two emulator replicas.

Starts 2 cpu-tiny emulator replicas and Prometheus (1 s scrape) on 127.0.0.1,
replays 40 requests through the load generator, then reads Signals through
PrometheusSource and checks them against the emulators' own /metrics:
request count exact, quantiles inside the histogram bucket that holds them,
queue gauges idle after the load, ready replicas 2, no GPU series (no DCGM here).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable

import numpy as np
import pytest
from harness.emulator import EmulatorReplica
from harness.prometheus import PrometheusServer

from controlplane.catalog import Selector
from controlplane.loadgen import run_load
from controlplane.policy.model import LocalTarget, ScalingPolicy
from controlplane.sources.prometheus import PrometheusSource
from controlplane.traces.model import Trace

N = 40
POLICY = ScalingPolicy(name="chat", target=LocalTarget(group="chat"))
SEL = Selector.for_target(POLICY.target).render()


def _sum_samples(texts: list[str], name: str, **labels: str) -> dict[str, float]:
    """Sum a family's samples over replicas, keyed by ``le`` (or "" when there is none)."""
    out: dict[str, float] = {}
    for text in texts:
        for line in text.splitlines():
            if not line.startswith(name + "{"):
                continue
            head, _, value = line.rpartition(" ")
            found = dict(re.findall(r'(\w+)="([^"]*)"', head))
            if any(found.get(k) != v for k, v in labels.items()):
                continue
            key = found.get("le", "")
            out[key] = out.get(key, 0.0) + float(value)
    return out


def _bucket_of(cumulative: dict[str, float], q: float) -> tuple[float, float]:
    """(lower, upper) bounds of the bucket where the q-quantile falls, from cumulative counts."""
    bounds = sorted(cumulative.items(), key=lambda kv: float(kv[0]))
    total = bounds[-1][1]
    lower = 0.0
    for le, count in bounds:
        if count >= q * total:
            return lower, float(le)
        lower = float(le)
    return lower, math.inf


def test_signals_from_real_prometheus_agree_with_the_emulators(
    emulator_factory: Callable[..., list[EmulatorReplica]],
    prometheus_factory: Callable[..., PrometheusServer],
) -> None:
    replicas = emulator_factory(2, name_prefix="chat")
    prom = prometheus_factory(jobs=["vllm"])
    # One group per replica, labelled as the local actuator labels them.
    prom.set_target_groups(
        "vllm", [{"targets": [r.target], "labels": {"group": "chat", "replica": r.name}} for r in replicas]
    )
    prom.wait_for_up("vllm", 2, timeout_s=30)

    # 40 requests over about 4 s, 2 requests in flight per replica at most now and then.
    trace = Trace(
        "it",
        np.arange(N, dtype=float) * 0.1,
        np.full(N, 48, dtype=np.int64),
        np.full(N, 16, dtype=np.int64),
    )
    summary = run_load(trace, [r.target for r in replicas], max_seconds=40)
    assert summary["ok"] == N, summary

    own = [r.metrics() for r in replicas]
    served = sum(_sum_samples(own, "vllm:request_success_total").values())
    assert served == N
    # Prometheus has scraped the final counters once its sum equals the emulators' own count.
    prom.wait_for(
        lambda: prom.value(f"sum(vllm:request_success_total{SEL})") == served,
        timeout_s=15,
        what=f"Prometheus to see all {N} requests",
    )

    source = PrometheusSource(prom.url, timeout_s=5)
    assert source.check().ok
    now = time.time()
    signals = source.collect(POLICY, now)

    # The raw counter through the source: exact.
    exact = source.query_value(f"sum(vllm:request_success_total{SEL})", now)
    assert exact.value == N
    # rate() over the 60 s window extrapolates a little past the samples: 40 requests
    # read as 40 to 50 (a 1 s scrape adds at most about one interval at each end).
    assert signals.request_rate.value is not None
    assert N <= signals.request_rate.value * 60 <= N * 1.25
    # 48 prompt and 16 output tokens per request.
    assert signals.prompt_tokens_rate.value is not None and signals.generation_tokens_rate.value is not None
    ratio = signals.prompt_tokens_rate.value / signals.generation_tokens_rate.value
    assert ratio == pytest.approx(48 / 16, rel=0.02)

    for signal, family, q in [
        ("ttft_p50", "vllm:time_to_first_token_seconds_bucket", 0.5),
        ("ttft_p95", "vllm:time_to_first_token_seconds_bucket", 0.95),
        ("ttft_p99", "vllm:time_to_first_token_seconds_bucket", 0.99),
        ("itl_p95", "vllm:inter_token_latency_seconds_bucket", 0.95),
        ("e2e_p95", "vllm:e2e_request_latency_seconds_bucket", 0.95),
    ]:
        lower, upper = _bucket_of(_sum_samples(own, family), q)
        reading = getattr(signals, signal)
        assert reading.value is not None, (signal, reading.reason)
        assert lower <= reading.value <= upper, (signal, reading.value, lower, upper)

    # The token-count histograms, summed by le: 48-token prompts, all in the (20, 50] bucket,
    # 16-token outputs in (10, 20].
    for field, below, upto in (("prompt_size_buckets", 20.0, 50.0), ("output_size_buckets", 10.0, 20.0)):
        sizes = dict(getattr(signals, field))
        assert math.inf in sizes and list(sizes) == sorted(sizes), field
        assert sizes[below] == 0 and sizes[upto] == pytest.approx(sizes[math.inf]) == pytest.approx(
            signals.request_rate.value), field

    # The fastest replica's own p95 lies in the bucket of the replica whose p95 is lowest.
    per_replica = [_bucket_of(_sum_samples([m], "vllm:time_to_first_token_seconds_bucket"), 0.95) for m in own]
    fastest = signals.ttft_p95_fastest_replica.value
    assert fastest is not None, signals.ttft_p95_fastest_replica.reason
    assert min(lo for lo, _ in per_replica) <= fastest <= min(hi for _, hi in per_replica)

    # Idle after the load; ready replicas from up{}; no errors; KV usage a ratio.
    assert signals.waiting_requests.value == 0 and signals.running_requests.value == 0
    assert signals.ready_replicas.value == 2
    assert signals.error_ratio.value == 0
    assert signals.preemption_rate.value is not None and signals.preemption_rate.value >= 0
    for kv in (signals.kv_cache_usage_mean, signals.kv_cache_usage_max):
        assert kv.value is not None and 0 <= kv.value <= 1
    # No DCGM exporter scrapes these replicas: GPU signals are missing, not zero.
    assert signals.gpu_utilization.value is None
    assert signals.gpu_utilization.reason is not None and signals.gpu_utilization.reason.startswith(
        "no series"
    )
    # Every reading is dated by the newest sample, within a few scrapes of now.
    assert signals.request_rate.at is not None and now - signals.request_rate.at < 5
