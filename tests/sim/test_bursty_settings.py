"""examples/policy-bursty.yaml against the defaults on synthetic on/off bursts.

Six one-minute bursts of 15 requests/s (1,500-token prompts), eight quiet minutes
apart, over a light background: demand that jumps within one replica start-up (60 s)
and falls back between bursts. Two standing replicas carry a burst's peak, one does not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from controlplane.capacity.profile import get_profile
from controlplane.policy.model import KubernetesTarget, ScalingPolicy, load_policy_yaml
from controlplane.sim.compare import simulate_policy
from controlplane.traces.model import Trace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "policy-bursty.yaml"


def _bursts(rate_rps: float = 15.0, bursts: int = 6, gap_s: float = 480.0, seed: int = 3) -> Trace:
    rng = np.random.default_rng(seed)
    parts, t = [], 0.0
    for _ in range(bursts):
        parts.append(rng.uniform(t, t + 60.0, int(60 * rate_rps)))
        t += 60.0 + gap_s
    parts.append(rng.uniform(0.0, t, int(t * 0.1)))
    arrivals = np.sort(np.concatenate(parts))
    n = len(arrivals)
    return Trace("on-off bursts", arrivals, np.full(n, 1500, dtype=np.int64), np.full(n, 150, dtype=np.int64))


def test_bursty_settings_hold_the_slo_where_the_defaults_chase_each_burst() -> None:
    trace = _bursts()
    profile = get_profile("llama-3.1-8b-h100")
    bursty = load_policy_yaml(EXAMPLE.read_text())
    default = ScalingPolicy(name=bursty.name, target=KubernetesTarget(deployment="vllm-code"), max_replicas=16)
    runs = {
        name: simulate_policy(trace, pol, profile, cold_start_s=60.0)
        for name, pol in (("default", default), ("bursty", bursty))
    }
    share = {name: r.share_within(r.ttft, 2.0) for name, r in runs.items()}
    # the defaults let one replica meet each burst, then start replicas that arrive after it
    assert share["default"] < 0.9
    assert share["bursty"] >= 0.99
    assert len(runs["bursty"].scale_events) < len(runs["default"].scale_events)
    assert runs["bursty"].gpu_hours < runs["default"].gpu_hours
