"""``controlplane --help`` for users, and ``controlplane run`` refusing to start on silent defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.cli import GROUPS, build_parser, main
from controlplane.commands.run import startup_line
from controlplane.config import ControllerConfig
from controlplane.policy.model import ScalingPolicy


def _registered() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)  # type: ignore[arg-type]


def test_help_groups_every_command_by_task(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "register(subparsers)" not in text and ":mod:" not in text
    assert text.startswith("usage: controlplane COMMAND")
    headings = [f"{title}:" for title, _ in GROUPS]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions), "groups out of order"
    listed = {line.split()[0] for line in text.splitlines() if line.startswith("  ") and not line.startswith("   ")}
    for name in _registered():
        assert name in listed, f"{name} missing from --help"
    # each grouped command sits under its own heading
    for title, names in GROUPS:
        block = text[text.index(f"{title}:"):].split("\n\n")[0]
        for name in names:
            assert f"\n  {name} " in block, (title, name)
    assert "controlplane demo" in text


def test_run_without_config_refuses_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1
    assert "--config" in err and "examples/single-machine.yaml" in err
    assert list(tmp_path.iterdir()) == [], "refused, yet wrote into the working directory"


def _policy(name: str) -> ScalingPolicy:
    return ScalingPolicy.model_validate(
        {"name": name, "target": {"kind": "local", "group": name, "profile": "cpu-tiny"}, "max_replicas": 2}
    )


def test_startup_line_says_what_loaded_where_it_writes_and_listens() -> None:
    config = ControllerConfig.model_validate(
        {"loop": {"database": "/var/lib/cp.db", "metrics_port": 9464, "tick_s": 15},
         "api": {"host": "127.0.0.1", "port": 8088}}
    )
    line = startup_line("c.yaml", config, [], None)
    assert line.startswith("loaded c.yaml;")
    assert "decisions in /var/lib/cp.db" in line
    assert "admin API on 127.0.0.1:8088" in line and "/metrics on 0.0.0.0:9464" in line
    assert "no policy loaded" in line and "controlplane policy apply" in line

    config = ControllerConfig.model_validate({"api": {"enabled": False}, "loop": {"metrics_port": 0}})
    line = startup_line("c.yaml", config, [_policy("box"), _policy("chat")], "policies.yaml")
    assert "admin API off" in line and "/metrics off" in line
    assert "2 policies from policies.yaml: box, chat" in line

    line = startup_line("c.yaml", config, [], None)
    assert "no policy loaded and the admin API is off" in line
