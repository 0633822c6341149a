"""The elasticsearch-client path against RECORDED Elasticsearch 8 responses, served by a
tiny HTTP server on 127.0.0.1 that checks the request line, the compatibility headers
the official client sends, and that the body is exactly the built aggregation query.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from controlplane.policy.model import ScalingPolicy
from controlplane.sources.logclients import ElasticsearchSearch, LogQueryFailed, LogUnavailable
from controlplane.sources.logquery import ERROR_CLASSES, LogScope, error_count_query
from controlplane.sources.logs import LogSource
from tests.logs.esrecorded import RecordedElasticsearch, load

pytest.importorskip("elasticsearch")

T = 1795654800.0  # 2026-11-26T01:00:00Z, the window start of the recordings
NOW = T + 60.0


def _policy() -> ScalingPolicy:
    return ScalingPolicy.model_validate(
        {"name": "chat", "target": {"kind": "kubernetes", "namespace": "prod", "deployment": "vllm"}}
    )


def _query() -> dict:
    return error_count_query(LogScope("vllm", "prod"), T, NOW, bucket_s=10)


@pytest.fixture
def recorded() -> Iterator[list[RecordedElasticsearch]]:
    servers: list[RecordedElasticsearch] = []
    yield servers
    for s in servers:
        s.stop()


def _serve(servers: list[RecordedElasticsearch], name: str, **kw: object) -> RecordedElasticsearch:
    server = RecordedElasticsearch(load(name), **kw).start()  # type: ignore[arg-type]
    servers.append(server)
    return server


def test_errors_by_class_and_pod_from_a_recorded_answer(recorded: list[RecordedElasticsearch]) -> None:
    server = _serve(recorded, "search_errors_by_class", expect_body=_query())
    source = LogSource(ElasticsearchSearch(server.url, timeout_s=5), "vllm-logs-*", window_s=60, bucket_s=10)
    got = source.read(_policy(), NOW)
    assert server.problems == []
    assert len(server.requests) == 1
    seen = server.requests[0]
    assert seen.body["size"] == 0 and "aggs" in seen.body  # aggregations only, never documents
    assert seen.headers["user-agent"].startswith("elasticsearch-py/")
    # 6 errors in 60 s: 0.1 errors/s; oom 3, engine_dead 1, http_5xx 2.
    assert got.reading.value == pytest.approx(0.1)
    assert got.reading.at == NOW
    errors = got.errors
    assert errors is not None
    assert errors.lines == 240
    assert errors.by_class == {"oom": 3, "cuda_error": 0, "engine_dead": 1, "request_timeout": 0, "http_5xx": 2}
    assert errors.by_pod["vllm-7d9f-abcde"] == {"oom": 3, "cuda_error": 0, "engine_dead": 0, "request_timeout": 0,
                                                "http_5xx": 1}
    assert [n for _, n in errors.series["oom"]] == [0, 1, 2, 0, 0, 0]
    assert errors.series["oom"][0][0] == T
    assert set(errors.series) == set(ERROR_CLASSES)
    assert source.latest("prod/vllm") == got
    assert errors.summary() == "6 log errors in 60 s (oom 3, engine_dead 1, http_5xx 2); worst pod vllm-7d9f-abcde (4)"


CASES = [
    # recording, server options, words the missing reason must contain
    ("index_not_found", {}, ["HTTP 404", "index_not_found_exception", "no such index"]),
    ("text_field_not_aggregatable", {}, ["HTTP 400", "search_phase_execution_exception"]),
    ("partial_shard_failure", {}, ["1 of 3 shards failed"]),
    ("search_timed_out", {}, ["timed out", "partial"]),
    ("search_errors_by_class", {"product_header": False}, ["not Elasticsearch"]),
    ("search_errors_by_class", {"delay_s": 2.0}, ["unreachable"]),
]


@pytest.mark.parametrize("name,options,words", CASES,
                         ids=["404 no index", "400 text field", "shard failure", "timed out", "not elasticsearch",
                              "slow answer"])
def test_bad_answers_make_the_reading_missing(
    recorded: list[RecordedElasticsearch], name: str, options: dict, words: list[str]
) -> None:
    server = _serve(recorded, name, **options)
    path = load(name)["request"]["path"]
    index = path.split("/")[1]
    source = LogSource(ElasticsearchSearch(server.url, timeout_s=0.5), index, window_s=60, bucket_s=10)
    got = source.read(_policy(), NOW)
    assert not got.reading.ok
    assert got.reading.reason is not None
    for w in words:
        assert w in got.reading.reason, got.reading.reason
    assert server.problems == []


def test_refused_then_backoff_then_recovery(recorded: list[RecordedElasticsearch]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    source = LogSource(ElasticsearchSearch(dead, timeout_s=1), "vllm-logs-*", window_s=60, bucket_s=10, backoff_s=15)
    first = source.read(_policy(), NOW)
    assert not first.reading.ok and "unreachable" in (first.reading.reason or "")
    # Within the backoff no request is made: the reason says when the next try is.
    again = source.read(_policy(), NOW + 5)
    assert "next try in 10 s" in (again.reading.reason or "")
    # The cluster comes back: after the backoff the next read succeeds.
    server = _serve(recorded, "search_errors_by_class", expect_body=None)
    source.client = ElasticsearchSearch(server.url, timeout_s=5)
    later = source.read(_policy(), NOW + 16)
    assert later.reading.ok


def test_client_errors_are_translated() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    client = ElasticsearchSearch(dead, timeout_s=1)
    with pytest.raises(LogUnavailable):
        client.search("x", {"size": 0})
    assert issubclass(LogUnavailable, LogQueryFailed)
