"""The anomaly advisor: every tick, per target, run the detectors and checks, hold a
scale-up behind a broken replica, and alert.

Owns: :class:`AnomalyAdvisor` (an :class:`~controlplane.protocols.Advisor`)
around the pure :class:`~controlplane.advisors.anomaly_guard.AnomalyGuard`
(per-target detectors, hysteresis, latency baseline; saveable with
``state()``/``restore()``): reading the log evidence, exporting ``controlplane_anomaly_score`` and turning
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
from collections.abc import Callable
from typing import Any

from controlplane.advisors.anomaly_bank import DetectorBank
from controlplane.advisors.anomaly_guard import AnomalyGuard
from controlplane.advisors.anomaly_rules import AnomalySettings, Finding
from controlplane.notify.book import AlertBook
from controlplane.policy.model import KubernetesTarget, LocalTarget, ScalingPolicy
from controlplane.protocols import Advice, Alert, Notifier, ReplicaStatus
from controlplane.signals import Signals
from controlplane.sources.logs import LogReading
from controlplane.telemetry import ControllerMetrics

__all__ = ["AnomalyAdvisor", "RUNBOOK_BASE_URL", "ALERT_NAMES"]

log = logging.getLogger(__name__)

#: Where runbooks/<AlertName>.md is served; the same default as the generated alert rules.
RUNBOOK_BASE_URL = "https://example.com/llm-controlplane/runbooks"
ALERT_NAMES = ("VllmErrorBurst", "VllmLatencyWithoutLoad", "VllmLatencySpike", "VllmReplicaLost", "VllmKvCacheLeak",
               "VllmSignalAnomaly")


class AnomalyAdvisor:
    """One instance serves every policy; the :class:`AnomalyGuard` keeps state per target key.

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
        self.guard = AnomalyGuard(settings, bank=bank, min_step_s=min_step_s)
        self.settings = self.guard.settings
        self.metrics = metrics
        self.notifier = notifier
        self.book = book or AlertBook()
        self.logs = logs
        self.runbook_base_url = runbook_base_url.rstrip("/")
        self._lock = threading.Lock()

    def advise(self, policy: ScalingPolicy, signals: Signals, status: ReplicaStatus, now: float) -> Advice:
        key = policy.target_key
        reading = self.logs(key) if self.logs is not None else None
        evidence = reading.errors.summary() if reading is not None and reading.errors and reading.errors.errors else None
        with self._lock:
            a = self.guard.assess(policy, signals, status, now, evidence)
            if a.repeated:
                return a.advice
            alerts = [self._alert(policy, f, a.since[f.ident], f in a.guards) for f in a.active]
            to_send = self.book.update(key, alerts, now)
        self._export(policy, list(a.findings))
        self._send(to_send, now)
        return a.advice

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
            return self.guard.state()

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.guard.restore(state)

    def close(self) -> None:
        close = getattr(self.notifier, "close", None)
        if callable(close):
            close()
