"""The README's first command, shortened: ``controlplane demo`` end to end, then
``controlplane decisions`` reading the log it wrote. Real Prometheus, emulator
processes and the live loop; about a minute."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from controlplane.cli import main

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the Debian prometheus binary")


def test_demo_short_run_writes_summary_chart_and_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--load-seconds", "25", "--tail-seconds", "5", "--mean-rate", "6"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "share within TTFT SLO" in printed and "replica-seconds" in printed
    assert f"controlplane decisions --db {out / 'decisions.db'} --changes" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests"] > 50
    assert summary["ok"] == summary["requests"], summary
    assert summary["decisions"] >= 10
    assert summary["replica_seconds"] > 0
    assert (out / "demo.png").stat().st_size > 10_000
    rc = main(["decisions", "--db", str(out / "decisions.db"), "--limit", "5"])
    assert rc == 0
    listed = capsys.readouterr().out
    assert "local/demo" in listed and "binding=" in listed
    assert re.match(r"last 5 of \d+ decisions, oldest first; \d+ changed the replica count\n", listed), listed


def test_decisions_names_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decisions", "--db", str(tmp_path / "nope.db")]) == 2
    assert "--db" in capsys.readouterr().err


def test_demo_with_a_relative_out_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As the README runs it: `python3 -m controlplane demo` writes ./demo-out (a relative path)
    # while Prometheus runs in a folder of its own.
    monkeypatch.chdir(tmp_path)
    rc = main(["demo", "--out", "rel-out", "--load-seconds", "10", "--tail-seconds", "2", "--mean-rate", "3"])
    assert rc == 0
    assert (tmp_path / "rel-out" / "summary.json").exists()
