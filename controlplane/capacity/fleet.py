"""How many replicas a demand needs at the SLO share, for the observed size mix, as a fleet.

Owns: :class:`SizeHistogram` (request sizes as vLLM's token-count histograms
``vllm:request_prompt_tokens`` and ``vllm:request_generation_tokens`` keep them),
:class:`SizeMix` (prompt and output sizes and the cached share of prompts),
:func:`pooled_share` (the share of requests within the TTFT SLO when a fleet
of N replicas behind a least-outstanding router serves a Poisson stream of that
mix) and :func:`fleet_size_at_slo` (the smallest such N that keeps the target
share). Must not import: any I/O library, the simulator.

Why a fleet and a distribution, not one replica and the mean
-------------------------------------------------------------
A per-replica capacity for the mean request (:func:`~controlplane.capacity.model.capacity_at_slo`)
is right for narrow size mixes. On heavy-tailed prompts (a median of 12k tokens
and a tail past 100k) two things break it, both measured in docs/benchmarks.md:

* the TTFT tail comes from the long prompts and from what queues behind them,
  which the mean request does not have;
* the same load per replica holds more of the SLO on a bigger fleet: the router
  sends a request to the replica with the fewest in flight, so a long prefill
  rarely blocks the next request when there are ten replicas and often does
  when there is one. A per-replica capacity measured on one replica over-asks
  by a factor that depends on the fleet size.

So the model replays a fleet: ``n_requests`` seeded Poisson arrivals at the
demand, prompt and output sizes drawn from their histograms (independently;
inside a bucket from a power law with the density's slope across its
neighbours, the last bucket up to the context limit; the cached share of a
prompt costs only its attention), N engines of the profile behind the router.
A request counts within the SLO when its TTFT is; the first 10 % are warm-up.

The attainable share and the target
-----------------------------------
Some prompts cannot meet the SLO on any fleet (their prefill alone is longer).
The share a fleet is asked to keep is ``min(objective, attainable - margin)``,
where ``attainable`` is the share of the sampled requests whose TTFT alone on
an idle replica is within the SLO (the engine's own timing): asking more than
what is attainable would grow the fleet without moving the share.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from controlplane.capacity.engine import FIRST_TOKEN, ReplicaEngine
from controlplane.capacity.profile import PerformanceProfile

__all__ = ["SizeHistogram", "SizeMix", "FleetSize", "attainable_of", "pooled_share", "fleet_size_at_slo", "idle_ttft_s",
           "PROBE_REQUESTS"]

PROBE_REQUESTS = 4000  # requests a probe replays: a 99 % share's sampling error about 0.17 points


@dataclass(frozen=True)
class SizeHistogram:
    """Request sizes in tokens as vLLM's histogram keeps them: ``bounds`` are bucket upper
    bounds (increasing; the last may be ``inf``), ``shares`` the share of requests in each
    (summing to 1). ``exact``: every request of a bucket has the bucket's bound (a size known
    only by its mean). ``mean``: the histogram's sum over its count, when known."""

    bounds: tuple[float, ...]
    shares: tuple[float, ...]
    exact: bool = False
    mean: float | None = None

    def __post_init__(self) -> None:
        if self.mean is not None and not (math.isfinite(self.mean) and self.mean >= 1):
            raise ValueError(f"mean: must be >= 1 token, got {self.mean!r}")
        if not self.bounds or len(self.bounds) != len(self.shares):
            raise ValueError("bounds: need one share per bucket bound, at least one")
        if any(not b > a for a, b in zip(self.bounds, self.bounds[1:], strict=False)) or not self.bounds[0] >= 1:
            raise ValueError(f"bounds: must increase from at least 1 token, got {self.bounds!r}")
        if any(not (math.isfinite(s) and s >= 0) for s in self.shares) or not abs(sum(self.shares) - 1) < 1e-6:
            raise ValueError(f"shares: must be >= 0 and sum to 1, got {self.shares!r}")

    @staticmethod
    def point(tokens: float) -> SizeHistogram:
        """Every request the same size, snapped to 3 significant digits."""
        return SizeHistogram((float(f"{max(1.0, tokens):.3g}"),), (1.0,), exact=True)

    @staticmethod
    def from_cumulative(bounds: list[float], cumulative: list[float], *, mean: float | None = None,
                        grid: float = 0.001) -> SizeHistogram | None:
        """From a cumulative histogram (counts or rates at each ``le``, as Prometheus keeps it);
        None when it holds no request. Empty buckets are kept (their bounds bound their
        neighbours). Shares are snapped to ``grid`` (and renormalised): fine
        enough for the tail buckets a 99 % target turns on (a few tenths of a percent of
        prompts past 20k tokens hold a one-replica queue), coarse enough to drop rounding dust."""
        if len(bounds) != len(cumulative) or not bounds:
            raise ValueError("cumulative: need one value per bucket bound")
        cum = np.maximum.accumulate(np.maximum(np.asarray(cumulative, dtype=float), 0.0))
        total = float(cum[-1])
        if not (math.isfinite(total) and total > 0):
            return None
        per = np.diff(np.concatenate([[0.0], cum])) / total
        snapped = np.round(per / grid) * grid
        if snapped.sum() <= 0:
            snapped = per
        snapped = snapped / snapped.sum()
        kept_mean = None if mean is None or not math.isfinite(mean) else float(f"{max(1.0, mean):.3g}")
        return SizeHistogram(tuple(float(x) for x in bounds), tuple(float(x) for x in snapped), mean=kept_mean)

    def upto(self, q: float) -> str:
        """The bound under which ``q`` of the requests fall, for a decision's detail."""
        b = self.bounds[min(int(np.searchsorted(np.cumsum(self.shares), q - 1e-9)), len(self.bounds) - 1)]
        return f"<= {b:g}" if math.isfinite(b) else f"> {self.bounds[-2]:g}" if len(self.bounds) > 1 else "any"

    def sample(self, n: int, rng: np.random.Generator, limit: float) -> np.ndarray:
        """``n`` sizes: a bucket by its share, then a size inside it (the last bucket up to
        ``limit``) from a power-law density whose slope is the log-log slope of the density
        across the neighbouring buckets (Pareto interpolation of grouped data): a tail that
        falls steeply keeps most of a wide bucket's sizes near its lower bound. With the
        histogram's ``mean`` known, the topmost bucket that holds requests (the least informed
        by neighbours, and the one a clipped or open tail sits in) takes the slope that makes the
        overall mean the histogram's own, as far as its bounds allow."""
        idx = rng.choice(len(self.shares), size=n, p=np.asarray(self.shares))
        highs = np.array([min(b, limit) for b in self.bounds], dtype=float)
        if self.exact:
            return highs[idx]
        lows = np.minimum(np.concatenate([[1.0], highs[:-1]]), highs)
        shares = np.asarray(self.shares)
        slopes = _local_slopes(lows, highs, shares, open_last=math.isinf(self.bounds[-1]))
        if self.mean is not None:
            slopes = _top_fitted_to_mean(lows, highs, shares, slopes, self.mean)
        u = rng.random(n)
        out = np.empty(n)
        for i, slope in enumerate(slopes):
            at = idx == i
            k = int(at.sum())
            out[at] = _draw(np.full(k, lows[i]), np.full(k, highs[i]), float(slope), u[at])
        return out


