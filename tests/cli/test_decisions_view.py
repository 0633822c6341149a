"""``controlplane decisions``: how much of the log is shown, and a pointer to the rows that scaled."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.cli import build_parser, main
from controlplane.policy.decision import Decision
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog


def _log(path: Path, changes_at: set[int], n: int, target: str = "local/demo") -> None:
    """``n`` decisions one tick (2 s) apart; those at ``changes_at`` scale 1 -> 2, the rest hold."""
    db = Database(path)
    log = DecisionLog(db)
    for k in range(n):
        desired = 2 if k in changes_at else 1
        log.append(Decision(target=target, policy="demo", at=1_700_000_000.0 + 2 * k, valid=True, current=1,
                            desired=desired, binding="slo_ttft" if desired == 2 else "stable",
                            reasons=(f"tick {k}",)))
    db.close()


def _rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if "binding=" in line]


def test_header_says_last_n_of_m_and_suggests_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 30 decisions; the scale-ups are ticks 3 and 7, both older than the newest 20.
    _log(tmp_path / "d.db", {3, 7}, 30)
    assert main(["decisions", "--db", str(tmp_path / "d.db")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "last 20 of 30 decisions, oldest first; 2 changed the replica count"
    assert len(_rows(out)) == 20
    assert lines[-1] == "none of these changed the replica count; --changes lists the 2 that did"


def test_no_hint_when_a_shown_row_changed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _log(tmp_path / "d.db", {27}, 30)
    assert main(["decisions", "--db", str(tmp_path / "d.db"), "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "last 5 of 30 decisions, oldest first; 1 changed the replica count"
    assert "--changes" not in out
    assert len(_rows(out)) == 5


def test_changes_view_counts_only_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _log(tmp_path / "d.db", {3, 7, 11}, 30)
    assert main(["decisions", "--db", str(tmp_path / "d.db"), "--changes", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "last 2 of 3 decisions that changed the replica count (30 in all), oldest first"
    assert [r.split()[3:6] for r in _rows(out)] == [["1", "->", "2"]] * 2
    assert "    - tick 7" in out and "    - tick 11" in out


def test_target_filter_counts_that_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _log(tmp_path / "d.db", set(), 4, target="local/a")
    _log(tmp_path / "d.db", {0}, 6, target="local/b")
    assert main(["decisions", "--db", str(tmp_path / "d.db"), "--target", "local/a"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "last 4 of 4 decisions for local/a, oldest first; 0 changed the replica count"
    assert out.splitlines()[-1] == "none of these changed the replica count, and no recorded decision did"


def test_empty_log_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Database(tmp_path / "d.db").close()
    assert main(["decisions", "--db", str(tmp_path / "d.db")]) == 0
    assert capsys.readouterr().out.strip() == "no decisions recorded"


def test_json_lines_stay_pure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _log(tmp_path / "d.db", {1}, 3)
    assert main(["decisions", "--db", str(tmp_path / "d.db"), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and all(line.startswith("{") for line in out)


def test_limit_help_states_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["decisions", "--help"])
    assert "show the newest N (default 20)" in capsys.readouterr().out


def test_limit_below_one_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _log(tmp_path / "d.db", set(), 2)
    assert main(["decisions", "--db", str(tmp_path / "d.db"), "--limit", "0"]) == 2
    assert "--limit" in capsys.readouterr().err
