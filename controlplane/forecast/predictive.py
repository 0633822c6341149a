"""The predictive replica floor: enough replicas, started in time, for the forecast demand.

Owns: :class:`StartupEstimator` (p95 of observed replica start-up times),
:class:`ForecastErrorTracker` (rolling wMAPE of past p50 forecasts against
what arrived), :func:`floor_replicas` (the arithmetic) and
:class:`PredictiveFloor` (ties them together into a ``Proposal``).
Must not import: any I/O library (pure core).

The floor::

    lead     = p95(observed start-up times)  [policy.startup_s until 3 are seen]
               + one tick                    [the decision that starts them]
    demand   = forecast quantile (policy.predictive.quantile) of the rate at now + lead
    replicas = ceil(demand / (capacity_per_replica * policy.predictive.target_utilization))

A replica asked for now is ready at ``now + lead``, so the floor plans for the
demand then. It is a floor: the decider takes the max with the reactive ask,
so it can only raise the count, never lower it below what current load needs.
When the recent forecast error (wMAPE) exceeds ``policy.predictive.max_error_mape``
the floor is dropped (``replicas`` None) with the reason in ``detail``: a
forecast that has stopped tracking demand must not hold GPUs. So is a forecast
whose newest observation is older than ``max_state_age_s``: the tick feeds new
samples with ``forecaster.updated(t, y)``, and when it cannot, the forecast
has lost sight of demand.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

from controlplane.forecast.base import QuantileForecaster
from controlplane.policy.decision import Proposal
from controlplane.policy.model import ScalingPolicy

__all__ = ["StartupEstimator", "ForecastErrorTracker", "floor_replicas", "PredictiveFloor"]

SOURCE = "predictive"


class StartupEstimator:
    """Nearest-rank p95 of the last ``window`` observed start-up durations (seconds)."""

    def __init__(self, window: int = 20, min_samples: int = 3, samples: Sequence[float] = ()) -> None:
        if window < 1:
            raise ValueError("window: must be >= 1")
        if min_samples < 1:
            raise ValueError("min_samples: must be >= 1")
        self.window = int(window)
        self.min_samples = int(min_samples)
        self._samples: deque[float] = deque(maxlen=self.window)
        for s in samples:
            self.observe(s)

    def observe(self, duration_s: float) -> None:
        d = float(duration_s)
        if not (math.isfinite(d) and d > 0):
            raise ValueError(f"duration_s: must be a positive number of seconds, got {duration_s!r}")
        self._samples.append(d)

    def p95(self) -> float | None:
        """None until ``min_samples`` start-ups were seen."""
        n = len(self._samples)
        if n < self.min_samples:
            return None
        ordered = sorted(self._samples)
        return ordered[math.ceil(0.95 * n) - 1]

    def lead_s(self, fallback_startup_s: float, tick_s: float) -> tuple[float, str]:
        """Seconds from asking for a replica to it serving, and how that was worked out."""
        if not (math.isfinite(tick_s) and tick_s >= 0):
            raise ValueError(f"tick_s: must be >= 0 seconds, got {tick_s!r}")
        p95 = self.p95()
        if p95 is None:
            return fallback_startup_s + tick_s, (
                f"lead {fallback_startup_s + tick_s:g}s = policy start-up {fallback_startup_s:g}s"
                f" ({len(self._samples)} of {self.min_samples} start-ups observed) + tick {tick_s:g}s")
        return p95 + tick_s, f"lead {p95 + tick_s:g}s = p95 start-up {p95:g}s (n={len(self._samples)}) + tick {tick_s:g}s"

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window, "min_samples": self.min_samples, "samples": list(self._samples)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> StartupEstimator:
        return StartupEstimator(int(d["window"]), int(d["min_samples"]), d.get("samples", ()))


class ForecastErrorTracker:
    """Rolling wMAPE (sum|a - f| / sum|a|) of p50 forecasts once their target time has passed.

    :meth:`record` notes a forecast for ``target_t``; :meth:`observe` with an
    actual rate stamped ``t`` settles every pending forecast whose target is at
    or before ``t`` (the rate at ``t`` covers the window just before it). A
    forecast not settled within ``match_within_s`` of its target (data gap) is
    dropped unscored; missing actuals are never scored as 0.
    """

    def __init__(self, window: int = 60, min_pairs: int = 10, match_within_s: float = 300.0,
                 max_pending: int = 2000) -> None:
        if window < 1 or min_pairs < 1 or max_pending < 1:
            raise ValueError("window: window, min_pairs and max_pending must be >= 1")
        if not match_within_s > 0:
            raise ValueError("match_within_s: must be > 0")
        self.window, self.min_pairs = int(window), int(min_pairs)
        self.match_within_s, self.max_pending = float(match_within_s), int(max_pending)
        self._pending: deque[tuple[float, float]] = deque()
        self._pairs: deque[tuple[float, float]] = deque(maxlen=self.window)

    def record(self, target_t: float, p50: float) -> None:
        if not (math.isfinite(target_t) and math.isfinite(p50)):
            return
        if self._pending and target_t < self._pending[-1][0]:
            self._pending = deque(sorted((*self._pending, (target_t, p50))))
        else:
            self._pending.append((target_t, p50))
        while len(self._pending) > self.max_pending:
            self._pending.popleft()

    def observe(self, t: float, actual: float | None) -> int:
        """Settle pending forecasts with the actual rate at ``t``; returns how many were scored."""
        if actual is None or not math.isfinite(actual) or not math.isfinite(t):
            return 0
        scored = 0
        while self._pending and self._pending[0][0] <= t:
            target_t, p50 = self._pending.popleft()
            if t - target_t <= self.match_within_s:
                self._pairs.append((p50, float(actual)))
                scored += 1
        return scored

    @property
    def n(self) -> int:
        return len(self._pairs)

    def wmape(self) -> float | None:
        """None until ``min_pairs`` forecasts were scored, or when every actual was 0."""
        if len(self._pairs) < self.min_pairs:
            return None
        total = sum(abs(a) for _, a in self._pairs)
        if total <= 0:
            return None
        return sum(abs(a - f) for f, a in self._pairs) / total

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window, "min_pairs": self.min_pairs, "match_within_s": self.match_within_s,
                "max_pending": self.max_pending, "pending": [list(p) for p in self._pending],
                "pairs": [list(p) for p in self._pairs]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ForecastErrorTracker:
        t = ForecastErrorTracker(int(d["window"]), int(d["min_pairs"]), float(d["match_within_s"]),
                                 int(d["max_pending"]))
        t._pending = deque((float(a), float(b)) for a, b in d.get("pending", ()))
        t._pairs.extend((float(a), float(b)) for a, b in d.get("pairs", ()))
        return t


def floor_replicas(demand: float, capacity_per_replica: float, target_utilization: float) -> int:
    """ceil(demand / (capacity x utilization)); the epsilon keeps 420/10.0 at 42, not 43."""
    if not (math.isfinite(capacity_per_replica) and capacity_per_replica > 0):
        raise ValueError(f"capacity_per_replica: must be > 0, got {capacity_per_replica!r}")
    if not 0 < target_utilization <= 1:
        raise ValueError(f"target_utilization: must be in (0, 1], got {target_utilization!r}")
    if not (math.isfinite(demand) and demand >= 0):
        raise ValueError(f"demand: must be a finite rate >= 0, got {demand!r}")
    return max(0, math.ceil(demand / (capacity_per_replica * target_utilization) - 1e-9))


class PredictiveFloor:
    """Per-target state of the predictive floor (start-ups seen, forecast errors)."""

    def __init__(self, startup: StartupEstimator | None = None, errors: ForecastErrorTracker | None = None,
                 max_state_age_s: float = 900.0) -> None:
        if not max_state_age_s > 0:
            raise ValueError("max_state_age_s: must be > 0")
        self.startup = startup or StartupEstimator()
        self.errors = errors or ForecastErrorTracker()
        self.max_state_age_s = float(max_state_age_s)
        self.last_forecast: dict[str, Any] | None = None

    def observe_startup(self, duration_s: float) -> None:
        self.startup.observe(duration_s)

    def observe_demand(self, t: float, actual: float | None) -> int:
        return self.errors.observe(t, actual)

    def propose(self, policy: ScalingPolicy, forecaster: QuantileForecaster | None, now: float,
                capacity_per_replica: float | None, tick_s: float, unit: str = "requests/s") -> Proposal:
        """The floor as a raise-only Proposal; ``replicas`` None says why in ``detail``."""
        pred = policy.predictive
        self.last_forecast = None
        if not pred.enabled:
            return Proposal(SOURCE, None, "predictive scaling is disabled in the policy")
        if forecaster is None or not forecaster.fitted:
            return Proposal(SOURCE, None, "no fitted forecast yet")
        age = now - (forecaster.t_last or 0.0)
        if age > self.max_state_age_s:
            return Proposal(SOURCE, None, f"forecast state is stale: newest observation {age:.0f}s old"
                                          f" > {self.max_state_age_s:g}s (feed it with updated())")
        lead, lead_detail = self.startup.lead_s(policy.startup_s, tick_s)
        q = pred.quantile
        try:
            fc = forecaster.predict(now, [lead], sorted({0.5, q}))
        except ValueError as exc:
            return Proposal(SOURCE, None, f"forecast failed: {exc}")
        p50, demand = fc[0.5][0], fc[q][0]
        if not (math.isfinite(p50) and math.isfinite(demand)):
            return Proposal(SOURCE, None, f"forecast at now+{lead:g}s is missing (NaN)")
        self.errors.record(now + lead, p50)
        err = self.errors.wmape()
        err_txt = "not yet measured" if err is None else f"{err:.2f} over {self.errors.n} forecasts"
        self.last_forecast = {
            "model": forecaster.report.get("chosen", forecaster.name), "horizon_s": lead, "at": now + lead,
            "p50": p50, "quantile": q, "value": demand, "unit": unit, "wmape": err,
        }
        if err is not None and err > pred.max_error_mape:
            return Proposal(SOURCE, None, f"floor dropped: forecast wMAPE {err:.2f} over the last {self.errors.n}"
                                          f" forecasts exceeds max_error_mape {pred.max_error_mape:g}")
        if capacity_per_replica is None or not (math.isfinite(capacity_per_replica) and capacity_per_replica > 0):
            return Proposal(SOURCE, None, f"capacity per replica unknown ({capacity_per_replica!r})")
        replicas = floor_replicas(demand, capacity_per_replica, pred.target_utilization)
        per = capacity_per_replica * pred.target_utilization
        detail = (f"p{round(q * 100):g} demand at now+{lead:g}s = {demand:.4g} {unit} ({lead_detail}); "
                  f"capacity {capacity_per_replica:.4g} {unit}/replica x target {pred.target_utilization:g}"
                  f" = {per:.4g}; ceil({demand:.4g} / {per:.4g}) = {replicas}; forecast error {err_txt}")
        return Proposal(SOURCE, replicas, detail)

    def to_dict(self) -> dict[str, Any]:
        return {"startup": self.startup.to_dict(), "errors": self.errors.to_dict(),
                "max_state_age_s": self.max_state_age_s}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> PredictiveFloor:
        return PredictiveFloor(StartupEstimator.from_dict(d["startup"]), ForecastErrorTracker.from_dict(d["errors"]),
                               float(d.get("max_state_age_s", 900.0)))
