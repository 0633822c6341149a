"""``controlplane bench autoscale`` end to end on a tiny generated trace: table, results.json, PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from controlplane.cli import main


def _tiny_azure(path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, 240, 400))
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for s in t:
        whole = int(s)
        frac = f"{s - whole:.7f}"[2:]
        lines.append(f"2023-11-16 18:{17 + whole // 60:02d}:{whole % 60:02d}.{frac},{rng.integers(100, 3000)},{rng.integers(1, 40)}")
    path.write_text("\n".join(lines) + "\n")


def test_autoscale_writes_results_and_charts(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    trace = tmp_path / "tiny.csv"
    _tiny_azure(trace)
    out = tmp_path / "out"
    code = main(["bench", "autoscale", "--trace", str(trace), "--out", str(out), "--slo-ttft", "1.5",
                 "--cold-start-s", "20"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "policy" in printed and "oracle" in printed and "x oracle" in printed
    doc = json.loads((out / "results.json").read_text())
    names = [p["policy"] for p in doc["policies"]]
    assert names == ["reactive", "hpa", "keda", "knative", "static", "oracle"]
    assert doc["trace"]["requests"] == 400 and doc["slo"]["ttft_s"] == 1.5
    for row in doc["policies"][:-1]:
        for key in ("ttft_within_slo", "itl_within_slo", "e2e_within_slo", "ttft_p50_s", "ttft_p95_s",
                    "ttft_p99_s", "gpu_hours", "gpu_hours_vs_oracle", "scale_events", "reversals", "peak_queue"):
            assert key in row, (row["policy"], key)
        assert row["gpu_hours_vs_oracle"] >= 1.0 or not row["meets_slo"]
        assert len(row["series"]["replicas"]) == len(row["series"]["t_s"])
    for png in ("load.png", "replicas.png", "ttft_p95.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_policy_is_named(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    trace = tmp_path / "tiny.csv"
    _tiny_azure(trace)
    code = main(["bench", "autoscale", "--trace", str(trace), "--out", str(tmp_path / "o"), "--policies", "hpa,magic"])
    assert code == 2
    assert "--policies: unknown 'magic'" in capsys.readouterr().err
