"""DecisionState across ticks: persistence, determinism, bounded memory, restarts, panic lifecycle."""

from __future__ import annotations

import json

import pytest

from controlplane.policy.decide import decide
from controlplane.policy.state import MAX_ENTRIES, DecisionState, Observation

from .build import QUIET, T0, Tick, load, policy, run_with_state, signals, steady, warm


def _replay(ticks: list[Tick], state: DecisionState) -> tuple[list[dict], DecisionState]:
    pol = policy()
    out = []
    for tick in ticks:
        now = T0 + tick.at
        decision, state = decide(pol, signals(now, tick.load), state, now, tick.status())
        out.append(decision.to_dict())
    return out, state


# A day in miniature: quiet, a burst, a plateau, quiet again, at varying replica counts.
SCRIPT = (
    steady(-600, -400, QUIET, 2)
    + steady(-385, -300, load(waiting=14, running=90, kv=0.7), 3)
    + steady(-285, -100, load(waiting=6, running=60, ttft=2.5), 5)
    + steady(-85, 0, QUIET, 5)
)


def test_decisions_read_no_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # Time comes in as `now` only: with the process clock far in the future (and monotonic
    # time broken) the same script gives the same decisions and state.
    straight, end_straight = _replay(SCRIPT, DecisionState())
    monkeypatch.setattr("time.time", lambda: 4_000_000_000.0)
    monkeypatch.setattr("time.monotonic", lambda: -1.0)
    shifted, end_shifted = _replay(SCRIPT, DecisionState())
    assert shifted == straight and end_shifted == end_straight


def test_carried_state_changes_later_decisions() -> None:
    # What the state carries decides the quiet tail: with the burst's history the decider knows
    # when its down-stabilization window closes and steps down then; a fresh state knows nothing
    # and holds for the whole 300 s cautious start. A state that carried nothing would give equal runs.
    script = SCRIPT + steady(15, 600, QUIET, 5)
    straight, _ = _replay(script, DecisionState())
    tail = next(i for i, t in enumerate(script) if t.at >= -85)
    fresh, _ = _replay(script[tail:], DecisionState())

    def first_step_down(decisions: list[dict]) -> float:
        return next(t.at for t, d in zip(script[tail:], decisions, strict=True) if d["desired"] < 5)

    carried_at, fresh_at = first_step_down(straight[tail:]), first_step_down(fresh)
    assert fresh_at >= -85 + 300 - 15
    assert carried_at < fresh_at


def test_state_round_trips_through_json_mid_run() -> None:
    straight, end_straight = _replay(SCRIPT, DecisionState())
    half = len(SCRIPT) // 2
    before, mid = _replay(SCRIPT[:half], DecisionState())
    restored = DecisionState.from_dict(json.loads(json.dumps(mid.to_dict())))
    assert restored == mid
    after, end_restored = _replay(SCRIPT[half:], restored)
    assert before + after == straight
    assert end_restored == end_straight


def test_decision_to_dict_is_json_safe() -> None:
    decisions, _ = _replay(SCRIPT, DecisionState())
    assert json.loads(json.dumps(decisions)) == decisions


def test_memory_is_bounded_by_the_longest_window() -> None:
    # 1 tick/s for 2000 s; the longest window is the 300 s down-stabilization
    pol = policy()
    state = DecisionState()
    for i in range(2000):
        now = T0 + i
        _, state = decide(pol, signals(now, QUIET), state, now, Tick(0, QUIET, 2).status())
    assert len(state.observations) == 300
    assert len(state.recommendations) == 300
    assert state.observations[0].at == T0 + 1700


def test_entry_cap_holds_for_a_runaway_caller() -> None:
    state = DecisionState()
    for i in range(MAX_ENTRIES + 50):
        state = state.observe(Observation(T0 + i / 100, (("waiting_requests", 1.0),)), horizon_s=300)
    assert len(state.observations) == MAX_ENTRIES


def test_a_gap_longer_than_every_window_counts_as_a_restart() -> None:
    # 330 s of data, then nothing for 400 s: the state holds no window any more
    pol = policy()
    _, state = run_with_state(pol, warm(QUIET, 4), Tick(-15, QUIET, 4))
    later = T0 + 400
    decision, state = decide(pol, signals(later, QUIET), state, later, Tick(0, QUIET, 4).status())
    assert decision.binding == "cautious_start"
    assert state.first_seen == later


def test_a_clock_that_went_back_counts_as_a_restart() -> None:
    pol = policy()
    _, state = run_with_state(pol, warm(QUIET, 4), Tick(0, QUIET, 4))
    earlier = T0 - 1000
    decision, state = decide(pol, signals(earlier, QUIET), state, earlier, Tick(0, QUIET, 4).status())
    assert decision.binding == "cautious_start"
    assert [o.at for o in state.observations] == [earlier]


def test_panic_lifecycle() -> None:
    """Quiet at 2; a burst of 13 waiting at 0 (6.5 >= 2 x 2: panic); load then
    falls to 4 waiting (2 < 2 x 2) at 0 + 15 s onwards. Panic lasts until 60 s
    (one stable window) after the condition last held, i.e. through +45 s,
    and ends at +60 s."""
    pol = policy()
    _, state = run_with_state(pol, warm(QUIET, 2), Tick(-15, QUIET, 2))
    modes = {}
    for t, waiting in [(0, 13), (15, 4), (30, 4), (45, 4), (60, 4), (75, 4)]:
        now = T0 + t
        decision, state = decide(pol, signals(now, load(waiting=waiting)), state, now, Tick(t, QUIET, 2).status())
        modes[t] = (decision.mode, state.panic_since)
    assert modes[0] == ("panic", T0)
    assert modes[45] == ("panic", T0)
    assert modes[60] == ("stable", None)
    assert modes[75] == ("stable", None)


def test_panic_extends_while_the_condition_holds() -> None:
    pol = policy()
    state = DecisionState()
    for t in (0, 15, 30, 45, 60, 75):
        now = T0 + t
        _, state = decide(pol, signals(now, load(waiting=13)), state, now, Tick(t, QUIET, 2).status())
    assert state.panic_since == T0 + 75
    assert state.max_panic_replicas == 7


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"observations": [{"at": "x"}]}, "observations"),
        ({"recommendations": [[float("nan"), 3]]}, "recommendations"),
        ({"panic_since": float("inf")}, "panic_since"),
        ([], "state"),
    ],
    ids=["bad-observation", "nan-recommendation-time", "inf-panic-since", "not-a-mapping"],
)
def test_malformed_state_names_the_field(doc: object, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}"):
        DecisionState.from_dict(doc)  # type: ignore[arg-type]
