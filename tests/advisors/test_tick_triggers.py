"""Controller.tick_triggers: extra ticks at trigger times (the pre-warm ticks), kept in sync."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from controlplane.clock import FakeClock
from controlplane.controller import Controller
from controlplane.loop import ControlLoop, StaticPolicies
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog
from controlplane.telemetry import ControllerMetrics
from tests.advisors.helpers import ObeyingActuator, RateSource, policy


class CountingLoop(ControlLoop):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.ticked = threading.Event()
        self.failed: Exception | None = None

    def tick(self):  # type: ignore[no-untyped-def]
        try:
            return super().tick()
        except Exception as e:
            self.failed = e
            raise
        finally:
            self.ticked.set()


def _loop() -> CountingLoop:
    return CountingLoop(policies=StaticPolicies([policy()]), source=RateSource(), actuator=ObeyingActuator(),
                        log=DecisionLog(Database(":memory:")), metrics=ControllerMetrics(), clock=FakeClock())


def test_a_trigger_fires_an_extra_tick() -> None:
    # The interval tick is 300 s away; only the trigger, half a second out, can tick before then
    # (the wait is long only so that a loaded machine cannot fail it; it ends at the tick).
    loop = _loop()
    when = datetime.now(UTC) + timedelta(seconds=0.5)
    ctl = Controller(loop=loop, tick_s=300.0, tick_triggers=lambda: [("prewarm:chat:x", DateTrigger(run_date=when))])
    ctl.start()
    try:
        assert loop.ticked.wait(60.0)
        assert loop.failed is None
    finally:
        ctl.stop()


def test_triggers_are_added_replaced_and_removed() -> None:
    wanted: list[tuple[str, Any]] = [("prewarm:chat:a", CronTrigger(hour=7, minute=58, timezone="Europe/Berlin"))]
    ctl = Controller(loop=_loop(), tick_s=300.0, tick_triggers=lambda: list(wanted))
    ctl.start()
    try:
        sched = ctl._scheduler
        assert sched is not None
        assert sched.get_job("prewarm:chat:a") is not None
        wanted[:] = [("prewarm:chat:b", CronTrigger(hour=9, minute=0, timezone="Europe/Berlin"))]
        ctl._sync_triggers(sched)
        assert sched.get_job("prewarm:chat:a") is None
        job = sched.get_job("prewarm:chat:b")
        assert job is not None and (job.next_run_time.hour, job.next_run_time.minute) == (9, 0)
    finally:
        ctl.stop()
