"""Prefix caching through a real emulator process against the engine model's prediction.

A multi-turn trace (two conversations of three turns, each turn's prompt the
previous one plus a new 128-token block, the block size of cpu-tiny) is sent one
request at a time to ``python3 -m controlplane emulator`` with and without
``--no-prefix-caching``, with the trace's block ids in ``prompt_block_ids``. The
prefix-cache counters and the TTFT sum in /metrics must equal what
:class:`ReplicaEngine` predicts for the same requests (emulated seconds, so exact).
"""

from __future__ import annotations

import pytest

from controlplane.capacity.engine import FINISHED, ReplicaEngine
from controlplane.capacity.profile import get_profile
from tests.emulator._proc import metric_value, start_emulator

PROFILE = get_profile("cpu-tiny")
LV = {"engine": "0", "model_name": "tiny-llama"}
# (prompt tokens, block ids): conversation A, then B, interleaved turn by turn
TRACE = [
    (200, ["a1"]), (200, ["b1"]),
    (330, ["a1", "a2"]), (330, ["b1", "b2"]),
    (460, ["a1", "a2", "a3"]), (460, ["b1", "b2", "b3"]),
]
OUTPUT = 8


def predicted(caching: bool) -> dict[str, float]:
    """The engine model on the same requests, each sent when the previous one finished."""
    e = ReplicaEngine(PROFILE, prefix_caching=caching)
    t, ttft = 0.0, 0.0
    for k, (prompt, ids) in enumerate(TRACE):
        e.submit(k, t, prompt, OUTPUT, ids)
        while (nt := e.next_event_time()) is not None:
            for ev in e.advance(nt):
                if ev.kind == FINISHED:
                    ttft += ev.stats.ttft
                    t = ev.time + 1.0
    return {"queries": e.prefix_queried_tokens, "hits": e.prefix_hit_tokens, "ttft_sum": ttft,
            "computed": e.total_prompt_tokens}


def replay(tmp_path, *flags: str) -> str:
    tmp_path.mkdir()
    emu = start_emulator(tmp_path, "--startup-s", "0", "--time-scale", "10", *flags)
    try:
        with emu.client() as c:
            for prompt, ids in TRACE:
                body = {"prompt": "x", "prompt_tokens": prompt, "max_tokens": OUTPUT, "ignore_eos": True,
                        "prompt_block_ids": ids, "prompt_block_tokens": 128}
                assert c.post("/v1/completions", json=body).status_code == 200
        return emu.metrics()
    finally:
        emu.stop()


def test_the_model_prediction_worked_by_hand():
    on, off = predicted(True), predicted(False)
    # turns 2 and 3 find 1 and 2 blocks of 128 tokens: 2 x (128 + 256) = 768 of 1,980 queried
    assert (on["queries"], on["hits"]) == (1980, 768)
    assert on["computed"] == 1980 - 768 and off["computed"] == 1980
    # prefill is 0.5 ms per computed token on cpu-tiny, one step each (<= 2,048 tokens)
    assert off["ttft_sum"] - on["ttft_sum"] == pytest.approx(768 * 0.5e-3)


def test_emulator_counters_and_ttft_match_the_engine_model(tmp_path):
    on, off = predicted(True), predicted(False)
    with_cache = replay(tmp_path / "on")
    without = replay(tmp_path / "off", "--no-prefix-caching")
    assert metric_value(with_cache, "vllm:prefix_cache_queries_total", **LV) == on["queries"]
    assert metric_value(with_cache, "vllm:prefix_cache_hits_total", **LV) == on["hits"]
    assert metric_value(with_cache, "vllm:prompt_tokens_cached_total", **LV) == on["hits"]
    assert metric_value(with_cache, "vllm:prompt_tokens_total", **LV) == 1980
    assert metric_value(without, "vllm:prefix_cache_hits_total", **LV) == 0
    assert metric_value(without, "vllm:prompt_tokens_cached_total", **LV) == 0
    ttft_on = metric_value(with_cache, "vllm:time_to_first_token_seconds_sum", **LV)
    ttft_off = metric_value(without, "vllm:time_to_first_token_seconds_sum", **LV)
    assert ttft_on == pytest.approx(on["ttft_sum"], rel=1e-6)
    assert ttft_off == pytest.approx(off["ttft_sum"], rel=1e-6)
    assert ttft_off - ttft_on == pytest.approx(off["ttft_sum"] - on["ttft_sum"], rel=1e-6)


def test_repeated_text_prompt_hits_by_hashed_blocks(tmp_path):
    emu = start_emulator(tmp_path, "--startup-s", "0", "--time-scale", "10")
    text = "the quick brown fox jumps over the lazy dog " * 25  # 1,100 characters = 275 tokens
    try:
        with emu.client() as c:
            for prompt in (text, text, "another start " + text):
                assert c.post("/v1/completions", json={"prompt": prompt, "max_tokens": 4}).status_code == 200
        metrics = emu.metrics()
    finally:
        emu.stop()
    # 512-character blocks: 2 full ones; the repeat hits both (256 tokens), the third none
    # (its first block differs, so no later block matches either)
    assert metric_value(metrics, "vllm:prefix_cache_hits_total", **LV) == 256
    assert metric_value(metrics, "vllm:prefix_cache_queries_total", **LV) == 275 + 275 + 279
