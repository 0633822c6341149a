"""Anomaly findings from one tick's signals: the checks, and hysteresis so alerts do not flap.

Owns: :class:`AnomalySettings`, :class:`Finding`, the rule checks
(:func:`check_errors`, :func:`check_latency_without_load`, :func:`check_latency_spike`,
:func:`check_scores`) and :class:`Hysteresis`. Pure: no I/O, no clock.

Each check answers, per finding, one of three verdicts: ``raise`` (the
condition holds), ``clear`` (it is clearly gone: below a lower clear level) or
``hold`` (in between, or the data is missing -- missing data is no evidence of
recovery). A finding becomes active after ``raise_ticks`` consecutive raises and
is resolved after ``clear_ticks`` consecutive clears.

The findings, and which hold a scale-up (the decider's ``guard``):

=======================  ========  ========  =====================================================
finding                  severity  guard     raised when
=======================  ========  ========  =====================================================
VllmErrorBurst           page      no queue  error_ratio >= 5 %, or log errors >= 0.1 /s
VllmLatencyWithoutLoad   ticket    yes       a latency p95 is proven over its SLO with no load behind it
VllmLatencySpike         ticket    no        TTFT p95 >= 3 x its recent baseline and proven over the
                                            SLO, demand < 1.5 x its own baseline (also while the
                                            slow requests arrived, when every replica is as slow)
                                            and within the per-replica rate the fleet has held
                                            within the SLO
VllmReplicaLost          ticket    no        ready replicas fell while the spec did not (one tick)
VllmKvCacheLeak          ticket    no        KV usage over 1 % with nothing running or waiting (one
                                            tick), or over 5 % + running requests x the KV share
                                            one has held (99th percentile of calm ticks)
VllmSignalAnomaly        info      no        a streaming detector scores >= 0.9 on a reading above
                                            its recent median, one tick, after a day of the
                                            target's ticks (its learning period); on the queue
                                            or the TTFT, not while their latency is judged load
=======================  ========  ========  =====================================================

"Proven over" (:func:`proven_over`): a p95 from vLLM's histogram is past the
first bucket bound at or above the SLO; interpolated inside the bucket that
holds the SLO it could as well be under it, and the check holds.

"No load" is the decider's rule (:func:`controlplane.policy.decide.apply_slo`):
no request waiting and at most one running per ready replica. It holds rather
than raises on a p95 taken over fewer than ``p95_min_requests`` requests (request
rate x ``p95_window_s``), and when only the inter-token p95 is over its SLO (a
long prompt's chunked prefill shares the decode steps beside it: the workload,
not a slow replica, which slows first tokens too). Errors hold a
scale-up only while nothing queues: a replica that fails requests it is given
is not short of capacity, and more replicas behind it add cost, not service;
with a queue, demand is real and the decider may add replicas.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from controlplane.catalog import LATENCY_BUCKETS
from controlplane.policy.inputs import SLO_CHECKS, capacity_bound
from controlplane.policy.model import ScalingPolicy
from controlplane.signals import ReplicaStatus, Signals

__all__ = [
    "check_replica_lost",
    "had_load",
    "AnomalySettings",
    "Finding",
    "Verdict",
    "Hysteresis",
    "check_errors",
    "check_latency_without_load",
    "check_latency_spike",
    "check_scores",
    "baseline",
    "proven_over",
    "served_envelope",
    "value_of",
    "check_kv_leak",
    "kv_share",
    "LOAD_FOLLOWING",
]

Verdict = Literal["raise", "clear", "hold"]


@dataclass(frozen=True)
class AnomalySettings:
    """Thresholds; each raise level has a lower clear level (hysteresis in value),
    and raise/clear counts in ticks (hysteresis in time)."""

    error_ratio_raise: float = 0.05  # 5 % of requests failing is far above a healthy vLLM (~0)
    error_ratio_clear: float = 0.02
    log_error_rate_raise: float = 0.1  # errors/s: 6 logged serving errors a minute
    log_error_rate_clear: float = 0.02
    spike_factor: float = 3.0  # p95 three times its own recent median
    spike_clear_factor: float = 1.5
    baseline_ticks: int = 30  # median over this many calm ticks
    baseline_min: int = 5  # no spike verdict before this many calm ticks
    # A TTFT spike that comes with this much more demand than the calm baseline is load
    # (the decider's business), not a fault: latency per unit of demand did not jump.
    spike_demand_factor: float = 1.5
    # "Every replica as slow": the fastest replica's own TTFT p95 within this factor of the
    # fleet's. A fault on one replica of a fleet leaves another at its usual latency, far under
    # the fleet's p95 (the slowdowns this is judged against are 2x and more).
    fleet_wide_spread: float = 2.0
    # Nor is one that comes with more requests per ready replica than the fleet has held
    # within the SLO lately (the served envelope: this quantile of the per-replica rates of
    # the last ``served_ticks`` ticks whose TTFT p95 met the SLO): past what it has shown it
    # can serve, a fleet's latency climbs steeply with small rises in demand, which a calm
    # baseline a few minutes long cannot tell from a fault.
    served_quantile: float = 0.95
    served_ticks: int = 5760  # a day of 15 s ticks: the daily peak is in it
    served_min: int = 20
    # A p95 over fewer requests than this says little (one long prompt on an idle fleet
    # puts its own prefill into the inter-token p95): no latency-without-load verdict.
    p95_min_requests: float = 20.0
    p95_window_s: float = 60.0  # the window the source's p95 and rates are taken over
    # KV cache in use beyond what the running requests explain: usage (the fullest replica's)
    # over this floor plus the running requests times the KV share one running request has
    # held (this quantile of usage / running over the calm ticks kept for the served envelope).
    # vLLM frees a request's blocks when it finishes and counts cached prefix blocks as free,
    # so a healthy replica's usage follows its running requests down to ~0.
    kv_floor: float = 0.05
    kv_share_quantile: float = 0.99
    # With no request running or waiting, a healthy replica holds no blocks at all, so usage
    # over this (a block or two of rounding) is held by nothing: one such scrape raises (the
    # gauges of one scrape are one snapshot of the engine). While requests run, a leak that
    # is under ``kv_floor`` + what they may explain holds the finding rather than clearing it,
    # until the usage falls under this floor plus what they usually hold (the median share).
    kv_idle_floor: float = 0.01
    score_raise: float = 0.9
    score_clear: float = 0.5
    # A detector with less than a day of a target's history cannot tell its daily peak, or
    # the first burst it sees, from an anomaly: its scores are exported from the first tick,
    # its findings raise only after this many ticks (a day of 15 s ticks), as NAB's
    # probationary period and ARTime's learning period do.
    learning_ticks: int = 5760
    raise_ticks: int = 2  # one odd scrape does not page anyone
    clear_ticks: int = 3  # nor does one good tick resolve an incident

    def __post_init__(self) -> None:
        pairs = [
            ("error_ratio", self.error_ratio_raise, self.error_ratio_clear),
            ("log_error_rate", self.log_error_rate_raise, self.log_error_rate_clear),
            ("spike", self.spike_factor, self.spike_clear_factor),
            ("score", self.score_raise, self.score_clear),
        ]
        for name, up, down in pairs:
            if not (0 <= down <= up) or not math.isfinite(up):
                raise ValueError(f"{name}_clear: must be >= 0 and <= {name}_raise ({up}), got {down}")
        if not (0 < self.kv_share_quantile <= 1 and 0 <= self.kv_floor < 1):
            raise ValueError("kv_share_quantile: must be in (0, 1] (and kv_floor in [0, 1))")
        if not 0 < self.served_quantile <= 1:
            raise ValueError(f"served_quantile: must be in (0, 1], got {self.served_quantile}")
        if self.served_ticks < self.served_min or self.served_min < 1:
            raise ValueError(f"served_ticks: must be >= served_min ({self.served_min}) >= 1")
        if not (self.spike_demand_factor >= 1 and math.isfinite(self.spike_demand_factor)):
            raise ValueError(f"spike_demand_factor: must be >= 1, got {self.spike_demand_factor}")
        if not (self.p95_min_requests >= 0 and self.p95_window_s > 0):
            raise ValueError("p95_min_requests: must be >= 0 (and p95_window_s > 0)")
        if self.learning_ticks < 0:
            raise ValueError(f"learning_ticks: must be >= 0, got {self.learning_ticks}")
        for name in ("raise_ticks", "clear_ticks", "baseline_min"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.baseline_ticks < self.baseline_min:
            raise ValueError(f"baseline_ticks: must be >= baseline_min ({self.baseline_min})")


@dataclass(frozen=True)
class Finding:
    """One check's verdict this tick, with the numbers behind it.

    ``key`` tells findings of one name apart (the signal of a detector finding).
    ``guard`` is True when, raised, it should hold a scale-up.
    """

    name: str
    kind: str
    severity: str
    verdict: Verdict
    evidence: str
    summary: str
    key: str = ""
    score: float = 0.0
    guard: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    raise_ticks: int | None = None  # None: the settings' raise_ticks
    load: bool = False  # the latency check judged this tick's latency to have come with the load

    @property
    def ident(self) -> str:
        return f"{self.name}:{self.key}" if self.key else self.name


def value_of(signals: Signals, name: str) -> float | None:
    """The reading's value when it is present and finite, else None."""
    r = getattr(signals, name)
    return r.value if r.ok and r.value is not None and math.isfinite(r.value) else None


