"""The query body is pure data: what it asks for, and how answers are read."""

from __future__ import annotations

import copy

import pytest

from controlplane.sources.logquery import (
    ERROR_CLASSES,
    LogFields,
    LogResponseError,
    LogScope,
    class_filters,
    error_count_query,
    parse_error_counts,
)
from tests.logs.esrecorded import load

T = 1795654800.0  # 2026-11-26T01:00:00Z


def test_body_asks_for_aggregations_only() -> None:
    body = error_count_query(LogScope("vllm", "prod"), T, T + 60, bucket_s=10)
    assert body["size"] == 0
    assert "sort" not in body and "_source" not in body
    window = body["query"]["bool"]["filter"]
    assert window[0]["range"]["@timestamp"] == {
        "gte": "2026-11-26T01:00:00.000Z", "lt": "2026-11-26T01:01:00.000Z", "format": "strict_date_optional_time"}
    assert {"term": {"deployment": "vllm"}} in window and {"term": {"namespace": "prod"}} in window
    errors = body["aggs"]["errors"]["aggs"]
    hist = errors["classes"]["aggs"]["over_time"]["date_histogram"]
    # 10 s buckets, empty ones kept, bounds covering [T, T + 60 s).
    assert hist["fixed_interval"] == "10000ms" and hist["min_doc_count"] == 0
    assert hist["extended_bounds"] == {"min": int(T * 1000), "max": int(T * 1000) + 59_999}
    assert errors["pods"]["terms"] == {"field": "replica", "size": 100}


def test_no_namespace_filter_for_local_scope_and_custom_fields() -> None:
    fields = LogFields(deployment="kubernetes.deployment.name", pod="kubernetes.pod.name")
    body = error_count_query(LogScope("group"), T, T + 60, fields=fields)
    window = body["query"]["bool"]["filter"]
    assert window[1:] == [{"term": {"kubernetes.deployment.name": "group"}}]
    assert body["aggs"]["errors"]["aggs"]["pods"]["terms"]["field"] == "kubernetes.pod.name"


def test_class_filters_are_exclusive_in_order() -> None:
    f = class_filters()
    assert list(f) == list(ERROR_CLASSES)
    structured, by_message = f["http_5xx"]["bool"]["should"]
    assert structured == {"term": {"error_class": "http_5xx"}}
    # http_5xx by status only when no earlier class's phrase matches: all 7 phrases excluded.
    assert len(by_message["bool"]["must_not"]) == 7
    assert {"range": {"status": {"gte": 500}}} in by_message["bool"]["should"]
    assert "must_not" not in f["oom"]["bool"]["should"][1]["bool"]


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"start": T, "end": T}, "window"),
        ({"start": T, "end": T + 60, "bucket_s": 0.5}, "bucket_s"),
        ({"start": T, "end": T + 60, "max_pods": 0}, "max_pods"),
    ],
    ids=["empty window", "tiny bucket", "no pods"],
)
def test_bad_arguments_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        error_count_query(LogScope("vllm"), **kwargs)


def test_empty_deployment_is_refused() -> None:
    with pytest.raises(ValueError, match="deployment"):
        LogScope("")


def _answer() -> dict:
    return copy.deepcopy(load("search_errors_by_class")["response"]["body"])


def _drop_classes(a: dict) -> None:
    del a["aggregations"]["errors"]["classes"]


def _bad_count(a: dict) -> None:
    a["aggregations"]["errors"]["classes"]["buckets"]["oom"]["doc_count"] = -1


def _no_aggs(a: dict) -> None:
    del a["aggregations"]


@pytest.mark.parametrize(
    "spoil,words",
    [(_drop_classes, "errors.classes"), (_bad_count, "not a count"), (_no_aggs, "aggregations")],
    ids=["no classes", "negative count", "no aggregations"],
)
def test_malformed_answers_raise_naming_the_part(spoil, words: str) -> None:  # type: ignore[no-untyped-def]
    a = _answer()
    spoil(a)
    with pytest.raises(LogResponseError, match=words):
        parse_error_counts(a, T, T + 60)


def test_total_as_plain_number_and_other_pods() -> None:
    a = _answer()
    a["hits"]["total"] = 17  # older servers answer a bare number
    a["aggregations"]["errors"]["pods"]["sum_other_doc_count"] = 3
    got = parse_error_counts(a, T, T + 60)
    assert got.lines == 17 and got.other_pods_errors == 3
    assert got.rates()["oom"] == pytest.approx(3 / 60)
