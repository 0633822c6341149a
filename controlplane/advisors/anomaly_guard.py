"""The anomaly guard: every tick, per target, the detectors and checks, and the scale-up hold.

Owns: :class:`AnomalyGuard` (an :class:`~controlplane.protocols.Advisor`) and the
:class:`Assessment` of one tick. Pure: no I/O, no clock; the live
:class:`~controlplane.advisors.anomaly.AnomalyAdvisor` adds alerts, metrics and
log evidence around it, the simulator runs it as it is.
Must not import: any I/O library.

What it returns: ``Advice(guard=..., anomalies=...)``. ``anomalies`` lists the
active findings (``"VllmErrorBurst: error_ratio 0.42 >= 0.05; ..."``), which
the tick puts on the decision. ``guard`` is set while a guard finding (see
:mod:`~controlplane.advisors.anomaly_rules`) is raised this tick or still
active: the decider then holds any scale-up at the current count, with the
reason in the decision. A detector failure is logged and scores nothing.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controlplane.advisors.anomaly_bank import DetectorBank
from controlplane.advisors.anomaly_rules import (
    AnomalySettings,
    Finding,
    Hysteresis,
    check_errors,
    check_kv_leak,
    check_latency_spike,
    check_latency_without_load,
    check_replica_lost,
    check_scores,
    had_load,
    value_of,
)
from controlplane.policy.model import ScalingPolicy
from controlplane.protocols import Advice
from controlplane.signals import ReplicaStatus, Signals

__all__ = ["AnomalyGuard", "Assessment", "STATE_VERSION"]

log = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass
class _Target:
    bank: DetectorBank
    hysteresis: Hysteresis
    calm_ttft: deque[float]
    calm_rate: deque[float]
    loaded_at: deque[float] = field(default_factory=lambda: deque(maxlen=64))  # ticks that had load
    rates: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=64))  # (time, request rate)
    served: deque[float] = field(default_factory=deque)  # per-replica rates of ticks within the TTFT SLO
    seen: int = 0  # ticks fed to the detectors: their learning period
    kv_shares: deque[float] = field(default_factory=deque)  # KV usage per running request, calm ticks
    last_status: ReplicaStatus | None = None
    last_now: float | None = None
    last_advice: Advice = field(default_factory=Advice)


@dataclass(frozen=True)
class Assessment:
    """One tick's findings for a target; ``repeated`` when it is the last tick's (``min_step_s``)."""

    advice: Advice
    findings: tuple[Finding, ...] = ()
    active: tuple[Finding, ...] = ()
    guards: tuple[Finding, ...] = ()
    since: dict[str, float] = field(default_factory=dict)
    repeated: bool = False


class AnomalyGuard:
    """One instance serves every policy; state is kept per target key.

    ``min_step_s``: a second call for a target sooner than this (a dry-run beside
    the tick) returns the last advice without feeding the detectors again.
    """

    def __init__(
        self,
        settings: AnomalySettings | None = None,
        *,
        bank: Callable[[], DetectorBank] = DetectorBank,
        min_step_s: float = 0.5,
    ) -> None:
        self.settings = settings or AnomalySettings()
        self.make_bank = bank
        self.min_step_s = min_step_s
        self._targets: dict[str, _Target] = {}

    def _target(self, key: str) -> _Target:
        t = self._targets.get(key)
        if t is None:
            s = self.settings
            t = _Target(self.make_bank(), Hysteresis(s.raise_ticks, s.clear_ticks), deque(maxlen=s.baseline_ticks),
                        deque(maxlen=s.baseline_ticks), served=deque(maxlen=s.served_ticks),
                        kv_shares=deque(maxlen=s.served_ticks))
            self._targets[key] = t
        return t

    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice:
        return self.assess(policy, signals, status, now).advice

    def assess(
        self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float, log_evidence: str | None = None
    ) -> Assessment:
        """``log_evidence``: what the log source saw of the target's errors, for the error check."""
        t = self._target(policy.target_key)
        if t.last_now is not None and now - t.last_now < self.min_step_s:
            return Assessment(t.last_advice, repeated=True)
        findings = self._findings(policy, signals, status, t, now, log_evidence)
        active = [f for f in findings if t.hysteresis.step(f.ident, f.verdict, now, f.raise_ticks)]
        self._remember(t, policy, signals, status, findings, active)
        guards = [f for f in findings if f.guard and (f in active or f.verdict == "raise")]
        advice = Advice(
            guard="; ".join(f"{f.name}: {f.evidence}" for f in guards) or None,
            anomalies=tuple(f"{f.ident}: {f.evidence}" for f in active),
        )
        t.last_now, t.last_advice = now, advice
        since = {f.ident: t.hysteresis.since(f.ident) or now for f in active}
        return Assessment(advice, tuple(findings), tuple(active), tuple(guards), since)

    @staticmethod
    def _remember(t: _Target, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus,
                  findings: list[Finding], active: list[Finding]) -> None:
        """Keep this tick's readings for the baselines the rules judge by: the calm TTFT and
        rate (not while a spike is raised or active), the per-replica rate served within the
        SLO, and the KV share per running request (not while a leak is raised or active)."""

        def raised(name: str) -> bool:
            return any(f.name == name and (f.verdict == "raise" or f in active) for f in findings)

        ttft, rate = value_of(signals, "ttft_p95"), value_of(signals, "request_rate")
        used, running = value_of(signals, "kv_cache_usage_max"), value_of(signals, "running_requests")
        if ttft is not None and not raised("VllmLatencySpike"):
            t.calm_ttft.append(ttft)
            if rate is not None:
                t.calm_rate.append(rate)
        if ttft is not None and ttft <= policy.slo.ttft_p95_s and rate is not None and status.ready > 0:
            t.served.append(rate / status.ready)
        if used is not None and running is not None and running >= 1 and not raised("VllmKvCacheLeak"):
            t.kv_shares.append(used / running)

    def _findings(
        self,
        policy: ScalingPolicy,
        signals: Signals,
        status: ReplicaStatus,
        t: _Target,
        now: float,
        log_evidence: str | None,
    ) -> list[Finding]:
        s = self.settings
        try:
            scores = t.bank.update(signals, now)
        except Exception:
            log.exception("anomaly detectors failed for %s", policy.target_key)
            scores = {}
        t.seen += 1
        if had_load(signals, status.ready):
            t.loaded_at.append(now)
        window = [at for at in t.loaded_at if now - s.p95_window_s < at < now]
        rate, ttft = value_of(signals, "request_rate"), value_of(signals, "ttft_p95")
        if rate is not None:
            t.rates.append((now, rate))
        # the ticks in which the requests of this p95 arrived: its window, and the p95 before it
        arrival = s.p95_window_s + (ttft or 0.0)
        arrival_rates = [r for at, r in t.rates if now - arrival < at <= now]
        previous, t.last_status = t.last_status, status
        spike = check_latency_spike(policy, signals, list(t.calm_ttft), s, list(t.calm_rate), t.served,
                                    status.ready, arrival_rates)
        return [
            check_replica_lost(previous, status),
            check_errors(signals, s, log_evidence),
            check_latency_without_load(policy, signals, status.ready, s, loaded_in_window=bool(window)),
            spike,
            check_kv_leak(signals, t.kv_shares, s),
            *check_scores(scores, s, t.seen, t.bank.low_side, load=spike.load),
        ]

    # -- saved state -------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything to continue after a restart (detectors, hysteresis, baselines); JSON-safe."""
        return {
            "version": STATE_VERSION,
            "targets": {
                key: {
                    "bank": t.bank.state(),
                    "hysteresis": t.hysteresis.state(),
                    "calm_ttft": list(t.calm_ttft),
                    "calm_rate": list(t.calm_rate),
                    "served": [round(v, 6) for v in t.served],
                    "seen": t.seen,
                    "kv_shares": [round(v, 6) for v in t.kv_shares],
                    "last_now": t.last_now,
                }
                for key, t in self._targets.items()
            },
        }

    def restore(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            got = state.get("version") if isinstance(state, dict) else state
            raise ValueError(f"state.version: expected {STATE_VERSION}, got {got!r}")
        self._targets = {}
        for key, saved in state.get("targets", {}).items():
            t = self._target(key)
            t.bank.restore(saved["bank"])
            t.hysteresis.restore(saved["hysteresis"])
            t.calm_ttft.extend(float(v) for v in saved["calm_ttft"])
            t.calm_rate.extend(float(v) for v in saved.get("calm_rate", ()))  # absent in older state
            t.served.extend(float(v) for v in saved.get("served", ()))
            t.seen = int(saved.get("seen", 0))
            t.kv_shares.extend(float(v) for v in saved.get("kv_shares", ()))
            t.last_now = saved.get("last_now")
