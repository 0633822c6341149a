"""Prefix caching in the replay and the prefix-affinity router, worked on the TOY profile
(prefill 1 ms per token, a step 10 ms): a 300-token prompt's first token takes 0.31 s,
100 uncached tokens 0.11 s. Traces use 100-token blocks."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.sim.autoscaler import StaticAutoscaler
from controlplane.sim.replay import SimConfig, simulate
from controlplane.traces.model import Trace
from tests.sim.helpers import TOY


def blocks_trace(times: list[float], blocks: list[tuple[int, ...]], outputs: list[int] | None = None) -> Trace:
    n = len(times)
    out = np.asarray(outputs) if outputs is not None else np.full(n, 1)
    return Trace("blocks", np.asarray(times), np.full(n, 300), out, blocks=tuple(blocks), block_tokens=100)


def test_second_request_sharing_two_of_three_blocks_prefills_one():
    trace = blocks_trace([0.0, 10.0, 20.0], [(1, 2, 3), (1, 2, 4), (5, 6, 7)])
    run = simulate(trace, StaticAutoscaler(1), SimConfig(profile=TOY))
    assert run.ttft.tolist() == pytest.approx([0.31, 0.11, 0.31])
    # 900 prompt tokens looked up, 200 found
    assert (run.prefix_queried_tokens, run.prefix_hit_tokens) == (900, 200)
    assert run.prefix_cache_hit_ratio == pytest.approx(2 / 9)
    off = simulate(trace, StaticAutoscaler(1), SimConfig(profile=TOY, prefix_caching=False))
    assert off.ttft.tolist() == pytest.approx([0.31, 0.31, 0.31])
    assert off.prefix_cache_hit_ratio is None


# req 0 [1,2,3] at t=0 takes replica 0 and is done at 0.31; req 1 [5,6,7] at t=0.1 takes
# replica 1, caches its blocks with its first token at 0.41 and decodes 9 more 10 ms steps;
# req 2 [5,6,8] at 0.455 finds replica 0 idle and replica 1 busy but holding blocks 5 and 6.
@pytest.mark.parametrize("label, router, slack, replica, ttft", [
    ("least outstanding takes the idle replica", "least_outstanding", 8, 0, 0.31),
    # joins replica 1 at its boundary 0.46, then one step with 100 tokens: 0.46 + 0.11 - 0.455
    ("affinity takes the replica holding the prefix", "prefix_affinity", 8, 1, 0.115),
    ("affinity bounded by load: one more in flight is too many", "prefix_affinity", 0, 0, 0.31),
])
def test_prefix_affinity_router(label, router, slack, replica, ttft):
    trace = blocks_trace([0.0, 0.1, 0.455], [(1, 2, 3), (5, 6, 7), (5, 6, 8)], [1, 10, 1])
    cfg = SimConfig(profile=TOY, initial_replicas=2, router=router, affinity_slack=slack)
    run = simulate(trace, StaticAutoscaler(2), cfg)
    assert run.served_by.tolist() == [0, 1, replica], label
    assert run.ttft[2] == pytest.approx(ttft), label


def test_prefix_affinity_without_blocks_is_least_outstanding():
    times = np.sort(np.random.default_rng(1).uniform(0, 30, 200))
    trace = Trace("plain", times, np.full(200, 300), np.full(200, 5))
    runs = [simulate(trace, StaticAutoscaler(3), SimConfig(profile=TOY, initial_replicas=3, router=r))
            for r in ("least_outstanding", "prefix_affinity")]
    assert runs[0].served_by.tolist() == runs[1].served_by.tolist()


def test_bad_router_and_slack_are_named():
    with pytest.raises(ValueError, match="router"):
        SimConfig(profile=TOY, router="random")
    trace = blocks_trace([0.0], [(1, 2, 3)])
    with pytest.raises(ValueError, match="affinity_slack"):
        simulate(trace, StaticAutoscaler(1), SimConfig(profile=TOY, affinity_slack=-1))


def test_simulated_prometheus_reads_the_hit_ratio_over_the_window():
    from controlplane.sim.observe import PromView, Scrape, ScrapeConfig

    view = PromView(ScrapeConfig(), 60.0, 0.0, "sim")
    hist = (0,)
    for t, queried, hits in ((0.0, 1000, 100), (15.0, 1600, 400), (30.0, 2000, 600)):
        view.record(Scrape(t, 0, 0, 0, 0, 0, hist, hist, hist, 0.0, 0.0, None, None, None, 1, queried, hits))
    # (600 - 100) / (2000 - 1000) over the 30 s in the window
    assert view.signals(30.0).prefix_cache_hit_ratio.value == pytest.approx(0.5)
    view2 = PromView(ScrapeConfig(), 60.0, 0.0, "sim")
    for t in (0.0, 15.0):
        view2.record(Scrape(t, 0, 0, 0, 0, 0, hist, hist, hist, 0.0, 0.0, None, None, None, 1, 50, 0))
    assert not view2.signals(15.0).prefix_cache_hit_ratio.ok  # no lookups in the window: missing, not 0
