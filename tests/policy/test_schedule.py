"""Schedule windows follow local time in their own zone, across daylight-saving changes.

Europe/Berlin in 2026: clocks go 02:00 CET -> 03:00 CEST on Sunday 29 March
(01:00 UTC) and 03:00 CEST -> 02:00 CET on Sunday 25 October (01:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from controlplane.policy.model import ScheduleWindow
from controlplane.policy.schedule import bounds_at, window_active

from .build import QUIET, T0, Tick, policy, run, steady


def utc(y: int, mo: int, d: int, h: int, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp()


def window(**over: Any) -> ScheduleWindow:
    doc: dict[str, Any] = {"name": "w", "start": "09:00", "end": "10:00", "min_replicas": 3}
    return ScheduleWindow.model_validate({**doc, **over})


SUNDAY_BERLIN = {"days": ["sun"], "timezone": "Europe/Berlin"}

ROWS = [
    # (id, window, instant, active?)
    # 09:30 CET (UTC+1) the Sunday before the spring change
    ("spring-before-0930-cet", window(**SUNDAY_BERLIN), utc(2026, 3, 22, 8, 30), True),
    ("spring-before-1030-cet", window(**SUNDAY_BERLIN), utc(2026, 3, 22, 9, 30), False),
    # after the change 09:30 local is 07:30 UTC (UTC+2); 08:30 UTC is already 10:30
    ("spring-after-0930-cest", window(**SUNDAY_BERLIN), utc(2026, 3, 29, 7, 30), True),
    ("spring-after-1030-cest", window(**SUNDAY_BERLIN), utc(2026, 3, 29, 8, 30), False),
    # autumn: the Sunday before is still CEST, the change day is CET
    ("autumn-before-0930-cest", window(**SUNDAY_BERLIN), utc(2026, 10, 18, 7, 30), True),
    ("autumn-after-0830-cet", window(**SUNDAY_BERLIN), utc(2026, 10, 25, 7, 30), False),
    ("autumn-after-0930-cet", window(**SUNDAY_BERLIN), utc(2026, 10, 25, 8, 30), True),
    # 02:30 happens twice on 25 October: 00:30 UTC (CEST) and 01:30 UTC (CET)
    ("fold-first-0230", window(start="02:00", end="03:00", **SUNDAY_BERLIN), utc(2026, 10, 25, 0, 30), True),
    ("fold-second-0230", window(start="02:00", end="03:00", **SUNDAY_BERLIN), utc(2026, 10, 25, 1, 30), True),
    ("fold-0300-cet", window(start="02:00", end="03:00", **SUNDAY_BERLIN), utc(2026, 10, 25, 2, 0), False),
    # start inclusive, end exclusive (UTC by default); T0 week: Tue 24 Nov 2026
    ("start-inclusive", window(start="08:00", end="18:00"), utc(2026, 11, 24, 8, 0), True),
    ("end-exclusive", window(start="08:00", end="18:00"), utc(2026, 11, 24, 18, 0), False),
    ("end-2400-last-minute", window(start="18:00", end="24:00"), utc(2026, 11, 24, 23, 59), True),
    ("end-2400-next-midnight", window(start="18:00", end="24:00"), utc(2026, 11, 25, 0, 0), False),
    # Friday 22:00 - 06:00 belongs to Friday and runs into Saturday morning
    ("midnight-friday-2300", window(start="22:00", end="06:00", days=["fri"]), utc(2026, 11, 27, 23, 0), True),
    ("midnight-saturday-0500", window(start="22:00", end="06:00", days=["fri"]), utc(2026, 11, 28, 5, 0), True),
    ("midnight-saturday-0600", window(start="22:00", end="06:00", days=["fri"]), utc(2026, 11, 28, 6, 0), False),
    ("midnight-friday-0500", window(start="22:00", end="06:00", days=["fri"]), utc(2026, 11, 27, 5, 0), False),
    ("midnight-saturday-2300", window(start="22:00", end="06:00", days=["fri"]), utc(2026, 11, 28, 23, 0), False),
    # a weekday window on a weekend
    ("weekday-on-sunday", window(days=["mon", "tue", "wed", "thu", "fri"]), utc(2026, 11, 29, 9, 30), False),
]


@pytest.mark.parametrize(("w", "at", "active"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_window_active(w: ScheduleWindow, at: float, active: bool) -> None:
    assert window_active(w, at) is active


def test_spring_forward_gap_never_occurs() -> None:
    # 02:00-03:00 local does not exist on 29 March: no minute from 00:00 to 03:00 UTC is in it
    w = window(start="02:00", end="03:00", **SUNDAY_BERLIN)
    start = utc(2026, 3, 29, 0, 0)
    assert not any(window_active(w, start + 60 * m) for m in range(180))


def test_bounds_combine_strictly_and_budget_wins() -> None:
    pol = policy(
        max_replicas=8,
        schedule=[
            {"name": "a", "start": "08:00", "end": "18:00", "min_replicas": 3, "max_replicas": 7},
            {"name": "b", "start": "10:00", "end": "14:00", "min_replicas": 5},
            {"name": "c", "start": "12:00", "end": "13:00", "max_replicas": 4},
        ],
    )
    # 11:00: a and b -> min max(1, 3, 5) = 5 from b, max min(8, 7) = 7 from a
    b = bounds_at(pol, utc(2026, 11, 24, 11))
    assert (b.min_replicas, b.max_replicas, b.min_source, b.max_source) == (5, 7, "schedule:b", "schedule:a")
    assert b.windows == ("a", "b")
    # 12:30: c caps at 4 below b's minimum 5: the maximum (budget) wins
    b = bounds_at(pol, utc(2026, 11, 24, 12, 30))
    assert (b.min_replicas, b.max_replicas, b.min_source) == (4, 4, "schedule:c")
    # 20:00: nothing active
    b = bounds_at(pol, utc(2026, 11, 24, 20))
    assert (b.min_replicas, b.max_replicas, b.windows) == (1, 8, ())


@pytest.mark.parametrize(
    ("at", "desired", "binding"),
    [
        # 09:30 CEST on the change day: the window holds 3 replicas
        (utc(2026, 3, 29, 7, 30), 3, "schedule:sunday-morning"),
        # 10:30 CEST: a clock stuck on CET would still read 09:30 here
        (utc(2026, 3, 29, 8, 30), 1, "kv_cache_usage"),
    ],
    ids=["dst-spring-in-window", "dst-spring-after-window"],
)
def test_decide_applies_schedule_in_local_time(at: float, desired: int, binding: str) -> None:
    pol = policy(schedule=[{"name": "sunday-morning", **SUNDAY_BERLIN, "start": "09:00", "end": "10:00", "min_replicas": 3}])
    offset = at - T0
    history = steady(offset - 330, offset - 15, QUIET, 2)
    decision = run(pol, history, Tick(offset, QUIET, 2))
    assert (decision.desired, decision.binding) == (desired, binding)
