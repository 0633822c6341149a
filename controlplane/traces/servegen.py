"""Loader for ServeGen per-client window files (alibaba/ServeGen, Apache-2.0).

Format: CSV without a header, one row per 600-second window:
``window_start_s,rate_req_per_s,cv,arrival_distribution,param1,param2``, where
the distribution is ``Gamma`` (shape, scale) or ``Weibull`` (shape, scale) of
inter-arrival gaps in seconds, or empty for an idle window. One file per client
(``chunk-N-trace.csv``); a directory of client files is summed.

Arrivals within a window are generated, seeded, as a renewal process whose gap
shape is ``param1`` (it sets the burstiness: Gamma CV = 1/sqrt(shape)) and
whose scale is chosen so the mean gap is exactly ``1/rate``: the rate column is
authoritative, because the fitted scale does not always reproduce it.

The windows carry no token sizes. ServeGen (Xiang et al., "ServeGen: Workload
Characterization and Generation of Large Language Model Serving in Production",
arXiv 2505.09999) reports language-model inputs as a mixture of Pareto and
log-normal and outputs as exponential; :class:`TokenSizes` draws from that
shape with parameters chosen here (not published figures), documented on it.

Owns: ServeGen windows -> :class:`Trace`, and the per-window summed
:class:`RateSeries` for forecasting. Must not import: any I/O library.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from controlplane.traces.errors import TraceFormatError
from controlplane.traces.model import Trace

__all__ = [
    "TokenSizes",
    "RateSeries",
    "ServegenWindow",
    "read_servegen_windows",
    "load_servegen",
    "load_servegen_rates",
    "servegen_files",
]

WINDOW_S = 600.0
_DISTRIBUTIONS = ("Gamma", "Weibull")


@dataclass(frozen=True)
class TokenSizes:
    """Default request sizes for traces that carry none.

    Prompt: log-normal body (median ``prompt_median``, log-sd ``prompt_sigma``)
    with a Pareto tail (share ``prompt_tail_share``, from ``prompt_tail_start``
    tokens, index ``prompt_tail_alpha``), the mixture ServeGen reports. Output:
    exponential with mean ``output_mean``. Both clipped to [1, max]. The
    figures are moderate chat/API sizes picked for this project.
    """

    prompt_median: float = 1000.0
    prompt_sigma: float = 1.0
    prompt_tail_share: float = 0.05
    prompt_tail_start: float = 4000.0
    prompt_tail_alpha: float = 1.5
    prompt_max: int = 32768
    output_mean: float = 250.0
    output_max: int = 4096

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        body = rng.lognormal(math.log(self.prompt_median), self.prompt_sigma, n)
        tail = self.prompt_tail_start * (1.0 + rng.pareto(self.prompt_tail_alpha, n))
        prompt = np.where(rng.random(n) < self.prompt_tail_share, tail, body)
        output = rng.exponential(self.output_mean, n)
        p = np.clip(np.rint(prompt), 1, self.prompt_max).astype(np.int64)
        o = np.clip(np.rint(output), 1, self.output_max).astype(np.int64)
        return p, o


@dataclass(frozen=True)
class ServegenWindow:
    start_s: float
    rate: float
    cv: float
    distribution: str  # "Gamma", "Weibull" or "" (idle)
    shape: float
    scale: float


@dataclass(frozen=True)
class RateSeries:
    """Request rate per window: ``t_s`` is each window's start (s from midnight of day 1)."""

    name: str
    t_s: np.ndarray
    rate: np.ndarray  # requests/s
    window_s: float = WINDOW_S


