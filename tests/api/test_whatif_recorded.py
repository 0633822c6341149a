"""What-if over a recorded window: the candidate policy replayed on what Prometheus recorded of
its target. Edges against a fake source; end to end against a real Prometheus scraping an
emulator replica that served a known number of requests."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from controlplane.api import ApiOptions, create_app
from controlplane.clock import FakeClock, SystemClock
from controlplane.sources.prometheus import PrometheusSource, Unreachable
from controlplane.store import Database
from controlplane.traces.recorded import RecordedDemand
from tests.api.conftest import POLICY, STATIC, TestClient, bearer

OP = bearer(STATIC["operator"])
NOW = 1_795_521_600.0


class FakeRecorder:
    def __init__(self, rate: float | None = 2.0, fail: bool = False) -> None:
        self.rate, self.fail = rate, fail
        self.asked: list[tuple[Any, ...]] = []

    def recorded_demand(self, target: Any, start: float, end: float, step_s: int, window_s: float) -> RecordedDemand:
        self.asked.append((target.deployment, start, end, step_s, window_s))
        if self.fail:
            raise Unreachable("prometheus at http://127.0.0.1:1 unreachable: connection refused")
        steps = [start + i * step_s for i in range(int((end - start) // step_s) + 1)]
        rates = {} if self.rate is None else {t: self.rate for t in steps}
        return RecordedDemand(start, end, float(step_s), rates, {t: r * 300 for t, r in rates.items()},
                              {t: r * 30 for t, r in rates.items()})  # fmt: skip


def _client(options: ApiOptions, source: Any) -> TestClient:
    loop = None if source is None else SimpleNamespace(source=source)
    return TestClient(create_app(options, Database(), loop, clock=FakeClock(NOW)))


def _ask(c: TestClient, **recorded: Any) -> httpx.Response:
    body = {"start": NOW - 600, "end": NOW - 300, "step_s": 15, **recorded}
    return c.post("/v1/whatif", json={"policy": POLICY, "trace": {"recorded": body}, "compare_current": False},
                  headers=OP)  # fmt: skip


def test_a_recorded_window_is_replayed_with_its_figures(options: ApiOptions) -> None:
    source = FakeRecorder(rate=2.0)
    with _client(options, source) as c:
        r = _ask(c, rate_window_s=30)
    assert r.status_code == 200, r.text
    trace = r.json()["trace"]
    assert (trace["source"], trace["steps"], trace["missing_steps"]) == ("prometheus", 20, 0)
    assert 450 < trace["requests"] < 750  # 2 req/s over 300 s, Poisson
    assert trace["name"] == "recorded ml/vllm"
    assert r.json()["candidate"]["requests"] == trace["requests"]
    assert source.asked == [("vllm", NOW - 600, NOW - 300, 15, 30.0)]


@pytest.mark.parametrize(
    ("label", "recorded", "field"),
    [
        ("end in the future", {"end": NOW + 60}, "trace.recorded.end"),
        ("end before start", {"start": NOW - 300, "end": NOW - 600}, "trace.recorded.end"),
        ("span over the limit", {"start": NOW - 100_000}, "trace.recorded.end"),
        ("too many steps", {"start": NOW - 20_000, "step_s": 1}, "trace.recorded.step_s"),
        ("fractional step", {"step_s": 1.5}, "trace.recorded.step_s"),
    ],
)
def test_bad_windows_are_422_naming_the_field(options: ApiOptions, label: str, recorded: dict, field: str) -> None:
    with _client(options, FakeRecorder()) as c:
        r = _ask(c, **recorded)
    assert r.status_code == 422, (label, r.text)
    assert r.json()["detail"][0]["field"] == field, (label, r.json())


def test_two_trace_sources_at_once_are_refused(options: ApiOptions) -> None:
    with _client(options, FakeRecorder()) as c:
        r = c.post("/v1/whatif", json={"policy": POLICY, "trace": {
            "content": "TIMESTAMP,ContextTokens,GeneratedTokens\n", "recorded": {"start": NOW - 600, "end": NOW}}},
            headers=OP)  # fmt: skip
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "trace"


def test_a_window_with_no_requests_says_how_blind_it_was(options: ApiOptions) -> None:
    with _client(options, FakeRecorder(rate=None)) as c:
        r = _ask(c)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "trace.recorded"
    assert "20 of 20 steps had no data" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize(("source", "says"), [(None, "none is wired"), (FakeRecorder(fail=True), "unreachable")])
def test_no_prometheus_is_503(options: ApiOptions, source: Any, says: str) -> None:
    with _client(options, source) as c:
        r = _ask(c)
    assert r.status_code == 503 and says in r.json()["detail"], r.text


def test_end_to_end_on_what_a_real_prometheus_recorded(prometheus: Any, emulator: Any, options: ApiOptions) -> None:
    prometheus.set_target_groups(
        "vllm", [{"targets": [emulator.target], "labels": {"namespace": "ml", "pod": "vllm-7d9f8-e0"}}]
    )
    prometheus.wait_for_up("vllm", 1)
    start = time.time()
    sent = 36
    with httpx.Client(base_url=emulator.url, timeout=30) as http:
        for _ in range(sent):
            r = http.post("/v1/completions", json={"prompt": "x", "prompt_tokens": 40, "max_tokens": 8})
            assert r.status_code == 200
            time.sleep(0.1)
    served = 'sum(vllm:request_success_total{namespace="ml"})'
    prometheus.wait_for(lambda: [float(s["value"][1]) for s in prometheus.query(served)] == [float(sent)],
                        30, f"{sent} requests scraped")  # fmt: skip
    time.sleep(2.5)  # a few more scrapes, so the last step's rate window covers the end of the load
    end = time.time()
    app = create_app(options, Database(), SimpleNamespace(source=PrometheusSource(prometheus.url)),
                     clock=SystemClock())  # fmt: skip
    body = {"start": start - 5, "end": end, "step_s": 1, "rate_window_s": 4}
    with TestClient(app) as c:
        r = c.post("/v1/whatif", json={"policy": POLICY, "trace": {"recorded": body}, "compare_current": False},
                   headers=OP)  # fmt: skip
    assert r.status_code == 200, r.text
    trace = r.json()["trace"]
    assert trace["source"] == "prometheus"
    # rate() over 4 s windows, summed per second, integrates the served count (with Poisson noise)
    assert 0.5 * sent <= trace["requests"] <= 1.6 * sent, trace