def _graded(value: float, level: float) -> float:
    """The raise level maps to 0.5, twice it to 1 (the score exported per rule)."""
    return max(0.0, min(1.0, 0.5 * value / level)) if level > 0 else 1.0


def proven_over(field_name: str, value: float, target: float) -> bool:
    """Whether a latency p95 read from vLLM's histogram shows the quantile over ``target``.

    ``histogram_quantile`` interpolates inside a bucket: a p95 between the bucket bounds
    around the target (2.0 s lies in vLLM's (1.0, 2.5] TTFT bucket) only says that the
    p95 is somewhere in that bucket, over or under the target alike. Only a value beyond
    the first bound at or above the target proves it over; a target that is itself a
    bound (0.5 s, 2.5 s) is judged exactly. Fields without known bounds compare plainly.
    """
    bounds = LATENCY_BUCKETS.get(field_name)
    if not bounds:
        return value > target
    edge = next((b for b in bounds if b >= target), math.inf)
    return value > edge


def _no_load(signals: Signals, ready: int) -> bool | None:
    waiting, running = value_of(signals, "waiting_requests"), value_of(signals, "running_requests")
    if waiting is None or running is None:
        return None
    return not capacity_bound(waiting, running, ready)


def had_load(signals: Signals, ready: int) -> bool | None:
    """The decider's "load" at this tick (a queue, or more than one running per ready replica)."""
    no_load = _no_load(signals, ready)
    return None if no_load is None else not no_load


