"""The shared-prefix fidelity trace and the hit-ratio row of the fidelity figures."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from controlplane.bench.fidelity import compare_figures, fidelity_trace, shared_prefix_trace


def test_shared_prefix_trace_keeps_arrivals_and_opens_with_a_system_prompt() -> None:
    base, shared = fidelity_trace(120.0, 2.0, 1), shared_prefix_trace(120.0, 2.0, 1, block_tokens=128)
    assert len(shared) == len(base) and np.array_equal(shared.arrival_s, base.arrival_s)
    assert np.array_equal(shared.output_tokens, base.output_tokens)
    assert shared.blocks is not None and shared.block_tokens == 128
    assert {b for b in shared.blocks} == {("system-0-0", "system-0-1"), ("system-1-0", "system-1-1")}
    # two full 128-token blocks, then 20-120 private tokens: within cpu-tiny's 512 with outputs <= 128
    assert shared.prompt_tokens.min() >= 276 and shared.prompt_tokens.max() <= 376
    assert int((shared.prompt_tokens + shared.output_tokens).max()) <= 512


def _sim(queried: int, hits: int) -> SimpleNamespace:
    return SimpleNamespace(
        ttft=np.array([0.1, 0.2, 0.3]), ended=np.array([10.0]), created=np.array([0.0]),
        prefix_queried_tokens=queried, prefix_cache_hit_ratio=(hits / queried) if queried else None,
    )


def test_hit_ratio_row_only_when_the_trace_shares_prefixes() -> None:
    live = SimpleNamespace(prom_ttft_p95_s=0.3, prom_prefix_hit_ratio=0.72,
                           client_ttft_p95_s=lambda: 0.3, replica_seconds=lambda h: 10.0)
    with_prefix = compare_figures(live, _sim(1000, 750), 10.0)
    assert with_prefix["prefix_cache_hit_ratio"]["live"] == 0.72
    assert with_prefix["prefix_cache_hit_ratio"]["sim"] == 0.75
    assert with_prefix["prefix_cache_hit_ratio"]["rel_diff"] == pytest.approx(-0.04)
    assert "prefix_cache_hit_ratio" not in compare_figures(live, _sim(0, 0), 10.0)
