"""The shared machinery of every forecaster: fit by rolling origin, quantile predict, state.

Owns: :class:`QuantileForecaster` (the predict/rolling/updated/state surface all
forecasters share) and :class:`StateModel` (a model written as an estimate,
an initial state and a one-step state update, which is what makes a
rolling-origin backtest, a restart from JSON and a cheap catch-up on new
observations all the same loop).
Must not import: any I/O library (pure core).

Fitting: parameters are estimated on the head of the history; the model then
walks the tail one slot at a time, forecasting every calibrated horizon from
every origin, and those out-of-sample errors become the quantile offsets
(:mod:`controlplane.forecast.calibration`). The state after the walk is the
fitted state. Each new observation then settles the forecasts made for it
(kept in ``issued``, one row per recent origin), and their errors join the
bands' error record, so the bands track the series between fits. One
estimation per fit, honest error bands, and the newest data still in the
state; the cost is that the tail does not inform the parameters.

Concurrency: a fitted forecaster is never mutated by ``predict``, ``rolling``
or ``updated`` (which returns a new object). A scheduled job fits a fresh
instance and swaps it in (:class:`controlplane.forecast.slot.ForecastSlot`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from controlplane.forecast.calibration import MIN_ERRORS, ResidualQuantiles, band_shift, horizon_steps
from controlplane.forecast.series import Grid, regularize

__all__ = ["QuantileForecaster", "StateModel", "Backtest", "NotApplicable", "encode_array", "decode_array",
           "validation_slots", "restore_state"]

# Every forecaster class by its class name, filled as the classes are defined, so that a
# composite model (ensemble, auto selector) restores its members without importing the
# registry that imports it.
_CLASSES: dict[str, type[QuantileForecaster]] = {}


def restore_state(state: dict[str, Any]) -> QuantileForecaster:
    """Rebuild a fitted forecaster from :meth:`QuantileForecaster.to_state` output.

    The class must have been imported (``controlplane.forecast.registry`` imports them all).
    """
    if not isinstance(state, dict):
        raise ValueError("state: expected a mapping")
    if state.get("version") != 1:
        raise ValueError(f"state.version: unsupported {state.get('version')!r}")
    cls = _CLASSES.get(str(state.get("class")))
    if cls is None:
        raise ValueError(f"state.class: unknown {state.get('class')!r}")
    obj = cls(**dict(state.get("config") or {}))
    obj._restore(state)
    return obj


def validation_slots(n: int, fraction: float, max_horizon_s: float, step_s: float) -> int:
    """Backtest tail length: ``fraction`` of the history, but on a short history enough
    origins to score the longest horizon ``MIN_ERRORS`` times, up to half the history."""
    longest = math.ceil(max_horizon_s / step_s - 1e-9)
    return max(1, math.ceil(fraction * n), min(n // 2, longest + MIN_ERRORS))


class NotApplicable(ValueError):
    """The model cannot be fitted on this history (too short, season not whole slots...)."""


@dataclass
class Backtest:
    """Point forecasts and actuals over the validation tail: [origin, horizon step]."""

    steps: tuple[int, ...]
    forecasts: np.ndarray
    actuals: np.ndarray


def encode_array(a: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(v) else float(v) for v in np.asarray(a, dtype=float)]


def decode_array(a: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in a], dtype=float)


def _check_quantiles(quantiles: Sequence[float]) -> list[float]:
    qs = [float(q) for q in quantiles]
    if not qs:
        raise ValueError("quantiles: at least one is needed")
    for q in qs:
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantiles: {q} is not in (0, 1)")
    return qs


def _check_horizons(horizons_s: Sequence[float]) -> np.ndarray:
    hs = np.asarray([float(h) for h in horizons_s], dtype=float)
    if len(hs) == 0:
        raise ValueError("horizons_s: at least one is needed")
    if not np.all(np.isfinite(hs)) or np.any(hs < 0):
        raise ValueError("horizons_s: must be finite and >= 0")
    return hs


class QuantileForecaster:
    """Quantile forecasts of a rate series on a regular grid; see the module docstring."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _CLASSES[cls.__name__] = cls

    def __init__(self, *, step_s: float | None = None, max_horizon_s: float = 6 * 3600.0) -> None:
        if step_s is not None and not step_s > 0:
            raise ValueError("step_s: must be > 0")
        if not max_horizon_s > 0:
            raise ValueError("max_horizon_s: must be > 0")
        self.step_s = step_s
        self.max_horizon_s = float(max_horizon_s)
        self.t_last: float | None = None
        self.residuals: ResidualQuantiles | None = None
        # point forecasts at the residuals' steps from the newest origins: row r was made r slots
        # before t_last; kept so that each new observation settles the forecasts made for it
        self.issued: np.ndarray | None = None
        self.report: dict[str, Any] = {}

    # -- subclasses provide these -------------------------------------------------------
    def fit(self, t: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> None:
        """Fit on samples (t in Unix seconds, y a rate); NaN means not observed."""
        raise NotImplementedError

    def _points(self, ks: np.ndarray) -> np.ndarray:
        """Point forecasts ``ks`` slots after the last consumed slot (ks >= 1)."""
        raise NotImplementedError

    def _path(self, values: np.ndarray, ks: np.ndarray) -> np.ndarray:
        """Consume ``values`` one slot at a time on a copy; [origin, k] point forecasts after each."""
        raise NotImplementedError

    def _advanced(self, values: np.ndarray) -> QuantileForecaster:
        """A copy that has consumed ``values`` (the slots right after ``t_last``)."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        return {"step_s": self.step_s, "max_horizon_s": self.max_horizon_s}

    # -- shared surface -------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self.t_last is not None

    def _require_fitted(self) -> tuple[float, float]:
        if self.t_last is None or self.step_s is None:
            raise ValueError(f"{self.name}: not fitted")
        return self.t_last, self.step_s

    def calibrated_horizon_s(self) -> float:
        """Longest horizon whose band comes from measured errors (0 when uncalibrated)."""
        if self.residuals is None or self.step_s is None:
            return 0.0
        return self.residuals.max_step * self.step_s

    def _quantiles_of(self, points: np.ndarray, ks: np.ndarray, q: float,
                      residuals: ResidualQuantiles | None = None) -> np.ndarray:
        res = self.residuals if residuals is None else residuals
        out = np.maximum(points, 0.0) if res is None else res.band(points, ks, q)
        return np.where(np.isfinite(points), out, np.nan)

    def keep_issued(self, steps: Sequence[int], forecasts: np.ndarray) -> None:
        """After a backtest (``forecasts`` [origin, step], the last origin at ``t_last``):
        keep the newest origins' forecasts at the residuals' steps."""
        if self.residuals is None:
            self.issued = None
            return
        cols = [list(steps).index(k) for k in self.residuals.steps]
        rows = np.asarray(forecasts, dtype=float)[::-1, cols][: self.residuals.max_step]
        pad = self.residuals.max_step - len(rows)
        self.issued = np.vstack([rows, np.full((pad, len(cols)), np.nan)]) if pad > 0 else rows.copy()

    def _settle(self, values: np.ndarray, paths: np.ndarray) -> list[tuple[ResidualQuantiles | None, np.ndarray | None]]:
        """Walk the new ``values`` (``paths[i]``: forecasts at the residuals' steps after
        consuming ``values[i]``): each value settles the forecasts made for its slot, whose
        errors extend the bands. Returns (residuals, issued) after each value."""
        res, issued = self.residuals, self.issued
        if res is None:
            return [(None, None)] * len(values)
        m, width = res.max_step, len(res.steps)
        if issued is None or issued.shape != (m, width):
            issued = np.full((m, width), np.nan)
        out: list[tuple[ResidualQuantiles | None, np.ndarray | None]] = []
        for i, v in enumerate(values):
            new: dict[int, list[float]] = {}
            if math.isfinite(v):
                for j, k in enumerate(res.steps):
                    f = issued[k - 1, j]
                    if math.isfinite(f):
                        new[j] = [res.error(float(v), float(f))]
            res = res.extended(new)
            issued = np.vstack([paths[i][None, :], issued[:-1]])
            out.append((res, issued))
        return out

    def predict(self, now: float, horizons_s: Sequence[float], quantiles: Sequence[float]) -> dict[float, list[float]]:
        """Quantiles of the rate at ``now + h`` for each horizon: ``{q: [value per horizon]}``.

        The target is the first grid slot at or after ``now + h``, counted from
        the last observed slot, so stale data lengthens the effective horizon.
        """
        t_last, step = self._require_fitted()
        qs = _check_quantiles(quantiles)
        hs = _check_horizons(horizons_s)
        ks = np.maximum(1, np.ceil((float(now) + hs - t_last) / step - 1e-9)).astype(np.int64)
        points = self._points(ks)
        return {q: [float(v) for v in self._quantiles_of(points, ks, q)] for q in qs}

    def _new_values(self, t: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> np.ndarray:
        t_last, step = self._require_fitted()
        ta = np.asarray(t, dtype=float)
        ya = np.asarray(y, dtype=float)
        if len(ta) != len(ya):
            raise ValueError(f"y: length {len(ya)} differs from t ({len(ta)})")
        keep = ta > t_last + step / 2
        if not keep.any():
            return np.empty(0)
        idx = np.rint((ta[keep] - t_last) / step).astype(np.int64) - 1
        yk = ya[keep]
        ok = np.isfinite(yk)
        n = int(idx.max()) + 1
        sums = np.bincount(idx[ok], weights=yk[ok], minlength=n)
        counts = np.bincount(idx[ok], minlength=n)
        out = np.full(n, np.nan)
        out[counts > 0] = sums[counts > 0] / counts[counts > 0]
        return out

    def updated(self, t: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> QuantileForecaster:
        """A new forecaster that has also seen (t, y) after ``t_last``; parameters unchanged.

        Samples at or before ``t_last`` are ignored; skipped slots are missing, not 0.
        """
        values = self._new_values(t, y)
        if len(values) == 0:
            return self
        new = self._advanced(values)
        assert new.t_last is not None and new.step_s is not None
        if self.residuals is not None:
            paths = self._path(values, np.asarray(self.residuals.steps, dtype=np.int64))
            new.residuals, new.issued = self._settle(values, paths)[-1]
        return new

    def rolling(
        self, t: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
        horizons_s: Sequence[float], quantiles: Sequence[float],
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        """Rolling-origin forecasts over new data without re-estimating.

        After consuming each new slot (origin time = that slot's stamp), forecast
        every horizon. Returns (origin times, {q: [origin, horizon] array}).
        """
        t_last, step = self._require_fitted()
        qs = _check_quantiles(quantiles)
        hs = _check_horizons(horizons_s)
        values = self._new_values(t, y)
        ks = np.maximum(1, np.ceil(hs / step - 1e-9)).astype(np.int64)
        cal = np.asarray(self.residuals.steps if self.residuals is not None else (), dtype=np.int64)
        both = self._path(values, np.concatenate([ks, cal]))
        points, settled = both[:, : len(ks)], self._settle(values, both[:, len(ks):])
        origins = t_last + step * np.arange(1, len(values) + 1)
        out = {q: np.full((len(values), len(ks)), np.nan) for q in qs}
        for i, (res, _) in enumerate(settled):
            for q in qs:
                out[q][i] = self._quantiles_of(points[i], ks, q, res)
        return origins, out

    def to_state(self) -> dict[str, Any]:
        """A JSON-safe snapshot; :func:`restore_state` (or the registry's ``from_state``) restores it."""
        self._require_fitted()
        return {
            "class": type(self).__name__,
            "name": self.name,
            "version": 1,
            "config": self.config(),
            "t_last": self.t_last,
            "step_s": self.step_s,
            "residuals": None if self.residuals is None else self.residuals.to_dict(),
            "issued": None if self.issued is None else [encode_array(row) for row in self.issued],
            "report": self.report,
            "model": self._model_state(),
        }

    def _model_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _restore(self, d: dict[str, Any]) -> None:
        self.t_last = float(d["t_last"])
        self.step_s = float(d["step_s"])
        self.residuals = None if d.get("residuals") is None else ResidualQuantiles.from_dict(d["residuals"])
        issued = d.get("issued")
        self.issued = None if issued is None else np.vstack([decode_array(row) for row in issued])
        self.report = dict(d.get("report") or {})
        self._restore_model(d["model"])

    def _restore_model(self, d: dict[str, Any]) -> None:
        raise NotImplementedError


@dataclass
class _Fit:
    params: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


class StateModel(QuantileForecaster):
    """A forecaster defined by estimate / init_state / update / forecast hooks."""

    estimates: ClassVar[bool] = True  # False: nothing to estimate, so the whole history is backtest

    def __init__(self, *, step_s: float | None = None, max_horizon_s: float = 6 * 3600.0,
                 validation_fraction: float = 0.25) -> None:
        super().__init__(step_s=step_s, max_horizon_s=max_horizon_s)
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError("validation_fraction: must be in (0, 1)")
        self.validation_fraction = float(validation_fraction)
        self._fit = _Fit()

    # -- hooks ------------------------------------------------------------------------------
    def cost_hint_s(self, n: int, step_s: float) -> float:
        """Rough seconds to estimate on ``n`` slots, so a budgeted selector can skip it."""
        return 0.0

    def min_head(self, step_s: float) -> int:
        """Slots the estimation needs; raise NotApplicable when the step does not suit."""
        return 1

    def _estimate(self, head: np.ndarray, step_s: float) -> dict[str, Any]:
        return {}

    def _init_state(self, head: np.ndarray, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _update(self, state: dict[str, Any], params: dict[str, Any], y: float) -> None:
        raise NotImplementedError

    def _forecast(self, state: dict[str, Any], params: dict[str, Any], ks: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- fitting --------------------------------------------------------------------------------
    def default_split(self, n: int, step_s: float) -> int:
        head = self.min_head(step_s)
        if not self.estimates:
            return head
        return max(head, n - validation_slots(n, self.validation_fraction, self.max_horizon_s, step_s))

    def fit(self, t: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> None:
        grid = regularize(t, y, self.step_s)
        self.fit_grid(grid, self.default_split(len(grid), grid.step_s))

    def fit_grid(self, grid: Grid, split: int) -> Backtest:
        """Estimate on ``grid[:split]``, walk the rest; keep the errors as the bands."""
        step = grid.step_s
        need = self.min_head(step)
        if split > len(grid):
            raise NotApplicable(f"{self.name}: needs {need} slots of history, has {len(grid)}")
        if split < need:
            raise NotApplicable(f"{self.name}: needs {need} slots of history before the backtest, has {split}")
        values = grid.values
        if not np.isfinite(values[:split]).any():
            raise NotApplicable(f"{self.name}: no observed values in the estimation window")
        params = self._estimate(values[:split], step)
        state = self._init_state(values[:split], params)
        steps = horizon_steps(max(1, math.ceil(self.max_horizon_s / step - 1e-9)))
        ks = np.asarray(steps, dtype=np.int64)
        tail = values[split:]
        n_orig = len(tail) + 1
        act = np.full((n_orig, len(ks)), np.nan)
        for i in range(n_orig):
            target = i + ks - 1
            inside = target < len(tail)
            act[i, inside] = tail[target[inside]]
        fc = self._walk(state, params, tail, ks)
        self.step_s = step
        self.t_last = grid.t_last
        self._fit = _Fit(params, state)
        self.residuals = ResidualQuantiles.from_backtest(steps, fc, act, band_shift(values[:split]))
        self.keep_issued(steps, fc)
        self.report = {
            "model": self.name,
            "n": len(grid),
            "n_missing": grid.n_missing,
            "step_s": step,
            "estimation_slots": split,
            "backtest_origins": len(tail),
            "calibrated_horizon_s": self.calibrated_horizon_s(),
            "params": {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool))},
        }
        return Backtest(steps, fc, act)

    def _walk(self, state: dict[str, Any], params: dict[str, Any], tail: np.ndarray, ks: np.ndarray) -> np.ndarray:
        """Forecasts [origin, k] from the state and after each slot of ``tail``; ``state`` ends past ``tail``."""
        fc = np.full((len(tail) + 1, len(ks)), np.nan)
        for i in range(len(tail) + 1):
            fc[i] = self._forecast(state, params, ks)
            if i < len(tail):
                self._update(state, params, float(tail[i]))
        return fc

    # -- forecasting ---------------------------------------------------------------------------
    def _points(self, ks: np.ndarray) -> np.ndarray:
        return self._forecast(self._fit.state, self._fit.params, ks)

    def _path(self, values: np.ndarray, ks: np.ndarray) -> np.ndarray:
        return self._walk(copy.deepcopy(self._fit.state), self._fit.params, values, ks)[1:]

    def _advanced(self, values: np.ndarray) -> StateModel:
        new = copy.copy(self)
        state = copy.deepcopy(self._fit.state)
        for v in values:
            self._update(state, self._fit.params, float(v))
        new._fit = _Fit(self._fit.params, state)
        assert self.t_last is not None and self.step_s is not None
        new.t_last = self.t_last + len(values) * self.step_s
        return new

    def config(self) -> dict[str, Any]:
        return {**super().config(), "validation_fraction": self.validation_fraction}

    def _model_state(self) -> dict[str, Any]:
        def enc(v: Any) -> Any:
            if isinstance(v, np.ndarray):
                return {"array": encode_array(v)}
            if isinstance(v, float) and not math.isfinite(v):
                return None
            return v

        return {"params": {k: enc(v) for k, v in self._fit.params.items()},
                "state": {k: enc(v) for k, v in self._fit.state.items()}}

    def _restore_model(self, d: dict[str, Any]) -> None:
        def dec(v: Any) -> Any:
            if isinstance(v, dict) and "array" in v:
                return decode_array(v["array"])
            return np.nan if v is None else v

        self._fit = _Fit({k: dec(v) for k, v in d["params"].items()}, {k: dec(v) for k, v in d["state"].items()})
