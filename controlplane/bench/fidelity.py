"""``controlplane bench fidelity``: the same short trace through the live loop and the simulator.

Live: real Prometheus (1 s scrape), emulator replicas (``cpu-tiny`` with every
engine step slowed ``--latency-multiplier`` times, the same ``--startup-s``),
the real control loop ticking every second. Simulated: ``simulate_policy`` with
the same policy, the same profile slowed by the same factor, a sync period equal
to the tick and a 1 s scrape.

Calibration, from the live run alone: a live replica is ready only when the
actuator sees ``/health`` answer at a tick, after the process has imported
Python and waited ``--startup-s``; the simulator's cold start is set to the mean
of the start-ups the live run measured (replicas the loop started; the
bootstrap replica is polled faster and left out when there are others).
Nothing is tuned on the compared figures.

Figures, each with the same definition on both sides:

* TTFT p95 from histograms: Prometheus ``histogram_quantile`` over the run on
  the replicas' ``vllm:time_to_first_token_seconds`` buckets, against the same
  interpolation on the simulator's TTFTs put in the same buckets;
* TTFT p95 exact: the load generator's per-request TTFT against the
  simulator's per-request TTFT;
* replica-seconds over the trace's duration (every replica from the moment it
  was asked for until it is gone, draining included);
* with ``--shared-prefix`` (:func:`shared_prefix_trace`: every prompt opens with
  one of two 256-token system prompts), the prefix-cache hit ratio: the
  replicas' ``vllm:prefix_cache_hits_total`` over ``vllm:prefix_cache_queries_total``
  in Prometheus against the simulator's cached over looked-up prompt tokens.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

__all__ = ["register", "fidelity_policy", "fidelity_trace", "shared_prefix_trace", "slowed_profile", "run_fidelity",
           "compare_figures"]

LATENCY_MULTIPLIER = 4.0
STARTUP_S = 3.0
TICK_S = 1.0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("fidelity", help="live loop vs simulator on one short trace: TTFT p95 and replica-seconds")
    p.add_argument("--seconds", type=float, default=120.0, help="trace length (default 120)")
    p.add_argument("--mean-rate", type=float, default=2.0, help="mean requests/s (default 2.0)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--shared-prefix", action="store_true",
                   help="prompts open with one of two shared 256-token system prompts; adds the prefix-cache hit ratio")
    p.add_argument("--out", default="fidelity-out", help="folder for the figures (JSON) and the chart")
    p.set_defaults(func=_run)


def fidelity_policy() -> Any:
    """Short windows for a two-minute trace, a 1 s tick and at most 3 replicas.

    A replica of the slowed ``cpu-tiny`` holds a request ~1.4 s (180-token prompt
    at 2 ms/token, 64 decode steps of ~17 ms at batch 4): four slots serve ~2.8
    req/s, so targets of 3 running and 2 waiting per replica scale 1 -> 3 at the
    trace's 3.8 req/s peak and back down as it falls to 0.2 req/s.
    """
    from controlplane.policy.model import ScalingPolicy

    return ScalingPolicy.model_validate(
        {
            "name": "fidelity",
            "target": {"kind": "local", "group": "fidelity", "model_name": "fidelity-llm", "profile": "cpu-tiny"},
            "min_replicas": 1,
            "max_replicas": 3,
            "slo": {"ttft_p95_s": 2.0, "itl_p95_s": 1.0, "e2e_p95_s": 60.0},
            "signals": {"waiting_requests": 2.0, "kv_cache_usage": None, "running_requests": 3.0},
            "windows": {"stable_s": 10.0, "panic_s": 3.0, "scale_down_stabilization_s": 15.0},
            "steps": {"max_up_pods": 2, "max_down_pods": 1},
            "startup_s": 5.0,
            "max_signal_age_s": 10.0,
        }
    )


def fidelity_trace(seconds: float = 120.0, mean_rate: float = 2.0, seed: int = 1) -> Any:
    """One seeded cycle: rate ``mean_rate * (1 + 0.9 cos(...))`` peaking at 45% of the run,
    Poisson arrivals, prompts ~180 tokens (100-300), outputs ~64 (32-128)."""
    from controlplane.traces.synthetic import SyntheticSpec, synthetic_trace

    spec = SyntheticSpec(
        name=f"fidelity-{seconds:g}s",
        duration_s=seconds,
        period_s=seconds,
        peak_s=0.45 * seconds,
        mean_rate_rps=mean_rate,
        diurnal_amplitude=0.9,
        noise_sigma=0.0,
        noise_step_s=seconds,
        burst_cv=1.0,
        prompt_median=180.0,
        prompt_sigma=0.35,
        prompt_max=300,
        output_median=64.0,
        output_sigma=0.4,
        output_max=128,
    )
    return synthetic_trace(spec, seed=seed)


SYSTEM_BLOCKS = 2  # blocks of the shared system prompts
SYSTEM_PROMPTS = 2


def shared_prefix_trace(seconds: float = 120.0, mean_rate: float = 2.0, seed: int = 1,
                        block_tokens: int = 128) -> Any:
    """:func:`fidelity_trace`'s arrivals and outputs with prompts that share a prefix: each
    opens with one of two system prompts of ``SYSTEM_BLOCKS`` x ``block_tokens`` tokens (the
    emulator's ``cpu-tiny`` block is 128), chosen at random, then a private 20-120 tokens.
    The block ids reach the emulator as token ids (the load generator derives a block's
    tokens from its id) and the simulator directly."""
    import dataclasses as dc

    import numpy as np

    base = fidelity_trace(seconds, mean_rate, seed)
    rng = np.random.default_rng(seed + 1)
    n = len(base)
    which = rng.integers(0, SYSTEM_PROMPTS, n)
    tails = rng.integers(20, 121, n)
    blocks = tuple(tuple(f"system-{w}-{j}" for j in range(SYSTEM_BLOCKS)) for w in which.tolist())
    return dc.replace(base, name=f"{base.name}-shared-prefix",
                      prompt_tokens=(SYSTEM_BLOCKS * block_tokens + tails).astype(np.int64),
                      blocks=blocks, block_tokens=block_tokens)


def slowed_profile(profile: Any, factor: float) -> Any:
    """The profile whose every step takes ``factor`` times longer: what the emulator's
    ``--latency-multiplier`` does (step time is linear in the four cost terms)."""
    return dataclasses.replace(
        profile,
        name=f"{profile.name}x{factor:g}",
        prefill_s_per_token=profile.prefill_s_per_token * factor,
        prefill_s_per_context_token=profile.prefill_s_per_context_token * factor,
        decode_base_s=profile.decode_base_s * factor,
        decode_per_seq_s=profile.decode_per_seq_s * factor,
    )


def calibrated_cold_start(startups: list[float], bootstrap: int) -> float:
    """Mean measured start-up of the replicas the loop started (all of them if it started none)."""
    loop_started = startups[bootstrap:] or startups
    if not loop_started:
        raise ValueError("startup_durations: the live run measured no replica start-up")
    return sum(loop_started) / len(loop_started)


def _rel(live: float | None, sim: float | None) -> float | None:
    if live is None or sim is None or sim == 0:
        return None
    return (live - sim) / sim


def compare_figures(live: Any, sim: Any, horizon_s: float) -> dict[str, Any]:
    """Live and simulated figures side by side, with (live - sim) / sim."""
    import numpy as np

    from controlplane.sim.observe import TTFT_BUCKETS, Histogram, histogram_quantile

    done = sim.ttft[~np.isnan(sim.ttft)]
    h = Histogram(TTFT_BUCKETS)
    for v in done:
        h.observe(float(v))
    sim_hist = histogram_quantile(0.95, TTFT_BUCKETS, h.counts)
    sim_rs = float(np.sum(np.maximum(0.0, np.minimum(np.nan_to_num(sim.ended, nan=horizon_s), horizon_s) - sim.created)))
    rows = {
        "ttft_p95_histogram_s": (live.prom_ttft_p95_s, float(sim_hist) if np.isfinite(sim_hist) else None),
        "ttft_p95_exact_s": (live.client_ttft_p95_s(), float(np.quantile(done, 0.95)) if len(done) else None),
        "replica_seconds": (live.replica_seconds(horizon_s), sim_rs),
    }
    if getattr(sim, "prefix_queried_tokens", 0):
        rows["prefix_cache_hit_ratio"] = (live.prom_prefix_hit_ratio, sim.prefix_cache_hit_ratio)
    return {k: {"live": a, "sim": b, "rel_diff": _rel(a, b)} for k, (a, b) in rows.items()}


def run_fidelity(work_dir: Path, seconds: float = 120.0, mean_rate: float = 2.0, seed: int = 1, echo: Any = print,
                 shared_prefix: bool = False) -> dict[str, Any]:
    """Run live, then the calibrated simulation; return the figures and both runs' details."""
    from controlplane.capacity.profile import get_profile
    from controlplane.local.replay import ReplaySettings, run_replay
    from controlplane.sim.compare import simulate_policy
    from controlplane.sim.observe import ScrapeConfig

    policy = fidelity_policy()
    if shared_prefix:
        trace = shared_prefix_trace(seconds, mean_rate, seed, get_profile(policy.target.profile).block_size)
    else:
        trace = fidelity_trace(seconds, mean_rate, seed)
    settings = ReplaySettings(
        work_dir=work_dir,
        policy=policy,
        tick_s=TICK_S,
        scrape_interval_s=1.0,
        replica_startup_s=STARTUP_S,
        latency_multiplier=LATENCY_MULTIPLIER,
        drain_grace_s=10.0,
        drain_s=30.0,
    )
    live = run_replay(settings, trace, echo=echo)
    cold = calibrated_cold_start(live.startup_durations_s, policy.min_replicas)
    profile = slowed_profile(get_profile(policy.target.profile), LATENCY_MULTIPLIER)
    sim = simulate_policy(
        trace, policy, profile, cold_start_s=cold, sync_period_s=TICK_S, scrape=ScrapeConfig(scrape_interval_s=1.0)
    )
    figures = compare_figures(live, sim, trace.duration_s)
    ok = [r for r in live.requests if r["ok"]]
    return {
        "trace": {"name": trace.name, "requests": len(trace), "duration_s": trace.duration_s, "seed": seed},
        "latency_multiplier": LATENCY_MULTIPLIER,
        "emulator_startup_s": STARTUP_S,
        "measured_startups_s": [round(s, 3) for s in live.startup_durations_s],
        "sim_cold_start_s": cold,
        "live_requests_ok": len(ok),
        "live_requests_failed": len(live.requests) - len(ok),
        "live_scale_events": [(round(t, 1), a, b) for t, a, b in live.scale_events],
        "sim_scale_events": [(round(t, 1), a, b) for t, a, b in sim.scale_events],
        "live_step_errors": live.step_errors,
        "figures": figures,
        "_series": _series(live, sim, trace.duration_s),
    }


def _series(live: Any, sim: Any, horizon_s: float) -> dict[str, Any]:
    """Replica count over time on a 0.5 s grid, both sides (for the chart)."""
    import numpy as np

    grid = np.arange(0.0, horizon_s + 0.5, 0.5)
    live_n = [sum(1 for s, e in live.replica_intervals if s <= t < e) for t in grid]
    times = [t for t, _, _ in sim.replica_log]
    idx = np.searchsorted(times, grid, side="right") - 1
    sim_n = [sim.replica_log[i][1] if i >= 0 else 0 for i in idx]
    return {"t_s": grid.tolist(), "live_replicas": live_n, "sim_replicas": sim_n}


def format_figures(report: dict[str, Any]) -> str:
    def f(v: Any, fmt: str) -> str:
        return "n/a" if v is None else fmt.format(v)

    lines = [f"{'figure':<24}{'live':>10}{'sim':>10}{'live vs sim':>14}"]
    for name, row in report["figures"].items():
        fmt = "{:.0f}" if name == "replica_seconds" else "{:.3f}"  # seconds, or a ratio 0-1
        lines.append(f"{name:<24}{f(row['live'], fmt):>10}{f(row['sim'], fmt):>10}{f(row['rel_diff'], '{:+.1%}'):>14}")
    return "\n".join(lines)


def write_chart(path: Path, report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["_series"]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.step(s["t_s"], s["live_replicas"], where="post", label="live (emulators + Prometheus + loop)")
    ax.step(s["t_s"], s["sim_replicas"], where="post", label="simulator", linestyle="--")
    ax.set_xlabel("seconds into the trace")
    ax.set_ylabel("replicas (incl. starting, draining)")
    rows = report["figures"]
    ax.set_title(
        "fidelity: TTFT p95 (hist) live {live:.2f} s vs sim {sim:.2f} s; replica-s {rl:.0f} vs {rs:.0f}".format(
            live=rows["ttft_p95_histogram_s"]["live"] or float("nan"),
            sim=rows["ttft_p95_histogram_s"]["sim"] or float("nan"),
            rl=rows["replica_seconds"]["live"],
            rs=rows["replica_seconds"]["sim"],
        ),
        fontsize=9,
    )
    ax.legend(loc="lower center")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = run_fidelity(out / "run", args.seconds, args.mean_rate, args.seed, shared_prefix=args.shared_prefix)
    print(f"trace {report['trace']['name']}: {report['trace']['requests']} requests, seed {args.seed}")
    print(f"measured replica start-ups (s): {report['measured_startups_s']}; sim cold start {report['sim_cold_start_s']:.2f} s")
    print(f"scale events live: {report['live_scale_events']}")
    print(f"scale events sim:  {report['sim_scale_events']}")
    print(f"live requests ok {report['live_requests_ok']}, failed {report['live_requests_failed']}; step errors {report['live_step_errors']:g}")
    print(format_figures(report))
    write_chart(out / "fidelity.png", report)
    (out / "fidelity.json").write_text(json.dumps({k: v for k, v in report.items() if k != "_series"}, indent=2))
    print(f"chart: {out / 'fidelity.png'}; figures: {out / 'fidelity.json'}")
    return 0
