"""``controlplane bench forecast``: rolling-origin accuracy of the forecasters on a rate series.

Loads a series (ServeGen per-window rates summed over clients, an Azure-style
request trace bucketed to a rate, or a ``t,value`` CSV), fits every forecaster
on the training span, forecasts each horizon from every origin in the test
span, and prints per horizon: MAE, MASE (against the in-sample seasonal naive
error, season named in the output), the ratio of the MAE to the best naive
baseline at that horizon (the lower MAE of last value and seasonal naive on the
same test span; both are always run), pinball loss at p50 and p90 and the p90
coverage. Writes ``DIR/forecast.json`` and ``DIR/forecast.png`` (bands against
actuals). Heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
import re

__all__ = ["register", "parse_duration"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_BASELINES = ("last_value", "seasonal_naive_daily", "seasonal_naive_weekly")
_DEFAULT_FORECASTERS = ("last_value", "seasonal_naive_daily", "seasonal_naive_weekly", "mean_reverting", "holt_damped",
                        "profile_level", "mstl_ets", "boosted_quantile",
                        "holt_winters_daily", "stl_ets_daily", "auto")


def parse_duration(text: str, field: str = "duration") -> float:
    """``90``, ``30s``, ``10m``, ``1.5h``, ``7d``, ``1w`` -> seconds; ValueError naming ``field``."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhdw]?)\s*", text)
    if not m:
        raise ValueError(f"{field}: {text!r} is not a duration like 30s, 10m, 1h, 7d")
    value = float(m.group(1)) * _UNITS.get(m.group(2) or "s", 1.0)
    if value <= 0:
        raise ValueError(f"{field}: must be > 0")
    return value


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("forecast", help="rolling-origin forecast accuracy (MAE, MASE, pinball, coverage)")
    p.add_argument("--series", required=True, help="ServeGen directory, Azure trace CSV, or t,value CSV")
    p.add_argument("--format", choices=("servegen", "azure", "csv"), default=None,
                   help="series format (default: servegen for a directory, azure for a TIMESTAMP header, else csv)")
    p.add_argument("--metric", choices=("requests", "prompt_tokens", "generation_tokens"), default="requests",
                   help="rate to forecast from a request trace (default requests/s)")
    p.add_argument("--bucket", default="30s", help="bucket width for request traces (default 30s)")
    p.add_argument("--train", default=None,
                   help="training span: a duration (7d) or a fraction (0.5); default 7d for ServeGen, else 0.5")
    p.add_argument("--horizon", default=None,
                   help="comma-separated horizons; default 10m,1h,3h,6h for ServeGen, else 30s,1m,2m,5m")
    p.add_argument("--forecasters", default=",".join(_DEFAULT_FORECASTERS), help="comma-separated forecaster names")
    p.add_argument("--budget", default="120s", help="fit budget of the auto selector (default 120s)")
    p.add_argument("--refit-every", default=None, help="refit on all data so far every DURATION of test (default never)")
    p.add_argument("--mase-season", default=None,
                   help="season of the MASE scale (default 1d when training covers 2 days, else one step)")
    p.add_argument("--out", required=True, help="directory for forecast.json and forecast.png")
    p.set_defaults(func=run)


def _sniff(path: str) -> str:
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        return "servegen"
    if not p.is_file():
        raise ValueError(f"--series: {path} does not exist")
    with p.open(errors="replace") as fh:
        first = fh.readline()
    return "azure" if "TIMESTAMP" in first and "ContextTokens" in first else "csv"


def _read_csv_series(path: str):  # type: ignore[no-untyped-def]
    import csv

    import numpy as np

    ts, ys = [], []
    with open(path, newline="") as fh:
        for n, row in enumerate(csv.reader(fh), start=1):
            if not row or not row[0].strip():
                continue
            if len(row) < 2:
                raise ValueError(f"--series: {path}, row {n}: expected t,value")
            try:
                y = float(row[1]) if row[1].strip() else float("nan")
            except ValueError:
                if n == 1:
                    continue  # header
                raise ValueError(f"--series: {path}, row {n}, column value: not a number {row[1]!r}") from None
            try:
                t = float(row[0])
            except ValueError:
                try:
                    t = float(np.datetime64(row[0].strip(), "ns").astype(np.int64)) / 1e9
                except ValueError:
                    raise ValueError(f"--series: {path}, row {n}, column t: not seconds or a date-time") from None
            ts.append(t)
            ys.append(y)
    return np.asarray(ts), np.asarray(ys)


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from controlplane.forecast.series import bucket_rate, regularize

    fmt = args.format or _sniff(args.series)
    if fmt == "servegen":
        from controlplane.traces.servegen import load_servegen_rates

        rs = load_servegen_rates(args.series)
        # ServeGen stamps a window by its start; a rate sample is stamped by its end
        grid = regularize(rs.t_s + rs.window_s, rs.rate, rs.window_s)
        return grid, fmt, "requests/s", f"ServeGen {rs.name}, summed over client files, {rs.window_s:g}s windows"
    if fmt == "azure":
        from controlplane.traces.azure import load_azure

        tr = load_azure(args.series)
        bucket = parse_duration(args.bucket, "--bucket")
        weights = {"requests": None, "prompt_tokens": tr.prompt_tokens,
                   "generation_tokens": tr.output_tokens}[args.metric]
        unit = "requests/s" if args.metric == "requests" else "tokens/s"
        grid = bucket_rate(tr.arrival_s, bucket, weights=weights, start_s=0.0)
        return grid, fmt, unit, f"request trace {tr.name}: {len(tr)} requests, {args.metric} per {bucket:g}s bucket"
    t, y = _read_csv_series(args.series)
    return regularize(t, y), "csv", "per s", f"t,value series {args.series}"


