"""The anomaly advisor: every tick, per target, run the detectors and checks, hold a
scale-up behind a broken replica, and alert.

Owns: :class:`AnomalyAdvisor` (an :class:`~controlplane.loop.Advisor`), its
per-target state (detectors, hysteresis, latency baseline; saveable with
``state()``/``restore()``), exporting ``controlplane_anomaly_score`` and turning
active findings into Alertmanager alerts through an
:class:`~controlplane.notify.book.AlertBook` and a notifier.
Must not import: a client library; alerts leave through the
:class:`~controlplane.protocols.Notifier` it is given.

What it returns: ``Advice(guard=..., anomalies=...)``. ``anomalies`` lists the
active findings (``"VllmErrorBurst: error_ratio 0.42 >= 0.05; ..."``), which the
loop puts on the decision. ``guard`` is set while a guard finding (see
:mod:`~controlplane.advisors.anomaly_rules`) is raised this tick or still
active: the decider then holds any scale-up at the current count, with the
reason in the decision. Alerts go out once a finding is active and resolve
(``endsAt``) when hysteresis clears it. Nothing here raises into the tick: a
detector or notifier failure is logged and counted.
"""

from __future__ import annotations

import logging
import math
import threading
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
    check_latency_spike,
    check_latency_without_load,
    check_scores,
)
from controlplane.loop import Advice
from controlplane.notify.book import AlertBook
from controlplane.policy.model import KubernetesTarget, LocalTarget, ScalingPolicy
from controlplane.protocols import Alert, Notifier, ReplicaStatus
from controlplane.signals import Signals
from controlplane.sources.logs import LogReading
from controlplane.telemetry import ControllerMetrics

__all__ = ["AnomalyAdvisor", "RUNBOOK_BASE_URL", "ALERT_NAMES"]

log = logging.getLogger(__name__)

#: Where runbooks/<AlertName>.md is served; the same default as the generated alert rules.
RUNBOOK_BASE_URL = "https://example.com/llm-controlplane/runbooks"
ALERT_NAMES = ("VllmErrorBurst", "VllmLatencyWithoutLoad", "VllmLatencySpike", "VllmSignalAnomaly")
STATE_VERSION = 1


@dataclass
class _Target:
    bank: DetectorBank
    hysteresis: Hysteresis
    calm_ttft: deque[float]
    last_now: float | None = None
    last_advice: Advice = field(default_factory=Advice)