def check_errors(signals: Signals, s: AnomalySettings, log_evidence: str | None = None) -> Finding:
    ratio, rate = value_of(signals, "error_ratio"), value_of(signals, "log_error_rate")
    raised, parts = [], []
    if ratio is not None:
        parts.append(f"error_ratio {ratio:.3g}")
        if ratio >= s.error_ratio_raise:
            raised.append(f"error_ratio {ratio:.3g} >= {s.error_ratio_raise:g}")
    if rate is not None:
        parts.append(f"log errors {rate:.3g}/s")
        if rate >= s.log_error_rate_raise:
            raised.append(f"log errors {rate:.3g}/s >= {s.log_error_rate_raise:g}/s")
    cleared = (ratio is None or ratio <= s.error_ratio_clear) and (rate is None or rate <= s.log_error_rate_clear)
    verdict: Verdict = "raise" if raised else ("clear" if cleared and (ratio is not None or rate is not None) else "hold")
    waiting = value_of(signals, "waiting_requests")
    queue = waiting is not None and waiting > 0
    evidence = "; ".join(raised or parts or ["error_ratio and log errors missing"])
    if log_evidence:
        evidence += f"; {log_evidence}"
    evidence += f"; waiting {waiting:g}" if waiting is not None else "; waiting unknown"
    score = max(_graded(ratio or 0.0, s.error_ratio_raise), _graded(rate or 0.0, s.log_error_rate_raise))
    return Finding(
        "VllmErrorBurst", "errors", "page", verdict, evidence,
        "Serving errors without a queue: more replicas would not help" if not queue else "Serving errors",
        score=score, guard=not queue,
    )


