"""Prefix caching in the engine model, worked by hand on a round-number profile.

Profile: step(b, p) = 0.010 + 0.001 * b + 0.0001 * p seconds, a step budget of
100 tokens, prefix blocks of 10 tokens.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from controlplane.capacity.engine import FINISHED, FIRST_TOKEN, ReplicaEngine
from controlplane.capacity.prefix_cache import PrefixCache
from controlplane.capacity.profile import PerformanceProfile

P = PerformanceProfile(
    name="test", model_name="m", max_num_seqs=4, max_num_batched_tokens=100, kv_cache_tokens=1000,
    block_size=10, max_model_len=1000, prefill_s_per_token=1e-4, decode_base_s=0.010,
    decode_per_seq_s=0.001, startup_s=0.0,
)


def run_alone(engine: ReplicaEngine, t: float, rid: str, prompt: int, blocks: list[int], max_tokens: int = 1):
    """Submit one request at ``t`` into an idle engine and run it to the end; its stats."""
    engine.submit(rid, t, prompt, max_tokens, blocks)
    done = {}
    while (nt := engine.next_event_time()) is not None:
        done.update({e.req_id: e.stats for e in engine.advance(nt) if e.kind == FINISHED})
    return done[rid]


def test_second_request_sharing_two_of_three_blocks_prefills_one_block():
    e = ReplicaEngine(P)
    a = run_alone(e, 0.0, "a", 30, [1, 2, 3])
    b = run_alone(e, 1.0, "b", 30, [1, 2, 4])
    c = run_alone(e, 2.0, "c", 30, [5, 6, 7])
    # a computes 30 tokens: 0.010 + 0.001 + 0.003 = 0.014 s
    assert a.ttft == pytest.approx(0.014) and a.cached_tokens == 0
    # b finds blocks 1, 2 (20 tokens) cached and computes one block: 0.010 + 0.001 + 0.001
    assert b.ttft == pytest.approx(0.012) and b.cached_tokens == 20
    assert c.ttft == pytest.approx(0.014) and c.cached_tokens == 0
    assert e.total_prompt_tokens == 30 + 10 + 30
    assert (e.prefix_queried_tokens, e.prefix_hit_tokens) == (90, 20)
    # cached: 1, 2, 3 from a, 4 from b, 5, 6, 7 from c
    assert e.cached_blocks == 7 and e.kv_used_tokens == 0


def test_without_prefix_caching_every_prompt_is_computed():
    e = ReplicaEngine(P, prefix_caching=False)
    run_alone(e, 0.0, "a", 30, [1, 2, 3])
    b = run_alone(e, 1.0, "b", 30, [1, 2, 4])
    assert b.ttft == pytest.approx(0.014) and b.cached_tokens == 0
    assert e.total_prompt_tokens == 60
    assert (e.prefix_queried_tokens, e.prefix_hit_tokens, e.cached_blocks) == (0, 0, 0)


def test_an_evicted_block_is_recomputed():
    e = ReplicaEngine(P, kv_cache_tokens=50)
    run_alone(e, 0.0, "a", 30, [1, 2, 3])
    # a released its blocks last first: free and cached, oldest first 3, 2, 1.
    # d needs 30 + 1 = 31 tokens, leaving 19 free: 3 and 2 are evicted, 1 stays.
    run_alone(e, 1.0, "d", 30, [7, 8, 9])
    assert e.evicted_blocks == 2
    again = run_alone(e, 2.0, "a2", 30, [1, 2, 3])
    # block 1 still cached, 2 was evicted so 2 and 3 are recomputed: 20 tokens
    assert again.cached_tokens == 10
    assert again.ttft == pytest.approx(0.010 + 0.001 + 0.002)
    assert e.total_prompt_tokens == 30 + 30 + 20


def test_a_fully_cached_prompt_still_computes_its_last_block():
    e = ReplicaEngine(P)
    run_alone(e, 0.0, "a", 30, [1, 2, 3])
    again = run_alone(e, 1.0, "b", 30, [1, 2, 3])
    # at most prompt - 1 = 29 tokens may hit: 2 whole blocks
    assert again.cached_tokens == 20
    assert e.total_prompt_tokens == 40


def test_running_requests_share_cached_blocks_in_kv_usage():
    def kv_when_both_run(caching: bool) -> int:
        e = ReplicaEngine(P, prefix_caching=caching)
        e.submit("a", 0.0, 30, 50, [1, 2, 3])
        assert [x.kind for x in e.advance(0.014)] == [FIRST_TOKEN]  # a's prefill step ends at 0.014
        e.submit("b", 0.014, 30, 50, [1, 2, 4])
        e.advance(0.025)  # a's first decode step ends at 0.025; b is admitted there
        assert e.num_running == 2
        return e.kv_used_tokens

    # a holds prompt 30 + 2 generated; b 10 of its own + the reserved first token, 20 shared
    assert kv_when_both_run(True) == 32 + 11
    assert kv_when_both_run(False) == 32 + 31


def test_ids_beyond_the_last_full_block_are_ignored():
    e = ReplicaEngine(P)
    run_alone(e, 0.0, "a", 25, [1, 2, 3])  # 25 tokens: blocks 1, 2 full, 3 partial
    assert e.cached_blocks == 2
    b = run_alone(e, 1.0, "b", 35, [1, 2, 3, 4])
    assert b.cached_tokens == 20


def test_prefix_cache_table():
    c = PrefixCache(10)
    assert c.adopt("x") == 0 and c.adopt("y") == 0  # computed by one request
    assert c.adopt("x") == -10  # a second request's own copy of x is dropped for the cached one
    assert c.release(["x", "y"]) == 10  # y unreferenced now; x still used once
    assert c.release(["x"]) == 10
    assert c.unreferenced_tokens == 20 and c.match(["x", "y", "z"]) == 2
    assert c.revive_tokens(["x"]) == 10 and c.acquire(["x"]) == 10
    assert c.evict_to(0) == 1 and "y" not in c and "x" in c  # a referenced block is never evicted
    with pytest.raises(ValueError, match="block_tokens"):
        PrefixCache(0)


def test_prefill_of_the_uncached_part_pays_attention_over_the_cached_prefix():
    q = replace(P, prefill_s_per_context_token=1e-6)
    e = ReplicaEngine(q)
    run_alone(e, 0.0, "a", 30, [1, 2, 3])
    b = run_alone(e, 1.0, "b", 30, [1, 2, 4])
    # tokens at positions 20..29 attend to 20..29 earlier ones: 10 * 20 + 45 = 245 pairs
    assert b.ttft == pytest.approx(0.010 + 0.001 + 0.001 + 245e-6)
