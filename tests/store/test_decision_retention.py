"""Decision-log retention: old decisions go in small batches, newer ones and the rest of the
store stay; the controller runs it hourly. On SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.config import ControllerConfig
from controlplane.controller import build_controller
from controlplane.policy.decision import Decision
from controlplane.ports import free_port
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog

DAY = 86_400.0
NOW = 1_795_521_600.0


def _decision(at: float) -> Decision:
    return Decision(target="ml/vllm", policy="chat", at=at, valid=True, current=2, desired=2,
                    binding="signals", reasons=("steady",))  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    target = str(tmp_path / "cp.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    d = Database(target)
    request.addfinalizer(d.close)
    return d


def test_prune_deletes_only_older_decisions_in_batches(db: Database) -> None:
    log = DecisionLog(db)
    for i in range(23):
        log.append(_decision(NOW - 20 * DAY + i * DAY))  # one a day, the last 3 days before NOW inside
    assert log.prune(NOW - 5 * DAY, batch=4) == 15
    left = sorted(r.decision.at for r in log.list(limit=100))
    assert left == [NOW - 20 * DAY + i * DAY for i in range(15, 23)]
    assert log.prune(NOW - 5 * DAY, batch=4) == 0


def test_the_controller_prunes_hourly_what_its_settings_say(tmp_path: Path) -> None:
    def config(days: float) -> ControllerConfig:
        return ControllerConfig.model_validate({
            "prometheus": {"url": f"http://127.0.0.1:{free_port()}"},
            "loop": {"database": str(tmp_path / "cp.db"), "metrics_port": 0, "decision_retention_days": days},
            "api": {"enabled": False},
        })  # fmt: skip

    ctl = build_controller(config(7.0))
    try:
        now = ctl.loop.clock.now()
        for age_days in (30, 8, 6, 1):
            ctl.loop.log.append(_decision(now - age_days * DAY))
        (job,) = [(fn, every) for name, fn, every in ctl.jobs if name == "decision-retention"]
        assert job[1] == 3600.0
        job[0]()
        assert sorted(round((now - r.decision.at) / DAY) for r in ctl.loop.log.list(limit=10)) == [1, 6]
    finally:
        ctl.stop()
    off = build_controller(config(0.0))
    try:
        assert "decision-retention" not in [name for name, _, _ in off.jobs]
    finally:
        off.stop()
