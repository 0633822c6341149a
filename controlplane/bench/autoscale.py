"""``controlplane bench autoscale``: replay a trace under several autoscalers and compare them.

Prints the attainable share (requests within the TTFT SLO on an idle replica,
:mod:`controlplane.sim.attainable`) and a table (share of requests within the
TTFT SLO, TTFT quantiles, GPU-hours and their ratio to the oracle lower bound
and to the ``hindsight`` reference schedule, scale events, reversals, peak
queue), writes ``DIR/results.json`` and PNG charts (load, replicas per policy,
TTFT p95 over time with the SLO line).

Defaults per data set (``--profile`` / ``--slo-ttft`` override them):

* ``azure`` (Azure LLM inference trace 2023): llama-3.1-8b-h100, TTFT SLO 2 s.
  The code trace's median prompt of 1,469 tokens prefills in ~60 ms on that
  profile, so 2 s (a common interactive-chat SLO, the policy default) leaves
  room for queueing while still punishing a backlog.
* ``servegen`` (ServeGen m-large): llama-3.1-8b-h100, TTFT SLO 2 s; summed
  rates of 48-583 req/s over 14 days are ~300 M requests, so use
  ``--rate-scale`` (e.g. 0.01) and/or ``--start-s/--end-s`` to keep it
  tractable; sizes come from :class:`controlplane.traces.TokenSizes`.
* anything else: llama-3.1-8b-h100, TTFT SLO 2 s.

Heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse

__all__ = ["register", "DATASET_DEFAULTS"]

# format -> (profile, TTFT SLO in s); see the module docstring for why.
DATASET_DEFAULTS: dict[str, tuple[str, float]] = {
    "azure": ("llama-3.1-8b-h100", 2.0),
    "servegen": ("llama-3.1-8b-h100", 2.0),
}
_FALLBACK = ("llama-3.1-8b-h100", 2.0)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("autoscale", help="compare autoscalers on a trace replay (table, results.json, charts)")
    p.add_argument("--trace", required=True, help="trace file or ServeGen directory")
    p.add_argument("--format", default=None, help="azure, mooncake, servegen, burstgpt or generic (default: sniff)")
    p.add_argument("--columns", default=None, help="generic format: time=COL,prompt=COL,output=COL[,unit=s|ms|us|datetime]")
    p.add_argument("--policies", default="reactive,hpa,keda,knative,static,oracle",
                   help="comma-separated; also predictive, sized (model-based sizing on), and hindsight (the reference schedule search)")
    p.add_argument("--policy-file", default=None, help="YAML ScalingPolicy for 'reactive' (default: shipped defaults)")
    p.add_argument("--slo-ttft", type=float, default=None, help="TTFT SLO in s (default: per data set)")
    p.add_argument("--profile", default=None, help="performance profile (default: per data set)")
    p.add_argument("--time-scale", type=float, default=1.0, help="compress time (2 = twice as fast)")
    p.add_argument("--rate-scale", type=float, default=1.0, help="thin (<1) or replicate (>1) requests")
    p.add_argument("--start-s", type=float, default=None, help="ServeGen: first window to keep (s from day 1 00:00)")
    p.add_argument("--end-s", type=float, default=None, help="ServeGen: keep windows starting before this")
    p.add_argument("--router", default="least_outstanding",
                   help="least_outstanding, round_robin or prefix_affinity (the replica caching most of the prompt)")
    p.add_argument("--no-prefix-caching", action="store_true",
                   help="replicas without vLLM's automatic prefix caching (on by default, as in vLLM)")
    p.add_argument("--initial-replicas", type=int, default=None, help="ready at t=0 (default: static's count / 2, >= 1)")
    p.add_argument("--max-replicas", type=int, default=64, help="hard cap for every policy (default 64)")
    p.add_argument("--static-replicas", type=int, default=None, help="static policy's count (default: peak-sized)")
    p.add_argument("--cold-start-s", type=float, default=None, help="replica start-up (default: the profile's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hindsight-replays", type=int, default=300,
                   help="most replays the hindsight search may run (default 300); a search cut short "
                        "reports the cheapest schedule it found, which a longer one could undercut")
    p.add_argument("--out", required=True, help="output directory for results.json and PNGs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from controlplane.bench._charts import write_charts
    from controlplane.capacity.profile import get_profile
    from controlplane.console import progress_bar
    from controlplane.policy.model import load_policy_yaml
    from controlplane.sim.calibrate import static_replicas
    from controlplane.sim.compare import compare
    from controlplane.sim.registry import ALL_POLICIES, PolicyContext, default_policy
    from controlplane.sim.replay import ColdStart, SimConfig
    from controlplane.sim.results import SloTargets
    from controlplane.traces import load_trace, sniff_format

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    for name in policies:
        if name not in ALL_POLICIES:
            raise ValueError(f"--policies: unknown {name!r}; known: {', '.join(ALL_POLICIES)}")
    if args.hindsight_replays < 1:
        raise ValueError("--hindsight-replays: must be >= 1")
    fmt = args.format or sniff_format(args.trace)
    default_profile, default_slo = DATASET_DEFAULTS.get(fmt, _FALLBACK)
    profile = get_profile(args.profile or default_profile)
    slo_ttft = args.slo_ttft if args.slo_ttft is not None else default_slo
    if not slo_ttft > 0:
        raise ValueError("--slo-ttft: must be > 0")

    options: dict[str, object] = {}
    if fmt == "generic":
        options["columns"] = args.columns
    if fmt == "servegen":
        options.update(seed=args.seed, rate_scale=args.rate_scale, start_s=args.start_s, end_s=args.end_s)
    t0 = time.perf_counter()
    trace = load_trace(args.trace, fmt, **options)
    rate_scale = 1.0 if fmt == "servegen" else args.rate_scale
    trace = trace.scaled(time_scale=args.time_scale, rate_scale=rate_scale, seed=args.seed)
    if not len(trace):
        raise ValueError(f"--trace: {args.trace} has no requests in the chosen range")
    print(f"trace {trace.name}: {len(trace):,} requests over {trace.duration_s / 3600:.2f} h "
          f"(loaded in {time.perf_counter() - t0:.1f} s); profile {profile.name}; TTFT SLO {slo_ttft:g} s")

    if args.policy_file:
        policy = load_policy_yaml(Path(args.policy_file).read_text())
    else:
        policy = default_policy(slo_ttft, profile, args.max_replicas)
    peak = args.static_replicas if args.static_replicas is not None else static_replicas(trace, profile)
    initial = args.initial_replicas if args.initial_replicas is not None else max(1, peak // 2)
    config = SimConfig(
        profile=profile,
        router=args.router,
        cold_start=ColdStart(mean_s=args.cold_start_s),
        initial_replicas=initial,
        max_replicas=args.max_replicas,
        seed=args.seed,
        window_s=policy.windows.stable_s,
        prefix_caching=not args.no_prefix_caching,
        # schedule windows and time-of-day forecasts read the hour the requests really came
        epoch=trace.start_unix if trace.start_unix is not None else 0.0,
    )
    ctx = PolicyContext(trace, profile, policy, args.max_replicas, peak)
    slo = SloTargets(slo_ttft, policy.slo.itl_p95_s, policy.slo.e2e_p95_s, policy.slo.objective)
    step = max(60.0, trace.duration_s / 2000.0)
    simulated = [p for p in policies if p != "oracle"]
    bar = progress_bar(len(trace) * len(simulated), unit="req", unit_scale=True, desc="replay")
    done: dict[str, int] = {}

    def on_progress(name: str, k: int) -> None:
        bar.update(k - done.get(name, 0))
        done[name] = k
        bar.set_postfix_str(name, refresh=False)  # drawn at the bar's next timed refresh

    t1 = time.perf_counter()
    result = compare(trace, policies, config, ctx, slo, series_step_s=step, on_progress=on_progress,
                     hindsight_replays=args.hindsight_replays,
                     timer=time.perf_counter)
    bar.close()
    wall = time.perf_counter() - t1
    rows = result.rows()
    print(f"attainable share: {result.attainable_share * 100:.2f}% of requests meet TTFT <= {slo_ttft:g} s "
          f"on an idle replica")
    print(format_table(rows, slo_ttft))
    hits = [f"{r['policy']} {r['prefix_cache_hit_ratio']:.1%}" for r in rows
            if isinstance(r.get("prefix_cache_hit_ratio"), float)]
    if hits and trace.blocks is not None:
        print(f"prefix-cache hit ratio (router {config.router}): {', '.join(hits)}")
    print(f"simulated {len(simulated)} policies in {wall:.1f} s wall")
    if result.hindsight is not None:
        h = result.hindsight
        print(f"hindsight: target {h.target_share * 100:.2f}% (min(objective, attainable - 0.5 pt)), "
              f"{'met' if h.met else 'NOT met'} with {h.share * 100:.2f}%; {h.simulations} replays, "
              f"search {result.wall_s['hindsight']:.1f} s wall"
              + ("" if h.simulations < args.hindsight_replays else
                 f" (stopped at --hindsight-replays {args.hindsight_replays}: a longer search "
                 + ("may find a cheaper schedule)" if h.met else "may reach the target)")))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "trace": {"path": str(args.trace), "format": fmt, "name": trace.name, "requests": len(trace),
                  "duration_s": trace.duration_s, "time_scale": args.time_scale, "rate_scale": args.rate_scale},
        "profile": profile.name,
        "slo": {"ttft_s": slo.ttft_s, "itl_s": slo.itl_s, "e2e_s": slo.e2e_s, "objective": slo.objective},
        "config": {"router": config.router, "prefix_caching": config.prefix_caching, "initial_replicas": initial, "max_replicas": args.max_replicas,
                   "static_replicas": peak, "cold_start_s": config.cold_start.bound_s(profile),
                   "scrape_interval_s": config.scrape.scrape_interval_s, "window_s": config.window_s},
        "reactive_policy": policy.to_dict(),
        "attainable_share": result.attainable_share,
        "wall_s": wall,
        "policies": rows,
    }
    (out / "results.json").write_text(json.dumps(doc, indent=1, sort_keys=True, default=float))
    charts = write_charts(rows, out, slo_ttft, trace.name)
    print(f"wrote {out / 'results.json'} and {', '.join(c.name for c in charts)}")
    return 0


def _fmt(v: object, spec: str) -> str:
    if v is None:
        width = int("".join(ch for ch in spec.split(".")[0] if ch.isdigit()) or 0)
        return "-".rjust(width)
    return format(v, spec)


def format_table(rows: list[dict[str, object]], slo_ttft: float) -> str:
    head = (f"{'policy':<10} {'TTFT<=' + format(slo_ttft, 'g') + 's':>10} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} "
            f"{'ITL ok':>7} {'GPU-h':>8} {'x oracle':>8} {'x hind':>6} {'events':>6} {'revers':>6} {'peak q':>7} {'peak rep':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        share = r.get("ttft_within_slo")
        pct = f"{share * 100:9.2f}%" if isinstance(share, float) else f"{'-':>10}"
        lines.append(
            f"{r['policy']:<10} {pct} "
            f"{_fmt(r.get('ttft_p50_s'), '7.2f')} {_fmt(r.get('ttft_p95_s'), '7.2f')} {_fmt(r.get('ttft_p99_s'), '7.2f')} "
            f"{_fmt(r.get('itl_within_slo'), '7.3f')} {_fmt(r.get('gpu_hours'), '8.2f')} "
            f"{_fmt(r.get('gpu_hours_vs_oracle'), '8.2f')} {_fmt(r.get('gpu_hours_vs_hindsight'), '6.2f')} "
            f"{_fmt(r.get('scale_events'), '6d')} "
            f"{_fmt(r.get('reversals'), '6d')} {_fmt(r.get('peak_queue'), '7.0f')} {_fmt(r.get('peak_replicas'), '8.1f')}"
        )
    return "\n".join(lines)
