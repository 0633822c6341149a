"""The boosted median model on a known series, and its JSON state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from controlplane.forecast.boosted import BoostedQuantile
from controlplane.forecast.metrics import mae
from controlplane.forecast.naive import LastValue
from controlplane.forecast.registry import from_state
from tests.forecast.helpers import M, periodic


def test_boosted_learns_the_daily_shape_and_restores_from_json() -> None:
    t, y = periodic(days=5, noise=4.0, seed=6)
    n_train = 4 * M
    h = 2 * 3600.0  # 12 slots: last value misses the swing of the sine
    scores = {}
    models = {}
    for f in (BoostedQuantile(max_horizon_s=h), LastValue(max_horizon_s=h)):
        f.fit(t[:n_train], y[:n_train])
        _, qs = f.rolling(t[n_train:], y[n_train:], [h], [0.5])
        actual = np.full(len(y) - n_train, np.nan)
        actual[:-12] = y[n_train + 12:]
        scores[f.name] = mae(qs[0.5][:, 0], actual)
        models[f.name] = f
    assert scores["boosted_quantile"] < 0.5 * scores["last_value"]
    f = models["boosted_quantile"]
    back = from_state(json.loads(json.dumps(f.to_state())))
    want = f.predict(float(t[n_train - 1]), [600.0, h], [0.5, 0.9])
    got = back.predict(float(t[n_train - 1]), [600.0, h], [0.5, 0.9])
    for q in (0.5, 0.9):
        assert got[q] == pytest.approx(want[q], rel=1e-6)
