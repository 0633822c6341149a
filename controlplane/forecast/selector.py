"""Model selection by rolling-origin backtest, with an optional two-model ensemble.

Owns: :class:`AutoForecaster` (fits the candidates that suit the series and the
budget, scores each on the same validation origins, keeps the best) and
:class:`Ensemble` (the mean of the two best candidates' point forecasts, with
its own error bands from the same backtest).
Must not import: any I/O library (pure core).

Selection: the history is split once; every candidate estimates on the head
and forecasts every calibrated horizon from every origin in the tail (the last
``validation_fraction``). The score is the MAE of those point forecasts,
averaged over the horizons. Candidates run cheapest first; before each, its
``cost_hint_s`` is checked against what is left of the :class:`FitBudget`, and
one that would not fit is skipped and reported -- the baselines cost nothing
and always run, so a fit always ends with a model.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from controlplane.forecast.base import (
    Backtest,
    NotApplicable,
    QuantileForecaster,
    StateModel,
    restore_state,
    validation_slots,
)
from controlplane.forecast.budget import FitBudget
from controlplane.forecast.calibration import ResidualQuantiles, band_shift
from controlplane.forecast.ets import STLETS, HoltWinters
from controlplane.forecast.naive import DAY_S, WEEK_S, LastValue, SeasonalNaive
from controlplane.forecast.reverting import MeanReverting
from controlplane.forecast.series import regularize

__all__ = ["AutoForecaster", "Ensemble", "default_candidates"]


def default_candidates(seasons_s: Sequence[float], **kw: Any) -> list[StateModel]:
    """Cheapest first: baselines, mean reversion, damped Holt, then the seasonal smoothing models."""
    out: list[StateModel] = [LastValue(**kw)]
    out += [SeasonalNaive(season_s=s, **kw) for s in seasons_s]
    out.append(MeanReverting(**kw))
    out.append(HoltWinters(season_s=None, **kw))
    for s in seasons_s:
        out += [STLETS(season_s=s, **kw), HoltWinters(season_s=s, **kw)]
    return out


def _mae(bt: Backtest) -> float:
    err = np.abs(bt.forecasts - bt.actuals)
    per_step = [float(np.nanmean(col)) for col in err.T if np.isfinite(col).any()]
    return float(np.mean(per_step)) if per_step else math.inf


class Ensemble(QuantileForecaster):
    """Mean of its members' point forecasts; bands from its own backtest errors."""

    name = "ensemble"

    def __init__(self, members: Sequence[QuantileForecaster] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.members = list(members)
        if self.members:
            self.t_last, self.step_s = self.members[0].t_last, self.members[0].step_s

    def _points(self, ks: np.ndarray) -> np.ndarray:
        return np.mean([m._points(ks) for m in self.members], axis=0)

    def _path(self, values: np.ndarray, ks: np.ndarray) -> np.ndarray:
        return np.mean([m._path(values, ks) for m in self.members], axis=0)

    def _advanced(self, values: np.ndarray) -> Ensemble:
        new = copy.copy(self)
        new.members = [m._advanced(values) for m in self.members]
        new.t_last = new.members[0].t_last
        return new

    def _model_state(self) -> dict[str, Any]:
        return {"members": [m.to_state() for m in self.members]}

    def _restore_model(self, d: dict[str, Any]) -> None:
        self.members = [restore_state(m) for m in d["members"]]


class AutoForecaster(QuantileForecaster):
    """Picks the best of the candidates (and their ensemble) on the training history."""

    name = "auto"

    def __init__(
        self,
        *,
        seasons_s: Sequence[float] = (DAY_S, WEEK_S),
        step_s: float | None = None,
        max_horizon_s: float = 6 * 3600.0,
        validation_fraction: float = 0.25,
        ensemble: bool = True,
        budget: FitBudget | None = None,
        candidates: Callable[[], list[StateModel]] | None = None,
    ) -> None:
        super().__init__(step_s=step_s, max_horizon_s=max_horizon_s)
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError("validation_fraction: must be in (0, 1)")
        self.seasons_s = tuple(float(s) for s in seasons_s)
        self.validation_fraction = float(validation_fraction)
        self.ensemble = bool(ensemble)
        self.budget = budget or FitBudget()
        self._candidates = candidates
        self.chosen: QuantileForecaster | None = None

    def config(self) -> dict[str, Any]:
        return {**super().config(), "seasons_s": list(self.seasons_s),
                "validation_fraction": self.validation_fraction, "ensemble": self.ensemble}

    def _make_candidates(self) -> list[StateModel]:
        if self._candidates is not None:
            return self._candidates()
        kw = {"max_horizon_s": self.max_horizon_s, "validation_fraction": self.validation_fraction}
        return default_candidates(self.seasons_s, **kw)

    def fit(self, t: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> None:
        grid = regularize(t, y, self.step_s)
        n = len(grid)
        split = n - validation_slots(n, self.validation_fraction, self.max_horizon_s, grid.step_s)
        budget = self.budget
        budget.start()
        fitted: list[tuple[float, StateModel, Backtest]] = []
        skipped: dict[str, str] = {}
        scores: dict[str, float] = {}
        seconds: dict[str, float] = {}
        for cand in self._make_candidates():
            try:
                need = cand.min_head(grid.step_s)
                if split < need:
                    raise NotApplicable(f"needs {need} slots before the backtest, has {split}")
                cost = cand.cost_hint_s(split, grid.step_s)
                if not budget.allows(cost):
                    skipped[cand.name] = f"budget: {budget.remaining():.2f}s left, needs ~{cost:.2f}s"
                    continue
                before = budget.elapsed()
                bt = cand.fit_grid(grid, split)
                after = budget.elapsed()
                if before is not None and after is not None:
                    seconds[cand.name] = round(after - before, 4)
            except NotApplicable as exc:
                skipped[cand.name] = str(exc)
                continue
            except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
                skipped[cand.name] = f"fit failed: {exc}"[:200]
                continue
            score = _mae(bt)
            scores[cand.name] = score
            fitted.append((score, cand, bt))
        if not fitted:
            raise ValueError(f"y: no forecaster could be fitted ({'; '.join(f'{k}: {v}' for k, v in skipped.items())})")
        fitted.sort(key=lambda r: r[0])
        best_score, best, _ = fitted[0]
        chosen: QuantileForecaster = best
        if self.ensemble and len(fitted) >= 2 and math.isfinite(fitted[1][0]):
            (_, a, bt_a), (_, b, bt_b) = fitted[0], fitted[1]
            bt = Backtest(bt_a.steps, (bt_a.forecasts + bt_b.forecasts) / 2.0, bt_a.actuals)
            ens_score = _mae(bt)
            scores["ensemble"] = ens_score
            if ens_score < best_score:
                ens = Ensemble([a, b], step_s=grid.step_s, max_horizon_s=self.max_horizon_s)
                ens.residuals = ResidualQuantiles.from_backtest(bt.steps, bt.forecasts, bt.actuals,
                                                                band_shift(grid.values[:split]))
                ens.report = {"model": "ensemble", "members": [a.name, b.name]}
                chosen = ens
        self.chosen = chosen
        self.step_s, self.t_last, self.residuals = grid.step_s, grid.t_last, chosen.residuals
        self.report = {
            "model": "auto",
            "chosen": chosen.name if chosen.name != "ensemble" else f"ensemble({', '.join(chosen.report['members'])})",
            "validation_mae": {k: (round(v, 6) if math.isfinite(v) else None)
                               for k, v in sorted(scores.items(), key=lambda kv: kv[1])},
            "skipped": skipped,
            "fit_seconds": seconds,
            "total_fit_seconds": None if budget.elapsed() is None else round(budget.elapsed() or 0.0, 4),
            "budget_s": budget.seconds,
            "n": n,
            "n_missing": grid.n_missing,
            "estimation_slots": split,
            "calibrated_horizon_s": self.calibrated_horizon_s(),
        }

    def _chosen(self) -> QuantileForecaster:
        if self.chosen is None:
            raise ValueError("auto: not fitted")
        return self.chosen

    def _points(self, ks: np.ndarray) -> np.ndarray:
        return self._chosen()._points(ks)

    def _path(self, values: np.ndarray, ks: np.ndarray) -> np.ndarray:
        return self._chosen()._path(values, ks)

    def _advanced(self, values: np.ndarray) -> AutoForecaster:
        new = copy.copy(self)
        new.chosen = self._chosen()._advanced(values)
        new.t_last = new.chosen.t_last
        return new

    def _model_state(self) -> dict[str, Any]:
        return {"chosen": self._chosen().to_state()}

    def _restore_model(self, d: dict[str, Any]) -> None:
        self.chosen = restore_state(d["chosen"])
