"""A trace rebuilt from recorded per-step rates: counts, sizes, gaps, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.traces.recorded import RecordedDemand, trace_from_recorded


def _demand(rates: dict[float, float], prompt: float = 800.0, output: float = 100.0, step: float = 15.0,
            start: float = 1000.0, end: float = 1600.0) -> RecordedDemand:  # fmt: skip
    return RecordedDemand(
        start=start,
        end=end,
        step_s=step,
        request_rate=rates,
        prompt_tokens_rate={t: r * prompt for t, r in rates.items()},
        output_tokens_rate={t: r * output for t, r in rates.items()},
    )


def test_counts_follow_the_rates_and_sizes_the_means() -> None:
    steps = [1000.0 + 15 * i for i in range(41)]
    rates = {t: (4.0 if t <= 1300 else 1.0) for t in steps}
    trace, missing = trace_from_recorded(_demand(rates), seed=1)
    assert missing == 0
    expected = sum(rates[t] * 15 for t in steps[1:])  # 20 steps at 4/s, 20 at 1/s: 1500
    assert abs(len(trace) - expected) < 4 * np.sqrt(expected)
    first, second = trace.arrival_s < 300, trace.arrival_s >= 300
    assert first.sum() > 3 * second.sum()
    assert set(trace.prompt_tokens) == {800} and set(trace.output_tokens) == {100}
    assert 0 <= trace.arrival_s.min() and trace.arrival_s.max() <= 600
    again, _ = trace_from_recorded(_demand(rates), seed=1)
    assert np.array_equal(trace.arrival_s, again.arrival_s)


def test_a_step_without_data_is_a_gap_not_zero_demand() -> None:
    steps = [1000.0 + 15 * i for i in range(41)]
    rates = {t: 2.0 for t in steps if not 1150 < t <= 1300}
    trace, missing = trace_from_recorded(_demand(rates), seed=2)
    assert missing == 10
    assert not np.any((trace.arrival_s > 150) & (trace.arrival_s < 300))


def test_token_sizes_fall_back_to_the_window_mean() -> None:
    rates = {1015.0: 2.0, 1030.0: 2.0}
    d = RecordedDemand(1000.0, 1030.0, 15.0, rates, {1015.0: 2.0 * 500}, {1015.0: 2.0 * 40, 1030.0: 2.0 * 60})
    trace, _ = trace_from_recorded(d, seed=3)
    late = trace.arrival_s >= 15
    assert set(trace.prompt_tokens[late]) == {250}  # 1000 prompt tokens/s over 4 requests/s of the window
    assert set(trace.output_tokens[late]) == {60}


@pytest.mark.parametrize(("step", "start", "end", "field"), [(0.0, 0.0, 10.0, "step_s"), (15.0, 10.0, 10.0, "end")])
def test_bad_windows_name_the_field(step: float, start: float, end: float, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        trace_from_recorded(_demand({}, step=step, start=start, end=end))
