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
from controlplane.forecast.boosted import BoostedQuantile
from controlplane.forecast.budget import FitBudget
from controlplane.forecast.calibration import ResidualQuantiles, band_shift
from controlplane.forecast.ets import MSTLETS, STLETS, HoltWinters
from controlplane.forecast.naive import DAY_S, WEEK_S, LastValue, SeasonalNaive
from controlplane.forecast.profile import ProfileLevel
from controlplane.forecast.reverting import MeanReverting
from controlplane.forecast.series import regularize

__all__ = ["AutoForecaster", "Ensemble", "default_candidates"]


def default_candidates(seasons_s: Sequence[float], **kw: Any) -> list[StateModel]:
    """Cheapest first: baselines, mean reversion, damped Holt, then the seasonal smoothing models."""
    out: list[StateModel] = [LastValue(**kw)]
    out += [SeasonalNaive(season_s=s, **kw) for s in seasons_s]
    out.append(MeanReverting(**kw))
    out += [ProfileLevel(season_s=s, **kw) for s in seasons_s if s == DAY_S]
    out.append(HoltWinters(season_s=None, **kw))
    for s in seasons_s:
        out += [STLETS(season_s=s, **kw), HoltWinters(season_s=s, **kw)]
    out.append(MSTLETS(seasons_s=tuple(seasons_s), **kw))
    out.append(BoostedQuantile(**kw))
    return out


_MEMBERS = 3  # the combination mixes the three best candidates


def _mae(bt: Backtest) -> float:
    err = np.abs(bt.forecasts - bt.actuals)
    per_step = [float(np.nanmean(col)) for col in err.T if np.isfinite(col).any()]
    return float(np.mean(per_step)) if per_step else math.inf


_WEIGHT_GRID = 4  # member weights in quarters


def _simplex(n: int, parts: int) -> list[tuple[float, ...]]:
    """Every ``n``-member weight vector in steps of ``1 / parts`` that sums to 1."""
    import itertools

    return [tuple(c / parts for c in combo) for combo in itertools.product(range(parts + 1), repeat=n)
            if sum(combo) == parts]


def combination_weights(backtests: Sequence[Backtest]) -> np.ndarray:
    """Per backtest step, the convex weights (in quarters) with the lowest MAE: [step, member]."""
    grid = _simplex(len(backtests), _WEIGHT_GRID)
    act = backtests[0].actuals
    out = np.zeros((len(backtests[0].steps), len(backtests)))
    for j in range(len(backtests[0].steps)):
        cols = np.vstack([bt.forecasts[:, j] for bt in backtests])
        ok = np.isfinite(act[:, j]) & np.all(np.isfinite(cols), axis=0)
        if not ok.any():
            out[j] = 1.0 / len(backtests)
            continue
        errs = [float(np.mean(np.abs(np.asarray(w) @ cols[:, ok] - act[ok, j]))) for w in grid]
        out[j] = grid[int(np.argmin(errs))]
    return out


class Ensemble(QuantileForecaster):
    """A weighted mean of its members' point forecasts, the weights per horizon (chosen on the
    backtest by :func:`combination_weights`; equal when none are given); bands from its own backtest errors."""

    name = "ensemble"

    def __init__(self, members: Sequence[QuantileForecaster] = (), weights: np.ndarray | None = None,
                 steps: Sequence[int] = (1,), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.members = list(members)
        self.steps = tuple(int(k) for k in steps)
        n = max(1, len(self.members))
        self.weights = (np.full((len(self.steps), n), 1.0 / n) if weights is None
                        else np.asarray(weights, dtype=float))
        if self.members:
            self.t_last, self.step_s = self.members[0].t_last, self.members[0].step_s

    def _w(self, ks: np.ndarray) -> np.ndarray:
        """[k, member] weights, linear between the backtest steps."""
        kf = np.asarray(ks, dtype=float)
        sf = np.asarray(self.steps, dtype=float)
        return np.vstack([np.interp(kf, sf, self.weights[:, i]) for i in range(self.weights.shape[1])]).T

    def _points(self, ks: np.ndarray) -> np.ndarray:
        pts = np.vstack([m._points(ks) for m in self.members])  # [member, k]
        return np.sum(self._w(ks) * pts.T, axis=1)

    def _path(self, values: np.ndarray, ks: np.ndarray) -> np.ndarray:
        paths = [m._path(values, ks) for m in self.members]  # each [origin, k]
        w = self._w(ks)
        return np.sum([p * w[:, i][None, :] for i, p in enumerate(paths)], axis=0)

    def _advanced(self, values: np.ndarray) -> Ensemble:
        new = copy.copy(self)
        new.members = [m._advanced(values) for m in self.members]
        new.t_last = new.members[0].t_last
        return new

    def _model_state(self) -> dict[str, Any]:
        return {"members": [m.to_state() for m in self.members], "steps": list(self.steps),
                "weights": [[float(v) for v in row] for row in self.weights]}

    def _restore_model(self, d: dict[str, Any]) -> None:
        self.members = [restore_state(m) for m in d["members"]]
        n = len(self.members)
        self.steps = tuple(int(k) for k in d.get("steps", (1,)))
        self.weights = (np.asarray(d["weights"], dtype=float) if "weights" in d
                        else np.full((len(self.steps), n), 1.0 / n))


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
        top = [r for r in fitted[:_MEMBERS] if math.isfinite(r[0])]
        if self.ensemble and len(top) >= 2:
            # per horizon weights chosen on the first half of the backtest origins, scored on the second
            # half, so the combination competes with the single models on errors it was not fitted to
            half = [Backtest(r[2].steps, r[2].forecasts[: len(r[2].forecasts) // 2],
                             r[2].actuals[: len(r[2].actuals) // 2]) for r in top]
            w_half = combination_weights(half)
            late = slice(len(top[0][2].forecasts) // 2, None)
            comb_late = np.einsum("sm,mos->os", w_half, np.stack([r[2].forecasts[late] for r in top]))
            late_scores = [_mae(Backtest(r[2].steps, r[2].forecasts[late], r[2].actuals[late])) for r in top]
            ens_late = _mae(Backtest(top[0][2].steps, comb_late, top[0][2].actuals[late]))
            weights = combination_weights([r[2] for r in top])
            fc = np.einsum("sm,mos->os", weights, np.stack([r[2].forecasts for r in top]))
            bt = Backtest(top[0][2].steps, fc, top[0][2].actuals)
            scores["ensemble"] = _mae(bt)
            if ens_late < min(late_scores):
                members = [r[1] for r in top]
                ens = Ensemble(members, weights=weights, steps=bt.steps, step_s=grid.step_s,
                               max_horizon_s=self.max_horizon_s)
                ens.residuals = ResidualQuantiles.from_backtest(bt.steps, bt.forecasts, bt.actuals,
                                                                band_shift(grid.values[:split]))
                ens.keep_issued(bt.steps, bt.forecasts)
                ens.report = {"model": "ensemble", "members": [m.name for m in members],
                              "weights": {str(k): [round(float(v), 3) for v in row]
                                          for k, row in zip(bt.steps, weights, strict=True)}}
                chosen = ens
        self.chosen = chosen
        self.step_s, self.t_last, self.residuals = grid.step_s, grid.t_last, chosen.residuals
        self.issued = chosen.issued
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