def check_latency_without_load(policy: ScalingPolicy, signals: Signals, ready: int,
                               s: AnomalySettings | None = None, loaded_in_window: bool = False) -> Finding:
    """``loaded_in_window``: an earlier tick inside the p95's window had load (the p95 covers
    requests that met that queue, though the tick's own gauges show none)."""
    s = s or AnomalySettings()
    no_load = _no_load(signals, ready)
    if no_load and loaded_in_window:
        no_load = False
    over: list[str] = []
    unproven: list[str] = []
    under, missing = 0, 0
    for fld, attr, label in SLO_CHECKS.values():
        v = value_of(signals, fld)
        target = float(getattr(policy.slo, attr))
        if v is None:
            missing += 1
        elif proven_over(fld, v, target):
            over.append(f"{label} {v:.3g} s > {target:g} s")
        elif v > target:
            unproven.append(f"{label} {v:.3g} s (over {target:g} s inside its histogram bucket: not proven)")
        else:
            under += 1
    waiting, running = value_of(signals, "waiting_requests"), value_of(signals, "running_requests")
    load = f"waiting {waiting if waiting is not None else 'unknown'}, running {running if running is not None else 'unknown'} on {ready} ready"
    verdict: Verdict
    rate = value_of(signals, "request_rate")
    sampled = None if rate is None else rate * s.p95_window_s
    itl_only = bool(over) and all(o.startswith("itl ") for o in over)
    if over and no_load and itl_only:
        # chunked prefill puts a long prompt's prefill into the decode steps beside it: an
        # inter-token p95 over its SLO with a fast first token is the workload, not a slow replica
        verdict = "hold"
        over.append("inter-token latency alone, first tokens within SLO: prefill interference, not evidence")
    elif over and no_load and sampled is not None and sampled < s.p95_min_requests:
        verdict = "hold"  # a p95 of a handful of requests is no evidence either way
        over.append(f"over ~{sampled:.0f} requests only (< {s.p95_min_requests:g}): not evidence")
    elif over and no_load:
        verdict = "raise"
    elif not over and under and not unproven:
        verdict = "clear"
    elif over and no_load is False:
        verdict = "clear"  # latency with load behind it is demand, the decider's job
        if loaded_in_window and _no_load(signals, ready):
            over.append("load earlier in the window")
    else:
        verdict = "hold"
    evidence = f"{'; '.join(over + unproven) or 'latency within SLO'} with {load}"
    return Finding(
        "VllmLatencyWithoutLoad", "latency", "ticket", verdict, evidence,
        "Latency over SLO with no load behind it: a slow replica, not missing capacity",
        score=1.0 if verdict == "raise" else 0.0, guard=True,
    )


def check_replica_lost(previous: ReplicaStatus | None, status: ReplicaStatus) -> Finding:
    """A replica left service unplanned: fewer ready than at the last tick while the spec
    did not shrink (a crash, a hang failing its readiness probe, a node gone). Raised on
    the tick it happens; clear once every replica of the spec is ready again."""
    verdict: Verdict = "hold"
    lost = previous is not None and status.ready < previous.ready and status.spec >= previous.spec
    if lost:
        assert previous is not None
        verdict = "raise"
        evidence = (f"ready replicas {previous.ready} -> {status.ready} while the spec went"
                    f" {previous.spec} -> {status.spec}")
    else:
        if status.ready >= status.spec:
            verdict = "clear"
        evidence = f"{status.ready} of {status.spec} replicas ready"
    return Finding("VllmReplicaLost", "availability", "ticket", verdict, evidence,
                   "A replica stopped serving without a scale-down", score=1.0 if lost else 0.0, raise_ticks=1)


def kv_share(shares: Sequence[float], s: AnomalySettings) -> float | None:
    """The KV share (of one replica's cache) one running request has lately held, at
    ``kv_share_quantile``; None until ``served_min`` calm ticks with requests running."""
    return _order_statistic(shares, s.kv_share_quantile, s.served_min)


def check_kv_leak(signals: Signals, shares: Sequence[float], s: AnomalySettings) -> Finding:
    """KV-cache usage the running requests do not explain: blocks held by no request (a leak
    in the engine or a connector), which shrink the batch and then queue requests.

    Idle (nothing running or waiting): any usage over ``kv_idle_floor`` raises, in one tick.
    Busy: usage over ``kv_floor`` + running x the share one request has held (its high
    quantile) raises; under ``kv_idle_floor`` + running x the median share clears; between,
    it holds (a small leak hides inside what busy requests may hold)."""
    used, running = value_of(signals, "kv_cache_usage_max"), value_of(signals, "running_requests")
    waiting = value_of(signals, "waiting_requests")
    share = kv_share(shares, s)
    verdict: Verdict = "hold"
    raise_ticks = None
    explained = None
    if used is None or running is None:
        evidence = "kv_cache_usage_max or running_requests missing"
    elif running == 0 and waiting == 0:
        explained = s.kv_idle_floor
        verdict = "raise" if used > explained else "clear"
        raise_ticks = 1
        evidence = (f"KV usage {used:.3g} of the fullest replica's cache with no request running or waiting"
                    f" (a block or two: up to {explained:g})")
    elif share is None:
        evidence = f"KV usage {used:.3g} with {running:g} running; KV share per request not learned yet"
    else:
        explained = s.kv_floor + running * share
        usual = s.kv_idle_floor + running * (_order_statistic(shares, 0.5, 1) or 0.0)
        verdict = "raise" if used > explained else ("clear" if used <= usual else "hold")
        evidence = (f"KV usage {used:.3g} of the fullest replica's cache with {running:g} requests running"
                    f" (they explain up to {explained:.3g}: {s.kv_floor:g} + {running:g} x {share:.3g} per request)")
    score = 0.0 if explained is None else _graded(used or 0.0, explained)
    return Finding("VllmKvCacheLeak", "capacity", "ticket", verdict, evidence,
                   "KV cache held that no running request explains: a leak", score=score, raise_ticks=raise_ticks)