def servegen_files(path: str | Path) -> list[Path]:
    """The client files of a ServeGen directory (``*.csv``, sorted), or the one file given."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.csv"), key=lambda f: (len(f.name), f.name))
        if not files:
            raise TraceFormatError(p, "no *.csv client files in this directory")
        return files
    if not p.exists():
        raise TraceFormatError(p, "no such file or directory")
    return [p]


def read_servegen_windows(path: str | Path) -> list[ServegenWindow]:
    """Parse one client file; errors name the file, row and column."""
    p = Path(path)
    names = ("window_start_s", "rate_req_per_s", "cv", "arrival_distribution", "param1", "param2")
    out: list[ServegenWindow] = []
    with p.open(newline="") as fh:
        for row, r in enumerate(csv.reader(fh), start=1):
            if not r:
                continue
            if len(r) != 6:
                raise TraceFormatError(p, f"expected 6 fields ({','.join(names)}), got {len(r)}", row=row)
            nums: list[float] = []
            for i in (0, 1, 2, 4, 5):
                try:
                    v = float(r[i])
                except ValueError:
                    if row == 1 and i == 0:
                        raise TraceFormatError(p, "ServeGen window files have no header", row=1) from None
                    raise TraceFormatError(p, f"not a number: {r[i]!r}", row=row, column=names[i]) from None
                if not math.isfinite(v) or v < 0:
                    raise TraceFormatError(p, f"expected a finite number >= 0, got {r[i]!r}", row=row, column=names[i])
                nums.append(v)
            start, rate, cv, shape, scale = nums
            dist = r[3].strip()
            if dist and dist not in _DISTRIBUTIONS:
                raise TraceFormatError(p, f"expected Gamma, Weibull or empty, got {dist!r}", row=row, column=names[3])
            if rate > 0 and dist and shape <= 0:
                raise TraceFormatError(p, "shape must be > 0 when the rate is", row=row, column="param1")
            out.append(ServegenWindow(start, rate, cv, dist, shape, scale))
    return out


def _unit_mean_gaps(w: ServegenWindow, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` gaps of mean 1 with the window's shape (Poisson when the window names none)."""
    if w.distribution == "Gamma":
        return rng.gamma(w.shape, 1.0 / w.shape, n)
    if w.distribution == "Weibull":
        return rng.weibull(w.shape, n) / math.gamma(1.0 + 1.0 / w.shape)
    return rng.exponential(1.0, n)


def _window_arrivals(w: ServegenWindow, rate: float, rng: np.random.Generator) -> np.ndarray:
    expected = rate * WINDOW_S
    if expected <= 0:
        return np.zeros(0)
    mean_gap = 1.0 / rate
    # The first arrival comes a uniform share into a length-biased gap (the renewal
    # process seen from a random instant); starting at an arrival would add about
    # one request per window, a large bias for low-rate clients.
    pool = _unit_mean_gaps(w, 64, rng)
    biased = pool[rng.choice(64, p=pool / pool.sum())] if pool.sum() > 0 else 1.0
    first = rng.random() * mean_gap * biased
    chunks = [np.array([first])]
    total = first
    n = int(expected * 1.2) + 16
    while total < WINDOW_S:
        gaps = np.cumsum(_unit_mean_gaps(w, n, rng)) * mean_gap + total
        chunks.append(gaps)
        total = float(gaps[-1])
    t = np.concatenate(chunks)
    return w.start_s + t[t < WINDOW_S]


def load_servegen(
    path: str | Path,
    name: str | None = None,
    *,
    seed: int = 0,
    rate_scale: float = 1.0,
    start_s: float | None = None,
    end_s: float | None = None,
    sizes: TokenSizes | None = None,
) -> Trace:
    """Generate a request trace from one client file or a directory of them.

    ``rate_scale`` multiplies every window's rate before generating (0.01 keeps
    a 14-day, ~250 req/s trace at a few million requests); ``start_s``/``end_s``
    keep only windows starting in that range (seconds from day 1, 00:00).
    Arrivals are relative to the first kept window's start.
    """
    if rate_scale <= 0:
        raise ValueError("rate_scale: must be > 0")
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    origin = math.inf
    for f in servegen_files(path):
        for w in read_servegen_windows(f):
            if (start_s is not None and w.start_s < start_s) or (end_s is not None and w.start_s >= end_s):
                continue
            origin = min(origin, w.start_s)
            if w.rate > 0:
                parts.append(_window_arrivals(w, w.rate * rate_scale, rng))
    t = np.sort(np.concatenate(parts)) if parts else np.zeros(0)
    if len(t):
        t = t - origin
    prompt, output = (sizes or TokenSizes()).draw(len(t), rng)
    return Trace(name or Path(path).name, t.astype(np.float64), prompt, output)


def load_servegen_rates(path: str | Path, name: str | None = None) -> RateSeries:
    """Request rate per 600 s window, summed over the client files (no sampling)."""
    totals: dict[float, float] = {}
    for f in servegen_files(path):
        for w in read_servegen_windows(f):
            totals[w.start_s] = totals.get(w.start_s, 0.0) + w.rate
    starts = np.array(sorted(totals), dtype=np.float64)
    rates = np.array([totals[s] for s in starts], dtype=np.float64)
    return RateSeries(name or Path(path).name, starts, rates)
