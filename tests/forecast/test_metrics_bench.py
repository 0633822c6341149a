"""Accuracy measures with worked numbers, and the forecast bench end to end on small series."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from controlplane.bench.forecast import parse_duration
from controlplane.cli import main
from controlplane.forecast.evaluate import rolling_evaluation
from controlplane.forecast.metrics import coverage, mae, mase, naive_scale, pinball, wmape
from controlplane.forecast.naive import LastValue
from controlplane.forecast.series import regularize
from tests.forecast.helpers import STEP, periodic


def test_metrics_worked_numbers() -> None:
    f = np.array([10.0, 20.0, 30.0, np.nan])
    a = np.array([12.0, 15.0, 30.0, 99.0])  # the NaN pair is skipped, not scored
    assert mae(f, a) == pytest.approx((2 + 5 + 0) / 3)
    # p90 loss: under-forecast by 2 costs 0.9 x 2 = 1.8; over by 5 costs 0.1 x 5 = 0.5; exact 0
    assert pinball(f, a, 0.9) == pytest.approx((1.8 + 0.5 + 0.0) / 3)
    assert coverage(f, a) == pytest.approx(2 / 3)  # 15 <= 20 and 30 <= 30; 12 > 10
    assert wmape(f, a) == pytest.approx(7 / 57)
    # naive scale, lag 2 on [1, 2, 4, 8]: |4 - 1| and |8 - 2| -> 4.5
    assert naive_scale(np.array([1.0, 2.0, 4.0, 8.0]), 2) == 4.5
    assert mase(f, a, 4.5) == pytest.approx((7 / 3) / 4.5)
    assert math.isnan(naive_scale(np.array([1.0, 2.0]), 2))
    assert math.isnan(wmape(np.array([1.0]), np.array([0.0])))


@pytest.mark.parametrize(("text", "want"), [("90", 90.0), ("30s", 30.0), ("10m", 600.0), ("1.5h", 5400.0),
                                            ("7d", 604800.0)], ids=["bare", "s", "m", "h", "d"])
def test_parse_duration(text: str, want: float) -> None:
    assert parse_duration(text) == want


def test_parse_duration_names_the_field() -> None:
    with pytest.raises(ValueError, match="^--horizon:"):
        parse_duration("soon", "--horizon")


def test_rolling_evaluation_targets_and_refits() -> None:
    # a ramp 1, 2, ..., 40 with 20 training slots: origin 0 is the end of training (value 20);
    # a 60 s horizon targets the next slot (21), 180 s the third one after (23)
    n = 40
    grid = regularize((np.arange(n) + 1) * 60.0, np.arange(1.0, n + 1), 60.0)
    ev = rolling_evaluation("last_value", LastValue, grid, 20, [60.0, 180.0], scale=1.0)
    assert ev.error is None and ev.p50.shape == (21, 2)
    assert ev.actual[0].tolist() == [21.0, 23.0] and ev.actual[5].tolist() == [26.0, 28.0]
    assert ev.origins[0] == 20 * 60.0
    assert ev.scores[0].n == 20 and ev.scores[1].n == 18  # the last origins' targets lie past the data
    # the backtest saw only rises, so p50 sits above the last value, and p90 above p50
    assert np.all(ev.p50[:, 0] > np.arange(20.0, 41.0)) and np.all(ev.p90 >= ev.p50)
    again = rolling_evaluation("last_value", LastValue, grid, 20, [60.0, 180.0], scale=1.0, refit_every=7)
    assert len(again.reports) == 3  # 20 test slots in chunks of 7, 7, 6
    assert [r["n"] for r in again.reports] == [20, 27, 34]  # each refit sees all data so far
    assert again.p50.shape == ev.p50.shape and np.array_equal(again.actual, ev.actual, equal_nan=True)


def test_bench_forecast_on_a_small_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t, y = periodic(days=4, noise=5.0, seed=9)
    series = tmp_path / "rate.csv"
    series.write_text("t,value\n" + "".join(f"{a:.0f},{b:.3f}\n" for a, b in zip(t, y, strict=True)))
    out = tmp_path / "out"
    code = main(["bench", "forecast", "--series", str(series), "--train", "3d", "--horizon", "10m,2h",
                 "--forecasters", "last_value,seasonal_naive_daily,holt_winters_daily", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "season 1d (144 slots)" in text and "horizon 2h" in text
    doc = json.loads((out / "forecast.json").read_text())
    assert doc["train_slots"] == 432 and doc["test_slots"] == 144
    scores = {k: v["scores"][1]["mase"] for k, v in doc["forecasters"].items() if not v["error"]}
    # two hours ahead on a daily sine: the seasonal models beat last value by far
    assert scores["holt_winters_daily"] < 0.5 * scores["last_value"]
    assert (out / "forecast.png").stat().st_size > 10_000


def test_bench_forecast_ratio_to_best_naive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a daily sine on a random walk: last value wins 10 min ahead (the walk moves ~5 a slot, the
    # sine ~4), seasonal naive 6 h ahead (the sine moves ~90, the walk's day-old error is ~48)
    t, y = periodic(days=4)
    y = y + 300.0 + np.cumsum(np.random.default_rng(3).normal(0.0, 5.0, len(y)))
    series = tmp_path / "rate.csv"
    series.write_text("t,value\n" + "".join(f"{a:.0f},{b:.3f}\n" for a, b in zip(t, y, strict=True)))
    out = tmp_path / "out"
    assert main(["bench", "forecast", "--series", str(series), "--train", "3d", "--horizon", "10m,6h",
                 "--forecasters", "mean_reverting", "--out", str(out)]) == 0
    assert "best naive at 6h: seasonal_naive_daily" in capsys.readouterr().out
    doc = json.loads((out / "forecast.json").read_text())
    fc = doc["forecasters"]
    assert {"last_value", "seasonal_naive_daily", "mean_reverting"} <= set(fc)  # baselines always run
    assert [b["forecaster"] for b in doc["best_naive"]] == ["last_value", "seasonal_naive_daily"]
    for j in range(2):
        best = min(fc[b]["scores"][j]["mae"] for b in ("last_value", "seasonal_naive_daily", "seasonal_naive_weekly")
                   if not fc[b]["error"])
        assert fc["mean_reverting"]["ratio_to_best_naive"][j] == pytest.approx(fc["mean_reverting"]["scores"][j]["mae"] / best,
                                                                              rel=1e-5)
        assert min(fc[b]["ratio_to_best_naive"][j] for b in ("last_value", "seasonal_naive_daily")) == pytest.approx(1.0)


def test_bench_forecast_rejects_unknown_forecaster(tmp_path: Path) -> None:
    series = tmp_path / "rate.csv"
    series.write_text("".join(f"{i * STEP:.0f},{i}\n" for i in range(1, 30)))
    with pytest.raises(ValueError, match="^--forecasters:"):
        from controlplane.cli import build_parser

        args = build_parser().parse_args(["bench", "forecast", "--series", str(series), "--forecasters", "magic",
                                          "--out", str(tmp_path / "o")])
        args.func(args)


def test_bench_forecast_on_the_azure_code_trace(shared_data: Path, tmp_path: Path) -> None:
    trace = shared_data / "traces" / "azure_llm_2023_code.csv"
    code = main(["bench", "forecast", "--series", str(trace), "--forecasters", "last_value,holt_damped",
                 "--out", str(tmp_path)])
    assert code == 0
    doc = json.loads((tmp_path / "forecast.json").read_text())
    assert doc["format"] == "azure" and doc["step_s"] == 30.0 and doc["mase"]["season_slots"] == 1
    assert all(s["n"] > 40 for s in doc["forecasters"]["holt_damped"]["scores"])


def test_bench_forecast_on_servegen_m_large(shared_data: Path, tmp_path: Path) -> None:
    series = shared_data / "servegen" / "m-large"
    code = main(["bench", "forecast", "--series", str(series), "--horizon", "10m,3h",
                 "--forecasters", "last_value,seasonal_naive_daily,mean_reverting", "--out", str(tmp_path)])
    assert code == 0
    doc = json.loads((tmp_path / "forecast.json").read_text())
    # 14 days of 10-minute windows; days 1-7 train, days 8-14 test; MASE against the daily naive
    assert doc["slots"] == 2016 and doc["train_slots"] == 1008 and doc["mase"]["season_slots"] == 144
    mase = {k: [s["mase"] for s in v["scores"]] for k, v in doc["forecasters"].items()}
    assert all(m is not None and m > 0 for ms in mase.values() for m in ms)