def _top_fitted_to_mean(lows: np.ndarray, highs: np.ndarray, shares: np.ndarray, slopes: np.ndarray,
                        mean: float) -> np.ndarray:
    """``slopes`` with the topmost non-empty bucket's slope chosen in [-8, 2] (bisection) so that
    the mix's mean is ``mean``; the bound nearest to it where no slope reaches it."""
    top = int(np.nonzero(shares > 0)[0][-1])
    if not highs[top] > lows[top] * (1 + 1e-9):
        return slopes
    rest = sum(shares[i] * _bucket_mean(lows[i], highs[i], float(slopes[i])) for i in range(len(shares)) if i != top)
    want = (mean - rest) / shares[top]
    lo, hi = -8.0, 2.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _bucket_mean(lows[top], highs[top], mid) < want else (lo, mid)
    out = slopes.copy()
    out[top] = (lo + hi) / 2
    return out


def _bucket_mean(lo: float, hi: float, slope: float) -> float:
    """Mean of the density proportional to x ** slope on [lo, hi]."""
    if not hi > lo * (1 + 1e-9):
        return lo
    a, b = slope + 1.0, slope + 2.0
    if abs(a) < 1e-9:
        return (hi - lo) / math.log(hi / lo)
    if abs(b) < 1e-9:
        return math.log(hi / lo) / (1 / lo - 1 / hi)
    return (a / b) * (hi**b - lo**b) / (hi**a - lo**a)


