"""The serving dashboard shows the prefix-cache hit ratio (hits over queries, with vLLM's older names)."""

from __future__ import annotations

import json

from tests.conftest import REPO


def test_serving_dashboard_has_the_prefix_cache_hit_ratio():
    board = json.loads((REPO / "dashboards" / "serving-overview.json").read_text())
    panels = [p for p in board["panels"] if p.get("title") == "Prefix-cache hit ratio"]
    assert len(panels) == 1
    (expr,) = [t["expr"] for t in panels[0]["targets"]]
    assert "vllm:prefix_cache_hits_total" in expr and "vllm:prefix_cache_queries_total" in expr
    assert "vllm:gpu_prefix_cache_hits_total" in expr  # older vLLM name as the fallback
    assert panels[0]["fieldConfig"]["defaults"]["unit"] == "percentunit"
