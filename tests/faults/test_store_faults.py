"""Fault matrix (l): the policy store's database (PostgreSQL) goes down under a running controller.

Real components: the fault world's Prometheus and emulator, the Kubernetes stand-in, and a
PostgreSQL server of this case's own (``tests/harness/postgres.py``), SIGKILLed by PID and
started again on the same data directory.

While the database is down nothing is patched: the loop cannot list its policies, so it
makes no decision (``controlplane_step_errors_total{step="policies"}``); and where the
policies come from elsewhere, the overrides cannot be read, so each decision is invalid
rather than possibly undoing a pin or a pause. After the restart the next tick carries
out the change the store holds, and its decision is recorded there.
"""

from __future__ import annotations

import pytest

from controlplane.policy.model import parse_policy
from controlplane.ports import free_port
from controlplane.store.audit import Actor
from controlplane.store.policies import PolicyRepository
from tests.faults.rig import controller, metric, policy, set_policy, tick_until, warm

pytestmark = pytest.mark.timeout(120)


def test_l_store_down_nothing_is_patched_and_the_change_lands_after_the_restart(
    world, kube, postgres_own_server, tmp_path
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("fault-matrix-admin-token admin fault-matrix\n")
    api = {"enabled": True, "host": "127.0.0.1", "port": free_port(), "tokens_file": str(tokens)}
    # With the API on, the loop reads its policies and the overrides from the database.
    ctl = controller(kube.url, world.prometheus.url, postgres_own_server.create_database(), [policy("chat")], api=api)
    repo = ctl.loop.policies
    assert isinstance(repo, PolicyRepository)
    try:
        warm(ctl)
        # The operator lowers the floor; the database dies before the next tick reads it.
        repo.update("chat", parse_policy({**policy("chat").to_dict(), "min_replicas": 1}),
                    Actor("ops", "admin"), ctl.loop.clock.now())  # fmt: skip
        postgres_own_server.kill()
        for _ in range(3):
            assert ctl.loop.tick() == []
        assert metric(ctl, "controlplane_step_errors_total", step="policies") == 3
        assert kube.requests("PATCH") == [] and kube.replicas("chat") == 2

        # Policies from elsewhere (a file): the decision is made, but the overrides are unreadable.
        set_policy(ctl, policy("chat", min_replicas=1))
        d = ctl.loop.tick()[0]
        assert not d.valid and d.binding == "invalid:OverrideAdvisor_unavailable", (d.binding, d.reasons)
        assert kube.requests("PATCH") == [] and kube.replicas("chat") == 2

        postgres_own_server.restart()
        ctl.loop.policies = repo
        d = tick_until(ctl, "the scale-down the store holds", lambda d: d.valid and d.desired == 1)
        assert kube.replicas("chat") == 1 and len(kube.requests("PATCH")) == 1
        recorded = ctl.loop.log.list(target="default/chat", limit=1)[0]
        assert recorded.patched and recorded.decision.desired == 1
    finally:
        ctl.stop()
