"""What-if replay: uploaded or server-side traces through the simulator, with bounds on size and span."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controlplane.api import ApiOptions, create_app
from controlplane.clock import FakeClock
from controlplane.store import Database
from tests.api.conftest import POLICY, STATIC, TestClient, bearer


def azure_csv(n: int, gap_s: float = 1.0) -> str:
    """``n`` requests ``gap_s`` apart, 200 prompt and 50 output tokens each."""
    rows = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for i in range(n):
        minute, second = divmod(i * gap_s, 60)
        rows.append(f"2023-11-16 18:{int(minute):02d}:{second:09.6f},200,50")
    return "\n".join(rows) + "\n"


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    d = tmp_path / "traces"
    d.mkdir()
    (d / "small.csv").write_text(azure_csv(120))
    (tmp_path / "secret.csv").write_text(azure_csv(5))
    return d


@pytest.fixture
def wc(secrets_dir: Path, traces: Path) -> Any:
    opts = ApiOptions(
        tokens_file=str(secrets_dir / "tokens"),
        whatif_dir=str(traces),
        whatif_max_requests=100,
        whatif_max_duration_s=600.0,
        max_body_bytes=64 * 1024,
    )
    with TestClient(create_app(opts, Database(), clock=FakeClock())) as c:
        yield c


OP = bearer(STATIC["operator"])


def test_uploaded_trace_gives_benchmark_figures(wc: TestClient) -> None:
    r = wc.post(
        "/v1/whatif",
        json={"policy": POLICY, "trace": {"content": azure_csv(60), "format": "azure"}},
        headers=OP,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    # 60 requests, one a second: the trace spans 59 s
    assert body["trace"]["requests"] == 60 and body["trace"]["duration_s"] == pytest.approx(59.0)
    fig = body["candidate"]
    assert fig["requests"] == 60 and fig["replica_seconds"] > 0 and 0 <= fig["ttft_within_slo"] <= 1
    assert body["current"] is None  # no stored policy named chat


def test_server_side_trace_window_and_current_policy(wc: TestClient) -> None:
    wc.post("/v1/policies", json=POLICY, headers=bearer(STATIC["admin"]))
    candidate = {**POLICY, "max_replicas": 2}
    # 120 requests 1 s apart; the window [30, 90) holds 60 of them
    doc = {"policy": candidate, "trace": {"path": "small.csv"}, "start_s": 30, "duration_s": 60}
    r = wc.post("/v1/whatif", json=doc, headers=OP)
    assert r.status_code == 200, r.text
    assert r.json()["trace"]["requests"] == 60
    assert r.json()["current"] is not None and r.json()["current"]["requests"] == 60


@pytest.mark.parametrize(
    "case,trace,extra,status,field",
    [
        ("escape the directory", {"path": "../secret.csv"}, {}, 422, "trace.path"),
        ("absolute path", {"path": "/etc/passwd"}, {}, 422, "trace.path"),
        ("missing file", {"path": "nope.csv"}, {}, 404, None),
        ("both path and content", {"path": "small.csv", "content": "x"}, {}, 422, "trace"),
        ("neither", {}, {}, 422, "trace"),
        ("unparseable upload", {"content": "a,b\n1,2\n"}, {}, 422, "trace.content"),
        ("too many requests", {"path": "small.csv"}, {}, 422, "duration_s"),  # 120 > 100
        ("empty window", {"path": "small.csv"}, {"start_s": 500}, 422, "start_s"),
        ("unknown profile", {"path": "small.csv"}, {"duration_s": 10, "profile": "h100-x"}, 422, "profile"),
        (
            "replica budget over the cap",
            {"path": "small.csv"},
            {"policy": {**POLICY, "max_replicas": 257}},
            422,
            "policy.max_replicas",
        ),
    ],
)
def test_whatif_refusals(
    wc: TestClient, case: str, trace: dict[str, Any], extra: dict[str, Any], status: int, field: str | None
) -> None:
    r = wc.post(
        "/v1/whatif", json={"policy": POLICY, "trace": trace, **extra}, headers=OP
    )  # extra may replace policy
    assert r.status_code == status, (case, r.text)
    if field is not None:
        assert r.json()["detail"][0]["field"] == field, case


def test_body_over_the_limit_is_413(wc: TestClient) -> None:
    big = azure_csv(3000)  # ~120 kB, over the 64 kB limit
    r = wc.post("/v1/whatif", json={"policy": POLICY, "trace": {"content": big}}, headers=OP)
    assert r.status_code == 413 and "65536 bytes" in r.json()["detail"]


def test_a_second_replay_at_once_is_429(wc: TestClient) -> None:
    ctx = wc.app.state.ctx  # type: ignore[attr-defined]
    assert ctx.whatif_slots.acquire(blocking=False)  # a replay is running
    try:
        r = wc.post("/v1/whatif", json={"policy": POLICY, "trace": {"path": "small.csv"}}, headers=OP)
        assert r.status_code == 429 and r.headers["Retry-After"] == "5"
    finally:
        ctx.whatif_slots.release()


def _with_row(size: str, column: int) -> str:
    """Five good rows, then row 7 (the header is row 1) with ``size`` in column ``column`` (1 or 2)."""
    rows = azure_csv(5).splitlines()
    cells = ["2023-11-16 18:00:09.000000", "200", "50"]
    cells[column] = size
    return "\n".join([*rows, ",".join(cells)]) + "\n"


@pytest.mark.parametrize(
    "case,content,expected",
    [
        ("prompt beyond int64", _with_row("99999999999999999999999", 1),
         "the upload, row 7, column 'ContextTokens': 99999999999999999999999 tokens does not fit a 64-bit integer"),
        ("output at 2**63", _with_row(str(2**63), 2), "row 7, column 'GeneratedTokens'"),
        ("prompt beyond the profile's max_model_len", _with_row("513", 1),
         "the upload, row 7, column 'ContextTokens': 513 tokens is more than the max_model_len 512"
         " of profile cpu-tiny"),
    ],
    ids=["prompt beyond int64", "output at 2**63", "prompt beyond max_model_len"],
)  # fmt: skip
def test_trace_sizes_that_overflow_or_exceed_max_model_len_are_422_with_row_and_column(
    wc: TestClient, case: str, content: str, expected: str
) -> None:
    r = wc.post("/v1/whatif", json={"policy": POLICY, "trace": {"content": content}}, headers=OP)
    assert r.status_code == 422, (case, r.text)
    item = r.json()["detail"][0]
    assert item["field"] == "trace.content" and expected in item["msg"], (case, item["msg"])


def test_max_model_len_is_the_chosen_profiles(wc: TestClient) -> None:
    """513 tokens fit a profile with a 131,072-token context; the limit is the replay's profile."""
    from controlplane.capacity.profile import PROFILES

    roomy = next(name for name, p in PROFILES.items() if p.max_model_len >= 1024)
    doc = {"policy": POLICY, "trace": {"content": _with_row("513", 1)}, "profile": roomy}
    assert wc.post("/v1/whatif", json=doc, headers=OP).status_code == 200


