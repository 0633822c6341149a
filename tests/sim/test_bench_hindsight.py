"""``bench autoscale`` with ``hindsight``: the attainable share and the reference in the table and results.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from controlplane.cli import main


def _azure_csv(path: Path) -> np.ndarray:
    """A 4-minute Azure-format trace; returns its prompt sizes."""
    rng = np.random.default_rng(4)
    t = np.sort(rng.uniform(0, 240, 300))
    prompts = rng.integers(100, 3000, len(t))
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for s, p in zip(t, prompts, strict=True):
        whole = int(s)
        frac = f"{s - whole:.7f}"[2:]
        lines.append(f"2023-11-16 18:{17 + whole // 60:02d}:{whole % 60:02d}.{frac},{p},{rng.integers(1, 40)}")
    path.write_text("\n".join(lines) + "\n")
    return prompts


def test_hindsight_and_attainable_share_are_reported(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    trace = tmp_path / "tiny.csv"
    prompts = _azure_csv(trace)
    out = tmp_path / "out"
    # llama-3.1-8b-h100, SLO 50 ms: a prompt under 8,192 tokens prefills in one step of
    # 6.5 + 0.055 ms + 40 us/token + 1.3 ns per (token, earlier token) pair, n(n-1)/2 pairs:
    # 1,067 tokens take 6.555 + 42.68 + 0.739 = 49.97 ms, 1,068 take 50.02 ms.
    code = main(["bench", "autoscale", "--trace", str(trace), "--out", str(out), "--slo-ttft", "0.05",
                 "--cold-start-s", "20", "--policies", "static,hindsight,oracle"])
    assert code == 0
    expected = float(np.mean(prompts <= 1067))
    assert 0.2 < expected < 0.5
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    share_line = next(i for i, line in enumerate(lines) if line.startswith("attainable share:"))
    header = next(i for i, line in enumerate(lines) if line.startswith("policy"))
    assert share_line < header
    assert f"{expected * 100:.2f}%" in lines[share_line]
    assert "x hind" in lines[header]
    assert "hindsight: target" in printed and "search" in printed

    doc = json.loads((out / "results.json").read_text())
    assert doc["attainable_share"] == expected
    rows = {p["policy"]: p for p in doc["policies"]}
    assert list(rows) == ["static", "hindsight", "oracle"]
    ref = rows["hindsight"]
    assert set(rows["static"]) - {"wall_s"} <= set(ref)
    assert ref["target_share"] == min(0.99, expected - 0.005)
    assert ref["met_target"] and ref["ttft_within_slo"] >= ref["target_share"]
    assert ref["gpu_hours_vs_hindsight"] == 1.0
    assert rows["oracle"]["gpu_hours"] <= ref["gpu_hours"]
    assert ref["simulations"] >= 1 and ref["wall_s"] > 0


def test_a_capped_hindsight_search_says_it_was_cut_short(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    trace = tmp_path / "tiny.csv"
    _azure_csv(trace)
    common = ["bench", "autoscale", "--trace", str(trace), "--slo-ttft", "0.05", "--cold-start-s", "20",
              "--policies", "hindsight"]
    assert main([*common, "--out", str(tmp_path / "one"), "--hindsight-replays", "1"]) == 0
    printed = capsys.readouterr().out
    ref = json.loads((tmp_path / "one" / "results.json").read_text())["policies"][0]
    assert ref["simulations"] == 1
    assert "stopped at --hindsight-replays 1" in printed
    # the cap is checked before the trace is read, and named
    assert main([*common, "--out", str(tmp_path / "zero"), "--hindsight-replays", "0"]) == 2
    assert "--hindsight-replays: must be >= 1" in capsys.readouterr().err
