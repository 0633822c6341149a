"""The emulator's /metrics has the vLLM 0.32 families: names, types, label names, buckets.

``vllm_0_32_families.json`` is the schema (no values) of the real vLLM 0.32
exposition of a ``--max-model-len 512`` server, extracted from
../shared/reference/vllm-0.32-cpu-metrics.txt; one test checks it still equals
that file when present, the other checks the emulator against it and always runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controlplane.capacity.profile import get_profile
from serving.emulator.metrics import VllmMetrics, build_1_2_5_buckets
from tests.conftest import REPO

SCHEMA = json.loads((Path(__file__).parent / "vllm_0_32_families.json").read_text())
REFERENCE = REPO.parent / "shared" / "reference" / "vllm-0.32-cpu-metrics.txt"
REQUIRED = [
    "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:prompt_tokens",
    "vllm:generation_tokens", "vllm:request_success", "vllm:num_preemptions", "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds", "vllm:request_time_per_output_token_seconds",
    "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds", "vllm:request_prefill_time_seconds",
    "vllm:request_decode_time_seconds", "vllm:request_inference_time_seconds", "vllm:request_prompt_tokens",
    "vllm:request_generation_tokens", "vllm:cache_config_info",
    "vllm:prefix_cache_queries", "vllm:prefix_cache_hits", "vllm:prompt_tokens_cached",
]


def schema_of(text: str) -> dict:
    out = {}
    for f in text_string_to_metric_families(text):
        if not (f.name.startswith("vllm:") or f.name == "http_requests") or f.name.endswith("_created"):
            continue
        buckets = []
        for s in f.samples:
            if s.name.endswith("_bucket") and s.labels["le"] not in buckets:
                buckets.append(s.labels["le"])
        entry = {"type": f.type, "labels": sorted({k for s in f.samples for k in s.labels} - {"le"})}
        if f.type == "histogram":
            entry["buckets"] = buckets
        out[f.name] = entry
    return out


def emulator_exposition() -> str:
    m = VllmMetrics(get_profile("cpu-tiny"), "tiny-llama")
    m.on_http("/v1/completions", "POST", 200, 0.1)  # the instrumentator family appears once used
    m.on_prefix_cache(300, 128)  # counted, so the families carry values, not only their zero series
    m.on_first_token(300, 128, 0.05)
    return m.render().decode()


def test_schema_file_matches_the_reference_exposition():
    if not REFERENCE.is_file():
        pytest.skip("../shared/reference is not beside this checkout")
    assert schema_of(REFERENCE.read_text()) == SCHEMA


def test_required_families_are_in_the_schema():
    assert set(REQUIRED) <= set(SCHEMA)


@pytest.mark.parametrize("family", sorted(SCHEMA))
def test_emulator_family_matches_vllm(family):
    ours = schema_of(emulator_exposition())
    assert family in ours, f"{family} missing from the emulator's /metrics"
    assert ours[family] == SCHEMA[family]


def test_cache_config_info_values_come_from_the_profile():
    text = emulator_exposition()
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == "vllm:cache_config_info"]
    labels = family.samples[0].labels
    # cpu-tiny: 1,024 tokens in blocks of 128 = 8 blocks; 512 bytes per token = 524,288 bytes
    assert labels["block_size"] == "128"
    assert labels["num_gpu_blocks"] == "8"
    assert labels["kv_cache_size_tokens"] == "1024"
    assert labels["kv_cache_memory_bytes"] == "524288"
    assert labels["kv_cache_max_concurrency"] == "2.0"
    assert family.samples[0].value == 1.0


@pytest.mark.parametrize("limit, expected", [(512, [1, 2, 5, 10, 20, 50, 100, 200, 500]), (1, [1]), (20, [1, 2, 5, 10, 20])])
def test_token_buckets_follow_1_2_5_up_to_max_model_len(limit, expected):
    assert build_1_2_5_buckets(limit) == expected


def test_prefix_cache_counters_carry_the_engine_counts():
    text = emulator_exposition()
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
              if not s.labels.get("source")}
    assert values["vllm:prefix_cache_queries_total"] == 300
    assert values["vllm:prefix_cache_hits_total"] == 128
    assert values["vllm:prompt_tokens_cached_total"] == 128
    by_source = {s.labels["source"]: s.value for f in text_string_to_metric_families(text) for s in f.samples
                 if s.name == "vllm:prompt_tokens_by_source_total"}
    assert by_source == {"local_compute": 172, "local_cache_hit": 128, "external_kv_transfer": 0}
