"""PrometheusSource against fake Prometheus servers: every odd answer is a missing reading.

One fake HTTP server per case (tests/sources/fakeprom.py). ``NOW`` is the tick's
evaluation time; ``fresh(NOW)`` dates every series 5 s before it.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from controlplane.policy.model import LocalTarget, ScalingPolicy
from controlplane.ports import free_port
from controlplane.signals import Signals
from controlplane.sources.prometheus import PrometheusSource

from .fakeprom import EMPTY, Answer, fake_prometheus, fresh, one, vector

NOW = 1_800_000_000.0
POLICY = ScalingPolicy(name="chat", target=LocalTarget(group="chat"))


def collect(answer: Answer, **kw: Any) -> tuple[Signals, list[tuple[str, float | None]]]:
    with fake_prometheus(answer) as prom:
        source = PrometheusSource(prom.url, timeout_s=kw.pop("timeout_s", 2.0), **kw)
        return source.collect(POLICY, NOW), prom.queries


def only(signal_fragment: str, body: Any, status: int = 200) -> Answer:
    """Fresh data everywhere; the query containing ``signal_fragment`` answers ``(status, body)``."""
    base = fresh(NOW)

    def answer(query: str, t: float | None) -> tuple[int, Any]:
        if signal_fragment in query and "timestamp(" not in query:
            return status, body
        return base(query, t)

    return answer


def test_healthy_answers_fill_every_prometheus_signal() -> None:
    signals, queries = collect(fresh(NOW))
    for name, reading in signals.readings().items():
        if name == "log_error_rate":  # the log source's signal
            assert reading.reason == "not collected"
            continue
        assert reading.value == 1.5, name
        assert reading.at == NOW - 5, name
    assert signals.target == "local/chat"
    assert signals.collected_at == NOW
    # Every query is evaluated at the tick's time, never at the server's "now".
    assert {t for _, t in queries} == {NOW}


TTFT = "vllm:time_to_first_token_seconds_bucket"
WAITING = "sum(vllm:num_requests_waiting"

CASES = [
    # (id, answer for one signal, the signal, expected reason fragment)
    ("empty-result", only(WAITING, EMPTY), "waiting_requests", "no data: the query returned no series"),
    (
        "several-series",
        only(WAITING, vector(({"instance": "a"}, 1), ({"instance": "b"}, 2))),
        "waiting_requests",
        'several series (2) where one was expected: {instance="a"}, {instance="b"}',
    ),
    ("nan", only(TTFT, one("NaN")), "ttft_p95", "NaN: no observations in the 60s window"),
    ("plus-inf", only(TTFT, one("+Inf")), "ttft_p99", "value is +Inf"),
    ("minus-inf", only(WAITING, one("-Inf")), "waiting_requests", "value is -Inf"),
    (
        "http-503-text",
        only(WAITING, "service unavailable", status=503),
        "waiting_requests",
        "prometheus answered HTTP 503: service unavailable",
    ),
    (
        "http-400-error-json",
        only(WAITING, {"status": "error", "errorType": "bad_data", "error": "parse error"}, status=400),
        "waiting_requests",
        "prometheus error (HTTP 400, bad_data): parse error",
    ),
    (
        "http-200-error-json",
        only(WAITING, {"status": "error", "errorType": "execution", "error": "query timed out"}),
        "waiting_requests",
        "prometheus error (HTTP 200, execution): query timed out",
    ),
    ("malformed-json", only(WAITING, "{not json"), "waiting_requests", "malformed answer"),
    (
        "malformed-sample",
        only(WAITING, {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}}),
        "waiting_requests",
        "malformed sample",
    ),
]


@pytest.mark.parametrize(("answer", "signal", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_odd_answer_is_missing_never_zero(answer: Answer, signal: str, reason: str) -> None:
    signals, _ = collect(answer)
    reading = getattr(signals, signal)
    assert reading.value is None
    assert reason in (reading.reason or "")
    # The other signals are unaffected.
    assert signals.request_rate.value == 1.5


def test_stale_series_is_missing_with_its_age() -> None:
    # Newest sample 75 s before the tick; the policy allows 60 s.
    signals, queries = collect(fresh(NOW, age_s=75))
    assert signals.waiting_requests.value is None
    assert signals.waiting_requests.reason == "stale: newest sample 75 s old (max 60 s)"
    assert signals.waiting_requests.at == NOW - 75
    # A stale family is not queried for its value.
    assert not any(q.startswith("sum(vllm:num_requests_waiting") for q, _ in queries)


def test_a_family_without_series_is_missing_for_each_signal_it_dates() -> None:
    # No DCGM exporter in front of this deployment: both GPU signals are missing.
    base = fresh(NOW)

    def answer(query: str, t: float | None) -> tuple[int, Any]:
        return (200, EMPTY) if "DCGM_" in query else base(query, t)

    signals, _ = collect(answer)
    assert (
        signals.gpu_utilization.reason
        == "no series: DCGM_FI_DEV_GPU_UTIL has no recent sample for this target"
    )
    assert (
        signals.gpu_memory_used_bytes.reason
        == "no series: DCGM_FI_DEV_FB_USED has no recent sample for this target"
    )
    assert signals.ready_replicas.value == 1.5


def test_freshness_is_asked_once_per_family() -> None:
    # ttft p50/p95/p99 share vllm:time_to_first_token_seconds: one timestamp() query.
    _, queries = collect(fresh(NOW))
    stamps = [q for q, _ in queries if "timestamp(vllm:time_to_first_token_seconds_count" in q]
    assert len(stamps) == 1


def test_timeout_fails_the_whole_tick_fast() -> None:
    hang = threading.Event()
    with fake_prometheus(fresh(NOW), hang=hang) as prom:
        signals = PrometheusSource(prom.url, timeout_s=0.2).collect(POLICY, NOW)
        asked = len(prom.queries)
    for name, reading in signals.readings().items():
        assert reading.value is None, name
        if name != "log_error_rate":
            assert reading.reason == f"prometheus at {prom.url}: timeout after 0.2 s", name
    # One request timed out; the rest were not sent.
    assert asked == 1


def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    source = PrometheusSource(url, timeout_s=1)
    signals = source.collect(POLICY, NOW)
    assert signals.request_rate.value is None
    assert signals.request_rate.reason == f"prometheus at {url} unreachable: connection refused"
    assert all(r.value is None for r in signals.readings().values())
    health = source.check()
    assert not health.ok and "connection refused" in health.detail


def test_check_reports_a_working_api() -> None:
    with fake_prometheus(lambda q, t: (200, one(1))) as prom:
        health = PrometheusSource(prom.url).check()
    assert health.ok, health.detail


def test_check_reports_an_error_status() -> None:
    with fake_prometheus(lambda q, t: (500, "boom")) as prom:
        health = PrometheusSource(prom.url).check()
    assert not health.ok
    assert health.detail == "prometheus answered HTTP 500: boom"


def test_window_comes_from_the_policy_unless_given() -> None:
    _, queries = collect(fresh(NOW))
    assert any("[60s]" in q for q, _ in queries)
    _, queries = collect(fresh(NOW), window_s=15)
    assert any("[15s]" in q for q, _ in queries) and not any("[60s]" in q for q, _ in queries)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"url": "localhost:9090"}, "url"),
        ({"url": "http://x", "timeout_s": 0}, "timeout_s"),
        ({"url": "http://x", "window_s": -1}, "window_s"),
        ({"url": "http://x", "retries": -1}, "retries"),
    ],
    ids=["scheme", "timeout", "window", "retries"],
)
def test_bad_settings_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    url = kwargs.pop("url")
    with pytest.raises(ValueError, match=field):
        PrometheusSource(url, **kwargs)


def test_a_prompt_histogram_answer_is_kept_only_whole() -> None:
    from controlplane.sources.prometheus import _buckets_from

    def s(le: str, v: str) -> dict:  # type: ignore[type-arg]
        return {"metric": {"le": le}, "value": [0, v]}

    whole = _buckets_from([s("+Inf", "3"), s("10", "1"), s("100", "2")])
    assert whole == ((10.0, 1.0), (100.0, 2.0), (float("inf"), 3.0))  # in bound order
    assert _buckets_from([s("10", "1"), s("100", "2")]) == ()  # no +Inf: partial
    assert _buckets_from([s("10", "NaN"), s("+Inf", "1")]) == ()  # an empty window's 0/0
    assert _buckets_from([{"metric": {}, "value": [0, "1"]}]) == ()  # no le label
    assert _buckets_from([]) == () and _buckets_from(None) == ()