def _fmt(v: float | None, width: int = 9) -> str:
    import math

    if v is None or not math.isfinite(v):
        return f"{'-':>{width}}"
    return f"{v:>{width}.3f}" if abs(v) < 1e4 else f"{v:>{width}.3g}"


def _hlabel(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _ratio(value: float, best: float) -> float:
    import math

    return value / best if math.isfinite(value) and math.isfinite(best) and best > 0 else math.nan


def _json_num(v: float) -> float | None:
    import math

    return round(v, 6) if math.isfinite(v) else None


def _best_naive(results, n_horizons: int) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    """Per horizon, the baseline with the lower test MAE: (name, MAE); ("-", NaN) when none scored."""
    import math

    out = []
    for j in range(n_horizons):
        best = ("-", math.nan)
        for name in _BASELINES:
            ev = results[name][0] if name in results else None
            if ev is None or ev.error or not math.isfinite(ev.scores[j].mae):
                continue
            if not math.isfinite(best[1]) or ev.scores[j].mae < best[1]:
                best = (name, ev.scores[j].mae)
        out.append(best)
    return out


def run(args: argparse.Namespace) -> int:
    import json
    import math
    from pathlib import Path

    from controlplane.clock import SystemClock
    from controlplane.forecast.budget import FitBudget
    from controlplane.forecast.evaluate import rolling_evaluation
    from controlplane.forecast.metrics import naive_scale
    from controlplane.forecast.registry import FORECASTERS, make_forecaster

    grid, fmt, unit, source = _load(args)
    step = grid.step_s
    n = len(grid)
    if args.train is None:
        train_s = 7 * 86400.0 if fmt == "servegen" else None
        n_train = int(round(train_s / step)) if train_s else int(round(0.5 * n))
    elif re.fullmatch(r"0?\.\d+", args.train.strip()):
        n_train = int(round(float(args.train) * n))
    else:
        n_train = int(round(parse_duration(args.train, "--train") / step))
    if not 2 <= n_train < n:
        raise ValueError(f"--train: {n_train} training slots of {n} leaves no test span")
    horizon_text = args.horizon or ("10m,1h,3h,6h" if fmt == "servegen" else "30s,1m,2m,5m")
    horizons = [parse_duration(h, "--horizon") for h in horizon_text.split(",") if h.strip()]
    names = [s.strip() for s in args.forecasters.split(",") if s.strip()]
    for name in names:
        if name not in FORECASTERS:
            raise ValueError(f"--forecasters: unknown {name!r}; known: {', '.join(FORECASTERS)}")
    names += [b for b in _BASELINES if b not in names]  # the yardstick of ratio_to_best_naive
    budget_s = parse_duration(args.budget, "--budget")
    refit = None if args.refit_every is None else max(1, int(round(parse_duration(args.refit_every, "--refit-every") / step)))
    train_vals = grid.values[:n_train]
    if args.mase_season:
        m = max(1, int(round(parse_duration(args.mase_season, "--mase-season") / step)))
    else:
        m = int(round(86400 / step)) if n_train * step >= 2 * 86400 and 86400 % step == 0 else 1
    scale = naive_scale(train_vals, m)
    season_txt = f"{_hlabel(m * step)} ({m} slots)" if m > 1 else f"one step ({_hlabel(step)}, the naive forecast)"

    print(f"series: {source}")
    print(f"  {n} slots of {_hlabel(step)}, {grid.n_missing} missing; train {n_train} slots "
          f"({n_train * step / 3600:.4g} h), test {n - n_train} slots ({(n - n_train) * step / 3600:.4g} h)")
    print(f"  parameters fixed {'over the whole test span' if refit is None else f'between refits every {refit} slots'}; "
          "state updated with each new observation")
    print(f"  MASE scale: in-sample MAE of the seasonal naive forecast, season {season_txt} = {scale:.4g} {unit}")

    clock = SystemClock()
    results = {}
    for name in names:
        def factory(name: str = name):  # type: ignore[no-untyped-def]
            kw = {"step_s": step, "max_horizon_s": max(horizons)}
            if name == "auto":
                kw["budget"] = FitBudget(budget_s, clock.monotonic)
            return make_forecaster(name, **kw)

        t0 = clock.monotonic()
        ev = rolling_evaluation(name, factory, grid, n_train, horizons, scale, refit)
        results[name] = (ev, clock.monotonic() - t0)

    best_naive = _best_naive(results, len(horizons))
    print()
    head = f"{'forecaster':<24}{'MAE':>9}{'MASE':>9}{'vs naive':>9}{'pin50':>9}{'pin90':>9}{'cov90':>9}{'n':>7}"
    for j, h in enumerate(horizons):
        print(f"horizon {_hlabel(h)}  ({unit})")
        print(head)
        for name, (ev, _) in results.items():
            if ev.error:
                print(f"{name:<24}  n/a: {ev.error[:90]}")
                continue
            s = ev.scores[j]
            print(f"{name:<24}{_fmt(s.mae)}{_fmt(s.mase)}{_fmt(_ratio(s.mae, best_naive[j][1]))}{_fmt(s.pinball_p50)}{_fmt(s.pinball_p90)}"
                  f"{_fmt(s.coverage_p90)}{s.n:>7}")
        print(f"  best naive at {_hlabel(h)}: {best_naive[j][0]} (MAE {_fmt(best_naive[j][1], 0).strip()})")
        print()
    for name, (ev, secs) in results.items():
        if ev.error:
            continue
        rep = ev.reports[0] if ev.reports else {}
        extra = f"; chose {rep['chosen']}" if "chosen" in rep else ""
        cal = float(rep.get("calibrated_horizon_s") or 0.0)
        cal_txt = f"bands calibrated to {_hlabel(cal)}" if cal else "bands UNCALIBRATED (no backtest errors: p90 = p50)"
        print(f"{name}: {len(ev.reports)} fit(s), evaluation {secs:.2f}s wall; {cal_txt}{extra}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "series": source, "format": fmt, "unit": unit, "step_s": step, "slots": n, "missing": grid.n_missing,
        "train_slots": n_train, "test_slots": n - n_train, "horizons_s": horizons, "refit_every_slots": refit,
        "best_naive": [{"horizon_s": h, "forecaster": best_naive[j][0], "mae": _json_num(best_naive[j][1])}
                       for j, h in enumerate(horizons)],
        "mase": {"season_slots": m, "season": season_txt, "scale": None if not math.isfinite(scale) else scale},
        "forecasters": {
            name: {"error": ev.error, "wall_s": round(secs, 3), "fit_reports": ev.reports,
                   "scores": [s.to_dict() for s in ev.scores],
                   "ratio_to_best_naive": [_json_num(_ratio(s.mae, best_naive[j][1])) for j, s in enumerate(ev.scores)]}
            for name, (ev, secs) in results.items()
        },
    }
    (out / "forecast.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    _plot(out / "forecast.png", results, horizons, unit, source)
    print(f"wrote {out / 'forecast.json'} and {out / 'forecast.png'}")
    return 0


def _plot(path, results, horizons, unit, source) -> None:  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    shown = [n for n in ("auto", "seasonal_naive_daily", "last_value") if n in results and not results[n][0].error]
    if not shown:
        shown = [n for n, (ev, _) in results.items() if not ev.error][:1]
    picks = sorted({0, len(horizons) - 1})
    fig, axes = plt.subplots(len(picks), 1, figsize=(12, 3.6 * len(picks)), squeeze=False)
    for ax, j in zip(axes[:, 0], picks, strict=True):
        first = results[shown[0]][0] if shown else None
        if first is None:
            continue
        step = first.origins[1] - first.origins[0] if len(first.origins) > 1 else 1.0
        k = max(1, int(np.ceil(horizons[j] / step - 1e-9)))
        scale = 86400.0 if first.origins[-1] - first.origins[0] > 2 * 86400 else 3600.0
        inside = np.isfinite(first.actual[:, j])  # targets past the end of the data are not drawn
        target = ((first.origins + k * step) / scale)[inside]
        ax.plot(target, first.actual[inside, j], color="black", lw=1.0, label="actual")
        for name, color in zip(shown, ("tab:blue", "tab:orange", "tab:green"), strict=False):
            ev = results[name][0]
            ax.plot(target, ev.p50[inside, j], color=color, lw=0.9, label=f"{name} p50")
            if name == shown[0]:
                ax.fill_between(target, ev.p50[inside, j], ev.p90[inside, j], color=color, alpha=0.25,
                                label=f"{name} p50-p90")
        ax.set_title(f"horizon {_hlabel(horizons[j])}")
        ax.set_xlabel("target time (days from series start)" if scale == 86400.0 else "target time (h from series start)")
        ax.set_ylabel(unit)
        ax.legend(loc="upper right", fontsize=8)
    fig.suptitle(source, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
