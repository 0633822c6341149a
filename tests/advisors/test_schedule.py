"""Scheduled scaling: pre-warm floors and cron fire times follow local time across DST.

Europe/Berlin switches to summer time on 2026-03-29 (02:00 CET -> 03:00 CEST)
and back on 2026-10-25 (03:00 CEST -> 02:00 CET). A daily 08:00-18:00 window
opens at 07:00 UTC in winter and at 06:00 UTC in summer. With the policy's
start-up 60 s and a 15 s tick the lead is 75 s: pre-warm from 07:58:45 local.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from controlplane.advisors.prewarm import PrewarmAdvisor, opens_within, prewarm_floors, prewarm_lead_s
from controlplane.advisors.prewarm_cron import fire_time, prewarm_triggers
from controlplane.policy.decide import decide
from controlplane.policy.model import ScalingPolicy, ScheduleWindow
from controlplane.policy.state import DecisionState
from controlplane.protocols import ReplicaStatus
from controlplane.signals import Reading, Signals

BERLIN = ZoneInfo("Europe/Berlin")
TICK_S = 15.0


def _utc(y: int, mo: int, d: int, h: int, mi: int, s: int = 0) -> float:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()


def _policy(start: str = "08:00", end: str = "18:00", days: list[str] | None = None) -> ScalingPolicy:
    w = {"name": "business", "start": start, "end": end, "timezone": "Europe/Berlin", "min_replicas": 4}
    if days is not None:
        w["days"] = days
    return ScalingPolicy.model_validate({
        "name": "chat", "target": {"kind": "kubernetes", "namespace": "ml", "deployment": "vllm"},
        "max_replicas": 8, "startup_s": 60.0, "schedule": [w],
    })


# (name, now UTC, expected floor or None, expected seconds to opening)
PREWARM = [
    ("winter day before spring DST: 06:58:00 UTC is 07:58:00 CET, 120 s > lead", _utc(2026, 3, 28, 6, 58), None, None),
    ("winter day before spring DST: 06:59:00 UTC is 07:59 CET, opens in 60 s", _utc(2026, 3, 28, 6, 59), 4, 60),
    ("spring DST day: 05:59:00 UTC is 07:59 CEST, opens in 60 s", _utc(2026, 3, 29, 5, 59), 4, 60),
    ("spring DST day: 06:59:00 UTC is 08:59 CEST, window already open", _utc(2026, 3, 29, 6, 59), None, None),
    ("spring DST day: 05:58:44 UTC is 76 s before opening", _utc(2026, 3, 29, 5, 58, 44), None, None),
    ("spring DST day: 05:58:45 UTC is exactly the lead before", _utc(2026, 3, 29, 5, 58, 45), 4, 75),
    ("summer day before autumn DST: 05:59 UTC is 07:59 CEST", _utc(2026, 10, 24, 5, 59), 4, 60),
    ("autumn DST day: 05:59 UTC is 06:59 CET, an hour early", _utc(2026, 10, 25, 5, 59), None, None),
    ("autumn DST day: 06:59 UTC is 07:59 CET, opens in 60 s", _utc(2026, 10, 25, 6, 59), 4, 60),
]


@pytest.mark.parametrize("name,now,floor,eta", PREWARM, ids=[c[0] for c in PREWARM])
def test_prewarm_follows_local_time(name: str, now: float, floor: int | None, eta: float | None) -> None:
    policy = _policy()
    lead = prewarm_lead_s(policy, TICK_S)
    assert lead == 75.0
    floors = prewarm_floors(policy, now, lead)
    if floor is None:
        assert floors == ()
        return
    (p,) = floors
    assert p.source == "schedule-prewarm:business" and p.replicas == floor
    assert opens_within(policy.schedule[0], now, lead) == pytest.approx(eta, abs=1.0)


def test_lead_never_shorter_than_the_triggers() -> None:
    policy = _policy()
    assert prewarm_lead_s(policy, TICK_S, startup_p95_s=30.0) == 75.0  # measured faster: keep 60 + 15
    assert prewarm_lead_s(policy, TICK_S, startup_p95_s=200.0) == 215.0  # measured slower: lengthen


def _fires(trigger: object, start: datetime, n: int) -> list[float]:
    out: list[float] = []
    prev = None
    now = start
    for _ in range(n):
        nxt = trigger.get_next_fire_time(prev, now)  # type: ignore[attr-defined]
        out.append(nxt.timestamp())
        prev = now = nxt
    return out


def test_cron_fire_times_across_spring_dst() -> None:
    ((job_id, trigger),) = prewarm_triggers([_policy()], TICK_S)
    assert job_id == "prewarm:chat:business"
    fires = _fires(trigger, datetime(2026, 3, 27, tzinfo=BERLIN), 4)
    # 07:58:45 local every day: CET (UTC+1) until the 28th, CEST (UTC+2) from the 29th.
    assert fires == [_utc(2026, 3, 27, 6, 58, 45), _utc(2026, 3, 28, 6, 58, 45),
                     _utc(2026, 3, 29, 5, 58, 45), _utc(2026, 3, 30, 5, 58, 45)]


def test_cron_fire_times_across_autumn_dst() -> None:
    ((_, trigger),) = prewarm_triggers([_policy()], TICK_S)
    fires = _fires(trigger, datetime(2026, 10, 24, tzinfo=BERLIN), 3)
    assert fires == [_utc(2026, 10, 24, 5, 58, 45), _utc(2026, 10, 25, 6, 58, 45), _utc(2026, 10, 26, 6, 58, 45)]


def test_every_cron_fire_lands_inside_the_prewarm_span() -> None:
    policy = _policy()
    ((_, trigger),) = prewarm_triggers([policy], TICK_S)
    lead = prewarm_lead_s(policy, TICK_S)
    for when in (datetime(2026, 3, 27, tzinfo=BERLIN), datetime(2026, 10, 23, tzinfo=BERLIN)):
        for t in _fires(trigger, when, 5):
            assert [p.replicas for p in prewarm_floors(policy, t, lead)] == [4]


# (name, window start, days, lead s, expected (days, h, m, s))
FIRE = [
    ("same day", "08:00", ["mon", "fri"], 75, (["mon", "fri"], 7, 58, 45)),
    ("crosses midnight: days move back", "00:01", ["mon", "sun"], 180, (["sun", "sat"], 23, 58, 0)),
]


@pytest.mark.parametrize("name,start,days,lead,expected", FIRE, ids=[c[0] for c in FIRE])
def test_fire_time(name: str, start: str, days: list[str], lead: float, expected: tuple) -> None:
    w = ScheduleWindow(name="w", start=start, end="23:00", days=days, min_replicas=2)  # type: ignore[arg-type]
    assert fire_time(w, lead) == expected


def _signals(now: float) -> Signals:
    r = {k: Reading.of(v, at=now) for k, v in {
        "waiting_requests": 0.0, "running_requests": 2.0, "kv_cache_usage_mean": 0.1, "ttft_p95": 0.3,
        "itl_p95": 0.02, "e2e_p95": 2.0, "request_rate": 1.0}.items()}
    return Signals(target="ml/vllm", collected_at=now, **r)


def test_prewarm_binds_the_decision_and_says_why() -> None:
    # 07:59 CEST on the DST day: load wants 1 replica, the window (min 4) opens in 60 s.
    policy = _policy()
    now = _utc(2026, 3, 29, 5, 59)
    advice = PrewarmAdvisor(TICK_S).advise(policy, _signals(now), ReplicaStatus(1, 1, 0), now)
    state = DecisionState.fresh(policy.target_key)
    d, _ = decide(policy, _signals(now), state, now, ReplicaStatus(1, 1, 0), floors=advice.floors)
    assert d.valid and d.desired == 4
    assert d.binding == "floor:schedule-prewarm:business"
    assert any("schedule-prewarm:business" in r and "opens in 60s" in r for r in d.reasons)


def test_no_prewarm_for_windows_without_a_minimum() -> None:
    policy = ScalingPolicy.model_validate({
        "name": "chat", "target": {"kind": "kubernetes", "deployment": "vllm"},
        "schedule": [{"name": "cap", "start": "08:00", "end": "18:00", "max_replicas": 2}],
    })
    assert prewarm_triggers([policy], TICK_S) == []
    assert prewarm_floors(policy, _utc(2026, 3, 28, 7, 59), 75.0) == ()
