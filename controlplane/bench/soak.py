"""``controlplane bench soak``: the live loop for N minutes on two weeks of production-shaped load.

The request rate is the 14-day ServeGen ``m-large`` series (Alibaba ServeGen,
Apache-2.0; 2,016 windows of 600 s, read with the rate-series loader from
../shared/data/servegen/m-large), compressed in time so the two weeks fill the
run (30 min: 0.89 s per window, a day every ~2 min 8 s) and scaled so its peak
is ``--peak-rate`` requests/s: the 583 req/s peak of the series is far beyond what
emulator replicas on a 2-core machine serve, so the shape is kept and the level
set to what three slowed ``cpu-tiny`` replicas carry. Arrivals are Poisson
within each window; prompts ~180 and outputs ~64 tokens.

Measured at every tick, in the controller's process (the load generator runs in
its own): RSS, tick start lateness against the schedule, tick duration. The run
passes when RSS grows < 10% after warm-up (the first 20% of the run; median of
the 20-30% ticks against the median of the last 10%), no step error is counted
(``controlplane_step_errors_total`` stays 0), nothing is logged at ERROR, and
every tick is on time (started less than one interval late, no scheduled tick
missed, each shorter than the interval).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["register", "compressed_rate_trace", "soak_figures", "run_soak"]

DEFAULT_DATA = Path("..") / "shared" / "data" / "servegen" / "m-large"
WARMUP_SHARE = 0.2
RSS_GROWTH_LIMIT = 0.10


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("soak", help="the live loop for N minutes on compressed ServeGen load: memory, errors, tick timing")
    p.add_argument("--minutes", type=float, default=30.0, help="run length in minutes (default 30)")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="ServeGen client directory (default ../shared/data/servegen/m-large)")
    p.add_argument("--peak-rate", type=float, default=4.0, help="requests/s at the series' peak window (default 4)")
    p.add_argument("--tick-s", type=float, default=1.0, help="controller tick interval (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="soak-out", help="folder for the figures (JSON) and per-tick samples")
    p.set_defaults(func=_run)


def compressed_rate_trace(t_s: Any, rate: Any, run_s: float, peak_rps: float, seed: int = 0) -> Any:
    """Poisson arrivals whose rate follows ``rate`` (one value per window), the whole series
    squeezed into ``run_s`` seconds and scaled so its largest window is ``peak_rps``."""
    import numpy as np

    from controlplane.traces.model import Trace

    rate = np.asarray(rate, dtype=float)
    if len(rate) == 0 or not np.max(rate) > 0:
        raise ValueError("rate: the series has no window with a positive rate")
    if not run_s > 0 or not peak_rps > 0:
        raise ValueError("run_s and peak_rps: must be > 0")
    rng = np.random.default_rng(seed)
    width = run_s / len(rate)
    scaled = rate * (peak_rps / float(np.max(rate)))
    parts = []
    for k, lam in enumerate(scaled):
        n = int(rng.poisson(lam * width))
        parts.append(k * width + np.sort(rng.uniform(0.0, width, n)))
    arrivals = np.concatenate(parts)
    n = len(arrivals)
    prompt = np.clip(np.rint(np.exp(rng.normal(math.log(180.0), 0.35, n))), 16, 300).astype(np.int64)
    output = np.clip(np.rint(np.exp(rng.normal(math.log(64.0), 0.4, n))), 8, 128).astype(np.int64)
    return Trace(f"servegen-14d-in-{run_s:g}s", arrivals, prompt, output)


def soak_policy() -> Any:
    """The fidelity check's policy (1-3 replicas, 10 s windows) under its own name."""
    from controlplane.bench.fidelity import fidelity_policy

    return fidelity_policy().model_copy(update={"name": "soak"})


