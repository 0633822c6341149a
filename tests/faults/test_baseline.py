"""The control case the fault cases are measured against: with every component
healthy, the same rig scales 2 -> 1 on the first tick after min_replicas drops
to 1 (idle emulator: the signals ask for 0, the floor is 1). A fault case that
then does *not* scale down holds because of its fault."""

from __future__ import annotations

import pytest

from tests.faults.rig import controller, metric, policy, set_policy, warm

# Bounded: a case that hangs fails at 90 s instead of holding the suite (all run in CI, none opt-in).
pytestmark = pytest.mark.timeout(90)


def test_healthy_rig_scales_down_on_the_first_tick_after_the_floor_drops(world, kube, tmp_path) -> None:
    ctl = controller(kube.url, world.prometheus.url, tmp_path / "cp.db", [policy("chat")])
    try:
        warm(ctl)
        set_policy(ctl, policy("chat", min_replicas=1))
        d = ctl.loop.tick()[0]
        assert (d.valid, d.current, d.desired) == (True, 2, 1), (d.binding, d.reasons)
        assert kube.replicas("chat") == 1
        assert (
            metric(
                ctl, "controlplane_scale_events_total", policy="chat", target="default/chat", direction="down"
            )
            == 1
        )
        assert metric(ctl, "controlplane_decision_valid", policy="chat", target="default/chat") == 1
    finally:
        ctl.stop()
