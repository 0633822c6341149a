"""``controlplane bench anomalies --cv category``: leave-one-category-out NAB figures.

Owns: running each ensemble member once per NAB file (cached on disk, keyed
by the member and the detector sources, so a changed detector is never read
from a stale cache), composing every candidate ensemble setting from those
member scores exactly as :class:`~controlplane.detect.ensemble.Ensemble`
does, and printing the cross-validation of :mod:`controlplane.evaluation.crossval`.

Every choice (resolutions, member weights, likelihood, rest period, threshold)
is made on four categories and scored on the fifth. Detection never sees the
labels; they are read once every member has scored every file.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from controlplane.detect.base import RestPeriod
from controlplane.detect.ensemble import EnsembleSetting, member
from controlplane.detect.likelihood import ScoreLikelihood

__all__ = ["GRIDS", "grid", "compose", "member_scores", "run_cv", "render_cv"]

_SOURCES = ("base.py", "context.py", "extremes.py", "seasonal.py")


def grid(name: str) -> list[EnsembleSetting]:
    """The candidate settings of a named grid.

    ``baseline``: the knobs the ensemble always had (resolutions, tail weight,
    rest period). ``default``: those, with and without a robust seasonal
    member, and with and without the score likelihood.
    """
    if name not in GRIDS:
        raise ValueError(f"--grid: unknown {name!r} (choose from {', '.join(GRIDS)})")
    likelihoods: tuple[int | None, ...] = (None,) if name == "baseline" else (None, 1)
    seasonals = (0.0,) if name == "baseline" else (0.0, 0.1, 0.2)
    levels = [(5,), (8,), (4, 5, 6), (6, 7, 8), (4, 5, 6, 7, 8), (6, 7, 8, 9, 10)]
    rests = ((50, 0.5), (100, 0.5), (50, 0.75), (0, 0.5))
    out = []
    for lv, tail, seasonal, like, (ticks, level) in itertools.product(levels, (0.0, 0.2), seasonals, likelihoods,
                                                                      rests):
        out.append(EnsembleSetting(lv, tail, seasonal, like, ticks, level))
    return out


GRIDS = ("baseline", "default")


def _source_key() -> str:
    root = Path(__file__).resolve().parent.parent / "detect"
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update((root / name).read_bytes())
    return h.hexdigest()[:12]


def member_scores(series: dict[str, tuple[list[float], list[float]]], names: list[str],
                  cache: Path | None) -> dict[str, dict[str, np.ndarray]]:
    """``{member: {file: scores}}``, each member run once per file (or read from ``cache``)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    key = _source_key()
    for name in names:
        path = cache / f"{name}-{key}.npz" if cache is not None else None
        if path is not None and path.is_file():
            with np.load(path) as saved:
                if set(saved.files) == set(series):
                    out[name] = {rel: saved[rel] for rel in series}
                    continue
        by_file = {}
        for rel, (times, values) in series.items():
            det = member(name)
            by_file[rel] = np.asarray([det.update(t, v) for t, v in zip(times, values, strict=True)])
        out[name] = by_file
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, **by_file)  # type: ignore[arg-type]
    return out


def _before_rest(setting: EnsembleSetting, members: dict[str, dict[str, np.ndarray]], rel: str) -> list[float]:
    ens = setting.build()
    blend: Any = 0
    for (name, _), weight in zip(setting.member_specs(), ens.weights, strict=True):
        blend = blend + weight * members[name][rel]
    raw: list[float] = np.asarray(blend, dtype=float).tolist()
    if setting.likelihood_short is not None:
        like = ScoreLikelihood(short=setting.likelihood_short)
        raw = [like.apply(v) for v in raw]
    return raw


def compose(setting: EnsembleSetting, members: dict[str, dict[str, np.ndarray]], rel: str,
            memo: dict[tuple[Any, ...], dict[str, list[float]]] | None = None) -> np.ndarray:
    """The scores ``setting.build()`` gives on file ``rel``, from cached member scores.

    ``memo`` keeps the scores before the rest period, shared by settings that
    differ only in it.
    """
    blend = (setting.levels, setting.tail_weight, setting.seasonal_weight, setting.likelihood_short)
    if memo is not None and blend not in memo:
        memo.clear()  # settings sharing a blend come together: one blend is kept at a time
        memo[blend] = {}
    raw = memo[blend].get(rel) if memo is not None else None
    if raw is None:
        raw = _before_rest(setting, members, rel)
        if memo is not None:
            memo[blend][rel] = raw
    rest = RestPeriod(setting.rest_ticks, setting.rest_level)
    final = [min(1.0, max(0.0, rest.apply(v))) for v in raw]
    return np.round(np.asarray(final), 6)