def _local_slopes(lows: np.ndarray, highs: np.ndarray, shares: np.ndarray, *, open_last: bool) -> np.ndarray:
    """Each bucket's density slope in log-log: across its neighbours that hold requests (the
    bucket itself standing in for a missing one); an open-ended last bucket (+Inf, drawn up to
    the context) continues the one before it and informs none; -1 (log-uniform) where no
    neighbour holds any; bounded to [-4, 2]."""
    width = highs - lows
    ok = (shares > 0) & (width > 0)
    log_d = np.log(np.where(ok, shares, 1.0) / np.where(ok, width, 1.0))
    log_c = 0.5 * (np.log(lows) + np.log(highs))
    k = len(shares)
    last = k - 1 if open_last and k > 1 else k  # the buckets whose density is measured
    out = np.full(k, -1.0)
    for i in range(last):
        a = i - 1 if i > 0 and ok[i - 1] else i
        b = i + 1 if i + 1 < last and ok[i + 1] else i
        if b > a and ok[a] and ok[b]:
            out[i] = (log_d[b] - log_d[a]) / (log_c[b] - log_c[a])
    if last < k:
        out[-1] = out[-2]
    return np.clip(out, -4.0, 2.0)


def _draw(lo: np.ndarray, hi: np.ndarray, slope: float, u: np.ndarray) -> np.ndarray:
    """Inverse CDF of the density proportional to x ** slope on [lo, hi] at ``u``."""
    a = slope + 1.0
    wide = hi > lo * (1 + 1e-9)
    out = lo.astype(float).copy()
    lo_, hi_, u_ = lo[wide], hi[wide], u[wide]
    if abs(a) < 1e-9:
        out[wide] = lo_ * (hi_ / lo_) ** u_
    else:
        out[wide] = (lo_**a + u_ * (hi_**a - lo_**a)) ** (1 / a)
    return out


@dataclass(frozen=True)
class SizeMix:
    """The requests a fleet serves: prompt and output size histograms and ``cached_share``,
    the share of prompt tokens the prefix cache supplies (not prefilled)."""

    prompt: SizeHistogram
    output: SizeHistogram
    cached_share: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.cached_share < 1:
            raise ValueError(f"cached_share: must be in [0, 1), got {self.cached_share!r}")

    @staticmethod
    def of(prompt: SizeHistogram, output: SizeHistogram, cached_share: float) -> SizeMix:
        """A mix with an observed cached share snapped to 5 % (and at most 95 %), so that mixes
        that differ by the hit ratio's noise are one model."""
        return SizeMix(prompt, output, round(float(min(max(cached_share, 0.0), 0.95)) / 0.05) * 0.05)

    @staticmethod
    def point(prompt_tokens: float, output_tokens: float, cached_share: float = 0.0) -> SizeMix:
        """Every request of the mean sizes (when no histogram is collected)."""
        return SizeMix.of(SizeHistogram.point(prompt_tokens), SizeHistogram.point(output_tokens), cached_share)

    def describe(self) -> str:
        def one(h: SizeHistogram, what: str) -> str:
            if h.exact:
                return f"{what} {h.bounds[0]:g} (mean only)"
            return f"{what} median {h.upto(0.5)}, p95 {h.upto(0.95)}"

        return f"{one(self.prompt, 'prompt')}, {one(self.output, 'output')} tokens, {self.cached_share:.0%} cached"

    def sample(self, n: int, rng: np.random.Generator, profile: PerformanceProfile) -> tuple[np.ndarray, np.ndarray]:
        """``n`` (prompt, output) sizes drawn independently; each prompt as the uncached prompt
        that costs what it costs with the cached share; together within the context."""
        limit = profile.max_model_len
        prompts = np.clip(np.round(self.prompt.sample(n, rng, limit - 1)), 1, limit - 1)
        outputs = np.clip(np.round(self.output.sample(n, rng, limit)), 1, None)
        outputs = np.minimum(outputs, limit - prompts)
        prompts = np.clip(np.round(_uncached_equivalent(profile, prompts, self.cached_share)), 1, limit - 1)
        outputs = np.clip(np.minimum(outputs, limit - prompts), 1, None)
        return prompts.astype(np.int64), outputs.astype(np.int64)


