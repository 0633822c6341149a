"""Fault injection and drain against real emulator processes (CLI flags and /admin/faults)."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from tests.emulator._proc import Emulator, metric_value, start_emulator

LV = {"engine": "0", "model_name": "tiny-llama"}
# idle cpu-tiny engine, prompt 10, 20 output tokens: 8.3 ms prefill step + 19 x 3.3 ms = 71.0 ms
BODY = {"prompt": "x", "prompt_tokens": 10, "max_tokens": 20}


def wait_until(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def emu(tmp_path) -> Emulator:
    e = start_emulator(tmp_path, "--startup-s", "0", "--time-scale", "10")
    yield e
    e.stop()


def test_error_ratio_answers_500_and_logs_the_error_class(tmp_path):
    e = start_emulator(tmp_path, "--startup-s", "0", "--time-scale", "10", "--error-ratio", "1",
                       "--error-class", "cuda_error")
    try:
        with e.client() as c:
            r = c.post("/v1/completions", json=BODY)
            assert r.status_code == 500
            assert r.json()["error"]["message"] == "CUDA error: an illegal memory access was encountered"
            assert c.put("/admin/faults", json={"error_class": "oom"}).json()["error_class"] == "oom"
            r = c.post("/v1/completions", json=BODY)
            assert r.status_code == 500 and "CUDA out of memory" in r.json()["error"]["message"]
            c.put("/admin/faults", json={"error_ratio": 0})
            assert c.post("/v1/completions", json=BODY).status_code == 200
        text = e.metrics()
    finally:
        e.stop()
    assert metric_value(text, "vllm:request_success_total", finished_reason="error", **LV) == 2
    assert metric_value(text, "vllm:request_success_total", finished_reason="length", **LV) == 1
    assert metric_value(text, "http_requests_total", handler="/v1/completions", method="POST", status="5xx") == 2
    errors = [x for x in e.logs() if x["event"] == "request_error"]
    assert [(x["status"], x["error_class"], x["level"]) for x in errors] == [
        (500, "cuda_error", "ERROR"), (500, "oom", "ERROR")
    ]
    for line in errors:
        assert {"@timestamp", "replica", "deployment", "namespace", "model", "message", "request_id"} <= set(line)
        assert line["@timestamp"].endswith("Z") and line["replica"] == "vllm-emulator-0"


@pytest.mark.parametrize("multiplier, e2e", [(1, 0.071), (3, 0.213)])
def test_latency_multiplier_slows_every_step(emu, multiplier, e2e):
    with emu.client() as c:
        c.put("/admin/faults", json={"latency_multiplier": multiplier})
        assert c.post("/v1/completions", json=BODY).status_code == 200
    (line,) = [x for x in emu.logs() if x["event"] == "request_finished"]
    assert line["e2e_s"] == pytest.approx(e2e)


def test_hang_stops_answers_and_health_until_cleared(emu):
    with emu.client(timeout=0.5) as c:
        assert c.put("/admin/faults", json={"hang": True}).json()["hang"] is True
        with pytest.raises(httpx.TimeoutException):
            c.get("/health")
        with pytest.raises(httpx.TimeoutException):
            c.post("/v1/completions", json=BODY)
        assert c.get("/v1/models").status_code == 200  # the API server itself still answers
        c.put("/admin/faults", json={"hang": False})
        assert c.get("/health").status_code == 200
        assert c.post("/v1/completions", json=BODY).status_code == 200


def test_kv_leak_shrinks_capacity_and_preempts(tmp_path):
    # 4 requests of 1 + 200 tokens need 804 of 1,024 KV tokens; steps slowed 10x make them last
    # 200 x 42 ms = 8.4 emulated s, while the leak takes 150 tokens per emulated second.
    e = start_emulator(tmp_path, "--startup-s", "0", "--time-scale", "10", "--latency-multiplier", "10",
                       "--kv-leak-tokens-per-s", "150")

    def send():
        try:
            httpx.post(e.url + "/v1/completions", json={"prompt": "x", "max_tokens": 200}, timeout=5)
        except httpx.HTTPError:
            pass  # requests may never fit again once the cache has leaked away

    threads = [threading.Thread(target=send) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        assert wait_until(lambda: metric_value(e.metrics(), "vllm:num_preemptions_total", **LV) > 0)
        assert metric_value(e.metrics(), "vllm:kv_cache_usage_perc", **LV) > 0.5
    finally:
        e.stop()
        for t in threads:
            t.join(timeout=10)


@pytest.mark.parametrize("how", ["admin", "flag"])
def test_crash_exits_non_zero_with_an_engine_dead_line(tmp_path, how):
    args = ["--startup-s", "0", "--time-scale", "10"] + (["--crash-after-s", "20"] if how == "flag" else [])
    e = start_emulator(tmp_path, *args)
    try:
        if how == "admin":
            httpx.put(e.url + "/admin/faults", json={"crash": True})
        assert e.proc.wait(timeout=20) == 1
    finally:
        e.stop()
    assert [x["error_class"] for x in e.logs() if x["event"] == "engine_crash"] == ["engine_dead"]


BAD_FAULTS = [
    ("ratio above 1", {"error_ratio": 2}, "error_ratio"),
    ("unknown fault", {"nope": 1}, "nope"),
    ("unknown class", {"error_class": "bad"}, "error_class"),
    ("zero multiplier", {"latency_multiplier": 0}, "latency_multiplier"),
    ("hang not a bool", {"hang": "yes"}, "hang"),
]


def test_bad_fault_updates_name_the_field_and_change_nothing(emu):
    for name, body, field in BAD_FAULTS:
        r = httpx.put(emu.url + "/admin/faults", json=body)
        assert r.status_code == 400, name
        assert r.json()["error"]["message"].startswith(field), name
    assert httpx.get(emu.url + "/admin/faults").json() == {
        "latency_multiplier": 1.0, "error_ratio": 0.0, "error_class": "http_5xx", "hang": False, "crash": False,
        "kv_leak_tokens_per_s": 0.0,
    }


@pytest.mark.parametrize("how", ["sigterm", "admin"])
def test_drain_finishes_in_flight_refuses_new_and_exits_zero(tmp_path, how):
    # time scale 1 and 5x slower steps: 100 tokens take ~1.7 s, long enough to drain during
    e = start_emulator(tmp_path, "--startup-s", "0", "--latency-multiplier", "5")
    result = {}

    def stream():
        body = {"prompt": "x", "max_tokens": 100, "stream": True}
        with httpx.stream("POST", e.url + "/v1/completions", json=body, timeout=30) as r:
            result["text"] = "".join(r.iter_text())

    t = threading.Thread(target=stream)
    try:
        t.start()
        assert wait_until(lambda: metric_value(e.metrics(), "vllm:num_requests_running", **LV) == 1)
        if how == "sigterm":
            e.proc.send_signal(signal.SIGTERM)
        else:
            assert httpx.post(e.url + "/admin/drain").json()["draining"] is True
        assert wait_until(lambda: httpx.get(e.url + "/health").status_code == 503)
        assert httpx.post(e.url + "/v1/completions", json=BODY).status_code == 503
        t.join(timeout=30)
        assert e.proc.wait(timeout=20) == 0
    finally:
        e.stop()
    assert result["text"].count('"text":') == 100 and result["text"].endswith("data: [DONE]\n\n")
    events = [x["event"] for x in e.logs()]
    assert events.index("drain_started") < events.index("request_finished") < events.index("drain_finished")


def test_drain_grace_bounds_a_hung_request(tmp_path):
    e = start_emulator(tmp_path, "--startup-s", "0", "--drain-grace-s", "0.5")
    try:
        httpx.put(e.url + "/admin/faults", json={"hang": True})
        t = threading.Thread(target=lambda: httpx.post(e.url + "/v1/completions", json=BODY, timeout=20))
        t.start()
        time.sleep(0.2)
        e.proc.send_signal(signal.SIGTERM)
        assert e.proc.wait(timeout=20) == 0
        t.join(timeout=20)
    finally:
        e.stop()
    assert "request_aborted" in [x["event"] for x in e.logs()]


def test_hang_after_flag_freezes_the_engine_later(tmp_path):
    # ready at once; hung 5 emulated s (0.5 wall s at scale 10) later
    e = start_emulator(tmp_path, "--startup-s", "0", "--time-scale", "10", "--hang-after-s", "5")
    try:
        assert wait_until(lambda: httpx.get(e.url + "/admin/faults").json()["hang"] is True)
        with pytest.raises(httpx.TimeoutException):
            httpx.get(e.url + "/health", timeout=0.5)
    finally:
        e.stop()


def test_client_disconnect_aborts_the_request(emu):
    body = {"prompt": "x", "max_tokens": 400, "stream": True}
    httpx.put(emu.url + "/admin/faults", json={"latency_multiplier": 20})
    with httpx.stream("POST", emu.url + "/v1/completions", json=body, timeout=30) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                break  # first token seen: hang up
    assert wait_until(lambda: metric_value(emu.metrics(), "vllm:request_success_total",
                                           finished_reason="abort", **LV) == 1)
    assert metric_value(emu.metrics(), "vllm:num_requests_running", **LV) == 0
    assert [x["status"] for x in emu.logs() if x["event"] == "request_aborted"] == [499]


def test_rejected_requests_are_logged(emu):
    httpx.post(emu.url + "/v1/completions", json={"prompt": "x", "max_tokens": 0}, headers={"X-Request-Id": "r-1"})
    (line,) = [x for x in emu.logs() if x["event"] == "request_rejected"]
    assert (line["status"], line["request_id"], line["error_class"]) == (400, "r-1", None)
