"""The decider, one named case per row, with the arithmetic worked in comments.

Defaults unless a row says otherwise: per-replica targets waiting 2, KV 0.75,
running 48; stable 60 s, panic 6 s, threshold 2; down-stabilization 300 s; step
up +max(4 pods, 100%), down -min(1 pod, 50%); replicas 1..8. Ticks every 15 s;
``warm`` runs 330 s of steady ticks first, past the 300 s cautious start. QUIET
load asks 1 replica up to 7 ready (waiting 0; KV 0.1 x ready / 0.75 < 1;
running 4 / 48 -> 1); the first signal with the highest ask is the binding one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from controlplane.policy.decision import Proposal
from controlplane.policy.override import Override
from controlplane.signals import Reading

from .build import QUIET, T0, Extras, Tick, load, policy, run, steady, warm

NO_LATENCY = {k: Reading.missing("no requests in the window") for k in ("ttft", "itl", "e2e")}
IDLE: dict[str, Any] = {"waiting": 0, "running": 0, "kv": 0.0, **NO_LATENCY}
S2Z: dict[str, Any] = {"min_replicas": 0, "scale_to_zero": {"enabled": True, "idle_period_s": 600}}
CALM = {"windows": {"panic_threshold": 10}}  # keeps a steady high load out of panic


def _pin(replicas: int, expires: float = T0 + 600) -> Override:
    return Override("pin", replicas, expires, "load test", "ops@example.com")


@dataclass(frozen=True)
class Case:
    id: str
    history: list[Tick]
    final: Tick
    desired: int
    binding: str
    pol: dict[str, Any] = field(default_factory=dict)
    extras: Extras = Extras()
    mode: str = "stable"


def _burst_then(burst_at: float) -> list[Tick]:
    """Quiet at 2 replicas, a burst of 9 waiting at ``burst_at``, then 4 waiting at 6 replicas."""
    return (
        steady(-400, burst_at - 15, QUIET, 2)
        + [Tick(burst_at, load(waiting=9), 2)]
        + steady(burst_at + 15, -15, load(waiting=4), 6)
    )


CASES = [
    # --- each signal proposes ceil(total / per-replica target) ---
    # stable mean over (-60, 0]: waiting 6, 6, 6, 8 -> 6.5 / 2 = 3.25 -> 4; panic 8/2 = 4 < 2 x 3
    Case("waiting-window-mean", warm(load(waiting=6), 3), Tick(0, load(waiting=8), 3), 4, "waiting_requests"),
    # KV 0.9 x 3 ready = 2.7 replica-equivalents / 0.75 = 3.6 -> 4
    Case("kv-cache", warm(load(kv=0.9), 3), Tick(0, load(kv=0.9), 3), 4, "kv_cache_usage"),
    # running 150 / 48 = 3.125 -> 4
    Case("running", warm(load(running=150), 3), Tick(0, load(running=150), 3), 4, "running_requests"),
    # generation 3500 tokens/s / 1000 per replica = 3.5 -> 4
    Case(
        "generation-tokens",
        warm(load(tokens=3500), 3),
        Tick(0, load(tokens=3500), 3),
        4,
        "generation_tokens_per_s",
        pol={"signals": {"generation_tokens_per_s": 1000}},
    ),
    # waiting 10/2 = 5; running 100/48 -> 3; KV 0.4/0.75 -> 1: the highest, 5, wins
    Case(
        "highest-signal-wins",
        warm(load(waiting=10, running=100), 4),
        Tick(0, load(waiting=10, running=100), 4),
        5,
        "waiting_requests",
    ),
    # waiting 6/2 = 3 = current: nothing moves
    Case("steady-holds", warm(load(waiting=6), 3), Tick(0, load(waiting=6), 3), 3, "waiting_requests"),
    # --- step limits and bounds ---
    # waiting 13/2 = 6.5 -> 7; up limit max(4 pods, 100% of 2 = 2) = +4 -> 6
    Case(
        "step-up-pods", warm(load(waiting=13), 2), Tick(0, load(waiting=13), 2), 6, "step_up_limit", pol=CALM
    ),
    # waiting 24/2 = 12; up limit max(4, 100% of 6 = 6) = +6 -> 12 fits
    Case(
        "step-up-percent-allows-more",
        warm(load(waiting=24), 6),
        Tick(0, load(waiting=24), 6),
        12,
        "waiting_requests",
        pol={**CALM, "max_replicas": 16},
    ),
    # waiting 20/2 = 10; up limit max(1 pod, 50% of 4 = 2) = +2 -> 6
    Case(
        "step-up-percent-limit",
        warm(load(waiting=20), 4),
        Tick(0, load(waiting=20), 4),
        6,
        "step_up_limit",
        pol={**CALM, "max_replicas": 20, "steps": {"max_up_pods": 1, "max_up_percent": 50}},
    ),
    # waiting 4/2 = 2; down limit min(1 pod, 50% of 6 = 3) = -1 -> 5
    Case("step-down-pods", warm(load(waiting=4), 6), Tick(0, load(waiting=4), 6), 5, "step_down_limit"),
    # waiting 2, KV 0.8/0.75 -> 2; down limit min(4 pods, 25% of 8 = 2) = -2 -> 6
    Case(
        "step-down-percent",
        warm(load(waiting=4), 8),
        Tick(0, load(waiting=4), 8),
        6,
        "step_down_limit",
        pol={"steps": {"max_down_pods": 4, "max_down_percent": 25}},
    ),
    # waiting 4/2 = 2 from 3: one step down reaches the ask
    Case("scale-down-to-ask", warm(load(waiting=4), 3), Tick(0, load(waiting=4), 3), 2, "waiting_requests"),
    # waiting 40/2 = 20; up +6 -> 12; max_replicas 8
    Case("max-replicas", warm(load(waiting=40), 6), Tick(0, load(waiting=40), 6), 8, "max_replicas", pol=CALM),
    # QUIET asks 1; min_replicas 2
    Case("min-replicas", warm(QUIET, 2), Tick(0, QUIET, 2), 2, "min_replicas", pol={"min_replicas": 2}),
    # 1 ready + 3 starting, waiting 40/2 = 20 (20 >= 10 x 1 ready: panic even with CALM):
    # growth counts from ready, 1 + max(4, 100% of 1) = 5
    Case(
        "step-up-from-ready-while-starting",
        warm(load(waiting=40), 4, ready=1),
        Tick(0, load(waiting=40), 4, ready=1, pending=3),
        5,
        "step_up_limit",
        pol=CALM,
        mode="panic",
    ),
    # 1 ready + 5 starting: the +4 allowed over 1 ready is already on its way; hold 6
    Case(
        "step-up-waits-for-starting",
        warm(load(waiting=40), 6, ready=1),
        Tick(0, load(waiting=40), 6, ready=1, pending=5),
        6,
        "step_up_limit",
        pol=CALM,
        mode="panic",
    ),
    # --- SLO: raise-only, proportional, at least ready + 1 ---
    # signals ask 2 (running 60/48); TTFT 3.0/2.0 = 1.5 x 3 ready = 4.5 -> 5 (>= 3 + 1)
    Case(
        "slo-ttft-raises",
        warm(load(waiting=2, running=60, ttft=3.0), 3),
        Tick(0, load(waiting=2, running=60, ttft=3.0), 3),
        5,
        "slo_ttft",
    ),
    # ITL 0.11/0.1 = 1.1 x 3 = 3.3 -> 4, and ready + 1 = 4
    Case(
        "slo-itl-at-least-one-more",
        warm(load(waiting=2, running=60, itl=0.11), 3),
        Tick(0, load(waiting=2, running=60, itl=0.11), 3),
        4,
        "slo_itl",
    ),
    # e2e 90/60 = 1.5 x 4 = 6
    Case(
        "slo-e2e-raises",
        warm(load(waiting=2, running=60, e2e=90), 4),
        Tick(0, load(waiting=2, running=60, e2e=90), 4),
        6,
        "slo_e2e",
    ),
    # waiting 12/2 = 6; TTFT 2.2/2 = 1.1 x 3 = 3.3 -> 4 < 6: the SLO never lowers an ask
    Case(
        "slo-raise-only",
        warm(load(waiting=12, ttft=2.2), 3),
        Tick(0, load(waiting=12, ttft=2.2), 3),
        6,
        "waiting_requests",
        pol=CALM,
    ),
    # Ready grew 3 -> 5 at -30 s; the 60 s TTFT window still holds the 3-replica latency.
    # Without the hold it would ask 3.0/2.0 = 1.5 x 5 = 7.5 -> 8 for a fix already in place;
    # with it the load signals decide: running 60/48 -> 2, held at 5 by down-stabilization.
    Case(
        "slo-waits-for-window-after-growth",
        steady(-330, -45, load(waiting=2, running=60, ttft=3.0), 5, ready=3)
        + steady(-30, -15, load(waiting=2, running=60, ttft=3.0), 5),
        Tick(0, load(waiting=2, running=60, ttft=3.0), 5),
        5,
        "down_stabilization",
    ),
    # Grown 3 -> 5 at -75 s, more than the 60 s window ago: the p95 is fresh, 1.5 x 5 = 7.5 -> 8
    Case(
        "slo-asks-again-after-window",
        steady(-330, -90, load(waiting=2, running=60, ttft=3.0), 5, ready=3)
        + steady(-75, -15, load(waiting=2, running=60, ttft=3.0), 5),
        Tick(0, load(waiting=2, running=60, ttft=3.0), 5),
        8,
        "slo_ttft",
    ),
    # TTFT 9 s with nothing queued and 1 running on 1 ready: a fault, not capacity; stays 1
    Case(
        "slo-without-load-no-scale",
        warm(QUIET, 1),
        Tick(0, load(running=1, ttft=9.0), 1),
        1,
        "kv_cache_usage",
    ),
    # --- Knative windows and panic ---
    # stable (0+0+0+13)/4 = 3.25/2 -> 2; panic 13/2 = 6.5 >= 2 x 2 ready: panic asks 7
    Case(
        "panic-enters-on-burst",
        warm(QUIET, 2),
        Tick(0, load(waiting=13), 2),
        7,
        "panic",
        pol={"steps": {"max_up_pods": 10}},
        mode="panic",
    ),
    # the same burst under the default +4 step limit: 2 + 4 = 6
    Case("panic-step-limited", warm(QUIET, 2), Tick(0, load(waiting=13), 2), 6, "step_up_limit", mode="panic"),
    # burst at -45: 9/2 = 4.5 >= 2 x 2 -> panic, peak 5. At 0 (45 s later, < 60 s stable):
    # stable (9+4+4+4)/4 = 5.25/2 -> 3, peak 5, both < 6 current: no scale-down in panic
    Case(
        "panic-no-scale-down",
        _burst_then(-45),
        Tick(0, load(waiting=4), 6),
        6,
        "panic_no_scale_down",
        mode="panic",
    ),
    # burst at -75: panic ends at -15 (60 s without the condition); stable 4/2 = 2, but the
    # 300 s down-stabilization window still holds the panic-time recommendations of 6
    Case("panic-exits-after-stable-window", _burst_then(-75), Tick(0, load(waiting=4), 6), 6, "down_stabilization"),
    # --- HPA stabilization ---
    # asks 5 until -120, then 2: the highest in the last 300 s is 5 = current
    Case(
        "down-stabilization-holds",
        steady(-330, -120, load(waiting=10), 5) + steady(-105, -15, load(waiting=4), 5),
        Tick(0, load(waiting=4), 5),
        5,
        "down_stabilization",
    ),
    # asks 5 until -400, then 2: every recommendation after -340 is 2; one step down from 5
    Case(
        "down-after-stabilization-window",
        steady(-700, -400, load(waiting=10), 5) + steady(-385, -15, load(waiting=4), 5),
        Tick(0, load(waiting=4), 5),
        4,
        "step_down_limit",
    ),
    # up window 60 s: recommendations -45: 2, -30: 2, -15: (4+4+4+12)/4/2 -> 3, 0: (4+4+12+12)/4/2 = 4
    # -> lowest is 2 = current
    Case(
        "up-stabilization",
        steady(-330, -30, load(waiting=4), 2) + [Tick(-15, load(waiting=12), 2)],
        Tick(0, load(waiting=12), 2),
        2,
        "up_stabilization",
        pol={"windows": {"panic_threshold": 10, "scale_up_stabilization_s": 60}},
    ),
    # --- cautious restart ---
    # a fresh state asks 1 at 4 replicas but holds no data yet: no scale-down
    Case("cautious-start-no-scale-down", [], Tick(0, QUIET, 4), 4, "cautious_start"),
    # 285 s of data < max(stable 60, down-stabilization 300): still cautious
    Case("cautious-start-just-short", steady(-285, -15, QUIET, 2), Tick(0, QUIET, 2), 2, "cautious_start"),
    # 300 s of data: KV 0.2/0.75 -> 1 is allowed
    Case("cautious-start-ends", steady(-300, -15, QUIET, 2), Tick(0, QUIET, 2), 1, "kv_cache_usage"),
    # scale-up needs no history: waiting 8/2 = 4
    Case("cautious-start-allows-scale-up", [], Tick(0, load(waiting=8), 2), 4, "waiting_requests", pol=CALM),
    # --- replicas still starting ---
    # 2 ready + 2 starting; running 60/48 -> 2; TTFT 1.5 x 2 ready = 3: spec 4 covers it
    Case(
        "pending-guard-holds",
        warm(QUIET, 4),
        Tick(0, load(waiting=2, running=60, ttft=3.0), 4, ready=2, pending=2),
        4,
        "pending_guard",
    ),
    # TTFT 5.0/2 = 2.5 x 2 ready = 5 > spec 4: new demand beyond what is starting
    Case(
        "pending-new-demand-adds",
        warm(QUIET, 4),
        Tick(0, load(waiting=2, running=60, ttft=5.0), 4, ready=2, pending=2),
        5,
        "slo_ttft",
    ),
    # --- floors and the anomaly guard ---
    Case(
        "floor-raises",
        warm(QUIET, 2),
        Tick(0, QUIET, 2),
        5,
        "floor:predictive",
        extras=Extras(floors=(Proposal("predictive", 5, "p90 demand 4.1 / 0.8 utilisation -> 5"),)),
    ),
    Case(
        "floor-never-lowers",
        warm(load(waiting=8), 4),
        Tick(0, load(waiting=8), 4),
        4,
        "waiting_requests",
        extras=Extras(floors=(Proposal("predictive", 1, "p90 demand 0.6 -> 1"),)),
    ),
    # waiting 8/2 = 4 > 2, held by the guard
    Case(
        "guard-holds-scale-up",
        warm(load(waiting=8), 2),
        Tick(0, load(waiting=8), 2),
        2,
        "anomaly_guard",
        pol=CALM,
        extras=Extras(guard="waiting_requests jumped 40x in one scrape"),
    ),
    Case(
        "guard-allows-scale-down",
        warm(load(waiting=4), 3),
        Tick(0, load(waiting=4), 3),
        2,
        "waiting_requests",
        extras=Extras(guard="ttft_p95 anomaly"),
    ),
    # --- schedule bounds (T0 is Tuesday 13:00 in Berlin) ---
    Case(
        "schedule-min",
        warm(QUIET, 2),
        Tick(0, QUIET, 2),
        4,
        "schedule:office-hours",
        pol={
            "schedule": [
                {"name": "office-hours", "start": "08:00", "end": "18:00", "timezone": "Europe/Berlin", "min_replicas": 4}
            ]
        },
    ),
    # waiting 12/2 = 6; lunch window caps at 3
    Case(
        "schedule-max",
        warm(load(waiting=12), 3),
        Tick(0, load(waiting=12), 3),
        3,
        "schedule:lunch",
        pol={
            **CALM,
            "schedule": [
                {"name": "lunch", "start": "12:00", "end": "14:00", "timezone": "Europe/Berlin", "max_replicas": 3}
            ],
        },
    ),
    Case(
        "schedule-inactive",
        warm(QUIET, 2),
        Tick(0, QUIET, 2),
        1,
        "kv_cache_usage",
        pol={
            "schedule": [
                {"name": "evening", "start": "20:00", "end": "22:00", "timezone": "Europe/Berlin", "min_replicas": 4}
            ]
        },
    ),
    # --- scale to zero ---
    # idle since -700: 700 s >= idle_period 600 -> 0
    Case("s2z-idle-long-enough", steady(-700, -15, IDLE, 1), Tick(0, IDLE, 1), 0, "scale_to_zero", pol=S2Z),
    # idle 300 s < 600: keep one
    Case("s2z-idle-too-short", steady(-300, -15, IDLE, 1), Tick(0, IDLE, 1), 1, "idle_period", pol=S2Z),
    # at zero, waiting 1 >= activation 1: waiting 1/2 -> 1
    Case(
        "s2z-activation",
        steady(-330, -15, IDLE, 0),
        Tick(0, {"waiting": 1, "running": 0}, 0),
        1,
        "waiting_requests",
        pol=S2Z,
    ),
    # waiting 2 asks 1 but 2 < activation 3: stays at zero
    Case(
        "s2z-below-activation",
        steady(-330, -15, IDLE, 0),
        Tick(0, {"waiting": 2, "running": 0}, 0),
        0,
        "activation",
        pol={**S2Z, "scale_to_zero": {"enabled": True, "activation_requests": 3}},
    ),
    # below activation, but a forecast floor of 2 wakes the target ahead of demand
    Case(
        "s2z-floor-wakes-from-zero",
        steady(-330, -15, IDLE, 0),
        Tick(0, IDLE, 0),
        2,
        "floor:predictive",
        pol=S2Z,
        extras=Extras(floors=(Proposal("predictive", 2, "morning peak in 10 min -> 2"),)),
    ),
    # scale-to-zero off: the idle ask of 0 meets min_replicas 1
    Case("s2z-off-keeps-one", steady(-700, -15, IDLE, 1), Tick(0, IDLE, 1), 1, "min_replicas"),
    # --- overrides ---
    Case("override-pin", warm(QUIET, 2), Tick(0, QUIET, 2), 6, "override:pin", extras=Extras(override=_pin(6))),
    Case("override-pin-capped", warm(QUIET, 2), Tick(0, QUIET, 2), 8, "max_replicas", extras=Extras(override=_pin(12))),
    Case(
        "override-pause",
        warm(load(waiting=12), 2),
        Tick(0, load(waiting=12), 2),
        2,
        "override:pause",
        extras=Extras(override=Override("pause", None, T0 + 60, "incident 42", "oncall")),
    ),
    # the pin expired at T0 exactly (end exclusive): the quiet ask of 1 applies
    Case(
        "override-expired",
        warm(QUIET, 2),
        Tick(0, QUIET, 2),
        1,
        "kv_cache_usage",
        extras=Extras(override=_pin(6, expires=T0)),
    ),
    Case(
        "override-pin-on-missing-data",
        warm(QUIET, 2),
        Tick(0, {**QUIET, "waiting": Reading.missing("scrape failed")}, 2),
        6,
        "override:pin",
        extras=Extras(override=_pin(6)),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decide(case: Case) -> None:
    decision = run(policy(**case.pol), case.history, case.final, case.extras)
    assert decision.valid, decision.reasons
    assert (decision.desired, decision.binding) == (case.desired, case.binding), decision.reasons
    assert decision.mode == case.mode
    assert decision.current == case.final.spec
    assert decision.reasons


def test_slo_without_load_is_reported() -> None:
    decision = run(policy(), warm(QUIET, 1), Tick(0, load(running=1, ttft=9.0), 1))
    assert any(r.startswith("slo_without_load:") for r in decision.reasons)
    assert decision.inputs["latency_without_load"] == ["slo_ttft"]
    ttft = next(p for p in decision.proposals if p.source == "slo_ttft")
    assert ttft.replicas is None and "not a capacity problem" in ttft.detail


def test_proposal_detail_works_the_arithmetic() -> None:
    decision = run(policy(**CALM), [], Tick(0, load(waiting=13), 2))
    waiting = next(p for p in decision.proposals if p.source == "waiting_requests")
    assert waiting.replicas == 7
    assert "13 / 2 per replica -> 7" in waiting.detail


def test_schedule_reason_names_window_and_bound() -> None:
    pol = policy(
        schedule=[{"name": "office-hours", "start": "08:00", "end": "18:00", "timezone": "Europe/Berlin", "min_replicas": 4}]
    )
    decision = run(pol, warm(QUIET, 2), Tick(0, QUIET, 2))
    assert "schedule:office-hours min 4" in decision.reasons
    assert decision.bounds == (4, 8)


def test_shadow_mode_is_recorded_and_decides_alike() -> None:
    active = run(policy(), warm(load(waiting=8), 2), Tick(0, load(waiting=8), 2))
    shadow = run(policy(mode="shadow"), warm(load(waiting=8), 2), Tick(0, load(waiting=8), 2))
    assert shadow.shadow and not active.shadow
    assert (shadow.desired, shadow.binding) == (active.desired, active.binding)