def _uncached_equivalent(profile: PerformanceProfile, prompts: np.ndarray, cached: float) -> np.ndarray:
    """The prompt that, prefilled whole, costs what ``prompts`` cost with their first ``cached``
    share found in the prefix cache: the uncached tokens still attend to the cached ones, so a
    prompt of P tokens with hP cached costs a(1-h)P + b(P^2 - (hP)^2)/2 with the profile's
    per-token cost a and per-context-token cost b, and the equivalent P' solves
    aP' + bP'^2/2 = that."""
    if cached <= 0:
        return prompts
    a, b = profile.prefill_s_per_token, profile.prefill_s_per_context_token
    cost = a * (1 - cached) * prompts + b * (prompts**2) * (1 - cached**2) / 2
    if b <= 0:
        return cost / a
    return (-a + np.sqrt(a * a + 2 * b * cost)) / b


@dataclass(frozen=True)
class FleetSize:
    """The smallest fleet that keeps ``target_share`` of the sampled requests within the SLO."""

    replicas: int | None  # None: not reached within max_replicas
    share: float  # at that fleet (at max_replicas when not reached)
    attainable: float
    target_share: float
    detail: str


def idle_ttft_s(profile: PerformanceProfile, prompt: int) -> float:
    """TTFT of one prompt alone on an idle replica (the engine's own timing); inf if it never starts."""
    return _idle_ttft(profile, int(prompt))


@lru_cache(maxsize=4096)
def _idle_ttft(profile: PerformanceProfile, prompt: int) -> float:
    engine = ReplicaEngine(profile)
    engine.submit(0, 0.0, prompt, 1)
    while (t := engine.next_event_time()) is not None:
        for ev in engine.advance(t):
            if ev.kind == FIRST_TOKEN:
                return ev.time
    return math.inf


def _ttfts(profile: PerformanceProfile, replicas: int, arrivals: np.ndarray, prompts: np.ndarray,
           outputs: np.ndarray) -> np.ndarray:
    """TTFT of every request when ``replicas`` engines behind a least-outstanding router serve them."""
    engines = [ReplicaEngine(profile) for _ in range(replicas)]
    outstanding = [0] * replicas
    where: dict[int, int] = {}
    ttft = np.full(len(arrivals), np.inf)
    steps: list[tuple[float, int]] = []  # (next step boundary, engine), lazily refreshed
    k, n = 0, len(arrivals)

    def push(e: int) -> None:
        t = engines[e].next_event_time()
        if t is not None:
            heapq.heappush(steps, (t, e))

    while True:
        while steps and engines[steps[0][1]].next_event_time() != steps[0][0]:
            heapq.heappop(steps)  # stale: the engine was woken or moved since
        nxt = steps[0][0] if steps else None
        if k < n and (nxt is None or arrivals[k] <= nxt):
            e = min(range(replicas), key=outstanding.__getitem__)
            engines[e].submit(k, float(arrivals[k]), int(prompts[k]), int(outputs[k]))
            outstanding[e] += 1
            where[k] = e
            push(e)
            k += 1
            continue
        if nxt is None:
            break
        _, e = heapq.heappop(steps)
        for ev in engines[e].advance(nxt):
            rid = int(ev.req_id)  # type: ignore[call-overload]
            if ev.kind == FIRST_TOKEN:
                ttft[rid] = ev.time - arrivals[rid]
            elif ev.stats is not None:  # finished or aborted
                outstanding[where.pop(rid)] -= 1
        push(e)
    return ttft


