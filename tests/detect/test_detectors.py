"""Streaming detectors on synthetic series: events score high, the rest low;
state survives a JSON round trip; bad samples are skipped without touching state."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from controlplane.detect import (
    ContextNovelty,
    Cusum,
    IsolationForestDetector,
    SeasonalMAD,
    StreamingDetector,
    TailSurprise,
    make_detector,
)

STEP = 300.0  # five-minute samples
T0 = 1_700_000_000.0


def noise(n: int, seed: int = 1, level: float = 50.0, sd: float = 2.0) -> np.ndarray:
    return level + sd * np.random.default_rng(seed).standard_normal(n)


def spike(n: int = 800, at: int = 600) -> np.ndarray:
    x = noise(n)
    x[at] = 150.0  # 50 standard deviations above the level
    return x


def level_shift(n: int = 800, at: int = 600) -> np.ndarray:
    x = noise(n)
    x[at:] += 12.0  # a sustained move of 6 standard deviations
    return x


def seasonal_with_anomaly(days: int = 10, anomaly_day: int = 8) -> tuple[np.ndarray, int]:
    per_day = 288
    t = np.arange(days * per_day)
    x = 50 + 30 * np.sin(2 * np.pi * t / per_day) + noise(len(t), level=0.0, sd=1.0)
    # At 03:00 on day 8 the value is the usual 15:00 value: within the global range,
    # but far from what this time of day normally shows.
    at = anomaly_day * per_day + 36
    x[at] = 50 + 30 * np.sin(2 * np.pi * (at + 144) / per_day)
    return x, at


def run(det: StreamingDetector, x: np.ndarray | list) -> list[float]:
    return [det.update(T0 + i * STEP, v) for i, v in enumerate(x)]


def after(scores: list[float], start: int, skip: set[int]) -> list[float]:
    return [s for i, s in enumerate(scores) if i >= start and i not in skip]


@pytest.mark.parametrize(
    ("name", "make", "series", "at", "event_min", "quiet_max", "quiet_mean"),
    [
        # A brand-new level: every context is new (share 1.0), less the usual share of
        # new contexts in this noise (~0.37) -> ~0.63. Noise alone: below 0.5, mean < 0.1.
        ("context spike", ContextNovelty, spike, 600, 0.6, 0.5, 0.1),
        # The first sample of a new level is a brand-new level too.
        ("context level shift", ContextNovelty, level_shift, 600, 0.6, 0.5, 0.1),
        # Against its own hour (~25 samples in by then): z ~ 50 -> 2500 / (2500 + 16) ~ 0.99.
        ("seasonal spike", SeasonalMAD, spike, 600, 0.95, 0.75, 0.15),
        # 150 is ~14 (max - median) past the maximum of 600 noisy values:
        # -log10(1/601) + 14 / ln(10) ~ 8.9 decades -> 8.9 / 9.9 = 0.9. A new record
        # of the noise itself is ~2.8 decades -> 0.74; a typical value ~0.6 decades -> 0.4.
        ("tail spike", TailSurprise, spike, 600, 0.89, 0.8, 0.5),
        # 0.8 * ~0.63 (context at five resolutions) + 0.2 * ~0.9 (tail) ~ 0.68.
        ("ensemble spike", lambda: make_detector("ensemble"), spike, 600, 0.65, 0.55, 0.15),
        # Six sd sustained: clipped z of 4 minus drift 0.5 adds 3.5 a tick: limit 8 within 3 ticks.
        ("cusum level shift", Cusum, level_shift, 600, 1.0, 0.9, 0.2),
        # A new level at every resolution: 0.8 * ~0.63 + 0.2 * tail (~0.7) ~ 0.65.
        ("ensemble level shift", lambda: make_detector("ensemble"), level_shift, 600, 0.6, 0.55, 0.15),
    ],
)
def test_event_scores_high_and_quiet_elsewhere(name: str, make: Callable[[], StreamingDetector],
                                               series: Callable[[], np.ndarray], at: int,
                                               event_min: float, quiet_max: float, quiet_mean: float) -> None:
    scores = run(make(), series())
    event = max(scores[at:at + 5])
    assert event >= event_min, name
    quiet = after(scores[:at], 300, set())
    assert max(quiet) < quiet_max, name
    assert np.mean(quiet) < quiet_mean, name


def test_seasonal_flags_an_hour_that_looks_unlike_itself() -> None:
    x, at = seasonal_with_anomaly()
    scores = run(SeasonalMAD(), x)
    # Ten sd from the 03:00 median of ~3 days of samples: z^2 / (z^2 + 16) > 0.8.
    assert scores[at] > 0.8
    rest = after(scores, 288 * 3, {at})
    assert scores[at] > max(rest)
    assert np.quantile(rest, 0.99) < 0.5


def test_iforest_flags_a_vector_that_breaks_the_usual_relation() -> None:
    rng = np.random.default_rng(3)
    base = rng.uniform(0.2, 0.8, size=400)
    # KV-cache usage, throughput, TTFT and queue move together normally.
    rows = [[u, 100 * u + rng.normal(0, 2), 0.2 + 0.3 * u + rng.normal(0, 0.01), 10 * u + rng.normal(0, 0.5)]
            for u in base]
    rows[350] = [0.3, 30.0, 1.5, 25.0]  # high TTFT and queue at low cache usage
    det = IsolationForestDetector(window=300, refit_every=50, min_fit=100)
    scores = run(det, rows)
    assert scores[350] > 0.5
    assert scores[350] > np.quantile(after(scores, 100, {350}), 0.99)


def test_iforest_refits_periodically_not_every_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    det = IsolationForestDetector(window=100, refit_every=25, min_fit=20)
    fits = []
    real_fit = det._fit
    monkeypatch.setattr(det, "_fit", lambda rows: (fits.append(len(rows)), real_fit(rows)))
    run(det, [[v, v * 2] for v in noise(120)])
    # First fit when 20 samples are kept (tick 20), then every 25 scored ticks: 45, 70, 95.
    assert fits == [20, 45, 70, 95]


def test_iforest_tree_walk_matches_scikit_learn() -> None:
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(4)
    rows = rng.normal(size=(200, 3)).tolist()
    det = IsolationForestDetector(window=200, refit_every=500, min_fit=200)
    run(det, rows + [[0.0, 0.0, 0.0]])
    forest = IsolationForest(n_estimators=det.trees, random_state=det.seed).fit(np.asarray(rows))
    probe = rng.normal(scale=2.0, size=(50, 3))
    expected = -forest.score_samples(probe)
    assert [det.strangeness(list(p)) for p in probe] == pytest.approx(expected.tolist(), abs=1e-12)


def _roundtrip_cases() -> list[tuple[str, Callable[[], StreamingDetector], list]]:
    seasonal, _ = seasonal_with_anomaly(days=4, anomaly_day=3)
    vectors = [[v, v / 2, (v % 7)] for v in noise(400, seed=5)]
    return [
        ("context", ContextNovelty, list(level_shift())),
        ("context short history", lambda: ContextNovelty(history=100, learn=50), list(level_shift())),
        ("tail", lambda: TailSurprise(history=200), list(spike())),
        ("seasonal", SeasonalMAD, list(seasonal)),
        ("cusum", Cusum, list(level_shift())),
        ("ensemble", lambda: make_detector("ensemble"), list(level_shift())),
        ("iforest", lambda: IsolationForestDetector(window=120, refit_every=30, min_fit=40), vectors),
    ]


@pytest.mark.parametrize(("name", "make", "series"), _roundtrip_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_state_round_trip_gives_identical_scores(name: str, make: Callable[[], StreamingDetector],
                                                 series: list) -> None:
    whole = run(make(), series)
    first = make()
    half = len(series) // 2
    head = [first.update(T0 + i * STEP, v) for i, v in enumerate(series[:half])]
    saved = json.loads(json.dumps(first.state()))
    second = make()
    second.restore(saved)
    tail = [second.update(T0 + (half + i) * STEP, v) for i, v in enumerate(series[half:])]
    assert head + tail == whole, name
    assert all(0.0 <= s <= 1.0 for s in whole), name


@pytest.mark.parametrize("name", ["ensemble", "context", "tail", "seasonal", "changepoint"])
def test_bad_samples_are_skipped_and_reported_without_touching_state(name: str) -> None:
    clean = list(level_shift())
    expected = run(make_detector(name), clean)
    det = make_detector(name)
    got = []
    bad = {100: math.nan, 300: None, 500: math.inf, 650: "n/a"}
    for i, v in enumerate(clean):
        t = T0 + i * STEP
        if i in bad:
            # A bad value at a time just before the real sample of this tick.
            assert math.isnan(det.update(t - 1.0, bad[i]))
        got.append(det.update(t, v))
    assert got == expected
    assert det.skipped == {"value is missing or not finite": 4}
    assert det.last_skip == "value is missing or not finite"


def test_time_that_does_not_advance_is_skipped() -> None:
    det = TailSurprise()
    det.update(T0, 1.0)
    assert math.isnan(det.update(T0, 2.0))
    assert math.isnan(det.update(T0 - 60, 2.0))
    assert det.skipped == {"time is not after the previous sample": 2}
    assert det.ticks == 1


def test_iforest_rejects_vectors_of_the_wrong_shape() -> None:
    det = IsolationForestDetector()
    det.update(T0, [1.0, 2.0])
    assert math.isnan(det.update(T0 + 1, [1.0]))
    assert math.isnan(det.update(T0 + 2, [1.0, math.nan]))
    assert math.isnan(det.update(T0 + 3, 4.0))
    assert det.skipped == {"vector has 1 values, expected 2": 1, "vector has a missing or non-finite value": 1,
                           "value is not a vector": 1}


def test_restore_refuses_another_detectors_state() -> None:
    with pytest.raises(ValueError, match="state.kind"):
        Cusum().restore(TailSurprise().state())
    with pytest.raises(ValueError, match="state"):
        Cusum().restore({"kind": "changepoint", "version": 1})


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ContextNovelty(levels=1), "levels"),
        (lambda: ContextNovelty(history=3), "history"),
        (lambda: TailSurprise(half=0), "half"),
        (lambda: SeasonalMAD(bucket_s=0), "bucket_s"),
        (lambda: Cusum(alpha=2), "alpha"),
        (lambda: IsolationForestDetector(min_fit=2), "min_fit"),
        (lambda: make_detector("nope"), "detector"),
    ],
)
def test_bad_configuration_names_the_field(make: Callable[[], object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make()


def test_ensemble_overrides_are_setting_fields_and_unknown_ones_name_the_field() -> None:
    from controlplane.detect.ensemble import Ensemble
    from controlplane.detect.registry import DEFAULT_ENSEMBLE

    default, with_seasonal = make_detector("ensemble"), make_detector("ensemble", seasonal_weight=0.1)
    assert isinstance(default, Ensemble) and isinstance(with_seasonal, Ensemble)
    assert len(default.members) == len(DEFAULT_ENSEMBLE.member_specs())
    assert type(with_seasonal.members[-1]).__name__ == "SeasonalMAD"
    with pytest.raises(ValueError, match="bogus"):
        make_detector("ensemble", bogus=1)
