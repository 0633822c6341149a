"""The serving-error log query, as pure data: one aggregation body in, counts out.

Owns: :func:`error_count_query` (the search body: ``size: 0``, a filter on the
time window and the deployment, and aggregations only -- no raw document is
ever pulled), :func:`parse_error_counts` (the response into :class:`LogErrors`),
the error-class mapping and the log field names (:class:`LogFields`).
Must not import: any Elasticsearch/OpenSearch client or HTTP library; the
clients live in :mod:`controlplane.sources.logclients`.

How a log line gets its error class, first match wins:

1. the structured ``error_class`` field, when the line has one
   (``oom``, ``cuda_error``, ``engine_dead``, ``request_timeout``, ``http_5xx``);
2. otherwise the message, in this order (phrases match case-insensitively on
   the analysed ``message`` text field, so it must be mapped as ``text``):

   ================  =====================================================
   class             message phrases (vLLM / PyTorch wording)
   ================  =====================================================
   oom               "CUDA out of memory", "OutOfMemoryError"
   cuda_error        "CUDA error"
   engine_dead       "EngineDeadError", "engine dead",
                     "EngineCore encountered an issue"
   request_timeout   "timed out"
   http_5xx          no phrase matched and ``status`` >= 500
   ================  =====================================================

A line with an ``error_class`` outside the five classes, or with none and no
match, is not a serving error. The classes are exclusive: a "CUDA error" line
logged with status 500 is ``cuda_error``, never also ``http_5xx``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ERROR_CLASSES",
    "MESSAGE_PHRASES",
    "LogFields",
    "LogScope",
    "LogErrors",
    "LogResponseError",
    "class_filters",
    "error_count_query",
    "parse_error_counts",
]

ERROR_CLASSES = ("oom", "cuda_error", "engine_dead", "request_timeout", "http_5xx")

#: Message phrases per class, checked in ERROR_CLASSES order when a line has no error_class.
MESSAGE_PHRASES: dict[str, tuple[str, ...]] = {
    "oom": ("CUDA out of memory", "OutOfMemoryError"),
    "cuda_error": ("CUDA error",),
    "engine_dead": ("EngineDeadError", "engine dead", "EngineCore encountered an issue"),
    "request_timeout": ("timed out",),
    "http_5xx": (),
}

#: Status at or above which an unclassified line is an HTTP 5xx error.
HTTP_5XX_MIN = 500


class LogResponseError(ValueError):
    """The search answered, but not with the aggregations this query asked for."""


@dataclass(frozen=True, slots=True)
class LogFields:
    """Names of the log document fields. The defaults are the emulator's (and the
    bundled log pipeline's) structured lines; keyword fields for the terms, a text
    field for the message. With Elasticsearch's dynamic mapping of strings, point
    the keyword fields at their ``.keyword`` sub-fields instead."""

    timestamp: str = "@timestamp"
    namespace: str = "namespace"
    deployment: str = "deployment"
    pod: str = "replica"
    error_class: str = "error_class"
    message: str = "message"
    status: str = "status"


@dataclass(frozen=True, slots=True)
class LogScope:
    """Which lines belong to one target: its deployment, and its namespace when known."""

    deployment: str
    namespace: str | None = None

    def __post_init__(self) -> None:
        if not self.deployment:
            raise ValueError("deployment: must not be empty")


@dataclass(frozen=True)
class LogErrors:
    """Serving errors of one target over ``[start, end)`` (Unix seconds).

    ``lines`` counts every log line of the target in the window (errors or not);
    ``by_class`` the errors per class; ``by_pod`` per pod and class (pods past the
    terms size are summed in ``other_pods_errors``); ``series`` per class, one
    ``(bucket start, count)`` per ``bucket_s`` bucket over the window.
    """

    start: float
    end: float
    lines: int
    by_class: dict[str, int]
    by_pod: dict[str, dict[str, int]] = field(default_factory=dict)
    series: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    other_pods_errors: int = 0

    @property
    def window_s(self) -> float:
        return self.end - self.start

    @property
    def errors(self) -> int:
        return sum(self.by_class.values())

    @property
    def rate(self) -> float:
        """Errors per second over the window."""
        return self.errors / self.window_s

    def rates(self) -> dict[str, float]:
        return {c: n / self.window_s for c, n in self.by_class.items()}

    def summary(self) -> str:
        """``12 errors in 60 s (oom 10, http_5xx 2); worst pod vllm-0 (10)``."""
        parts = [f"{c} {n}" for c, n in self.by_class.items() if n]
        text = f"{self.errors} log errors in {self.window_s:g} s"
        if parts:
            text += f" ({', '.join(parts)})"
        if self.by_pod:
            pod, counts = max(self.by_pod.items(), key=lambda kv: (sum(kv[1].values()), kv[0]))
            if sum(counts.values()):
                text += f"; worst pod {pod} ({sum(counts.values())})"
        return text


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _phrase_match(fields: LogFields, cls: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"match_phrase": {fields.message: p}} for p in MESSAGE_PHRASES[cls]]
    if cls == "http_5xx":
        out.append({"range": {fields.status: {"gte": HTTP_5XX_MIN}}})
    return out


def class_filters(fields: LogFields = LogFields()) -> dict[str, dict[str, Any]]:
    """One exclusive query clause per error class (see the module docstring)."""
    unstructured = {"bool": {"must_not": [{"exists": {"field": fields.error_class}}]}}
    filters: dict[str, dict[str, Any]] = {}
    earlier: list[dict[str, Any]] = []
    for cls in ERROR_CLASSES:
        by_message: dict[str, Any] = {
            "bool": {
                "filter": [unstructured],
                "should": _phrase_match(fields, cls),
                "minimum_should_match": 1,
            }
        }
        if earlier:
            by_message["bool"]["must_not"] = list(earlier)
        filters[cls] = {
            "bool": {
                "should": [{"term": {fields.error_class: cls}}, by_message],
                "minimum_should_match": 1,
            }
        }
        earlier.extend(c for c in _phrase_match(fields, cls) if "match_phrase" in c)
    return filters


def error_count_query(
    scope: LogScope,
    start: float,
    end: float,
    *,
    bucket_s: float = 10.0,
    fields: LogFields = LogFields(),
    max_pods: int = 100,
) -> dict[str, Any]:
    """The search body counting ``scope``'s serving errors in ``[start, end)`` by class,
    by pod and by ``bucket_s`` time bucket. Aggregations only (``size`` 0)."""
    if not (math.isfinite(start) and math.isfinite(end) and end > start):
        raise ValueError(f"window: end ({end}) must be after start ({start})")
    if not bucket_s >= 1:
        raise ValueError(f"bucket_s: must be >= 1 s, got {bucket_s}")
    if max_pods < 1:
        raise ValueError(f"max_pods: must be >= 1, got {max_pods}")
    window: list[dict[str, Any]] = [
        {"range": {fields.timestamp: {"gte": _iso(start), "lt": _iso(end), "format": "strict_date_optional_time"}}},
        {"term": {fields.deployment: scope.deployment}},
    ]
    if scope.namespace:
        window.append({"term": {fields.namespace: scope.namespace}})
    classes = class_filters(fields)
    interval_ms = int(round(bucket_s * 1000))
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": window}},
        "aggs": {
            "errors": {
                "filter": {"bool": {"should": list(classes.values()), "minimum_should_match": 1}},
                "aggs": {
                    "classes": {
                        "filters": {"filters": classes},
                        "aggs": {
                            "over_time": {
                                "date_histogram": {
                                    "field": fields.timestamp,
                                    "fixed_interval": f"{interval_ms}ms",
                                    "min_doc_count": 0,
                                    "extended_bounds": {"min": int(start * 1000), "max": int(end * 1000) - 1},
                                }
                            }
                        },
                    },
                    "pods": {
                        "terms": {"field": fields.pod, "size": max_pods},
                        "aggs": {"classes": {"filters": {"filters": classes}}},
                    },
                },
            }
        },
    }


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, Mapping) or key not in d:
            raise LogResponseError(f"response: no {'.'.join(path)}")
        d = d[key]
    return d


def _count(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise LogResponseError(f"response: {where} is not a count: {v!r}")
    return int(v)


def _class_counts(buckets: Any, where: str) -> dict[str, int]:
    if not isinstance(buckets, Mapping):
        raise LogResponseError(f"response: {where} buckets are not keyed by class")
    return {c: _count(_get(buckets, c, "doc_count"), f"{where}.{c}.doc_count") for c in ERROR_CLASSES}


def parse_error_counts(response: Mapping[str, Any], start: float, end: float) -> LogErrors:
    """Read the answer to :func:`error_count_query`; a partial or malformed answer raises
    :class:`LogResponseError` (a partial count is not a count)."""
    if response.get("timed_out") is True:
        raise LogResponseError("search timed out: counts would be partial")
    shards = response.get("_shards") or {}
    if isinstance(shards, Mapping) and shards.get("failed"):
        raise LogResponseError(f"{shards.get('failed')} of {shards.get('total')} shards failed: counts would be partial")
    total = _get(response, "hits", "total")
    lines = _count(total.get("value") if isinstance(total, Mapping) else total, "hits.total")
    errors = ("aggregations", "errors")
    by_class = _class_counts(_get(response, *errors, "classes", "buckets"), "classes")
    series: dict[str, list[tuple[float, int]]] = {}
    for cls in ERROR_CLASSES:
        rows = _get(response, *errors, "classes", "buckets", cls, "over_time", "buckets")
        series[cls] = [(float(_get(b, "key")) / 1000.0, _count(_get(b, "doc_count"), "over_time")) for b in rows]
    pods = _get(response, *errors, "pods")
    by_pod = {str(_get(b, "key")): _class_counts(_get(b, "classes", "buckets"), "pods") for b in _get(pods, "buckets")}
    other = _count(pods.get("sum_other_doc_count", 0), "pods.sum_other_doc_count")
    return LogErrors(start, end, lines, by_class, by_pod, series, other)