def baseline(history: Sequence[float], s: AnomalySettings) -> float | None:
    """Median of the calm TTFT p95 samples kept; None until ``baseline_min`` of them."""
    if len(history) < s.baseline_min:
        return None
    return float(statistics.median(history))


def _order_statistic(values: Sequence[float], q: float, min_n: int) -> float | None:
    """The smallest kept value with at least ``q`` of them at or below it; None under ``min_n``."""
    if len(values) < min_n:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)])


def served_envelope(served: Sequence[float], s: AnomalySettings) -> float | None:
    """The per-replica request rate the fleet has lately held within the SLO (None until
    ``served_min`` ticks within it)."""
    return _order_statistic(served, s.served_quantile, s.served_min)


def check_latency_spike(policy: ScalingPolicy, signals: Signals, history: Sequence[float], s: AnomalySettings,
                        rate_history: Sequence[float] = (), served: Sequence[float] = (),
                        ready: int = 1, arrival_rates: Sequence[float] = ()) -> Finding:
    """TTFT p95 ``spike_factor`` x its calm median and proven over the SLO (:func:`proven_over`),
    while demand (the request rate against its calm median, ``rate_history``) grew less than
    ``spike_demand_factor`` x and the rate per ready replica is within the served envelope
    (:func:`served_envelope` of ``served``): latency that rose with the load is the decider's
    business, not a fault.

    When every replica is about as slow as the fleet (the fastest replica's own p95 within
    ``fleet_wide_spread`` x of the fleet's), demand is also judged by the highest request rate
    of the ticks in which the p95's requests arrived (``arrival_rates``: the last p95 window
    plus the p95 itself): a queue a burst built is timed after the burst, when the rate has
    fallen back. While one replica is slow and another serves at a fraction of the fleet's
    p95, the slowness is that replica's, and only the demand now counts."""
    v = value_of(signals, "ttft_p95")
    base = baseline(history, s)
    slo = policy.slo.ttft_p95_s
    verdict: Verdict = "hold"
    with_load = False
    if v is not None and base is not None and base > 0:
        ratio = v / base
        rate, rate_base = value_of(signals, "request_rate"), baseline(rate_history, s)
        demand = rate / rate_base if rate is not None and rate_base else None
        envelope = served_envelope(served, s)
        per_replica = None if rate is None else rate / max(1, ready)
        beyond = per_replica is not None and envelope is not None and per_replica > envelope
        fastest = value_of(signals, "ttft_p95_fastest_replica")
        fleet_wide = fastest is not None and fastest * s.fleet_wide_spread >= v
        peak = max([r for r in arrival_rates if math.isfinite(r)], default=None) if fleet_wide else None
        arrived = peak / rate_base if peak is not None and rate_base else None
        with_load = ((demand is not None and demand >= s.spike_demand_factor) or beyond
                     or (arrived is not None and arrived >= s.spike_demand_factor))
        if ratio >= s.spike_factor and proven_over("ttft_p95", v, slo) and not with_load:
            verdict = "raise"
        elif ratio <= s.spike_clear_factor or v <= slo or with_load:
            verdict = "clear"
        evidence = f"ttft p95 {v:.3g} s = {ratio:.1f}x its baseline {base:.3g} s (SLO {slo:g} s)"
        if demand is not None:
            evidence += f"; demand {demand:.2f}x its baseline"
        if arrived is not None and arrived > (demand or 0.0):
            evidence += f" ({arrived:.2f}x while the slowest of these requests arrived, on every replica)"
        if beyond:
            evidence += (f"; {per_replica:.3g} req/s per ready replica, past the {envelope:.3g} the fleet"
                         " has held within the SLO")
        if with_load:
            evidence += ": load, not a fault"
        score = _graded(ratio, s.spike_factor)
    else:
        evidence = "ttft p95 missing" if v is None else f"ttft p95 {v:.3g} s, baseline not learned yet"
        score = 0.0
    return Finding("VllmLatencySpike", "latency", "ticket", verdict, evidence,
                   "Time to first token jumped well above its recent level", score=score, load=with_load)


