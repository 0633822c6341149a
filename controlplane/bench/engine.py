"""``controlplane bench engine``: engine throughput of :class:`~controlplane.capacity.engine.ReplicaEngine`.

Pushes synthetic Poisson traffic through one engine and prints how many
requests per second of wall time the model processes (the simulator's budget
is ~15 us of engine work per request). Imports the engine inside ``func``.
"""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("engine", help="requests/s the replica engine model processes")
    p.add_argument("--requests", type=int, default=200_000, help="synthetic requests (default 200000)")
    p.add_argument("--profile", default="llama-3.1-8b-h100", help="performance profile name")
    p.add_argument("--load", type=float, default=0.8, help="offered load as a fraction of saturation (default 0.8)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from controlplane.capacity.engine import FINISHED, ReplicaEngine
    from controlplane.capacity.profile import get_profile

    if args.requests < 1:
        raise ValueError("--requests: must be >= 1")
    if not 0 < args.load:
        raise ValueError("--load: must be > 0")
    profile = get_profile(args.profile)
    rng = np.random.default_rng(args.seed)
    n = args.requests
    limit = max(2, min(2048, profile.max_model_len // 2))
    prompts = np.clip(rng.lognormal(np.log(limit / 4), 0.8, n), 1, limit).astype(int).tolist()
    outputs = np.clip(rng.lognormal(np.log(limit / 8), 0.8, n), 1, limit).astype(int).tolist()
    rate = args.load * profile.max_requests_per_s(float(np.mean(prompts)), float(np.mean(outputs)))
    arrivals = np.cumsum(rng.exponential(1.0 / rate, n)).tolist()

    engine = ReplicaEngine(profile)
    done = 0
    ttft_sum = 0.0
    k = 0
    start = time.perf_counter()
    while k < n or engine.next_event_time() is not None:
        nxt = engine.next_event_time()
        if k < n and (nxt is None or arrivals[k] <= nxt):
            engine.submit(k, arrivals[k], prompts[k], outputs[k])
            k += 1
            continue
        for ev in engine.advance(nxt):  # type: ignore[arg-type]
            if ev.kind == FINISHED:
                done += 1
                ttft_sum += ev.stats.ttft  # type: ignore[union-attr]
    wall = time.perf_counter() - start
    print(f"profile {profile.name}: {n} requests at {rate:.1f} req/s offered ({args.load:.0%} of saturation)")
    print(f"simulated {arrivals[-1]:.0f} s, {engine.total_steps} engine steps, "
          f"{engine.total_preemptions} preemptions, mean TTFT {ttft_sum / done * 1000:.1f} ms")
    print(f"engine throughput: {n / wall:,.0f} requests/s ({wall / n * 1e6:.1f} us/request, {wall:.2f} s wall)")
    return 0
