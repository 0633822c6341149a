"""Seeded synthetic LLM workloads: bursty arrivals on a daily shape, lognormal token sizes.

Owns: :class:`SyntheticSpec` (every parameter, with its unit and source), the
shipped presets, and :func:`synthetic_trace`, a pure function of (spec, seed).
Must not import: any I/O library, nor read the clock.

How a trace is made:

1. Rate. ``lambda(t) = mean_rate_rps * (1 + diurnal_amplitude * cos(2 pi (t +
   start_s - peak_s) / period_s)) * noise(t)``. ``noise`` is a lognormal factor
   with mean 1 and log-sd ``noise_sigma``, drawn once per ``noise_step_s``
   window: minute-scale swings on top of the daily cycle.
2. Arrivals. A gamma renewal process in "operational time" (the cumulative
   rate), mapped back to wall time: inter-arrival gaps have mean 1/lambda and
   coefficient of variation ``burst_cv``. ``burst_cv`` 1 is Poisson; above 1,
   requests bunch into bursts separated by lulls. BurstGPT (Wang et al. 2024,
   arXiv:2401.17644; 10.31 M requests of Azure OpenAI GPT services) found
   arrivals fitted by Gamma distributions and far burstier than Poisson.
3. Sizes. Prompt and output tokens are independent lognormals given by their
   median and log-sd, rounded and clipped to ``[1, *_max]``.

Figures behind the presets, measured on ../shared/data/traces/azure_llm_2023_code.csv
(Azure LLM inference trace 2023, Microsoft Azure Public Dataset, CC-BY-4.0):
8,819 requests in 57 min; prompt tokens p50 1,469 / p90 5,188, output tokens
p50 13 / p90 55 (log-sd from p50 and p90: ln(5188/1469)/1.2816 = 0.98 and
ln(55/13)/1.2816 = 1.13); log-correlation of prompt and output -0.005 (hence
independent draws); per-minute arrivals 0 to 632 (cv 1.03); per-second
arrivals cv 2.27, peak 67 in one second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from controlplane.traces.model import Trace

__all__ = ["SyntheticSpec", "PRESETS", "synthetic_trace", "get_preset"]

_DAY_S = 86_400.0


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of a synthetic workload. Times in seconds, rates in requests/s."""

    name: str = "synthetic"
    duration_s: float = 3600.0
    """Length of the trace."""
    mean_rate_rps: float = 2.5
    """Average arrival rate before modulation; the code trace averages 8,819 / 3,436 s = 2.57/s."""
    diurnal_amplitude: float = 0.5
    """Relative swing of the daily cycle, 0-1: 0.5 makes the peak 3x the trough ((1+0.5)/(1-0.5))."""
    period_s: float = _DAY_S
    """Period of the cycle; a day. Shorter periods compress a day for demos."""
    peak_s: float = 14 * 3600.0
    """Time of day (s after midnight) of the peak; 14:00, a working-hours service."""
    start_s: float = 0.0
    """Time of day at which the trace starts (s after midnight)."""
    noise_sigma: float = 0.3
    """Log-sd of the per-window rate factor; 0.3 gives +-35% swings at 1 sd."""
    noise_step_s: float = 60.0
    """Window of one noise draw: the rate changes minute by minute."""
    burst_cv: float = 2.0
    """Coefficient of variation of the inter-arrival gaps (1 = Poisson, >1 bursty)."""
    prompt_median: float = 1469.0
    """Median prompt tokens; 1,469 in the Azure 2023 code trace."""
    prompt_sigma: float = 0.98
    """Log-sd of prompt tokens; 0.98 from the code trace's p50 and p90."""
    prompt_max: int = 8192
    """Largest prompt; the code trace's p99 is 7,436."""
    output_median: float = 13.0
    """Median output tokens; 13 in the Azure 2023 code trace."""
    output_sigma: float = 1.13
    """Log-sd of output tokens; 1.13 from the code trace's p50 and p90."""
    output_max: int = 2048
    """Largest output."""

    def __post_init__(self) -> None:
        positive = (
            "duration_s",
            "mean_rate_rps",
            "period_s",
            "noise_step_s",
            "burst_cv",
            "prompt_median",
            "output_median",
        )
        for name in positive:
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name}: must be a finite number > 0, got {v!r}")
        for name in ("noise_sigma", "prompt_sigma", "output_sigma", "start_s", "peak_s"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: must be a finite number >= 0, got {v!r}")
        if not 0 <= self.diurnal_amplitude < 1:
            raise ValueError(f"diurnal_amplitude: must be in [0, 1), got {self.diurnal_amplitude!r}")
        for name in ("prompt_max", "output_max"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: must be >= 1")

    def with_overrides(self, **changes: Any) -> SyntheticSpec:
        """A copy with some fields changed; unknown names are errors naming the field."""
        known = {f.name for f in fields(self)}
        for key in changes:
            if key not in known:
                raise ValueError(f"{key}: not a synthetic workload parameter")
        return replace(self, **changes)

    def rate_at(self, t: np.ndarray) -> np.ndarray:
        """The daily shape without noise, requests/s, at trace times ``t``."""
        phase = 2 * np.pi * (np.asarray(t, dtype=float) + self.start_s - self.peak_s) / self.period_s
        return self.mean_rate_rps * (1 + self.diurnal_amplitude * np.cos(phase))


PRESETS: dict[str, SyntheticSpec] = {
    # Token sizes and average rate of the Azure 2023 code trace (see the module docstring).
    # The hour starts at 08:00, on the morning ramp, where the daily shape is at its mean.
    "azure-code": SyntheticSpec(name="azure-code", start_s=8 * 3600.0),
    # Sized for the cpu-tiny emulator profile (max_model_len 512): short prompts and
    # outputs, a 10-minute "day" so that a short run shows a peak and a trough.
    "cpu-tiny": SyntheticSpec(
        name="cpu-tiny",
        duration_s=600.0,
        mean_rate_rps=4.0,
        period_s=600.0,
        peak_s=300.0,
        prompt_median=96.0,
        prompt_sigma=0.6,
        prompt_max=384,
        output_median=32.0,
        output_sigma=0.6,
        output_max=128,
    ),
}


def get_preset(name: str) -> SyntheticSpec:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"preset: {name!r} is not one of {', '.join(sorted(PRESETS))}") from None


def _rate_grid(spec: SyntheticSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative intensity on a grid fine enough for the cycle and the noise windows."""
    step = min(spec.noise_step_s, spec.period_s / 96, spec.duration_s / 16, 60.0)
    grid = np.linspace(0.0, spec.duration_s, int(math.ceil(spec.duration_s / step)) + 1)
    windows = int(math.ceil(spec.duration_s / spec.noise_step_s)) + 1
    noise = np.exp(rng.normal(0.0, spec.noise_sigma, windows) - spec.noise_sigma**2 / 2)
    mids = (grid[:-1] + grid[1:]) / 2
    rate = spec.rate_at(mids) * noise[(mids // spec.noise_step_s).astype(int)]
    cumulative = np.concatenate([[0.0], np.cumsum(rate * np.diff(grid))])
    return grid, cumulative


def _lognormal_tokens(rng: np.random.Generator, n: int, median: float, sigma: float, cap: int) -> np.ndarray:
    x = np.exp(rng.normal(math.log(median), sigma, n)) if sigma > 0 else np.full(n, median)
    return np.clip(np.rint(x), 1, cap).astype(np.int64)


def synthetic_trace(spec: SyntheticSpec, seed: int = 0) -> Trace:
    """The trace of ``spec``; the same (spec, seed) always gives the same arrays."""
    rng = np.random.default_rng(seed)
    grid, cumulative = _rate_grid(spec, rng)
    total = float(cumulative[-1])
    # Gamma gaps with mean 1 and cv c: shape 1/c^2, scale c^2. Draw a few extra for the tail.
    shape, scale = 1.0 / spec.burst_cv**2, spec.burst_cv**2
    n_draw = int(total + 6 * math.sqrt(total + 1) * spec.burst_cv + 16)
    gaps = rng.gamma(shape, scale, n_draw)
    # A stationary start: the first arrival falls uniformly within the first gap.
    op_times = np.cumsum(gaps) - rng.uniform(0, 1) * gaps[0]
    while op_times[-1] < total:
        more = rng.gamma(shape, scale, n_draw)
        op_times = np.concatenate([op_times, op_times[-1] + np.cumsum(more)])
    op_times = op_times[(op_times >= 0) & (op_times < total)]
    arrivals = np.interp(op_times, cumulative, grid)
    n = len(arrivals)
    prompt = _lognormal_tokens(rng, n, spec.prompt_median, spec.prompt_sigma, int(spec.prompt_max))
    output = _lognormal_tokens(rng, n, spec.output_median, spec.output_sigma, int(spec.output_max))
    return Trace(spec.name, arrivals.astype(np.float64), prompt, output)
