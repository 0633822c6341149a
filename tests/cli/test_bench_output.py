"""``controlplane bench autoscale`` writing to a file or pipe (no bar redraws), and its
replicas chart: one panel per policy on its own scale, bucket width in each title."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from controlplane.bench._charts import bucket_label, replicas_figure, write_charts
from controlplane.cli import main


def _tiny_azure(path: Path, n: int = 300, span_s: float = 240.0) -> None:
    rng = np.random.default_rng(1)
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for s in np.sort(rng.uniform(0, span_s, n)):
        whole = int(s)
        frac = f"{s - whole:.7f}"[2:]
        lines.append(f"2023-11-16 18:{17 + whole // 60:02d}:{whole % 60:02d}.{frac},"
                     f"{rng.integers(100, 3000)},{rng.integers(1, 40)}")
    path.write_text("\n".join(lines) + "\n")


def test_autoscale_into_a_log_file_has_no_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Under pytest stderr is not a terminal, as with `bench autoscale ... > log 2>&1`.
    trace = tmp_path / "tiny.csv"
    _tiny_azure(trace)
    code = main(["bench", "autoscale", "--trace", str(trace), "--out", str(tmp_path / "o"),
                 "--policies", "reactive,hpa,static,oracle", "--cold-start-s", "20"])
    assert code == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "replay" not in captured.err
    assert len(captured.err) < 200, captured.err[:400]
    assert "policy" in captured.out and "\r" not in captured.out


def _row(policy: str, replicas: list[float]) -> dict[str, object]:
    return {"policy": policy, "series": {"t_s": [60.0 * k for k in range(len(replicas))], "replicas": replicas}}


def test_each_policy_gets_a_panel_on_its_own_scale() -> None:
    rows = [
        _row("reactive", [1, 2, 3, 2, 1, 1]),
        _row("knative", [2, 64, 10, 64, 3, 1]),
        _row("static", [2, 2, 2, 2, 2, 2]),
        {"policy": "oracle", "series": {"replicas": [1, 1, 2, 1, 1, 1]}},
    ]
    fig = replicas_figure(rows, 60.0, "tiny")
    panels = fig.axes
    assert len(panels) == 3
    titles = [ax.get_title(loc="left") for ax in panels]
    assert [t.split(":")[0] for t in titles] == ["reactive", "knative", "static"]
    assert all("per 60 s bucket" in t for t in titles)
    assert "peak 64.0" in titles[1] and "peak 3.0" in titles[0]
    # a 1-3 replica policy spans most of its panel instead of 5% of a shared 0-64 axis
    assert panels[0].get_ylim()[1] < 4 and panels[1].get_ylim()[1] > 64
    assert panels[2].get_ylim()[1] < 3
    plt.close(fig)


@pytest.mark.parametrize(
    ("step_s", "label"),
    [(60.0, "60 s"), (5.0, "5 s"), (180.0, "3 min"), (1800.0, "30 min"), (7200.0, "2 h")],
)
def test_bucket_label(step_s: float, label: str) -> None:
    assert bucket_label(step_s) == label


def test_runs_with_series_of_different_lengths_chart(tmp_path: Path) -> None:
    # A policy whose backlog drains after the trace ends has more buckets than the others.
    def run(policy: str, n: int) -> dict[str, object]:
        return {"policy": policy, "series": {"t_s": [60.0 * k for k in range(n)], "load_rps": [1.0] * n,
                                             "replicas": [2.0] * n, "ttft_p95_s": [0.5] * (n - 1) + [None]}}

    written = write_charts([run("static", 18), run("keda", 21)], tmp_path, 2.0, "uneven")
    assert [p.name for p in written] == ["load.png", "replicas.png", "ttft_p95.png"]
    assert all(p.stat().st_size > 5_000 for p in written)
