"""The anomaly advisor over scripted ticks: guard, decision anomalies, score gauge,
alerts fired and resolved through the book, saved state, and a loop wired with it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controlplane.advisors.anomaly import AnomalyAdvisor
from controlplane.advisors.anomaly_bank import DetectorBank
from controlplane.advisors.anomaly_rules import AnomalySettings
from controlplane.detect.registry import make_detector
from controlplane.loop import ControlLoop, StaticPolicies
from controlplane.notify.book import AlertBook
from controlplane.policy.decide import decide
from controlplane.policy.decision import Decision
from controlplane.policy.model import ScalingPolicy
from controlplane.policy.state import DecisionState
from controlplane.protocols import Alert, ReplicaStatus, ScaleResult
from controlplane.signals import Reading, Signals
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog
from controlplane.telemetry import ControllerMetrics
from tests.policy.build import T0, policy

CALM = {"request_rate": 2.0, "waiting_requests": 0, "running_requests": 1, "kv_cache_usage_mean": 0.1,
        "kv_cache_usage_max": 0.1, "ttft_p95": 0.2, "itl_p95": 0.02, "e2e_p95": 2.0, "error_ratio": 0.0}
STATUS = ReplicaStatus(2, 2, 0)


def _signals(now: float, **over: float) -> Signals:
    values = {**CALM, **over}
    return Signals("default/vllm", now, **{k: Reading.of(v, now) for k, v in values.items()})


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Alert] = []

    def send(self, alerts: list[Alert], now: float) -> None:
        self.sent.extend(alerts)


def _small_bank() -> DetectorBank:
    """Detectors that learn in 20 ticks, so a test can reach scores."""

    def factory(kind: str) -> Any:
        if kind == "tail":
            return make_detector("tail", learn=20)
        return make_detector("iforest", min_fit=10, window=40, refit_every=10, trees=10)

    return DetectorBank(factory, univariate="tail")


def test_error_burst_guards_alerts_and_resolves() -> None:
    metrics, rec = ControllerMetrics(), Recorder()
    adv = AnomalyAdvisor(metrics=metrics, notifier=rec, book=AlertBook(resend_s=60))
    p = policy()
    script = [0.0] * 3 + [0.4] * 3 + [0.0] * 4  # error ratio per tick, 15 s apart
    advices = [adv.advise(p, _signals(T0 + 15 * i, error_ratio=e), STATUS, T0 + 15 * i) for i, e in enumerate(script)]
    # Tick 3: first 40% tick -> guard at once, not yet an anomaly (raise_ticks 2).
    assert advices[3].guard and advices[3].guard.startswith("VllmErrorBurst: error_ratio 0.4 >= 0.05")
    assert advices[3].anomalies == ()
    # Tick 4: active -> an anomaly on the decision and one firing alert, started at tick 3.
    assert advices[4].anomalies[0].startswith("VllmErrorBurst: error_ratio 0.4")
    firing = [a for a in rec.sent if a.ends_at is None]
    assert [a.name for a in firing] == ["VllmErrorBurst"]
    a = firing[0]
    assert a.starts_at == T0 + 45
    assert a.labels == {"target": "default/vllm", "policy": "chat", "kind": "errors", "severity": "page",
                        "namespace": "default", "deployment": "vllm"}
    assert a.annotations["runbook_url"] == "https://example.com/llm-controlplane/runbooks/VllmErrorBurst.md"
    assert "guard" in a.annotations
    # Ticks 6, 7, 8 clear -> still active (guard held) until the 3rd clear at tick 8.
    assert advices[7].guard is not None and advices[8].guard is None
    resolved = [a for a in rec.sent if a.ends_at is not None]
    assert [(a.name, a.ends_at) for a in resolved] == [("VllmErrorBurst", T0 + 120)]
    assert metrics.registry.get_sample_value(
        "controlplane_anomaly_score",
        {"policy": "chat", "target": "default/vllm", "signal": "VllmErrorBurst", "detector": "rule"},
    ) == 0.0


def test_guard_holds_the_scale_up_the_decider_would_make() -> None:
    adv = AnomalyAdvisor()
    p = policy(signals={"waiting_requests": None, "running_requests": 0.4, "kv_cache_usage": None})
    # running 1 on 2 ready with a 0.4 target asks ceil(1 / 0.4) = 3 > 2; the 40% error burst holds it at 2.
    sig = _signals(T0, error_ratio=0.4)
    advice = adv.advise(p, sig, STATUS, T0)
    d, _ = decide(p, sig, DecisionState.fresh(p.target_key), T0, STATUS, guard=advice.guard)
    assert d.binding == "anomaly_guard" and d.desired == 2
    assert any("anomaly guard holds scale-up 2 -> 3: VllmErrorBurst" in r for r in d.reasons)


def _calm_for_six_ticks() -> tuple[Recorder, AnomalyAdvisor, ScalingPolicy]:
    """An advisor that has seen six calm ticks: a TTFT p95 baseline of 0.5 s at the calm rate."""
    rec = Recorder()
    adv = AnomalyAdvisor(notifier=rec)
    p = policy()
    for i in range(6):
        adv.advise(p, _signals(T0 + i, ttft_p95=0.5), STATUS, T0 + i)
    return rec, adv, p


def test_latency_spike_is_not_a_guard() -> None:
    rec, adv, p = _calm_for_six_ticks()
    # 0.5 s calm baseline; 3 s with a queue is 6x the baseline and over the 2 s SLO.
    busy = {"ttft_p95": 3.0, "waiting_requests": 5, "running_requests": 8}
    adv.advise(p, _signals(T0 + 6, **busy), STATUS, T0 + 6)
    second = adv.advise(p, _signals(T0 + 7, **busy), STATUS, T0 + 7)
    assert second.guard is None
    assert second.anomalies == (
        "VllmLatencySpike: ttft p95 3 s = 6.0x its baseline 0.5 s (SLO 2 s); demand 1.00x its baseline",
    )
    assert [a.name for a in rec.sent] == ["VllmLatencySpike"]


def test_latency_spike_that_came_with_the_demand_is_load_not_a_fault() -> None:
    rec, adv, p = _calm_for_six_ticks()
    rate = CALM["request_rate"]
    # the same 6x TTFT, but twice the calm request rate behind it (a burst): no finding
    busy = {"ttft_p95": 3.0, "waiting_requests": 5, "running_requests": 8, "request_rate": 2.0 * rate}
    for k in (6, 7, 8):
        advice = adv.advise(p, _signals(T0 + k, **busy), STATUS, T0 + k)
    assert advice.anomalies == () and rec.sent == []
    # at 1.4x the demand the same TTFT is a spike (under the 1.5x load factor)
    slow = {**busy, "request_rate": 1.4 * rate}
    for k in (9, 10):
        advice = adv.advise(p, _signals(T0 + k, **slow), STATUS, T0 + k)
    assert [a.split(":")[0] for a in advice.anomalies] == ["VllmLatencySpike"]


def test_a_burst_queue_timed_after_the_burst_is_load_on_every_replica_only() -> None:
    rate = CALM["request_rate"]
    burst = {"ttft_p95": 3.0, "request_rate": 3.0 * rate, "ttft_p95_fastest_replica": 2.8, "waiting_requests": 5,
             "running_requests": 8}
    after = {"ttft_p95": 3.0, "request_rate": rate, "ttft_p95_fastest_replica": 2.8}
    # a burst, then two ticks with the rate back and the queue it built still timed, on every replica
    rec, adv, p = _calm_for_six_ticks()
    for k, sig in ((6, burst), (7, after), (8, after)):
        advice = adv.advise(p, _signals(T0 + k, **sig), STATUS, T0 + k)
    assert advice.anomalies == () and rec.sent == []
    # the same, with one replica still at its usual latency: that replica is slow, not the load
    rec, adv, p = _calm_for_six_ticks()
    one = {**after, "ttft_p95_fastest_replica": 0.5}
    for k, sig in ((6, {**burst, "ttft_p95_fastest_replica": 0.5}), (7, one), (8, one)):
        advice = adv.advise(p, _signals(T0 + k, **sig), STATUS, T0 + k)
    assert [a.split(":")[0] for a in advice.anomalies] == ["VllmLatencySpike"]


def test_failing_notifier_never_raises_and_is_counted() -> None:
    class Down:
        def send(self, alerts: list[Alert], now: float) -> None:
            raise ConnectionError("refused")

    metrics = ControllerMetrics()
    adv = AnomalyAdvisor(metrics=metrics, notifier=Down())
    p = policy()
    for i in range(3):
        adv.advise(p, _signals(T0 + i, error_ratio=0.5), STATUS, T0 + i)
    assert metrics.registry.get_sample_value("controlplane_step_errors_total", {"step": "notify"}) == 1


def test_second_call_within_min_step_reuses_the_advice() -> None:
    adv = AnomalyAdvisor()
    p = policy()
    first = adv.advise(p, _signals(T0, error_ratio=0.5), STATUS, T0)
    again = adv.advise(p, _signals(T0 + 0.1, error_ratio=0.5), STATUS, T0 + 0.1)  # a dry-run beside the tick
    assert again is first
    assert adv.advise(p, _signals(T0 + 1, error_ratio=0.5), STATUS, T0 + 1).anomalies  # 2nd real tick: active


def test_detector_scores_exported_and_a_strong_one_is_a_finding() -> None:
    metrics = ControllerMetrics()
    adv = AnomalyAdvisor(AnomalySettings(learning_ticks=30), metrics=metrics, bank=_small_bank)
    p = policy()
    for i in range(30):
        adv.advise(p, _signals(T0 + i, kv_cache_usage_max=0.10 + 0.001 * (i % 5)), STATUS, T0 + i)
    labels = {"policy": "chat", "target": "default/vllm", "signal": "kv_cache_usage_max", "detector": "tail"}
    first = adv.advise(p, _signals(T0 + 30, kv_cache_usage_max=0.99), STATUS, T0 + 30)
    # Far past every value seen: the tail detector scores ~1, exported and a finding at once
    # (detector findings need one tick: the detectors damp themselves).
    assert metrics.registry.get_sample_value("controlplane_anomaly_score", labels) >= 0.9
    assert any(a.startswith("VllmSignalAnomaly:kv_cache_usage_max") for a in first.anomalies), first.anomalies
    # The same value again is less surprising (score ~0.55): between clear and raise, still active.
    second = adv.advise(p, _signals(T0 + 31, kv_cache_usage_max=0.99), STATUS, T0 + 31)
    assert 0.5 < metrics.registry.get_sample_value("controlplane_anomaly_score", labels) < 0.9
    assert any(a.startswith("VllmSignalAnomaly:kv_cache_usage_max") for a in second.anomalies)


def test_detector_findings_wait_for_the_learning_period() -> None:
    # the same surprise on the 31st tick, with the default day-long learning period: the
    # score is exported, the finding holds and says why
    metrics = ControllerMetrics()
    adv = AnomalyAdvisor(metrics=metrics, bank=_small_bank)
    p = policy()
    for i in range(30):
        adv.advise(p, _signals(T0 + i, kv_cache_usage_max=0.10 + 0.001 * (i % 5)), STATUS, T0 + i)
    a = adv.guard.assess(p, _signals(T0 + 30, kv_cache_usage_max=0.99), STATUS, T0 + 30)
    labels = {"policy": "chat", "target": "default/vllm", "signal": "kv_cache_usage_max", "detector": "tail"}
    held = [f for f in a.findings if f.ident == "VllmSignalAnomaly:kv_cache_usage_max"]
    assert held and held[0].score >= 0.9
    assert held[0].verdict == "hold" and "learning: 31 of 5760 ticks seen" in held[0].evidence
    assert not a.advice.anomalies
    adv.advise(p, _signals(T0 + 31, kv_cache_usage_max=0.10), STATUS, T0 + 31)
    assert metrics.registry.get_sample_value("controlplane_anomaly_score", labels) is not None


def test_a_kv_leak_on_a_quiet_fleet_raises_and_is_not_learned() -> None:
    # 40 calm ticks: usage follows the running requests (1 % each); then the usage climbs
    # 3 points a tick with nothing running or waiting: raised on the first such tick (an idle
    # replica holds no blocks), and the leaking ticks do not widen the share per request
    adv = AnomalyAdvisor(bank=_small_bank)
    p = policy()
    for i in range(40):
        run = 5 + i % 10
        adv.advise(p, _signals(T0 + i, kv_cache_usage_max=0.01 * run, running_requests=run), STATUS, T0 + i)
    out = []
    for k in range(1, 6):
        out.append(adv.advise(p, _signals(T0 + 40 + k, kv_cache_usage_max=0.03 * k + 0.03, running_requests=0),
                              STATUS, T0 + 40 + k))
    active = [any(a.startswith("VllmKvCacheLeak") for a in o.anomalies) for o in out]
    assert active == [True, True, True, True, True]
    shares = adv.guard._targets[p.target_key].kv_shares
    assert max(shares) == pytest.approx(0.01)


def test_state_round_trip_continues_identically() -> None:
    p = policy()
    a = AnomalyAdvisor(bank=_small_bank)
    for i in range(25):
        a.advise(p, _signals(T0 + i, ttft_p95=0.2 + 0.01 * (i % 3), error_ratio=0.5 if i > 22 else 0.0), STATUS,
                 T0 + i)
    saved = json.loads(json.dumps(a.state()))
    b = AnomalyAdvisor(bank=_small_bank)
    b.restore(saved)
    for i in range(25, 32):
        sig = _signals(T0 + i, ttft_p95=0.2 + 0.05 * i, kv_cache_usage_max=0.1 * (i % 4))
        assert a.advise(p, sig, STATUS, T0 + i) == b.advise(p, sig, STATUS, T0 + i)
    assert a.state() == b.state()


class _Source:
    def __init__(self) -> None:
        self.error_ratio = 0.0

    def collect(self, p: ScalingPolicy, now: float) -> Signals:
        return _signals(now, error_ratio=self.error_ratio)


class _Actuator:
    def status(self, p: ScalingPolicy, now: float) -> ReplicaStatus:
        return STATUS

    def scale(self, p: ScalingPolicy, d: Decision, now: float) -> ScaleResult:
        return ScaleResult(False, d.current, "test")


def test_loop_puts_anomalies_on_decisions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    class Clock:
        t = T0

        def now(self) -> float:
            return self.t

    source, clock = _Source(), Clock()
    loop = ControlLoop(
        policies=StaticPolicies([policy()]), source=source, actuator=_Actuator(),
        log=DecisionLog(Database(tmp_path / "cp.db")), clock=clock, advisors=[AnomalyAdvisor()],  # type: ignore[arg-type]
    )
    source.error_ratio = 0.5
    decisions = []
    for i in range(2):
        clock.t = T0 + 15 * i
        decisions.extend(loop.tick())
    assert decisions[0].anomalies == ()
    assert decisions[1].anomalies and decisions[1].anomalies[0].startswith("VllmErrorBurst")