def run_cv(nab_dir: Path, cache: Path | None, grid_name: str = "default", select: str = "fit") -> dict[str, Any]:
    from controlplane.bench._nab_files import epoch_s, ordered_profiles, parse_time, read_series
    from controlplane.evaluation import crossval, nab

    settings = grid(grid_name)
    data_dir = nab_dir / "data"
    paths = sorted(data_dir.rglob("*.csv"))
    if not paths:
        raise ValueError(f"--nab: no CSV files under {data_dir}")
    stamps: dict[str, list[Any]] = {}
    series: dict[str, tuple[list[float], list[float]]] = {}
    for path in paths:
        rel = path.relative_to(data_dir).as_posix()
        _, st, values = read_series(path, rel)
        stamps[rel] = st
        series[rel] = ([epoch_s(d) for d in st], values)
    wall = time.perf_counter()
    names = sorted({n for s in settings for n, _ in s.member_specs()})
    members = member_scores(series, names, cache)
    detect_s = time.perf_counter() - wall
    by_label = {s.label: s for s in settings}
    memo: dict[tuple[Any, ...], dict[str, list[float]]] = {}
    last: dict[str, dict[str, np.ndarray]] = {}

    def scores_of(label: str) -> dict[str, np.ndarray]:
        if label not in last:
            last.clear()
            last[label] = {rel: compose(by_label[label], members, rel, memo) for rel in series}
        return last[label]

    # Labels and profiles are read only now, after every file was scored.
    labels = json.loads((nab_dir / "labels" / "combined_windows.json").read_text())
    profiles = nab.parse_profiles(json.loads((nab_dir / "profiles.json").read_text()))
    groups: dict[str, list[nab.SweptFile]] = {}
    for rel, st in stamps.items():
        windows = [(parse_time(a, f"labels {rel}"), parse_time(b, f"labels {rel}")) for a, b in labels.get(rel, [])]
        groups.setdefault(rel.split("/")[0], []).append(nab.sweep_file(len(st), nab.window_rows(st, windows, rel), rel))
    results: dict[str, Any] = {}
    cvs = crossval.cross_validate(groups, list(by_label), scores_of, [profiles[p] for p in ordered_profiles(profiles)], select)
    for pname, cv in cvs.items():
        results[pname] = {
            "pooled": round(cv.pooled, 2),
            "mean": round(cv.mean, 2),
            "folds": [{"group": f.group, "setting": f.setting, "threshold": f.threshold,
                       "train_normalised": round(f.train_normalised, 2),
                       "normalised": None if math.isnan(f.normalised) else round(f.normalised, 2),
                       "raw": round(f.raw, 4), "tp": f.tp, "fp": f.fp, "fn": f.fn} for f in cv.folds],
            "in_sample": {"setting": cv.in_sample_setting, "normalised": round(cv.in_sample_normalised, 2),
                          "threshold": cv.in_sample_threshold},
        }
    return {"grid": grid_name, "select": select, "settings": len(settings), "files": len(series),
            "member_s": round(detect_s, 2), "compose_and_score_s": round(time.perf_counter() - wall - detect_s, 2),
            "wall_s": round(time.perf_counter() - wall, 2), "profiles": results}


def render_cv(summary: dict[str, Any]) -> str:
    short = {"standard": "standard", "reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}
    lines = [f"NAB leave-one-category-out: {summary['files']} files, {summary['settings']} candidate settings "
             f"(grid {summary['grid']}, settings ranked by {summary['select']}); setting and threshold chosen on four "
             "categories, scored on the fifth"]
    for pname, r in summary["profiles"].items():
        lines.append(f"-- {short.get(pname, pname)}")
        for f in r["folds"]:
            held = f"{f['normalised']:6.1f}" if f["normalised"] is not None else "   n/a"
            lines.append(f"  held out {f['group']:<22} {held}  (raw {f['raw']:+.3f}, TP {f['tp']} FP {f['fp']} "
                         f"FN {f['fn']}; train {f['train_normalised']:.1f}; {f['setting']}, "
                         f"threshold {f['threshold']:.6g})")
        lines.append(f"  cross-validated: pooled held-out {r['pooled']:.1f}, mean of folds with windows "
                     f"{r['mean']:.1f}; in-sample (chosen on all five) {r['in_sample']['normalised']:.1f} "
                     f"with {r['in_sample']['setting']}")
    lines.append(f"runtime: members {summary['member_s']:.1f} s, compose and score {summary['compose_and_score_s']:.1f} s,"
                 f" total {summary['wall_s']:.1f} s wall")
    return "\n".join(lines)
