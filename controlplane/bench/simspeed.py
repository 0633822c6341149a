"""``controlplane bench simspeed``: how fast the trace-replay simulator runs.

Prints, for each case, wall time, requests per second of wall time and the
process's peak RSS (``resource.getrusage``, Linux reports KiB):

1. a trace file (e.g. ../shared/data/traces/azure_llm_2023_code.csv) under
   every policy, oracle included (target: under 10 s in total);
2. the first ``--requests`` requests (default 1,000,000) of a seeded
   synthetic trace (the ``azure-code`` preset's sizes and shape at
   ``--rate`` requests/s) under one policy (target: under 60 s on one core,
   under 2 GiB).

Heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("simspeed", help="wall time and peak memory of trace replays")
    p.add_argument("--trace", default=None, help="trace replayed under every policy (skipped when absent)")
    p.add_argument("--requests", type=int, default=1_000_000, help="synthetic requests (default 1000000)")
    p.add_argument("--rate", type=float, default=100.0, help="synthetic mean arrival rate, req/s (default 100)")
    p.add_argument("--policy", default="reactive", help="policy for the synthetic run (default reactive)")
    p.add_argument("--profile", default="llama-3.1-8b-h100")
    p.add_argument("--slo-ttft", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def _rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(args: argparse.Namespace) -> int:
    import time

    from controlplane.capacity.profile import get_profile
    from controlplane.sim.calibrate import static_replicas
    from controlplane.sim.compare import compare
    from controlplane.sim.registry import ALL_POLICIES, PolicyContext, default_policy
    from controlplane.sim.replay import SimConfig
    from controlplane.sim.results import SloTargets
    from controlplane.traces import Trace, load_trace
    from controlplane.traces.synthetic import get_preset, synthetic_trace

    if args.requests < 1 or not args.rate > 0:
        raise ValueError("--requests and --rate: must be > 0")
    profile = get_profile(args.profile)
    slo = SloTargets(args.slo_ttft)
    policy = default_policy(args.slo_ttft, profile)

    def config(trace: object) -> SimConfig:
        return SimConfig(profile=profile, initial_replicas=max(1, static_replicas(trace, profile) // 2))  # type: ignore[arg-type]

    if args.trace:
        trace = load_trace(args.trace)
        t0 = time.perf_counter()
        replayed = [p for p in ALL_POLICIES if p != "hindsight"]  # the search is not one replay
        result = compare(trace, replayed, config(trace), PolicyContext(trace, profile, policy), slo)
        wall = time.perf_counter() - t0
        print(f"{trace.name}: {len(trace):,} requests x {len(result.runs)} policies + oracle: "
              f"{wall:.2f} s wall ({len(trace) * len(result.runs) / wall:,.0f} req/s), peak RSS {_rss_mib():.0f} MiB")

    t0 = time.perf_counter()
    # The daily shape and noise move the count; generate 30 % extra and keep the first N.
    spec = get_preset("azure-code").with_overrides(
        duration_s=1.3 * args.requests / args.rate, mean_rate_rps=args.rate, name=f"synthetic-{args.requests}"
    )
    full = synthetic_trace(spec, seed=args.seed)
    n = min(args.requests, len(full))
    trace = Trace(full.name, full.arrival_s[:n], full.prompt_tokens[:n], full.output_tokens[:n])
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = compare(trace, [args.policy], config(trace), PolicyContext(trace, profile, policy), slo)
    wall = time.perf_counter() - t0
    row = result.rows()[0]
    print(f"{trace.name}: {len(trace):,} requests over {trace.duration_s / 3600:.1f} h under {args.policy}: "
          f"generated in {gen:.1f} s, replayed in {wall:.1f} s wall ({len(trace) / wall:,.0f} req/s), "
          f"peak RSS {_rss_mib():.0f} MiB; TTFT within SLO {row['ttft_within_slo']:.3f}, "
          f"GPU-h {row['gpu_hours']:.1f}, peak replicas {row['peak_replicas']}")
    return 0
