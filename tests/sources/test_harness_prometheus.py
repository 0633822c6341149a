"""The real-Prometheus harness: starts, scrapes file_sd targets it is given, stops by PID."""

from __future__ import annotations

from collections.abc import Callable

from harness.prometheus import PrometheusServer


def test_file_sd_targets_can_change_while_running(
    prometheus_factory: Callable[..., PrometheusServer],
) -> None:
    prom = prometheus_factory(jobs=["self"])
    # Prometheus scrapes its own /metrics: a target that is always there.
    prom.set_targets("self", [f"127.0.0.1:{prom.port}"], labels={"group": "g"})
    prom.wait_for_up("self", 1)
    prom.wait_for(lambda: prom.value('sum(up{job="self",group="g"})') == 1.0, what="up == 1 in the TSDB")
    prom.set_targets("self", [])
    prom.wait_for(lambda: not prom.active_targets("self"), what="the target to be dropped")
    pid = prom.proc.pid if prom.proc else None
    prom.stop()
    assert pid is not None and prom.proc is not None and prom.proc.poll() is not None