# Signals that rise with the demand itself: a detector's strong score on one of them while the
# latency check judges the tick load (demand up, past the served envelope, or the burst that
# built the queue on every replica) is the load, which the decider answers, not a fault.
LOAD_FOLLOWING = frozenset({"waiting_requests", "ttft_p95"})


def check_scores(scores: dict[str, tuple[str, float]], s: AnomalySettings, seen: int | None = None,
                 low_side: frozenset[str] | set[str] = frozenset(), load: bool = False) -> list[Finding]:
    """One finding per scored signal: ``scores[signal] = (detector, score)``; NaN holds, and so
    does a score while the target has had fewer than ``learning_ticks`` ticks (``seen``), one
    whose signal reads at or under its recent median (``low_side``: every watched signal is bad
    only when high), and one on a signal that follows the load (:data:`LOAD_FOLLOWING`) while
    the latency check judged this tick's latency load (``load``)."""
    out = []
    learning = seen is not None and seen < s.learning_ticks
    for signal, (detector, score) in sorted(scores.items()):
        verdict: Verdict = "hold"
        if math.isfinite(score):
            verdict = "raise" if score >= s.score_raise else ("clear" if score <= s.score_clear else "hold")
        evidence = f"{signal} scored {score:.2f} by {detector} (raise {s.score_raise:g})"
        if learning and verdict == "raise":
            verdict = "hold"
            evidence += f"; learning: {seen} of {s.learning_ticks} ticks seen"
        elif signal in low_side and verdict == "raise":
            verdict = "hold"
            evidence += "; at or under its recent median: unusually low, which is not a fault"
        elif load and signal in LOAD_FOLLOWING and verdict == "raise":
            verdict = "hold"
            evidence += "; the latency came with the load this tick: a queue the demand built is not a fault"
        out.append(
            Finding(
                "VllmSignalAnomaly", "anomaly", "info", verdict,
                evidence,
                f"{signal} behaves unlike its own history", key=signal,
                score=score if math.isfinite(score) else 0.0,
                labels={"signal": signal, "detector": detector},
                # The detectors already damp themselves (a rest period after a strong score):
                # their first strong score is the incident.
                raise_ticks=1,
            )
        )
    return out


@dataclass
class _Track:
    hits: int = 0
    misses: int = 0
    active: bool = False
    since: float | None = None


class Hysteresis:
    """Per finding: active after ``raise_ticks`` consecutive raises, resolved after
    ``clear_ticks`` consecutive clears; ``hold`` breaks both streaks."""

    def __init__(self, raise_ticks: int, clear_ticks: int) -> None:
        self.raise_ticks = raise_ticks
        self.clear_ticks = clear_ticks
        self._tracks: dict[str, _Track] = {}

    def step(self, ident: str, verdict: Verdict, now: float, raise_ticks: int | None = None) -> bool:
        """Feed one verdict; return whether the finding is active now."""
        t = self._tracks.setdefault(ident, _Track())
        if verdict == "raise":
            if t.hits == 0 and not t.active:
                t.since = now
            t.hits, t.misses = t.hits + 1, 0
            if t.hits >= (raise_ticks or self.raise_ticks):
                t.active = True
        elif verdict == "clear":
            t.hits, t.misses = 0, t.misses + 1
            if t.active and t.misses >= self.clear_ticks:
                t.active, t.since = False, None
        else:
            t.hits = t.misses = 0
        return t.active

    def since(self, ident: str) -> float | None:
        t = self._tracks.get(ident)
        return t.since if t is not None else None

    def state(self) -> dict[str, Any]:
        return {k: [t.hits, t.misses, t.active, t.since] for k, t in self._tracks.items()}

    def restore(self, state: dict[str, Any]) -> None:
        self._tracks = {
            str(k): _Track(int(v[0]), int(v[1]), bool(v[2]), None if v[3] is None else float(v[3]))
            for k, v in state.items()
        }
