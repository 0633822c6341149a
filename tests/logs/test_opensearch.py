"""The log queries EXECUTED by a real OpenSearch-compatible server (osmem-server, the
``osmem_clone`` fixture of its pytest plugin) through opensearch-py, over log lines
written by a real emulator replica with injected errors, checked against the
documented mapping (tests/logs/reference.py) applied to the same lines in Python.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.policy.model import ScalingPolicy
from controlplane.sources.logclients import OpenSearchSearch
from controlplane.sources.logquery import LogFields, LogScope, error_count_query, parse_error_counts
from controlplane.sources.logs import LogSource
from tests.logs import reference

osmem = pytest.importorskip("osmem_server")
pytest.importorskip("opensearchpy")

INDEX = "vllm-logs-2026.11.26"
KEYWORD = {"type": "keyword"}
#: The mapping a log pipeline gives the emulator's lines: keywords for terms, text for the message.
MAPPING = {
    "properties": {
        "@timestamp": {"type": "date"},
        "level": KEYWORD,
        "replica": KEYWORD,
        "deployment": KEYWORD,
        "namespace": KEYWORD,
        "model": KEYWORD,
        "event": KEYWORD,
        "error_class": KEYWORD,
        "message": {"type": "text"},
        "status": {"type": "integer"},
    }
}


def _policy(group: str) -> ScalingPolicy:
    return ScalingPolicy.model_validate(
        {"name": group, "target": {"kind": "local", "group": group, "model_name": "logs"}, "min_replicas": 1}
    )


def _index(client: Any, lines: list[dict[str, Any]], index: str = INDEX, mapping: dict | None = MAPPING) -> None:
    if mapping is not None:
        client.indices.create(index=index, body={"mappings": mapping})
    for i, line in enumerate(lines):
        client.index(index=index, id=str(i), body=line)
    client.indices.refresh(index=index)


def _emulator_lines(emulator_factory: Callable[..., list], tmp_path: Path) -> list[dict[str, Any]]:
    """One replica of deployment ``svc``: 12 requests with half failing as oom, then 12
    with half failing as cuda_error (seeded, so the same requests fail every run)."""
    log_file = tmp_path / "svc-0.jsonl"
    (replica,) = emulator_factory(
        1,
        extra_args=["--log-file", str(log_file), "--deployment", "svc", "--namespace", "prod", "--replica-name", "svc-0",
                    "--error-ratio", "0.5", "--error-class", "oom", "--seed", "7"],
    )
    with httpx.Client(timeout=30, trust_env=False) as http:
        model = http.get(f"{replica.url}/v1/models").json()["data"][0]["id"]
        body = {"model": model, "prompt": "x " * 8, "max_tokens": 2}
        for phase in ("oom", "cuda_error"):
            http.put(f"{replica.url}/admin/faults", json={"error_class": phase}).raise_for_status()
            for _ in range(12):
                http.post(f"{replica.url}/v1/completions", json=body)
    deadline = time.monotonic() + 10
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        lines = [json.loads(s) for s in log_file.read_text().splitlines() if s.strip()]
        if sum(1 for x in lines if x["event"] in ("request_finished", "request_error")) >= 24:
            break
        time.sleep(0.2)
    return lines


# Lines a real vLLM or a proxy writes without the structured field: classified by message or status.
UNSTRUCTURED = [
    # name, message, status, expected class
    ("torch oom", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB", 500, "oom"),
    ("cuda error wins over 500", "RuntimeError: CUDA error: device-side assert triggered", 500, "cuda_error"),
    ("engine dead error", "vllm.v1.engine.exceptions.EngineDeadError: EngineCore encountered an issue", 500,
     "engine_dead"),
    ("engine dead words", "Engine dead, restarting", None, "engine_dead"),
    ("timeout", "Request 12 timed out after 600 s", 504, "request_timeout"),
    ("bare 502", "Bad Gateway", 502, "http_5xx"),
    ("client error is not serving error", "Bad Request: prompt too long", 400, None),
    ("normal line", "Finished request 3.", 200, None),
]


def _unstructured_lines(now: float) -> list[dict[str, Any]]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 5)) + ".000Z"
    return [
        {"@timestamp": stamp, "level": "ERROR", "replica": "svc-9", "deployment": "svc", "namespace": "prod",
         "model": "m", "event": "proxy", "status": status, "message": message}
        for _, message, status, _ in UNSTRUCTURED
    ]


@pytest.mark.parametrize("name,message,status,expected", UNSTRUCTURED, ids=[c[0] for c in UNSTRUCTURED])
def test_reference_mapping_table(name: str, message: str, status: int | None, expected: str | None) -> None:
    assert reference.classify({"message": message, "status": status}) == expected


def test_emulator_errors_counted_by_class_and_pod(
    osmem_clone: Any, emulator_factory: Callable[..., list], tmp_path: Path
) -> None:
    from opensearchpy import OpenSearch

    lines = _emulator_lines(emulator_factory, tmp_path)
    now = time.time() + 1
    lines += _unstructured_lines(now)
    # Another deployment's errors in the same index must not be counted.
    lines += [{**lines[0], "deployment": "other", "error_class": "oom", "replica": "other-0"}]
    client = OpenSearch(hosts=[osmem_clone.url])
    _index(client, lines)
    mine = [x for x in lines if x["deployment"] == "svc"]
    expected = reference.count(mine)
    # Seeded: 24 requests, about half failed, split between the two injected classes.
    assert expected["oom"] >= 3 and expected["cuda_error"] >= 3, expected
    search = OpenSearchSearch(osmem_clone.url, timeout_s=10)
    # Aligned to the 30 s buckets (they start at multiples of 30 s since the epoch): exactly 4 buckets.
    end = math.ceil(now / 30) * 30
    start = end - 120
    body = error_count_query(LogScope("svc", "prod"), start, end, bucket_s=30)
    errors = parse_error_counts(search.search("vllm-logs-*", body), start, end)
    assert errors.by_class == expected
    assert errors.lines == len(mine)
    assert errors.by_pod["svc-0"]["oom"] == sum(1 for x in mine if x.get("error_class") == "oom")
    assert sum(errors.by_pod["svc-9"].values()) == sum(1 for c in UNSTRUCTURED if c[3])
    # The time series covers the window in 30 s buckets and adds up to the totals.
    assert all(len(s) == 4 for s in errors.series.values()), errors.series
    assert {c: sum(n for _, n in s) for c, s in errors.series.items()} == expected
    search.close()


def test_log_source_reading_and_no_lines(osmem_clone: Any, tmp_path: Path) -> None:
    from opensearchpy import OpenSearch

    now = time.time() + 1
    client = OpenSearch(hosts=[osmem_clone.url])
    _index(client, _unstructured_lines(now))
    source = LogSource(OpenSearchSearch(osmem_clone.url, timeout_s=10), "vllm-logs-*", window_s=60, bucket_s=10)
    # 6 serving errors among the 8 lines in a 60 s window: 0.1 errors/s.
    got = source.read(_policy("svc"), now)
    assert got.reading.ok and got.reading.value == pytest.approx(6 / 60)
    assert got.errors is not None and got.errors.summary().startswith("6 log errors in 60 s")
    # A group with no line at all: missing, not zero (log shipping may be down).
    quiet = source.read(_policy("quiet"), now)
    assert not quiet.reading.ok and "no log lines" in (quiet.reading.reason or "")


def test_dynamic_mapping_uses_keyword_subfields(osmem_clone: Any) -> None:
    """Elasticsearch/OpenSearch dynamic mapping makes strings text + .keyword: point the terms there."""
    from opensearchpy import OpenSearch

    now = time.time() + 1
    client = OpenSearch(hosts=[osmem_clone.url])
    _index(client, _unstructured_lines(now), index="vllm-logs-dynamic", mapping=None)
    fields = LogFields(namespace="namespace.keyword", deployment="deployment.keyword", pod="replica.keyword",
                       error_class="error_class.keyword")
    search = OpenSearchSearch(osmem_clone.url, timeout_s=10)
    body = error_count_query(LogScope("svc", "prod"), now - 60, now, fields=fields)
    errors = parse_error_counts(search.search("vllm-logs-dynamic", body), now - 60, now)
    assert errors.by_class == reference.count(_unstructured_lines(now))