@lru_cache(maxsize=64)
def _sample(profile: PerformanceProfile, mix: SizeMix, n_requests: int,
            seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit-rate Poisson gaps and the sizes of ``n_requests`` requests of ``mix``: one seeded
    sample serves every rate and fleet size (common random numbers, so shares compare)."""
    rng = np.random.default_rng(seed)
    prompts, outputs = mix.sample(n_requests, rng, profile)
    gaps = np.cumsum(rng.exponential(1.0, n_requests))
    return gaps, prompts, outputs


@lru_cache(maxsize=8192)
def _share_at(profile: PerformanceProfile, mix: SizeMix, rate: float, replicas: int, ttft_slo_s: float,
              n_requests: int, seed: int) -> float:
    gaps, prompts, outputs = _sample(profile, mix, n_requests, seed)
    warm = n_requests // 10
    return float(np.mean(_ttfts(profile, replicas, gaps / rate, prompts, outputs)[warm:] <= ttft_slo_s))


@lru_cache(maxsize=256)
def attainable_of(profile: PerformanceProfile, mix: SizeMix, ttft_slo_s: float, n_requests: int = PROBE_REQUESTS,
                  seed: int = 0) -> float:
    """Share of the mix's sampled requests (after the warm-up) whose TTFT alone on an idle
    replica is within the SLO."""
    _, prompts, _ = _sample(profile, mix, n_requests, seed)
    idle = np.array([_idle_ttft(profile, int(p)) for p in prompts[n_requests // 10:]])
    return float(np.mean(idle <= ttft_slo_s))


def pooled_share(profile: PerformanceProfile, mix: SizeMix, demand: float, replicas: int, ttft_slo_s: float, *,
                 n_requests: int = PROBE_REQUESTS, seed: int = 0) -> float:
    """Share of requests (after a 10 % warm-up) with TTFT within the SLO on ``replicas`` replicas."""
    if not (math.isfinite(demand) and demand > 0):
        raise ValueError(f"demand: must be > 0 requests/s, got {demand!r}")
    if replicas < 1:
        raise ValueError(f"replicas: must be >= 1, got {replicas}")
    return _share_at(profile, mix, float(demand), int(replicas), float(ttft_slo_s), n_requests, seed)


def fleet_size_at_slo(profile: PerformanceProfile, mix: SizeMix, demand: float | tuple[float, ...],
                      ttft_slo_s: float, objective: float, max_replicas: int, *, margin: float = 0.005,
                      n_requests: int = PROBE_REQUESTS, seed: int = 0) -> FleetSize:
    """The smallest N in [1, ``max_replicas``] that keeps ``min(objective, attainable - margin)``
    of the requests within the SLO. ``demand`` is one rate, or several levels that each carry an
    equal share of the requests (the rates a target's requests arrived at, as quantiles of the
    requests): the share kept is the mean of the shares at each level, since the target is a
    share of all requests, not of those in the busiest minute. Shares are monotone in N up to
    sampling noise, so N is found by doubling then bisection on one seeded sample."""
    levels = (demand,) if isinstance(demand, (int, float)) else tuple(demand)
    if not ttft_slo_s > 0:
        raise ValueError(f"ttft_slo_s: must be > 0, got {ttft_slo_s!r}")
    if not 0 < objective <= 1:
        raise ValueError(f"objective: must be in (0, 1], got {objective!r}")
    if max_replicas < 1:
        raise ValueError(f"max_replicas: must be >= 1, got {max_replicas}")
    if not levels or not all(math.isfinite(r) and r > 0 for r in levels):
        raise ValueError(f"demand: every rate must be > 0 requests/s, got {demand!r}")
    attainable = attainable_of(profile, mix, ttft_slo_s, n_requests, seed)
    target = min(objective, attainable - margin)
    if target <= 0:
        return FleetSize(None, 0.0, attainable, target,
                         f"no request of this mix meets TTFT {ttft_slo_s:g}s even alone on a replica")

    def share(n: int) -> float:
        return float(np.mean([_share_at(profile, mix, float(r), n, float(ttft_slo_s), n_requests, seed)
                              for r in levels]))

    at = f"{levels[0]:.4g} req/s" if min(levels) == max(levels) else (
        f"{len(levels)} rate levels of equal request share, {min(levels):.4g}-{max(levels):.4g} req/s")
    lo, hi = 1, 1
    while share(hi) < target:
        if hi >= max_replicas:
            return FleetSize(None, share(hi), attainable, target,
                             f"{max_replicas} replicas keep {share(hi):.2%} within TTFT {ttft_slo_s:g}s at"
                             f" {at}, under the target {target:.2%}")
        lo, hi = hi + 1, min(max_replicas, hi * 2)
    while lo < hi:
        mid = (lo + hi) // 2
        if share(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return FleetSize(hi, share(hi), attainable, target,
                     f"{hi} replicas keep {share(hi):.2%} within TTFT {ttft_slo_s:g}s at {at}"
                     f" (target {target:.2%} = min(objective {objective:.2%}, attainable {attainable:.2%}"
                     f" - {margin:.1%}))")
