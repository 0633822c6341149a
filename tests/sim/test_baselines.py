"""Each baseline's rule with worked numbers (HPA, KEDA, Knative KPA, static)."""

from __future__ import annotations

import pytest

from controlplane.protocols import ReplicaStatus
from controlplane.signals import Reading, Signals
from controlplane.sim.autoscaler import StaticAutoscaler
from controlplane.sim.baselines import HpaAutoscaler, HpaRules, KedaAutoscaler, KnativeAutoscaler


def _sig(**values: float | None) -> Signals:
    readings = {k: (Reading.of(v) if v is not None else Reading.missing("absent")) for k, v in values.items()}
    return Signals(target="t", collected_at=0.0, **readings)


def _st(spec: int, ready: int | None = None) -> ReplicaStatus:
    ready = spec if ready is None else ready
    return ReplicaStatus(spec, ready, spec - ready)


@pytest.mark.parametrize(
    "case,ready,util,expected",
    [
        # ceil(4 x 0.91 / 0.7) = ceil(5.2) = 6
        ("over target scales up", 4, 0.91, 6),
        # 0.75 / 0.7 = 1.07: inside the 10% tolerance, stay at 4
        ("within tolerance holds", 4, 0.75, 4),
        # ceil(4 x 0.35 / 0.7) = 2, but down-stabilization keeps the 300 s maximum (4, this tick's first ask)
        ("first scale-down held by stabilization", 4, 0.35, 4),
        # ceil(2 x 1.0 / 0.7) = 3
        ("saturated pair", 2, 1.0, 3),
    ],
)
def test_hpa_rule(case: str, ready: int, util: float, expected: int) -> None:
    hpa = HpaAutoscaler()
    hpa.rules.recommend(-1.0, ready, ready, 1.0, ready)  # a steady recommendation a second ago
    assert hpa.step(0.0, _sig(gpu_utilization=util), _st(ready)) == expected, case


def test_hpa_scale_down_after_the_stabilization_window() -> None:
    hpa = HpaAutoscaler()
    assert hpa.step(0.0, _sig(gpu_utilization=0.7), _st(4)) == 4
    # 4 x 0.35 / 0.7 = 2, but the 300 s window still holds the 4 asked at t=0
    assert hpa.step(150.0, _sig(gpu_utilization=0.35), _st(4)) == 4
    assert hpa.step(299.0, _sig(gpu_utilization=0.35), _st(4)) == 4
    # t=301: the t=0 ask left the window; the highest left is 2
    assert hpa.step(301.0, _sig(gpu_utilization=0.35), _st(4)) == 2


def test_hpa_scale_up_limit_and_missing_metric() -> None:
    # raw ceil(2 x 7.0) = 14 but one step adds at most max(4 pods, 100% of 2) = 4 -> 6
    rules = HpaRules()
    assert rules.recommend(0.0, 2, 2, 7.0, 14) == 6
    # no utilisation reading: the HPA leaves the scale alone
    assert HpaAutoscaler().step(0.0, _sig(gpu_utilization=None), _st(3)) == 3


@pytest.mark.parametrize(
    "case,waiting,ready,expected",
    [
        ("23 waiting over 5 per replica", 23.0, 2, 5),  # ceil(23 / 5) = 5
        ("10 waiting on 2 replicas is on target", 10.0, 2, 2),  # 5 per replica: ratio 1.0
        ("10.5 waiting within tolerance", 10.5, 2, 2),  # 5.25 / 5 = 1.05: within 10%
        ("12 waiting beyond tolerance", 12.0, 2, 3),  # 6 / 5 = 1.2 -> ceil(12 / 5) = 3
    ],
)
def test_keda_rule(case: str, waiting: float, ready: int, expected: int) -> None:
    assert KedaAutoscaler().step(0.0, _sig(waiting_requests=waiting), _st(ready)) == expected, case


def test_keda_empty_queue_goes_to_min_after_window() -> None:
    keda = KedaAutoscaler()
    assert keda.step(0.0, _sig(waiting_requests=15.0), _st(3)) == 3  # 15 / 5 = 3
    assert keda.step(15.0, _sig(waiting_requests=0.0), _st(3)) == 3  # held by the 300 s window
    assert keda.step(316.0, _sig(waiting_requests=0.0), _st(3)) == 1  # raw 0 -> min_replicas 1


def test_knative_stable_then_panic_then_calm() -> None:
    kpa = KnativeAutoscaler(target_concurrency=10.0)
    # 60 s of 25 in flight on 3 ready: stable ask ceil(25 / 10) = 3
    t = 0.0
    while t < 60.0:
        got = kpa.step(t, _sig(running_requests=20.0, waiting_requests=5.0), _st(3))
        t += 2.0
    assert got == 3 and not kpa.in_panic
    # a burst of 80 in flight: 6 s panic mean rises; once ceil(mean / 10) >= 2 x 3 ready, panic
    for _ in range(3):
        got = kpa.step(t, _sig(running_requests=60.0, waiting_requests=20.0), _st(3))
        t += 2.0
    # panic window (6 s) holds 3 samples of 80 -> ask 8 >= 6: panic, desired 8
    assert kpa.in_panic and got == 8
    # load gone: in panic the KPA never scales down ...
    calm_from = t
    while t < calm_from + 58.0:
        assert kpa.step(t, _sig(running_requests=0.0, waiting_requests=0.0), _st(8)) == 8
        t += 2.0
    # ... until a stable window (60 s) passed without the panic condition; then the
    # stable ask (mean ~0 -> 0) is floored by max-scale-down-rate 2: 8 / 2 = 4
    t = calm_from - 2.0 + 60.0
    assert kpa.step(t, _sig(running_requests=0.0, waiting_requests=0.0), _st(8)) == 4
    assert not kpa.in_panic


def test_static_is_constant() -> None:
    assert StaticAutoscaler(7).step(0.0, _sig(), _st(1)) == 7
