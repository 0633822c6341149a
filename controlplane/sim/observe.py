"""What Prometheus would show the control loop about a simulated deployment.

Owns: the vLLM histogram buckets, the per-scrape samples of counters, histograms
and gauges, and :class:`PromView`, which turns them into the
:class:`~controlplane.signals.Signals` the live Prometheus source builds with the
queries of :mod:`controlplane.promql` (same window, same quantile maths).
Must not import: any I/O library.

Timing: every replica is scraped on one grid of ``scrape_interval_s``; a query at
``now`` sees the newest scrape at or before ``now - eval_delay_s``. Rates and
histogram quantiles use the samples inside ``[t - window, t]`` of that scrape,
as ``rate()`` does (increase over the span between first and last sample); with
fewer than two samples, or no requests in the window, the reading is missing,
exactly as Prometheus returns no value or NaN there.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass

from controlplane.catalog import E2E_BUCKETS, ITL_BUCKETS, TTFT_BUCKETS
from controlplane.signals import Reading, Signals

__all__ = [
    "TTFT_BUCKETS",
    "ITL_BUCKETS",
    "E2E_BUCKETS",
    "ScrapeConfig",
    "Histogram",
    "Scrape",
    "PromView",
    "histogram_quantile",
]



@dataclass(frozen=True)
class ScrapeConfig:
    """How the simulated monitoring sees the replicas.

    ``scrape_interval_s`` 15: a common Prometheus scrape interval for vLLM pods.
    ``window_s`` None: use the policy's stable window, as the live source does.
    ``eval_delay_s`` 0: extra delay of rule evaluation/query beyond the scrape grid.
    """

    scrape_interval_s: float = 15.0
    window_s: float | None = None
    eval_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.scrape_interval_s > 0:
            raise ValueError("scrape_interval_s: must be > 0")
        if self.window_s is not None and not self.window_s > 0:
            raise ValueError("window_s: must be > 0")
        if self.eval_delay_s < 0:
            raise ValueError("eval_delay_s: must be >= 0")


class Histogram:
    """Cumulative-free bucket counts; ``counts[i]`` is observations in bucket i (last: +Inf)."""

    __slots__ = ("bounds", "counts")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)

    def observe(self, value: float, weight: int = 1) -> None:
        self.counts[bisect_left(self.bounds, value)] += weight


def histogram_quantile(q: float, bounds: tuple[float, ...], counts: list[int]) -> float:
    """Prometheus' ``histogram_quantile`` over per-bucket counts: linear within the
    bucket holding rank q*total; in the +Inf bucket, the largest finite bound; NaN if empty."""
    total = sum(counts)
    if total <= 0:
        return math.nan
    rank = q * total
    cum = 0
    for i, c in enumerate(counts):
        if cum + c >= rank and c > 0:
            if i == len(bounds):
                return bounds[-1]
            lower = bounds[i - 1] if i > 0 else 0.0
            return lower + (bounds[i] - lower) * (rank - cum) / c
        cum += c
    return bounds[-1]


@dataclass(frozen=True, slots=True)
class Scrape:
    """One scrape of every ready replica at ``t`` (simulated seconds)."""

    t: float
    finished: int
    errors: int
    prompt_tokens: int
    generation_tokens: int
    preemptions: int
    ttft: tuple[int, ...]
    itl: tuple[int, ...]
    e2e: tuple[int, ...]
    waiting: float
    running: float
    kv_mean: float | None
    kv_max: float | None
    gpu_util: float | None
    ready: int
    prefix_queried: int = 0  # prompt tokens looked up in prefix caches, cumulative
    prefix_hits: int = 0  # of those, found cached
    prompt: tuple[int, ...] = ()  # finished requests per prompt-size bucket (last: +Inf), cumulative over time
    output: tuple[int, ...] = ()  # the same per output-size bucket
    token_bounds: tuple[float, ...] = ()  # the finite bucket bounds of both, tokens (vLLM's 1-2-5 series)


class PromView:
    """Keeps the scrapes a window needs and answers ``signals(now)`` like the live source."""

    def __init__(self, config: ScrapeConfig, window_s: float, epoch: float, target: str) -> None:
        self.config = config
        self.window_s = window_s
        self.epoch = epoch
        self.target = target
        keep = int(math.ceil((window_s + config.eval_delay_s) / config.scrape_interval_s)) + 3
        self._scrapes: deque[Scrape] = deque(maxlen=keep)

    def record(self, scrape: Scrape) -> None:
        self._scrapes.append(scrape)

    def _visible(self, t: float) -> list[Scrape]:
        cutoff = t - self.config.eval_delay_s + 1e-9
        return [s for s in self._scrapes if s.t <= cutoff]

    def signals(self, t: float) -> Signals:
        """Signals at simulated time ``t`` (``collected_at`` and ``at`` are epoch + t)."""
        now = self.epoch + t
        seen = self._visible(t)
        if not seen:
            return Signals(target=self.target, collected_at=now)
        last = seen[-1]
        at = self.epoch + last.t
        in_window = [s for s in seen if s.t >= last.t - self.window_s - 1e-9]
        first = in_window[0]
        span = last.t - first.t
        r: dict[str, Reading] = {
            "waiting_requests": Reading.of(last.waiting, at),
            "running_requests": Reading.of(last.running, at),
            "ready_replicas": Reading.of(last.ready, at),
            "gpu_memory_used_bytes": Reading.missing("not simulated", at),
            "log_error_rate": Reading.missing("not simulated", at),
        }
        r["kv_cache_usage_mean"] = _gauge(last.kv_mean, at)
        r["kv_cache_usage_max"] = _gauge(last.kv_max, at)
        r["gpu_utilization"] = _gauge(last.gpu_util, at)
        if span <= 0:
            why = "fewer than two scrapes in the rate window"
            for name in ("request_rate", "prompt_tokens_rate", "generation_tokens_rate", "preemption_rate",
                         "error_ratio", "ttft_p50", "ttft_p95", "ttft_p99", "itl_p95", "e2e_p95",
                         "prefix_cache_hit_ratio"):
                r[name] = Reading.missing(why, at)
            return Signals(target=self.target, collected_at=now).with_readings(**r)
        done = last.finished - first.finished
        r["request_rate"] = Reading.of(done / span, at)
        r["prompt_tokens_rate"] = Reading.of((last.prompt_tokens - first.prompt_tokens) / span, at)
        r["generation_tokens_rate"] = Reading.of((last.generation_tokens - first.generation_tokens) / span, at)
        r["preemption_rate"] = Reading.of((last.preemptions - first.preemptions) / span, at)
        r["error_ratio"] = (
            Reading.of((last.errors - first.errors) / done, at) if done else Reading.missing("0/0: no requests", at)
        )
        queried = last.prefix_queried - first.prefix_queried
        r["prefix_cache_hit_ratio"] = (
            Reading.of((last.prefix_hits - first.prefix_hits) / queried, at) if queried
            else Reading.missing("0/0: no prefix-cache lookups", at)
        )
        ttft = [a - b for a, b in zip(last.ttft, first.ttft, strict=True)]
        for name, q in (("ttft_p50", 0.5), ("ttft_p95", 0.95), ("ttft_p99", 0.99)):
            r[name] = Reading.of(histogram_quantile(q, TTFT_BUCKETS, ttft), at)
        itl = [a - b for a, b in zip(last.itl, first.itl, strict=True)]
        r["itl_p95"] = Reading.of(histogram_quantile(0.95, ITL_BUCKETS, itl), at)
        e2e = [a - b for a, b in zip(last.e2e, first.e2e, strict=True)]
        r["e2e_p95"] = Reading.of(histogram_quantile(0.95, E2E_BUCKETS, e2e), at)
        return Signals(
            target=self.target, collected_at=now,
            prompt_size_buckets=_size_buckets(first.prompt, last.prompt, last.token_bounds, span),
            output_size_buckets=_size_buckets(first.output, last.output, last.token_bounds, span),
        ).with_readings(**r)


def _size_buckets(first: tuple[int, ...], last: tuple[int, ...], bounds: tuple[float, ...],
                  span: float) -> tuple[tuple[float, float], ...]:
    """``sum by (le) (rate(..._bucket[w]))`` of a token-count histogram: cumulative requests/s
    per bound, +Inf last; empty when the scrapes carry no such histogram."""
    if not last or len(last) != len(first):
        return ()
    out: list[tuple[float, float]] = []
    cum = 0
    for i, (a, b) in enumerate(zip(last, first, strict=True)):
        cum += a - b
        out.append((bounds[i] if i < len(bounds) else math.inf, cum / span))
    return tuple(out)


def _gauge(value: float | None, at: float) -> Reading:
    if value is None:
        return Reading.missing("no ready replica reports it", at)
    return Reading.of(value, at)