def soak_figures(result: Any, warmup_share: float = WARMUP_SHARE) -> dict[str, Any]:
    """The figures and pass/fail checks of a soak run (a :class:`ReplayResult`)."""
    import numpy as np

    ticks = result.ticks
    if not ticks:
        raise ValueError("ticks: the run recorded no tick")
    end = result.ended_s
    t = np.array([s.t for s in ticks])
    rss = np.array([s.rss_bytes for s in ticks], dtype=float)
    late = np.array([s.lateness_s for s in ticks])
    dur = np.array([s.duration_s for s in ticks])
    base_mask = (t >= warmup_share * end) & (t < (warmup_share + 0.1) * end)
    final_mask = t >= 0.9 * end
    base = float(np.median(rss[base_mask])) if base_mask.any() else float(rss[0])
    final = float(np.median(rss[final_mask])) if final_mask.any() else float(rss[-1])
    after = rss[t >= warmup_share * end]
    ok = [r for r in result.requests if r["ok"]]
    figures = {
        "run_s": end,
        "ticks": len(ticks),
        "missed_ticks": result.missed_ticks(),
        "tick_lateness_p50_s": float(np.percentile(late, 50)),
        "tick_lateness_p99_s": float(np.percentile(late, 99)),
        "tick_lateness_max_s": float(late.max()),
        "tick_duration_p50_s": float(np.percentile(dur, 50)),
        "tick_duration_p99_s": float(np.percentile(dur, 99)),
        "tick_duration_max_s": float(dur.max()),
        "ticks_late_over_interval": int(np.sum(late >= result.tick_s)),
        "ticks_longer_than_interval": int(np.sum(dur >= result.tick_s)),
        "rss_start_mib": float(rss[0]) / 2**20,
        "rss_after_warmup_mib": base / 2**20,
        "rss_end_mib": final / 2**20,
        "rss_max_after_warmup_mib": float(after.max()) / 2**20 if len(after) else None,
        "rss_growth_after_warmup": final / base - 1.0,
        "step_errors": result.step_errors,
        "logged_errors": len(result.logged_errors),
        "replica_crashes": len(result.crashes),
        "decisions": result.decisions,
        "invalid_decisions": result.invalid_decisions,
        "requests": len(result.requests),
        "requests_failed": len(result.requests) - len(ok),
        "scale_events": len(result.scale_events),
        "peak_replicas": max((b for _, _, b in result.scale_events), default=1),
        "replica_seconds": result.replica_seconds(end),
        "ttft_p95_client_s": result.client_ttft_p95_s(),
        "ttft_p95_histogram_s": result.prom_ttft_p95_s,
    }
    figures["checks"] = {
        "rss_growth_below_10pct": figures["rss_growth_after_warmup"] < RSS_GROWTH_LIMIT,
        "no_step_errors": result.step_errors == 0,
        "no_logged_errors": not result.logged_errors,
        "every_tick_on_time": figures["missed_ticks"] == 0
        and figures["ticks_late_over_interval"] == 0
        and figures["ticks_longer_than_interval"] == 0,
    }
    return figures


def run_soak(work_dir: Path, minutes: float, data: Path, peak_rate: float = 4.0, tick_s: float = 1.0, seed: int = 0,
             echo: Any = print) -> tuple[dict[str, Any], Any]:
    from controlplane.bench.fidelity import LATENCY_MULTIPLIER, STARTUP_S
    from controlplane.local.replay import ReplaySettings, run_replay
    from controlplane.traces.servegen import load_servegen_rates

    if not minutes > 0:
        raise ValueError(f"minutes: must be > 0, got {minutes}")
    if not Path(data).exists():
        raise ValueError(f"data: {data} not found (the ServeGen m-large client directory)")
    series = load_servegen_rates(data)
    run_s = minutes * 60.0
    trace = compressed_rate_trace(series.t_s, series.rate, run_s, peak_rate, seed)
    echo(
        f"{series.name}: {len(series.rate)} windows of {series.window_s:g} s -> {run_s / len(series.rate):.3f} s each; "
        f"rate x {peak_rate / float(series.rate.max()):.5f} (peak {float(series.rate.max()):.0f} -> {peak_rate:g} req/s); "
        f"{len(trace)} requests"
    )
    settings = ReplaySettings(
        work_dir=work_dir,
        policy=soak_policy(),
        tick_s=tick_s,
        replica_startup_s=STARTUP_S,
        latency_multiplier=LATENCY_MULTIPLIER,
        drain_s=30.0,
        progress_every_s=60.0,
    )
    result = run_replay(settings, trace, echo=echo)
    return soak_figures(result), result


def _run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures, result = run_soak(out / "run", args.minutes, Path(args.data), args.peak_rate, args.tick_s, args.seed)
    for k, v in figures.items():
        if k != "checks":
            print(f"{k:<28}{v:.4g}" if isinstance(v, float) else f"{k:<28}{v}")
    for name, passed in figures["checks"].items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    for line in result.logged_errors[:5]:
        print(f"logged: {line}")
    (out / "soak.json").write_text(json.dumps(figures, indent=2))
    (out / "ticks.json").write_text(json.dumps([s.__dict__ for s in result.ticks]))
    print(f"figures: {out / 'soak.json'}; per-tick samples: {out / 'ticks.json'}")
    return 0 if all(figures["checks"].values()) else 1
