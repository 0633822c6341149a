"""The synthetic workload generator: seeded, on its daily shape, bursty as asked, sized as cited."""

from __future__ import annotations

import numpy as np
import pytest

from controlplane.traces.synthetic import PRESETS, SyntheticSpec, get_preset, synthetic_trace

FLAT = SyntheticSpec(duration_s=4000.0, mean_rate_rps=2.5, diurnal_amplitude=0.0, noise_sigma=0.0)


def test_same_seed_same_trace_other_seed_other_trace() -> None:
    a, b = synthetic_trace(FLAT, seed=7), synthetic_trace(FLAT, seed=7)
    assert np.array_equal(a.arrival_s, b.arrival_s)
    assert np.array_equal(a.prompt_tokens, b.prompt_tokens)
    assert not np.array_equal(a.arrival_s[:50], synthetic_trace(FLAT, seed=8).arrival_s[:50])


def test_arrivals_are_sorted_within_the_duration() -> None:
    t = synthetic_trace(PRESETS["cpu-tiny"], seed=1)
    assert np.all(np.diff(t.arrival_s) >= 0)
    assert t.arrival_s[0] >= 0 and t.arrival_s[-1] < 600


@pytest.mark.parametrize("cv", [1.0, 2.0, 4.0], ids=["poisson", "bursty", "very-bursty"])
def test_mean_rate_and_burstiness(cv: float) -> None:
    # Flat rate 2.5/s for 4,000 s: about 10,000 requests; gap cv as asked.
    # Standard error of the count for a gamma renewal process is about cv * sqrt(10,000) = 100 * cv.
    t = synthetic_trace(FLAT.with_overrides(burst_cv=cv), seed=3)
    assert abs(len(t) - 10_000) < 5 * 100 * cv
    gaps = np.diff(t.arrival_s)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.15)


def test_daily_shape_peaks_at_peak_time() -> None:
    # One day, amplitude 0.5, peak at 14:00: the 14:00 hour carries about 1.5 / 0.5 = 3x
    # the 02:00 hour (rate 2.5 * (1 + 0.5 cos(0)) vs 2.5 * (1 + 0.5 cos(pi))).
    spec = FLAT.with_overrides(duration_s=86_400.0, diurnal_amplitude=0.5, burst_cv=1.0)
    hours = np.bincount((synthetic_trace(spec, seed=2).arrival_s // 3600).astype(int), minlength=24)
    assert int(np.argmax(hours)) in (13, 14)
    assert hours[14] / hours[2] == pytest.approx(3.0, rel=0.15)


def test_token_sizes_follow_the_cited_medians() -> None:
    # azure-code: prompt median 1,469 and output median 13 (Azure LLM inference trace 2023, code).
    t = synthetic_trace(PRESETS["azure-code"].with_overrides(duration_s=3600.0), seed=4)
    assert np.median(t.prompt_tokens) == pytest.approx(1469, rel=0.08)
    assert np.median(t.output_tokens) == pytest.approx(13, rel=0.1)
    assert t.prompt_tokens.max() <= 8192 and t.output_tokens.min() >= 1


def test_cpu_tiny_preset_fits_its_model_length() -> None:
    t = synthetic_trace(PRESETS["cpu-tiny"], seed=5)
    assert int((t.prompt_tokens + t.output_tokens).max()) <= 512


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mean_rate_rps": 0}, "mean_rate_rps"),
        ({"burst_cv": -1}, "burst_cv"),
        ({"diurnal_amplitude": 1.0}, "diurnal_amplitude"),
        ({"prompt_sigma": float("nan")}, "prompt_sigma"),
        ({"bogus": 1}, "bogus"),
    ],
    ids=["rate", "cv", "amplitude", "nan-sigma", "unknown"],
)
def test_bad_parameters_name_the_field(changes: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FLAT.with_overrides(**changes)


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="azure-code"):
        get_preset("nope")
