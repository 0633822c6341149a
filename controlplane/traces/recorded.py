"""A trace rebuilt from what Prometheus recorded of a target: rates and mean sizes per step.

Owns: :class:`RecordedDemand` (per-step request rate and prompt / output token
rates over a window) and :func:`trace_from_recorded`. Each step of ``step_s``
seconds (the one ending at a recorded point) gets Poisson arrivals at that
point's request rate, spread uniformly
inside it, every request sized at the step's mean prompt and output tokens
(token rate / request rate; the window's mean where a step has none). A step
Prometheus has no rate for is a gap, not zero demand: it gets no requests and
is counted in ``missing_steps``, so the caller can say how much of the window
was blind. Seeded: the same recording gives the same trace.
Must not import: any I/O library (pure core).

What this loses: arrivals inside a step are not the recorded ones (only their
count is kept, in expectation), and the rate counts finished requests, so a
long request is dated by its end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from controlplane.traces.model import Trace

__all__ = ["RecordedDemand", "trace_from_recorded"]


@dataclass(frozen=True)
class RecordedDemand:
    """Per-step readings over ``[start, end]``; each maps a step's time to its value."""

    start: float
    end: float
    step_s: float
    request_rate: dict[float, float]
    prompt_tokens_rate: dict[float, float]
    output_tokens_rate: dict[float, float]

    @property
    def steps(self) -> list[float]:
        n = int(math.floor((self.end - self.start) / self.step_s + 1e-9)) + 1
        return [round(self.start + i * self.step_s, 3) for i in range(n)]


def _mean_size(tokens: float | None, rate: float, fallback: float) -> float:
    if tokens is None or not rate > 0:
        return fallback
    return max(1.0, tokens / rate)


def trace_from_recorded(rec: RecordedDemand, name: str = "recorded", seed: int = 0) -> tuple[Trace, int]:
    """``(trace, missing_steps)``; arrivals count from ``rec.start``."""
    if not (math.isfinite(rec.step_s) and rec.step_s > 0):
        raise ValueError(f"step_s: must be > 0, got {rec.step_s!r}")
    if not rec.end > rec.start:
        raise ValueError("end: must be after start")
    steps = rec.steps
    requests = sum(rec.request_rate.get(t, 0.0) for t in steps[1:])
    prompt_all = sum(rec.prompt_tokens_rate.get(t, 0.0) for t in steps[1:] if t in rec.request_rate)
    output_all = sum(rec.output_tokens_rate.get(t, 0.0) for t in steps[1:] if t in rec.request_rate)
    prompt_fallback = max(1.0, prompt_all / requests) if requests > 0 else 1.0
    output_fallback = max(1.0, output_all / requests) if requests > 0 else 1.0
    rng = np.random.default_rng(seed)
    arrivals: list[np.ndarray] = []
    prompts: list[np.ndarray] = []
    outputs: list[np.ndarray] = []
    missing = 0
    for t in steps[1:]:
        # the step ending at t: a range query's point is the rate over the window ending there
        rate = rec.request_rate.get(t)
        if rate is None:
            missing += 1
            continue
        if not rate > 0:
            continue
        n = int(rng.poisson(rate * rec.step_s))
        if n == 0:
            continue
        lo = t - rec.step_s - rec.start
        arrivals.append(np.sort(rng.uniform(lo, lo + rec.step_s, n)))
        p = _mean_size(rec.prompt_tokens_rate.get(t), rate, prompt_fallback)
        o = _mean_size(rec.output_tokens_rate.get(t), rate, output_fallback)
        prompts.append(np.full(n, round(p), dtype=np.int64))
        outputs.append(np.full(n, round(o), dtype=np.int64))
    if not arrivals:
        empty = np.zeros(0)
        return Trace(name, empty, empty.astype(np.int64), empty.astype(np.int64), start_unix=float(rec.start)), missing
    t_all = np.concatenate(arrivals)
    order = np.argsort(t_all, kind="stable")
    return (
        Trace(name, t_all[order], np.concatenate(prompts)[order], np.concatenate(outputs)[order], start_unix=float(rec.start)),
        missing,
    )
