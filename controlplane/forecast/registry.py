"""Forecasters by name, and restoring any of them from its saved JSON state.

Owns: :data:`FORECASTERS` (the names the CLI, the API and policies use),
:func:`make_forecaster` and :func:`from_state`.
Must not import: any I/O library (pure core).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controlplane.forecast.base import QuantileForecaster, restore_state
from controlplane.forecast.boosted import BoostedQuantile
from controlplane.forecast.ets import MSTLETS, STLETS, HoltWinters
from controlplane.forecast.naive import DAY_S, WEEK_S, LastValue, SeasonalNaive
from controlplane.forecast.profile import ProfileLevel
from controlplane.forecast.reverting import MeanReverting
from controlplane.forecast.selector import AutoForecaster

__all__ = ["FORECASTERS", "make_forecaster", "from_state"]

FORECASTERS: dict[str, Callable[..., QuantileForecaster]] = {
    "last_value": lambda **kw: LastValue(**kw),
    "seasonal_naive_daily": lambda **kw: SeasonalNaive(season_s=DAY_S, **kw),
    "seasonal_naive_weekly": lambda **kw: SeasonalNaive(season_s=WEEK_S, **kw),
    "holt_damped": lambda **kw: HoltWinters(season_s=None, **kw),
    "mean_reverting": lambda **kw: MeanReverting(**kw),
    "holt_winters_daily": lambda **kw: HoltWinters(season_s=DAY_S, **kw),
    "stl_ets_daily": lambda **kw: STLETS(season_s=DAY_S, **kw),
    "profile_level": lambda **kw: ProfileLevel(**kw),
    "mstl_ets": lambda **kw: MSTLETS(**kw),
    "boosted_quantile": lambda **kw: BoostedQuantile(**kw),
    "auto": lambda **kw: AutoForecaster(**kw),
}

def make_forecaster(name: str, **kwargs: Any) -> QuantileForecaster:
    try:
        factory = FORECASTERS[name]
    except KeyError:
        raise ValueError(f"forecaster: unknown {name!r}; known: {', '.join(FORECASTERS)}") from None
    return factory(**kwargs)


def from_state(state: dict[str, Any]) -> QuantileForecaster:
    """Rebuild a fitted forecaster from :meth:`QuantileForecaster.to_state` output (any class above)."""
    return restore_state(state)
