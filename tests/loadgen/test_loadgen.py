"""The load generator against fake OpenAI-compatible servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from controlplane.cli import main
from controlplane.loadgen import RemoteTargetError, TargetPool, fit_tokens, run_load
from controlplane.loadgen.summary import percentile
from controlplane.loadgen.targets import base_url, is_loopback
from controlplane.traces.model import Trace

from .fakeopenai import fake_openai


def trace(n: int, gap_s: float = 0.01, prompt: int = 20, output: int = 5) -> Trace:
    return Trace(
        "test",
        np.arange(n, dtype=float) * gap_s,
        np.full(n, prompt, dtype=np.int64),
        np.full(n, output, dtype=np.int64),
    )


@pytest.mark.parametrize(
    ("prompt", "output", "limit", "want"),
    [
        (100, 20, None, (100, 20)),  # no limit
        (100, 20, 512, (100, 20)),  # fits
        (600, 20, 512, (492, 20)),  # prompt gives way: 512 - 20
        (10, 600, 512, (1, 511)),  # output alone too long: 511 + 1
        (0, 0, 512, (1, 1)),  # a request has at least one token each way
    ],
    ids=["no-limit", "fits", "shrink-prompt", "shrink-output", "at-least-one"],
)
def test_fit_tokens(prompt: int, output: int, limit: int | None, want: tuple[int, int]) -> None:
    assert fit_tokens(prompt, output, limit) == want


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.3.2.1", True), ("localhost", True), ("::1", True), ("[::1]", True)]
    + [("10.0.0.1", False), ("example.com", False), ("0.0.0.0", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000"),
        ("http://localhost:8000/", "http://localhost:8000"),
        ("http://[::1]:9000/v1/", "http://[::1]:9000"),
    ],
    ids=["host-port", "v1-suffix", "trailing-slash", "ipv6"],
)
def test_base_url(endpoint: str, url: str) -> None:
    assert base_url(endpoint) == url


def test_remote_targets_are_refused_unless_allowed() -> None:
    with pytest.raises(RemoteTargetError, match="--allow-remote"):
        run_load(trace(1), ["10.0.0.1:8000"])
    # Allowed: the pool accepts it (nothing is sent in this test).
    assert TargetPool(["10.0.0.1:8000"], allow_remote=True, clock=lambda: 0.0).urls == [
        "http://10.0.0.1:8000"
    ]


def test_least_outstanding_routing() -> None:
    pool = TargetPool(["127.0.0.1:1", "127.0.0.1:2"], clock=lambda: 0.0)
    a, b = pool.acquire(), pool.acquire()
    assert {a, b} == {"http://127.0.0.1:1", "http://127.0.0.1:2"}
    assert a is not None
    pool.release(a)
    # a has 0 outstanding, b has 1: the next two both prefer a, then they tie again.
    assert pool.acquire() == a
    assert pool.outstanding == {a: 1, b: 1}


def test_targets_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    now = [0.0]
    f = tmp_path / "targets.json"
    f.write_text(json.dumps([{"targets": ["127.0.0.1:1"], "labels": {"group": "g"}}]))
    pool = TargetPool(targets_file=f, clock=lambda: now[0])
    assert pool.urls == ["http://127.0.0.1:1"]
    f.write_text(json.dumps([{"targets": ["127.0.0.1:1", "127.0.0.1:2", "10.1.1.1:3"]}]))
    os.utime(f, (1, 1))  # a new mtime, whatever the file system's resolution
    pool.refresh()
    assert len(pool.urls) == 1  # not re-read before a second has passed
    now[0] = 1.5
    pool.refresh()
    assert pool.urls == ["http://127.0.0.1:1", "http://127.0.0.1:2"]
    assert pool.refused == {"10.1.1.1:3"}
    f.write_text("[{half")
    os.utime(f, (2, 2))
    now[0] = 3.0
    pool.refresh()
    assert len(pool.urls) == 2  # a half-written file keeps the last good set


def test_percentile_is_nearest_rank() -> None:
    # 10 values: p50 is the 5th, p95 and p99 the 10th.
    values = [float(v) for v in range(1, 11)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (5.0, 10.0, 10.0)
    assert percentile([], 50) is None


def test_replays_the_trace_across_two_servers() -> None:
    with fake_openai() as a, fake_openai() as b:
        summary = run_load(trace(20, prompt=30, output=7), [a.target, b.target], compress=10)
        bodies = a.bodies + b.bodies
    assert summary["planned"] == 20 and summary["sent"] == 20 and summary["ok"] == 20
    assert summary["errors"] == 0 and summary["stop_reason"] == "trace-end"
    assert sum(summary["per_target"].values()) == 20 and len(summary["per_target"]) == 2
    assert summary["ttft_p50_s"] is not None and summary["e2e_p95_s"] >= summary["ttft_p50_s"]
    body = bodies[0]
    assert body["model"] == "tiny"  # learned from /v1/models
    assert (len(body["prompt"]), body["max_tokens"], body["ignore_eos"], body["stream"]) == (
        30,
        7,
        True,
        True,
    )


def test_max_requests_bounds_what_is_sent() -> None:
    with fake_openai() as s:
        summary = run_load(trace(50), [s.target], compress=100, max_requests=5)
        assert len(s.bodies) == 5
    assert (summary["planned"], summary["ok"], summary["stop_reason"]) == (5, 5, "max-requests")


def test_max_seconds_cancels_what_is_in_flight() -> None:
    with fake_openai(hang=True) as s:
        summary = run_load(trace(3), [s.target], max_seconds=0.5, model="m")
    assert summary["cancelled"] == 3 and summary["ok"] == 0
    assert summary["errors"] == 0 and summary["stop_reason"] == "max-seconds"


def test_error_status_is_counted_by_kind() -> None:
    with fake_openai(status=500) as s:
        summary = run_load(trace(4), [s.target], compress=100, model="m")
    assert summary["errors"] == 4 and summary["error_kinds"] == {"http_500": 4}


def test_empty_targets_file_counts_no_target(tmp_path: Path) -> None:
    f = tmp_path / "t.json"
    f.write_text("[]")
    summary = run_load(trace(3), targets_file=f, compress=100, model="m")
    assert summary["error_kinds"] == {"no_target": 3} and summary["sent"] == 0


def test_cli_synthetic_run_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_openai() as s:
        code = main(
            ["loadgen", "--url", s.url, "--synthetic", "--max-requests", "6", "--compress", "50", "--json"]
        )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["ok"] == 6


def test_cli_refuses_a_remote_url(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["loadgen", "--url", "http://192.0.2.1:8000", "--synthetic", "--max-requests", "1"])
    assert code == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_cli_replays_the_azure_trace(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The first 8 requests of the Azure 2023 code trace, 1000x faster, prompts shrunk to fit 512 tokens.
    path = shared_data / "traces" / "azure_llm_2023_code.csv"
    with fake_openai() as s:
        argv = ["loadgen", "--url", s.target, "--trace", str(path), "--format", "azure"]
        argv += ["--compress", "1000", "--max-requests", "8", "--max-total-tokens", "512", "--json"]
        code = main(argv)
        bodies = list(s.bodies)
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["ok"] == 8 and len(bodies) == 8
    assert all(len(b["prompt"]) + b["max_tokens"] <= 512 for b in bodies)


def test_waits_for_a_first_target_to_learn_the_model(tmp_path: Path) -> None:
    # The targets file is empty at the start; a replica appears shortly after.
    f = tmp_path / "t.json"
    f.write_text("[]")
    with fake_openai(model="late") as s:
        timer = threading.Timer(0.3, lambda: f.write_text(json.dumps([{"targets": [s.target]}])))
        timer.start()
        try:
            summary = run_load(trace(2), targets_file=f, compress=100, max_seconds=20)
        finally:
            timer.cancel()
        assert {b["model"] for b in s.bodies} == {"late"}
    assert summary["ok"] == 2


def test_no_target_ever_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "t.json"
    f.write_text("[]")
    with pytest.raises(ValueError, match="model: could not learn the served model"):
        run_load(trace(1), targets_file=f, max_seconds=1)
