"""The small helpers the promtool expectations are computed with."""

from __future__ import annotations

import pytest

from controlplane.codegen.model import case_times, humanize, num, render_template, steady


@pytest.mark.parametrize(
    "value, text",
    [
        pytest.param(11, "11", id="integer"),
        pytest.param(97.5, "97.5", id="decimal"),
        pytest.param(0.5, "500m", id="milli-prefix"),
        pytest.param(1500, "1.5k", id="kilo-prefix"),
        pytest.param(1234567, "1.235M", id="mega-four-digits"),
        pytest.param(0, "0", id="zero"),
    ],
)
def test_humanize_matches_prometheus(value: float, text: str) -> None:
    assert humanize(value) == text


@pytest.mark.parametrize(
    "for_, first_true, silent, firing",
    [
        # Pending from 0: silent halfway (5m of 10m), firing 2 minutes after 10m.
        pytest.param("10m", "0m", "5m", "12m", id="gauge"),
        # Rates exist from the second sample: everything one minute later.
        pytest.param("2m", "1m", "2m", "5m", id="rate-based"),
        pytest.param("6h", "0m", "180m", "362m", id="long-hold"),
    ],
)
def test_case_times(for_: str, first_true: str, silent: str, firing: str) -> None:
    assert case_times(for_, first_true) == (silent, firing)


def test_steady_runs_ten_minutes_past_the_check() -> None:
    assert steady(0.975, "12m") == "0.975x22"
    assert num(14.4 * 0.01) == "0.144"


def test_render_template_fills_labels_and_value() -> None:
    text = "{{ $value | humanizePercentage }} of {{ $labels.model_name }} in {{ $labels.namespace }}"
    assert render_template(text, {"model_name": "m", "namespace": "n"}, "57.2%") == "57.2% of m in n"
    with pytest.raises(ValueError, match="value_text"):
        render_template(text, {}, None)
    with pytest.raises(ValueError, match="not supported"):
        render_template("{{ range $x }}", {}, None)
