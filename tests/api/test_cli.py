"""``controlplane policy`` against the app: apply, get, list, history, rollback, delete, and errors
that name the field. The CLI's httpx client is routed to the in-process app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.cli import main
from tests.api.conftest import STATIC, TestClient

POLICY_YAML = """\
name: chat
target: {kind: kubernetes, namespace: ml, deployment: vllm}
max_replicas: 6
"""


@pytest.fixture
def cli(app: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    seen: list[str] = []

    def client(**kw: Any) -> TestClient:
        seen.append(str(kw["base_url"]))
        return TestClient(app, base_url=kw["base_url"], headers=kw["headers"])

    monkeypatch.setattr(httpx, "Client", client)
    monkeypatch.setenv("CONTROLPLANE_URL", "http://controlplane.test:8080")
    monkeypatch.setenv("CONTROLPLANE_TOKEN", STATIC["admin"])

    def run(*argv: str) -> int:
        return main(["policy", *argv])

    run.seen = seen  # type: ignore[attr-defined]
    return run


def test_apply_get_list_history_rollback_delete(
    cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(POLICY_YAML)
    assert cli("apply", "-f", str(f)) == 0
    assert cli("apply", "-f", str(f)) == 0
    f.write_text(POLICY_YAML.replace("max_replicas: 6", "max_replicas: 10"))
    assert cli("apply", "-f", str(f)) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "chat: created (version 1)",
        "chat: unchanged (version 1)",
        "chat: configured (version 2)",
    ]
    assert cli.seen[0] == "http://controlplane.test:8080"
    assert cli("get", "chat") == 0
    out = capsys.readouterr().out
    assert out.startswith("# version 2, managed by api\nname: chat\n") and "max_replicas: 10" in out
    assert cli("list") == 0
    assert "ml/vllm" in capsys.readouterr().out
    assert cli("rollback", "chat", "--to", "1") == 0
    assert capsys.readouterr().out.strip() == "chat: rolled back to version 1 as version 3"
    assert cli("history", "chat") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines[1:]] == ["1", "2", "3"] and lines[3].endswith(
        "rollback to version 1"
    )
    assert cli("delete", "chat") == 0
    assert cli("get", "chat") == 1
    assert "404: policy 'chat' not found" in capsys.readouterr().err


def test_apply_names_the_refused_field(cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(POLICY_YAML + "min_replicas: 9\n")
    assert cli("apply", "-f", str(f)) == 1
    err = capsys.readouterr().err.strip()
    assert err == "error: chat: 422 invalid: min_replicas: min_replicas must not exceed max_replicas"


@pytest.mark.parametrize(
    "case,text,message",
    [
        ("not yaml", "name: [", "is not valid YAML"),
        ("empty", "", "holds no policy"),
        ("no name", "target: {kind: local, group: g}\n", "document 1 of"),
    ],
)
def test_apply_bad_files_exit_2(
    cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, text: str, message: str
) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(text)
    assert cli("apply", "-f", str(f)) == 2, case
    assert message in capsys.readouterr().err, case


def test_role_and_token_errors(
    cli: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("--token", STATIC["viewer"], "delete", "chat") == 1
    assert "403: role 'viewer' may not do this" in capsys.readouterr().err
    monkeypatch.delenv("CONTROLPLANE_TOKEN")
    assert cli("list") == 1
    assert "401: a bearer token is required (set --token or CONTROLPLANE_TOKEN)" in capsys.readouterr().err


def test_unreachable_server(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from controlplane.ports import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["policy", "--url", url, "--token", "x", "--timeout", "2", "list"]) == 1
    assert f"cannot reach the admin API at {url}" in capsys.readouterr().err


def test_whatif_prints_candidate_and_stored_side_by_side(
    cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stored, candidate, trace = tmp_path / "p.yaml", tmp_path / "c.yaml", tmp_path / "t.csv"
    stored.write_text(POLICY_YAML)
    candidate.write_text(POLICY_YAML.replace("max_replicas: 6", "max_replicas: 6\nmin_replicas: 2"))
    rows = ["TIMESTAMP,ContextTokens,GeneratedTokens"] + [
        f"2023-11-16 18:{i // 60:02d}:{i % 60:02d}.000000,200,50" for i in range(0, 120, 2)
    ]
    trace.write_text("\n".join(rows) + "\n")
    assert cli("apply", "-f", str(stored)) == 0
    capsys.readouterr()
    assert cli("whatif", "-f", str(candidate), "--trace", str(trace)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("trace: ") and "60 requests over 118 s" in lines[0]
    assert lines[1].split() == ["candidate", "stored"]
    rs = next(ln for ln in lines if ln.startswith("replica-seconds")).split()[1:]
    assert float(rs[0]) > float(rs[1])  # two standing replicas cost more than one on this light load
    assert any(ln.startswith("TTFT within SLO") for ln in lines)


def test_whatif_on_a_recorded_window_needs_the_controller(
    cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(POLICY_YAML)
    # the app's clock is 1_795_521_600: a window that ended before it
    assert cli("whatif", "-f", str(f), "--start", "1795510000", "--end", "1795520000") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 503: a recorded window needs the controller's Prometheus source")
    assert cli("whatif", "-f", str(f), "--last", "-5") == 2
    assert "--last: must be a positive number" in capsys.readouterr().err


def test_apply_and_delete_refuse_a_change_made_since_their_read(
    app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another operator writes between the CLI's GET and its PUT or DELETE: the CLI's If-Match
    (the version it read) makes the server refuse it, and the other operator's version stays."""
    from controlplane.policy.model import parse_policy
    from controlplane.store.audit import Actor

    repo = app.state.ctx.policies
    other = parse_policy({"name": "chat", "target": {"kind": "kubernetes", "namespace": "ml", "deployment": "vllm"},
                          "max_replicas": 3})  # fmt: skip

    async def interloper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("PUT", "DELETE"):
            repo.update("chat", other, Actor("bob", "admin"), 0.0)
        await app(scope, receive, send)

    monkeypatch.setattr(
        httpx, "Client", lambda **kw: TestClient(interloper, base_url=kw["base_url"], headers=kw["headers"])
    )
    monkeypatch.setenv("CONTROLPLANE_TOKEN", STATIC["admin"])
    f = tmp_path / "p.yaml"
    f.write_text(POLICY_YAML)
    assert main(["policy", "apply", "-f", str(f)]) == 0  # created: no PUT
    f.write_text(POLICY_YAML.replace("max_replicas: 6", "max_replicas: 10"))
    assert main(["policy", "apply", "-f", str(f)]) == 1
    assert "412: policy 'chat' is at version 2, not 1" in capsys.readouterr().err
    assert repo.get("chat").body["max_replicas"] == 3
    other = parse_policy({**other.to_dict(), "max_replicas": 4})
    assert main(["policy", "delete", "chat"]) == 1
    assert "412" in capsys.readouterr().err and repo.get("chat").version == 3
