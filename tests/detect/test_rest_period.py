"""The rest period after a strong score: one alert per incident, bigger events still pass."""

from __future__ import annotations

import pytest

from controlplane.detect import RestPeriod


@pytest.mark.parametrize(
    ("name", "raw", "out"),
    [
        ("weak scores pass", [0.1, 0.5, 0.6], [0.1, 0.5, 0.6]),
        # 0.8 >= level 0.7 starts a 3-tick rest: 0.65, 0.3 and 0.2 are held back.
        ("rest after strong", [0.8, 0.65, 0.3, 0.2, 0.4], [0.8, 0.0, 0.0, 0.0, 0.4]),
        # 0.9 beats the rest's peak 0.8 and passes; it also restarts the rest.
        ("bigger event breaks through", [0.8, 0.9, 0.85, 0.1, 0.1, 0.1, 0.5], [0.8, 0.9, 0.0, 0.0, 0.0, 0.0, 0.5]),
        # A strong score inside the rest extends it even when held back.
        ("held strong extends", [0.8, 0.75, 0.1, 0.1, 0.1, 0.3], [0.8, 0.0, 0.0, 0.0, 0.0, 0.3]),
    ],
)
def test_rest_period(name: str, raw: list[float], out: list[float]) -> None:
    rest = RestPeriod(ticks=3, level=0.7)
    assert [rest.apply(r) for r in raw] == out, name


def test_rest_period_state_round_trip() -> None:
    a = RestPeriod(3, 0.7)
    a.apply(0.8)
    b = RestPeriod(3, 0.7)
    b.restore(a.state())
    assert [a.apply(0.75), a.apply(0.9)] == [b.apply(0.75), b.apply(0.9)] == [0.0, 0.9]
