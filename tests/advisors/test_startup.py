"""StartupWatch: start-up durations from the replica status every tick already reads."""

from __future__ import annotations

import pytest

from controlplane.advisors.startup import StartupWatch
from controlplane.protocols import ReplicaStatus


def _st(spec: int, ready: int, conflict: str | None = None) -> ReplicaStatus:
    return ReplicaStatus(spec=spec, ready=ready, pending=spec - ready, owner_conflict=conflict)


# (name, [(t, spec, ready)], durations completed, in order)
CASES = [
    # spec 1 -> 3 seen at t=15: both asked at t=0 (the tick that patched them);
    # ready 2 at t=75 -> 75 s, ready 3 at t=90 -> 90 s.
    ("two replicas ready one tick apart", [(0, 1, 1), (15, 3, 1), (60, 3, 1), (75, 3, 2), (90, 3, 3)], [75.0, 90.0]),
    # 1 -> 3 asked at t=0, then scaled back to 2 at t=30: the newest ask (level 3) is cancelled.
    ("scale-down cancels the newest ask", [(0, 1, 1), (15, 3, 1), (30, 2, 1), (75, 2, 2), (90, 2, 2)], [75.0]),
    # a second rise while the first is starting: levels 2 (asked t=0) and 3 (asked t=15).
    ("two rises", [(0, 1, 1), (15, 2, 1), (30, 3, 1), (75, 3, 2), (90, 3, 3)], [75.0, 75.0]),
    # no ask without a rise: ready going up on its own (a crash recovering) is not a start-up we asked for.
    ("no rise, no ask", [(0, 3, 1), (15, 3, 2), (30, 3, 3)], []),
    # 20 minutes without an observation: the rise cannot be dated (max_gap_s 300), so nothing is scored.
    ("gap hides the ask time", [(0, 1, 1), (1200, 3, 1), (1260, 3, 3)], []),
]


@pytest.mark.parametrize("name,steps,expected", CASES, ids=[c[0] for c in CASES])
def test_durations(name: str, steps: list[tuple[float, int, int]], expected: list[float]) -> None:
    w = StartupWatch()
    got: list[float] = []
    for t, spec, ready in steps:
        got += w.observe(t, _st(spec, ready))
    assert got == expected


def test_owner_conflict_is_not_observed() -> None:
    w = StartupWatch()
    assert w.observe(0, _st(1, 1)) == []
    assert w.observe(15, _st(3, 1, "someone else scales it")) == []
    assert w.outstanding == 0


def test_stuck_ask_is_dropped_not_scored() -> None:
    # give_up_s 100: an ask from t=0 still open at t=120 is dropped; ready at t=130 scores nothing.
    w = StartupWatch(give_up_s=100.0)
    w.observe(0, _st(1, 1))
    w.observe(15, _st(2, 1))
    w.observe(120, _st(2, 1))
    assert w.outstanding == 0
    assert w.observe(130, _st(2, 2)) == []


def test_state_round_trip() -> None:
    w = StartupWatch()
    w.observe(0, _st(1, 1))
    w.observe(15, _st(2, 1))
    w2 = StartupWatch.from_dict(w.to_dict())
    assert w2.observe(75, _st(2, 2)) == [75.0]


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match="give_up_s"):
        StartupWatch(give_up_s=0)
    with pytest.raises(ValueError, match="max_gap_s"):
        StartupWatch(max_gap_s=-1)
