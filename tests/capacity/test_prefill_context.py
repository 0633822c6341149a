"""Prefill cost that grows with position: profile arithmetic and the engine's chunks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controlplane.capacity.engine import FINISHED, ReplicaEngine
from controlplane.capacity.model import Workload, capacity_at_slo
from controlplane.capacity.profile import PerformanceProfile, context_pairs, get_profile

P = PerformanceProfile(
    name="test", model_name="m", max_num_seqs=2, max_num_batched_tokens=100, kv_cache_tokens=1000,
    block_size=16, max_model_len=1000, prefill_s_per_token=1e-4, decode_base_s=0.010,
    decode_per_seq_s=0.001, startup_s=0.0, prefill_s_per_context_token=1e-6,
)


@pytest.mark.parametrize("label, start, tokens, pairs", [
    ("first token", 0, 1, 0),
    ("a prompt of 4", 0, 4, 0 + 1 + 2 + 3),
    ("a chunk at 100", 100, 100, 100 * 100 + 4950),
])
def test_context_pairs(label, start, tokens, pairs):
    assert context_pairs(start, tokens) == pairs, label


def test_llama_8b_prefill_of_a_long_prompt():
    h = get_profile("llama-3.1-8b-h100")
    # coefficient: 40 us x (4 x 32 layers x 4096 hidden) / 16.06 GFLOP = 1.3 ns per pair
    assert h.prefill_s_per_context_token == pytest.approx(40e-6 * 4 * 32 * 4096 / 16.06e9, rel=0.01)
    # 100k tokens: 100k x 40 us = 4 s of weights, 1.3 ns x 100k x 99,999 / 2 = 6.5 s of attention
    assert h.prefill_s(100_000) == pytest.approx(4.0 + 6.5, rel=1e-4)
    # at position 32k one token's attention costs about as much as its weights
    assert h.prefill_s_per_context_token * 32_768 == pytest.approx(h.prefill_s_per_token, rel=0.1)
    # a cached 90k prefix leaves 10k tokens, each attending to 90k-100k earlier ones
    assert h.prefill_s(100_000, 90_000) == pytest.approx(10_000 * 40e-6 + 1.3e-9 * (10_000 * 90_000 + 49_995_000))


def test_chunks_late_in_a_prompt_cost_more():
    e = ReplicaEngine(P)
    e.submit("a", 0.0, 250, 2)
    stats = None
    while (t := e.next_event_time()) is not None:
        for ev in e.advance(t):
            if ev.kind == FINISHED:
                stats = ev.stats
    # chunks of 100, 100, 50 at positions 0, 100, 200: pairs 4,950 + 14,950 + 11,225 = 31,125 = 250 x 249 / 2
    # TTFT = 3 x (0.010 + 0.001) + 250 x 1e-4 + 31,125 x 1e-6
    assert stats is not None
    assert stats.ttft == pytest.approx(0.033 + 0.025 + 0.031125)


def test_saturation_and_capacity_fall_with_context_cost():
    flat = replace(P, prefill_s_per_context_token=0.0)
    # 400-token prompt: per request 10 x step(2) / 2 + prefill; step(2) = 0.012
    assert 1 / flat.max_requests_per_s(400, 10) == pytest.approx(0.06 + 0.04)
    assert 1 / P.max_requests_per_s(400, 10) == pytest.approx(0.06 + 0.04 + 400 * 399 / 2 * 1e-6)
    w = Workload(400, 10)
    assert capacity_at_slo(P, w, 1.0, 1.0, n_requests=200).requests_per_s < \
        capacity_at_slo(flat, w, 1.0, 1.0, n_requests=200).requests_per_s


def test_negative_context_cost_is_rejected():
    with pytest.raises(ValueError, match="prefill_s_per_context_token"):
        replace(P, prefill_s_per_context_token=-1.0)