class AnomalyAdvisor:
    """One instance serves every policy; state is kept per target key.

    ``logs`` returns the log source's latest reading of a target (per-class
    evidence). ``min_step_s``: a second call for a target sooner than this
    (a dry-run beside the tick) returns the last advice without feeding the
    detectors again.
    """

    def __init__(
        self,
        settings: AnomalySettings | None = None,
        *,
        metrics: ControllerMetrics | None = None,
        notifier: Notifier | None = None,
        book: AlertBook | None = None,
        logs: Callable[[str], LogReading | None] | None = None,
        bank: Callable[[], DetectorBank] = DetectorBank,
        runbook_base_url: str = RUNBOOK_BASE_URL,
        min_step_s: float = 0.5,
    ) -> None:
        self.settings = settings or AnomalySettings()
        self.metrics = metrics
        self.notifier = notifier
        self.book = book or AlertBook()
        self.logs = logs
        self.make_bank = bank
        self.runbook_base_url = runbook_base_url.rstrip("/")
        self.min_step_s = min_step_s
        self._targets: dict[str, _Target] = {}
        self._lock = threading.Lock()

    def _target(self, key: str) -> _Target:
        t = self._targets.get(key)
        if t is None:
            s = self.settings
            t = _Target(self.make_bank(), Hysteresis(s.raise_ticks, s.clear_ticks), deque(maxlen=s.baseline_ticks))
            self._targets[key] = t
        return t

    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice:
        key = policy.target_key
        with self._lock:
            t = self._target(key)
            if t.last_now is not None and now - t.last_now < self.min_step_s:
                return t.last_advice
            findings = self._findings(policy, signals, status, t, now)
            active = [f for f in findings if t.hysteresis.step(f.ident, f.verdict, now, f.raise_ticks)]
            ttft = signals.ttft_p95
            spiking = any(f.name == "VllmLatencySpike" and (f.verdict == "raise" or f in active) for f in findings)
            if ttft.ok and ttft.value is not None and not spiking:
                t.calm_ttft.append(ttft.value)
            guards = [f for f in findings if f.guard and (f in active or f.verdict == "raise")]
            advice = Advice(
                guard="; ".join(f"{f.name}: {f.evidence}" for f in guards) or None,
                anomalies=tuple(f"{f.ident}: {f.evidence}" for f in active),
            )
            t.last_now, t.last_advice = now, advice
            alerts = [self._alert(policy, f, t.hysteresis.since(f.ident) or now, f in guards) for f in active]
            to_send = self.book.update(key, alerts, now)
        self._export(policy, findings)
        self._send(to_send, now)
        return advice

    def _findings(
        self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, t: _Target, now: float
    ) -> list[Finding]:
        s = self.settings
        try:
            scores = t.bank.update(signals, now)
        except Exception:
            log.exception("anomaly detectors failed for %s", policy.target_key)
            scores = {}
        reading = self.logs(policy.target_key) if self.logs is not None else None
        evidence = reading.errors.summary() if reading is not None and reading.errors and reading.errors.errors else None
        return [
            check_errors(signals, s, evidence),
            check_latency_without_load(policy, signals, status.ready),
            check_latency_spike(policy, signals, list(t.calm_ttft), s),
            *check_scores(scores, s),
        ]

    def _alert(self, policy: ScalingPolicy, f: Finding, since: float, guarding: bool) -> Alert:
        target = policy.target
        labels = {"target": policy.target_key, "policy": policy.name, "kind": f.kind, "severity": f.severity}
        if isinstance(target, KubernetesTarget):
            labels.update(namespace=target.namespace, deployment=target.deployment)
        elif isinstance(target, LocalTarget):
            labels["deployment"] = target.group
        if target.model_name:
            labels["model_name"] = target.model_name
        labels.update(f.labels)
        annotations = {
            "summary": f"{policy.target_key}: {f.summary}",
            "evidence": f.evidence,
            "runbook_url": f"{self.runbook_base_url}/{f.name}.md",
        }
        if guarding:
            annotations["guard"] = "scale-up held at the current replica count while this holds"
        return Alert(f.name, labels, annotations, since)

    def _export(self, policy: ScalingPolicy, findings: list[Finding]) -> None:
        if self.metrics is None:
            return
        gauge = self.metrics.anomaly_score
        for f in findings:
            signal, detector = (f.labels["signal"], f.labels["detector"]) if f.key else (f.name, "rule")
            if f.key and not math.isfinite(f.score):
                continue
            gauge.labels(policy.name, policy.target_key, signal, detector).set(f.score)

    def _send(self, alerts: list[Alert], now: float) -> None:
        if not alerts or self.notifier is None:
            return
        try:
            self.notifier.send(alerts, now)
        except Exception as exc:
            if self.metrics is not None:
                self.metrics.step_errors.labels("notify").inc()
            log.warning("could not hand %d alert(s) to the notifier: %s", len(alerts), exc)

    # -- saved state -------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything to continue after a restart (detectors, hysteresis, baselines); JSON-safe."""
        with self._lock:
            return {
                "version": STATE_VERSION,
                "targets": {
                    key: {
                        "bank": t.bank.state(),
                        "hysteresis": t.hysteresis.state(),
                        "calm_ttft": list(t.calm_ttft),
                        "last_now": t.last_now,
                    }
                    for key, t in self._targets.items()
                },
            }

    def restore(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(f"state.version: expected {STATE_VERSION}, got {state.get('version') if isinstance(state, dict) else state!r}")
        with self._lock:
            self._targets = {}
            for key, saved in state.get("targets", {}).items():
                t = self._target(key)
                t.bank.restore(saved["bank"])
                t.hysteresis.restore(saved["hysteresis"])
                t.calm_ttft.extend(float(v) for v in saved["calm_ttft"])
                t.last_now = saved.get("last_now")

    def close(self) -> None:
        close = getattr(self.notifier, "close", None)
        if callable(close):
            close()
