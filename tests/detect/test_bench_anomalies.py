"""``controlplane bench anomalies`` on a tiny generated corpus in the NAB layout."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from controlplane.cli import main

START = datetime(2024, 1, 1)
PROFILES = {
    "standard": {"CostMatrix": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0, "tnWeight": 1.0}},
    "reward_low_FP_rate": {"CostMatrix": {"tpWeight": 1.0, "fpWeight": 0.22, "fnWeight": 1.0, "tnWeight": 1.0}},
    "reward_low_FN_rate": {"CostMatrix": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 2.0, "tnWeight": 1.0}},
}


def stamp(i: int) -> str:
    return (START + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S")


def write_corpus(root: Path, window: tuple[int, int]) -> None:
    rng = np.random.default_rng(7)
    series = {
        "synthetic/with_spike.csv": 50 + 2 * rng.standard_normal(600),
        "synthetic/quiet.csv": 20 + rng.standard_normal(400),
    }
    series["synthetic/with_spike.csv"][450] = 120.0
    for rel, values in series.items():
        path = root / "data" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["timestamp", "value"])
            w.writerows((stamp(i), f"{v:.4f}") for i, v in enumerate(values))
    labels = {"synthetic/with_spike.csv": [[stamp(window[0]) + ".000000", stamp(window[1]) + ".000000"]],
              "synthetic/quiet.csv": []}
    (root / "labels").mkdir(exist_ok=True)
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    (root / "profiles.json").write_text(json.dumps(PROFILES))


def test_bench_writes_results_and_scores_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_corpus(tmp_path / "nab", (420, 480))
    out = tmp_path / "out"
    assert main(["bench", "anomalies", "--nab", str(tmp_path / "nab"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 files, 1000 rows, 1 windows" in printed
    assert "detection runtime" in printed

    rows = list(csv.reader((out / "synthetic" / "with_spike.csv").open()))
    assert rows[0] == ["timestamp", "value", "anomaly_score"]
    assert len(rows) == 601
    assert rows[451][0] == stamp(450)
    assert (out / "synthetic" / "quiet.csv").is_file()

    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["profiles"]) == set(PROFILES)
    standard = summary["profiles"]["standard"]
    # The spike at row 450 is new in every respect: detected, so the window is a TP.
    assert standard["tp"] == 1 and standard["fn"] == 0
    assert 0 < standard["normalised"] <= 100


def test_detection_never_depends_on_the_labels(tmp_path: Path) -> None:
    write_corpus(tmp_path / "a", (420, 480))
    write_corpus(tmp_path / "b", (100, 160))
    for name in ("a", "b"):
        assert main(["bench", "anomalies", "--nab", str(tmp_path / name), "--out", str(tmp_path / f"out_{name}"),
                     "--detector", "context"]) == 0
    for rel in ("synthetic/with_spike.csv", "synthetic/quiet.csv"):
        assert (tmp_path / "out_a" / rel).read_text() == (tmp_path / "out_b" / rel).read_text()


def test_bad_value_is_an_error_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_corpus(tmp_path / "nab", (420, 480))
    path = tmp_path / "nab" / "data" / "synthetic" / "quiet.csv"
    lines = path.read_text().splitlines()
    lines[3] = f"{stamp(2)},oops"
    path.write_text("\n".join(lines) + "\n")
    assert main(["bench", "anomalies", "--nab", str(tmp_path / "nab"), "--out", str(tmp_path / "out")]) == 2
    assert "synthetic/quiet.csv line 4: value 'oops' is not a number" in capsys.readouterr().err


def test_full_nab_subset_scores_well(shared_data: Path, tmp_path: Path) -> None:
    """On the 41 NAB files beside the repository the ensemble reaches 77 (standard profile)."""
    from controlplane.bench.anomalies import run

    summary = run(shared_data / "nab", tmp_path / "out")
    assert summary["files"] == 41
    assert summary["profiles"]["standard"]["normalised"] >= 77.0


def test_cv_prints_every_fold_and_the_means(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_corpus(tmp_path / "nab", (420, 480))
    # A second category: a copy of the spiky file, so each fold has a group to choose on.
    data = tmp_path / "nab" / "data"
    (data / "other").mkdir()
    (data / "other" / "with_spike.csv").write_text((data / "synthetic" / "with_spike.csv").read_text())
    labels = json.loads((tmp_path / "nab" / "labels" / "combined_windows.json").read_text())
    labels["other/with_spike.csv"] = labels["synthetic/with_spike.csv"]
    (tmp_path / "nab" / "labels" / "combined_windows.json").write_text(json.dumps(labels))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["bench", "anomalies", "--nab", str(tmp_path / "nab"), "--out", str(out), "--cv", "category",
                 "--grid", "baseline"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("held out other") == 3 and printed.count("held out synthetic") == 3
    assert "cross-validated: pooled held-out" in printed
    summary = json.loads((out / "cv-baseline-fit.json").read_text())
    folds = summary["profiles"]["standard"]["folds"]
    assert [f["group"] for f in folds] == ["other", "synthetic"]
    assert all(f["tp"] == 1 for f in folds)  # the spike is found whichever file is held out
    assert list((out / "cache").glob("*.npz"))  # member scores were cached


def test_incidents_run_without_any_data_and_report_every_fault(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["bench", "anomalies", "--incidents", "--days", "0.45", "--rate", "0.5",
                 "--azure", str(tmp_path / "absent.csv"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("== ") == 1  # the synthetic scenario only: the trace file is absent
    summary = json.loads((out / "incidents.json").read_text())
    (scenario,) = summary["scenarios"]
    assert len(scenario["faults"]) == 2 and scenario["days"] == pytest.approx(0.45, abs=0.01)
    assert "detected within 120 s of the fault's start: " in printed and "NAB score of the alert onsets" in printed
    assert "of its first showing in the metrics: " in printed
    for f in scenario["faults"]:
        assert f["shown_after_s"] is None or f["shown_after_s"] >= 0.0
        if f["detected_after_shown_s"] is not None:
            assert f["detected_after_s"] is not None
    starts = [f["start_h"] for f in scenario["faults"]]
    assert starts[0] >= 4.0 and starts[1] - starts[0] >= 2.0