def test_whatif_errors_show_no_server_path(wc: TestClient, traces: Path) -> None:
    import tempfile

    (traces / "bad.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\nnot-a-time,1,1\n")
    (traces / "policy.yaml").write_text("not a trace\n")
    answers = [
        wc.post("/v1/whatif", json={"policy": POLICY, "trace": trace}, headers=OP)
        for trace in (
            {"path": "bad.csv"},
            {"path": "policy.yaml"},
            {"path": "policy.yaml", "format": "azure"},
            {"content": "TIMESTAMP,ContextTokens\n1,2\n", "format": "azure"},
            {"content": "{not json\n", "format": "mooncake"},
            {"content": "garbage"},
        )
    ]
    for r in answers:
        assert r.status_code == 422, r.text
        for secret in (str(traces), str(traces.resolve()), tempfile.gettempdir(), "whatif-"):
            assert secret not in r.text, r.text
    assert "bad.csv, row 2" in answers[0].json()["detail"][0]["msg"]


def _business_hours_policy() -> dict[str, Any]:
    window = {"name": "office", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00",
              "min_replicas": 4}
    return {**POLICY, "max_replicas": 8, "schedule": [window]}


def _csv_at(day_hour: str, n: int) -> str:
    """``n`` requests one second apart from ``day_hour`` (``YYYY-MM-DD HH``), 200/50 tokens each."""
    rows = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    rows += [f"{day_hour}:{i // 60:02d}:{i % 60:02d}.000000,200,50" for i in range(n)]
    return "\n".join(rows) + "\n"


def test_schedule_windows_apply_at_the_traces_own_time(wc: TestClient) -> None:
    # 2023-11-16 was a Thursday: at 09:00 the 08:00-18:00 window holds at least 4 replicas.
    # Replayed at epoch 0 (Thursday 1970-01-01 00:00 UTC, outside the window) it held 1.
    trace = {"content": _csv_at("2023-11-16 09", 60), "format": "azure"}
    r = wc.post("/v1/whatif", json={"policy": _business_hours_policy(), "trace": trace}, headers=OP)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["trace"]["replay_at"] == pytest.approx(1700125200.0)  # 2023-11-16T09:00:00Z
    assert body["candidate"]["peak_replicas"] == 4
    # the same trace on the Saturday: no window, the policy's own minimum of 1
    trace = {"content": _csv_at("2023-11-18 09", 60), "format": "azure"}
    r = wc.post("/v1/whatif", json={"policy": _business_hours_policy(), "trace": trace}, headers=OP)
    assert r.status_code == 200, r.text
    assert r.json()["candidate"]["peak_replicas"] == 1


def test_a_given_replay_time_is_used_instead(wc: TestClient) -> None:
    # The Thursday 09:00 trace replayed as if it came on Saturday 2023-11-18 09:00 UTC.
    trace = {"content": _csv_at("2023-11-16 09", 60), "format": "azure"}
    body = {"policy": _business_hours_policy(), "trace": trace, "replay_at": 1700298000.0}
    r = wc.post("/v1/whatif", json=body, headers=OP)
    assert r.status_code == 200, r.text
    assert r.json()["trace"]["replay_at"] == 1700298000.0
    assert r.json()["candidate"]["peak_replicas"] == 1
