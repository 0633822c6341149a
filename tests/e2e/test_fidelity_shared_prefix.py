"""Simulator fidelity on shared prefixes (opt-in: ``@pytest.mark.slow``, CONTROLPLANE_SLOW=1;
about two minutes): the two-minute fidelity trace with every prompt opening on one of two
256-token system prompts, through the live loop (real Prometheus, emulator replicas with
vLLM's prefix caching) and the simulator. The prefix-cache hit ratio -- the replicas'
``vllm:prefix_cache_hits_total`` over ``vllm:prefix_cache_queries_total`` in Prometheus
against the simulator's cached over looked-up prompt tokens -- must agree within 0.05.

One run (2-core x86_64, beside a long replay): hit ratio live 0.763 vs sim 0.762; TTFT
p95 (histogram) 0.952 s vs 0.877 s (+8.7%); replica-seconds 225 vs 214 (+4.9%).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controlplane.bench.fidelity import run_fidelity

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the Debian prometheus binary"),
]


@pytest.mark.timeout(300)
def test_prefix_cache_hit_ratio_live_agrees_with_the_simulator(tmp_path: Path) -> None:
    report = run_fidelity(tmp_path, seconds=120.0, mean_rate=2.0, seed=1, echo=lambda _: None, shared_prefix=True)
    assert report["live_requests_failed"] <= 2 and report["live_step_errors"] == 0
    row = report["figures"]["prefix_cache_hit_ratio"]
    assert row["live"] is not None and row["sim"] is not None, row
    assert row["sim"] > 0.5  # two shared 256-token blocks before 20-120 private tokens
    assert abs(row["live"] - row["sim"]) <= 0.05, row
    assert abs(report["figures"]["replica_seconds"]["rel_diff"]) <= 0.15
