"""``controlplane bench decide``: wall time of the decider over many policies.

Builds ``--policies`` distinct policies (signal targets, windows, step limits,
schedules in several time zones, scale-to-zero) fed with seeded synthetic load
(a daily-like wave, noise and bursts), and times ``decide`` for every policy on
every tick. Prints the mean and p99 wall time of one tick over all policies and
the mean time per decision. Replica status follows the previous decision with a
one-tick start-up lag, so panics, pending guards and stabilization all occur.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "build_policies", "run"]

_ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
_TICK_S = 15.0
_START = 1_795_521_600.0  # 2026-11-24 12:00 UTC


def register(kinds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = kinds.add_parser("decide", help="time decide() over many policies per tick")
    parser.add_argument("--policies", type=int, default=100, help="distinct policies per tick (default 100)")
    parser.add_argument("--ticks", type=int, default=500, help="ticks to run (default 500)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic load")
    parser.set_defaults(func=_main)


def build_policies(n: int) -> list[Any]:
    """``n`` distinct, valid policies covering the decider's features."""
    from controlplane.policy.model import parse_policy

    out = []
    for i in range(n):
        doc: dict[str, Any] = {
            "name": f"bench-{i:03d}",
            "target": {"kind": "kubernetes", "namespace": "bench", "deployment": f"vllm-{i:03d}"},
            "min_replicas": 1 + i % 2,
            "max_replicas": 6 + i % 11,
            "signals": {
                "waiting_requests": 1.0 + (i % 4) * 0.5,
                "kv_cache_usage": 0.6 + (i % 3) * 0.1,
                "generation_tokens_per_s": 800.0 + 100 * (i % 5) if i % 3 == 0 else None,
                "running_requests": 32.0 + 8 * (i % 3),
            },
            "windows": {
                "stable_s": 60.0 + 30 * (i % 3),
                "panic_s": 6.0 + 3 * (i % 2),
                "panic_threshold": 1.5 + 0.5 * (i % 3),
                "scale_up_stabilization_s": 30.0 * (i % 2),
                "scale_down_stabilization_s": 120.0 + 60 * (i % 4),
            },
            "steps": {"max_up_pods": 2 + i % 4, "max_down_pods": 1 + i % 2},
            "mode": "shadow" if i % 10 == 0 else "active",
        }
        if i % 4 == 0:
            doc["schedule"] = [
                {
                    "name": "peak",
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "start": "09:00",
                    "end": "18:00",
                    "timezone": _ZONES[i % len(_ZONES)],
                    "min_replicas": 2 + i % 3,
                },
                {"name": "night", "start": "22:00", "end": "06:00", "timezone": _ZONES[(i + 1) % len(_ZONES)], "max_replicas": 4},
            ]
        if i % 7 == 0:
            doc["min_replicas"] = 0
            doc["scale_to_zero"] = {"enabled": True, "idle_period_s": 300.0}
        out.append(parse_policy(doc))
    return out


def run(n_policies: int, ticks: int, seed: int) -> dict[str, float]:
    import math
    import time

    import numpy as np

    from controlplane.policy.decide import decide
    from controlplane.policy.state import DecisionState
    from controlplane.protocols import ReplicaStatus
    from controlplane.signals import Reading, Signals

    policies = build_policies(n_policies)
    rng = np.random.default_rng(seed)
    scale = rng.uniform(1.0, 12.0, n_policies)
    phase = rng.uniform(0, 2 * math.pi, n_policies)
    states = [DecisionState() for _ in policies]
    spec = [p.min_replicas or 1 for p in policies]
    ready = list(spec)
    tick_ms: list[float] = []
    counts = {"valid": 0, "panic": 0, "changes": 0}
    for k in range(ticks):
        now = _START + k * _TICK_S
        wave = 1 + 0.6 * np.sin(2 * math.pi * k / 240 + phase)
        burst = np.where(rng.random(n_policies) < 0.02, rng.uniform(2, 5, n_policies), 1.0)
        demand = np.maximum(0.0, scale * wave * burst + rng.normal(0, 0.3, n_policies))
        batch = []
        for i, pol in enumerate(policies):
            d = float(demand[i])
            per_ready = d / max(1, ready[i])
            at = now - 5
            sig = Signals(
                target=pol.target_key,
                collected_at=now,
                request_rate=Reading.of(d * 0.8, at),
                waiting_requests=Reading.of(max(0.0, d - 2 * ready[i]), at),
                running_requests=Reading.of(min(d, 40.0 * ready[i]), at),
                kv_cache_usage_mean=Reading.of(min(1.0, 0.15 * per_ready), at),
                generation_tokens_rate=Reading.of(d * 120, at),
                ttft_p95=Reading.of(0.3 + 0.2 * per_ready, at),
                itl_p95=Reading.of(0.03 + 0.004 * per_ready, at),
                e2e_p95=Reading.of(4 + 2 * per_ready, at),
            )
            status = ReplicaStatus(spec=spec[i], ready=ready[i], pending=max(0, spec[i] - ready[i]), observed_at=now)
            batch.append((pol, sig, status))
        t0 = time.perf_counter()
        decisions = []
        for i, (pol, sig, status) in enumerate(batch):
            decision, states[i] = decide(pol, sig, states[i], now, status)
            decisions.append(decision)
        tick_ms.append((time.perf_counter() - t0) * 1000)
        for i, decision in enumerate(decisions):
            counts["valid"] += decision.valid
            counts["panic"] += decision.mode == "panic"
            counts["changes"] += decision.change != 0
            ready[i] = spec[i]
            if decision.valid and not decision.shadow:
                spec[i] = decision.desired
                ready[i] = min(ready[i], spec[i])
    arr = np.array(tick_ms)
    n = n_policies * ticks
    return {
        "policies": n_policies,
        "ticks": ticks,
        "tick_mean_ms": float(arr.mean()),
        "tick_p99_ms": float(np.percentile(arr, 99)),
        "decision_mean_us": float(arr.sum() * 1000 / n),
        "valid_share": counts["valid"] / n,
        "panic_share": counts["panic"] / n,
        "changes": counts["changes"],
    }


def _main(args: argparse.Namespace) -> int:
    if args.policies < 1:
        raise ValueError("--policies: must be at least 1")
    if args.ticks < 1:
        raise ValueError("--ticks: must be at least 1")
    r = run(args.policies, args.ticks, args.seed)
    print(f"decide: {r['policies']} policies x {r['ticks']} ticks (seed {args.seed})")
    print(f"one tick over all policies: mean {r['tick_mean_ms']:.2f} ms, p99 {r['tick_p99_ms']:.2f} ms")
    print(f"per decision: mean {r['decision_mean_us']:.1f} us")
    print(
        f"decisions: {r['valid_share']:.1%} valid, {r['panic_share']:.1%} in panic,"
        f" {r['changes']} replica changes"
    )
    return 0
