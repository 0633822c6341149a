"""A real emulator process on 127.0.0.1: OpenAI endpoints, streaming, health, metrics counters.

Started with ``python3 -m controlplane emulator`` (profile cpu-tiny, time scale 10)
on a free port and stopped by its PID. Latencies asserted are emulated seconds
computed by the engine, never wall-clock timings.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.emulator._proc import Emulator, metric_value, start_emulator


@pytest.fixture(scope="module")
def emu(tmp_path_factory) -> Emulator:
    e = start_emulator(tmp_path_factory.mktemp("emu"), "--startup-s", "0", "--time-scale", "10")
    yield e
    e.stop()


def sse_events(text: str) -> list:
    out = []
    for line in text.splitlines():
        if line.startswith("data: "):
            payload = line[len("data: "):]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


@pytest.mark.parametrize(
    "name, path, body, prompt_tokens, completion_tokens",
    [
        # "hello world!" is 12 characters -> ceil(12 / 4) = 3 tokens
        ("text prompt", "/v1/completions", {"prompt": "hello world!", "max_tokens": 7}, 3, 7),
        ("token ids", "/v1/completions", {"prompt": [1, 2, 3, 4, 5], "max_tokens": 2}, 5, 2),
        ("size hint", "/v1/completions", {"prompt": "x", "prompt_tokens": 40, "max_tokens": 3}, 40, 3),
        ("default max_tokens is 16", "/v1/completions", {"prompt": "abcd"}, 1, 16),
        # chat: 3 + (4 + ceil(8 / 4)) = 9 tokens
        ("chat", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi there"}], "max_tokens": 4}, 9, 4),
    ],
)
def test_non_streaming_usage_and_length(emu, name, path, body, prompt_tokens, completion_tokens):
    with emu.client() as c:
        r = c.post(path, json={"model": "tiny-llama", **body})
    assert r.status_code == 200, (name, r.text)
    data = r.json()
    assert data["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    choice = data["choices"][0]
    text = choice["message"]["content"] if path.endswith("chat/completions") else choice["text"]
    assert len(text.split()) == completion_tokens
    assert choice["finish_reason"] == "length"
    assert data["object"] == ("chat.completion" if "chat" in path else "text_completion")


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions"])
def test_streaming_sends_one_chunk_per_token_then_done(emu, path):
    body = {"max_tokens": 12, "stream": True, "ignore_eos": True, "stream_options": {"include_usage": True}}
    body.update({"messages": [{"role": "user", "content": "hi"}]} if "chat" in path else {"prompt": "hi"})
    with emu.client() as c:
        r = c.post(path, json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    usage = events[-2]["usage"]
    assert usage["completion_tokens"] == 12
    chunks = [e for e in events[:-2] if e["choices"]]
    if "chat" in path:
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        chunks = chunks[1:]
        assert all(ch["object"] == "chat.completion.chunk" for ch in chunks)
    assert len(chunks) == 12
    assert [ch["choices"][0]["finish_reason"] for ch in chunks] == [None] * 11 + ["length"]


def test_models_lists_the_served_model(emu):
    data = httpx.get(emu.url + "/v1/models").json()
    assert [m["id"] for m in data["data"]] == ["tiny-llama"]
    assert data["data"][0]["max_model_len"] == 512


@pytest.mark.parametrize(
    "name, body, status, param",
    [
        ("too long for the context", {"prompt": "x", "prompt_tokens": 500, "max_tokens": 100}, 400, "max_tokens"),
        ("unknown model", {"model": "gpt-9", "prompt": "x"}, 404, "model"),
        ("bad max_tokens", {"prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
        ("missing prompt", {"max_tokens": 3}, 400, "prompt"),
    ],
)
def test_bad_requests_get_vllm_style_errors(emu, name, body, status, param):
    r = httpx.post(emu.url + "/v1/completions", json=body)
    assert r.status_code == status, name
    err = r.json()["error"]
    assert err["code"] == status and err["param"] == param and err["message"]


def test_metrics_count_exactly_the_requests_sent(tmp_path):
    e = start_emulator(tmp_path, "--startup-s", "0", "--time-scale", "10")
    try:
        sizes = [(10, 20), (30, 5), (7, 1)]
        with e.client() as c:
            for prompt, out in sizes:
                r = c.post("/v1/completions", json={"prompt": "x", "prompt_tokens": prompt, "max_tokens": out})
                assert r.status_code == 200
        text = e.metrics()
    finally:
        e.stop()
    lv = {"engine": "0", "model_name": "tiny-llama"}
    assert metric_value(text, "vllm:request_success_total", finished_reason="length", **lv) == 3
    assert metric_value(text, "vllm:prompt_tokens_total", **lv) == 47
    assert metric_value(text, "vllm:generation_tokens_total", **lv) == 26
    assert metric_value(text, "vllm:e2e_request_latency_seconds_count", **lv) == 3
    assert metric_value(text, "vllm:request_generation_tokens_sum", **lv) == 26
    # inter-token gaps: 19 + 4 + 0
    assert metric_value(text, "vllm:inter_token_latency_seconds_count", **lv) == 23
    # sequential requests on an idle cpu-tiny engine, emulated seconds:
    #   (10, 20): prefill step 3 + 0.3 + 0.5*10 = 8.3 ms, then 19 x 3.3 ms -> e2e 71.0 ms
    #   (30, 5):  3.3 + 15 = 18.3 ms, then 4 x 3.3 -> 31.5 ms
    #   (7, 1):   3.3 + 3.5 = 6.8 ms
    assert metric_value(text, "vllm:e2e_request_latency_seconds_sum", **lv) == pytest.approx(0.1093)
    assert metric_value(text, "vllm:time_to_first_token_seconds_sum", **lv) == pytest.approx(0.0334)
    assert metric_value(text, "vllm:request_queue_time_seconds_sum", **lv) == 0
    assert metric_value(text, "http_requests_total", handler="/v1/completions", method="POST", status="2xx") == 3
    lines = [x for x in e.logs() if x["event"] == "request_finished"]
    assert len(lines) == 3 and {x["error_class"] for x in lines} == {None}
    assert sorted(x["e2e_s"] for x in lines) == pytest.approx([0.0068, 0.0315, 0.071])


def test_queue_shows_beyond_max_num_seqs(emu):
    # cpu-tiny runs 4 sequences; of 6 requests 2 wait. 4 x (1 + 200) = 804 KV tokens fit in 1,024,
    # so nothing is preempted. Steps are slowed 20x so the queue lasts seconds of wall time.
    import threading

    def send():
        httpx.post(emu.url + "/v1/completions", json={"prompt": "x", "max_tokens": 200}, timeout=60)

    lv = {"engine": "0", "model_name": "tiny-llama"}
    httpx.put(emu.url + "/admin/faults", json={"latency_multiplier": 20})
    try:
        threads = [threading.Thread(target=send) for _ in range(6)]
        for t in threads:
            t.start()
        seen = set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (4, 2) not in seen:
            text = emu.metrics()
            seen.add((metric_value(text, "vllm:num_requests_running", **lv),
                      metric_value(text, "vllm:num_requests_waiting", **lv)))
            time.sleep(0.02)
    finally:
        httpx.put(emu.url + "/admin/faults", json={"latency_multiplier": 1})
    for t in threads:
        t.join(timeout=60)
    assert (4, 2) in seen
    assert all(running <= 4 for running, _ in seen)


def test_health_is_503_during_startup_then_200(tmp_path):
    # 20 emulated seconds at time scale 10: about 2 wall seconds of 503
    e = start_emulator(tmp_path, "--startup-s", "20", "--time-scale", "10", wait_ready=False)
    try:
        assert httpx.get(e.url + "/health").status_code == 503
        r = httpx.post(e.url + "/v1/completions", json={"prompt": "x"})
        assert r.status_code == 503
        deadline = time.monotonic() + 20
        status = 503
        while status == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
            status = httpx.get(e.url + "/health").status_code
        assert status == 200
    finally:
        e.stop()
