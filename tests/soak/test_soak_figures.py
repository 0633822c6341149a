"""The soak's pure parts: the compressed rate trace and the figures/checks of a run
(built here from hand-made tick samples, no processes)."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.bench.soak import compressed_rate_trace, soak_figures
from controlplane.local.replay import ReplayResult, TickSample

MIB = 2**20


def test_compressed_trace_follows_the_series_shape() -> None:
    # 4 windows in 40 s: 10 s each; peak 4 -> 2 req/s, so expected counts 5, 10, 0, 20.
    trace = compressed_rate_trace([0, 600, 1200, 1800], [1.0, 2.0, 0.0, 4.0], run_s=40.0, peak_rps=2.0, seed=3)
    t = trace.arrival_s
    assert np.all(np.diff(t) >= 0) and t.min() >= 0 and t.max() < 40.0
    assert not np.any((t >= 20.0) & (t < 30.0)), "an idle window gets no arrival"
    assert np.sum(t >= 30.0) > np.sum(t < 10.0)
    assert trace.prompt_tokens.min() >= 16 and trace.prompt_tokens.max() <= 300
    assert trace.output_tokens.min() >= 8 and trace.output_tokens.max() <= 128


def test_compressed_trace_is_seeded() -> None:
    a = compressed_rate_trace([0, 600], [1.0, 3.0], 20.0, 3.0, seed=1)
    b = compressed_rate_trace([0, 600], [1.0, 3.0], 20.0, 3.0, seed=1)
    assert np.array_equal(a.arrival_s, b.arrival_s)


@pytest.mark.parametrize(
    ("name", "rate", "run_s", "peak", "field"),
    [("all idle", [0.0, 0.0], 10.0, 1.0, "rate"), ("no time", [1.0], 0.0, 1.0, "run_s"), ("no rate", [1.0], 10.0, 0.0, "peak_rps")],
)
def test_compressed_trace_rejects_bad_input(name: str, rate: list[float], run_s: float, peak: float, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        compressed_rate_trace(list(range(len(rate))), rate, run_s, peak)


def _result(rss_mib: list[float], late: float = 0.002, dur: float = 0.08, errors: list[str] | None = None) -> ReplayResult:
    ticks = [TickSample(float(k + 1), late, dur, int(r * MIB)) for k, r in enumerate(rss_mib)]
    return ReplayResult(
        requests=[{"ok": True, "ttft_s": 0.5, "sent_s": 0.0, "e2e_s": 1.0, "error": None}],
        prom_ttft_p95_s=0.6, replica_intervals=[(-5.0, 100.0)], scale_events=[], startup_durations_s=[4.0],
        ticks=ticks, tick_s=1.0, ended_s=float(len(rss_mib)), step_errors=0.0, logged_errors=errors or [], crashes=[],
    )


@pytest.mark.parametrize(
    ("name", "rss", "growth", "passes"),
    [
        # 100 ticks; warm-up ticks 1-19 climb to 80 MiB, then flat at 80 -> 0% growth.
        ("flat after warm-up", [60.0 + k for k in range(20)] + [80.0] * 80, 0.0, True),
        # baseline median over t in [20, 30) is 80; the last 10 ticks sit at 92 -> +15%.
        ("leaking", [80.0] * 90 + [92.0] * 10, 0.15, False),
    ],
)
def test_rss_growth_is_measured_after_warm_up(name: str, rss: list[float], growth: float, passes: bool) -> None:
    figures = soak_figures(_result(rss))
    assert figures["rss_growth_after_warmup"] == pytest.approx(growth)
    assert figures["checks"]["rss_growth_below_10pct"] is passes


@pytest.mark.parametrize(
    ("name", "late", "dur", "errors", "failing"),
    [
        ("clean", 0.002, 0.08, None, set()),
        ("a tick as long as the interval", 0.002, 1.0, None, {"every_tick_on_time"}),
        ("started a full interval late", 1.2, 0.08, None, {"every_tick_on_time"}),
        ("an exception logged", 0.002, 0.08, ["controlplane.loop: collect failed"], {"no_logged_errors"}),
    ],
)
def test_checks(name: str, late: float, dur: float, errors: list[str] | None, failing: set[str]) -> None:
    checks = soak_figures(_result([80.0] * 100, late, dur, errors))["checks"]
    assert {k for k, ok in checks.items() if not ok} == failing


def test_missed_ticks_fail_the_timing_check() -> None:
    result = _result([80.0] * 100)
    result.ended_s = 103.0  # 103 instants were due, 100 ticks ran
    figures = soak_figures(result)
    assert figures["missed_ticks"] == 3
    assert figures["checks"]["every_tick_on_time"] is False
