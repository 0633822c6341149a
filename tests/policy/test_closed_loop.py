"""The decider driving a toy plant: replicas follow each decision and become
ready two ticks (30 s) later; the queue is whatever demand the ready replicas
cannot hold. The properties a burst must show, tick by tick."""

from __future__ import annotations

from controlplane.policy.decide import decide
from controlplane.policy.decision import Decision
from controlplane.policy.state import DecisionState
from controlplane.protocols import ReplicaStatus

from .build import T0, policy, signals

# requests in flight per tick (15 s apart): 5 min quiet at 6, a 2 min burst of 40, then 6 again
DEMAND = [6.0] * 20 + [40.0] * 8 + [6.0] * 60
HOLD_PER_REPLICA = 4.0  # a ready replica holds 4 requests in its batch; the rest wait
KV_PER_REQUEST = 0.1  # share of one replica's KV cache a running request takes


def _drive() -> list[tuple[Decision, int, int]]:
    pol = policy(max_replicas=10, signals={"running_requests": 4.0})
    state = DecisionState()
    spec, started = 2, [(T0 - 600, 2)]  # (time a replica count was requested, count)
    out = []
    for k, demand in enumerate(DEMAND):
        now = T0 + 15 * k
        ready = min(spec, max(c for t, c in started if now - t >= 30))
        running = min(demand, HOLD_PER_REPLICA * ready)
        kv = KV_PER_REQUEST * running / max(1, ready)
        load = {"waiting": demand - running, "running": running, "kv": kv, "ttft": 0.5, "itl": 0.05, "e2e": 5.0}
        status = ReplicaStatus(spec=spec, ready=ready, pending=spec - ready)
        decision, state = decide(pol, signals(now, load), state, now, status)
        out.append((decision, spec, ready))
        if decision.desired != spec:
            spec = decision.desired
            started.append((now, spec))
    return out


def test_burst_is_met_and_released_slowly() -> None:
    run = _drive()
    assert all(d.valid for d, _, _ in run)
    specs = [spec for _, spec, _ in run]
    # the burst (ticks 20-27): 32 waiting on 2 ready -> panic ask 16; 2 +4 -> 6, then
    # 6 + max(4, 100% of 6) -> 12, capped at max_replicas 10 within 30 s
    assert max(specs[20:28]) == 10
    # never more than +4 per decision (step_up_limit), never more than -1 (step_down_limit)
    steps = [b - a for a, b in zip(specs, specs[1:], strict=False)]
    assert max(steps) <= 4 and min(steps) >= -1
    # no scale-down while in panic
    for (d, spec, _), nxt in zip(run, specs[1:], strict=False):
        if d.mode == "panic":
            assert nxt >= spec
    # the first scale-down waits for the 300 s down-stabilization window after the peak ask
    first_down = next(k for k, s in enumerate(steps) if s < 0 and k > 20)
    assert 15 * (first_down - 27) >= 300 - 15
    # and ends at what 6 requests need: running 6 / 4 -> 2
    assert specs[-1] == 2
