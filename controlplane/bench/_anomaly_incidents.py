"""``controlplane bench anomalies --incidents``: the anomaly advisor against injected serving faults.

Owns: building the traffic of each scenario (a ServeGen-shaped synthetic day
by default; the Azure LLM code trace when it is found), running the faults
and bursts of :mod:`controlplane.evaluation.incidents` through a simulated
fleet, feeding every tick to a fresh :class:`~controlplane.advisors.anomaly.AnomalyAdvisor`
with its shipped settings, and printing time to detect, false alerts per
simulated day and the NAB scores of its alert onsets.

An alert onset is a finding of the advisor becoming active (any of its
alert names, any signal). Bursts carry no label: an onset they cause is a
false alert, as is one on the daily peak.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_incidents", "render_incidents", "AZURE_CODE"]

AZURE_CODE = Path("../shared/data/traces/azure_llm_2023_code.csv")
# 2026-11-23 00:00 UTC: the runs start at midnight, so the daily shape sits at its hour.
EPOCH = 1_795_478_400.0
DETECT_WITHIN_S = 120.0


def _synthetic(days: float, seed: int, rate: float = 6.0) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    from controlplane.traces.synthetic import SyntheticSpec, synthetic_trace

    # ServeGen m-large's summed rate swings about 12x from night to peak (48 to 583 req/s):
    # amplitude (12 - 1) / (12 + 1) = 0.85; its peak is in the afternoon. Token sizes and
    # burstiness are the Azure code trace's (the synthetic defaults).
    spec = SyntheticSpec(name="servegen-shaped", duration_s=days * 86400.0, mean_rate_rps=rate,
                         diurnal_amplitude=0.85, peak_s=15 * 3600.0)
    tr = synthetic_trace(spec, seed=seed)
    return "synthetic ServeGen-shaped", tr.arrival_s, tr.prompt_tokens, tr.output_tokens


def _azure(path: Path, days: float) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    from controlplane.traces.azure import load_azure

    tr = load_azure(path)
    span = tr.duration_s + 1.0
    copies = math.ceil(days * 86400.0 / span)
    t = np.concatenate([tr.arrival_s + k * span for k in range(copies)])
    keep = t < days * 86400.0
    return (f"Azure code trace x{copies} back to back", t[keep],
            np.tile(tr.prompt_tokens, copies)[keep], np.tile(tr.output_tokens, copies)[keep])


def _scenario(name: str, arrivals: tuple[np.ndarray, np.ndarray, np.ndarray], days: float,
              seed: int) -> dict[str, Any]:
    from controlplane.advisors.anomaly import AnomalyAdvisor
    from controlplane.capacity.profile import get_profile
    from controlplane.evaluation import incidents as inc
    from controlplane.evaluation.nab import parse_profiles
    from controlplane.policy.model import parse_policy

    duration = days * 86400.0
    faults, bursts = inc.plan(duration, seed)
    faults = sorted(faults, key=lambda f: f.start_s)  # the order score_onsets reports delays in
    t, p, o = inc.with_bursts(*arrivals, bursts, seed)
    policy = parse_policy({"name": "bench", "target": {"kind": "kubernetes", "deployment": "vllm"}})
    advisor = AnomalyAdvisor()
    now_s, onsets, names = [], [], []
    active: set[str] = set()
    started = time.perf_counter()
    exposed: dict[int, float] = {}
    for tick in inc.replay(t, p, o, faults, get_profile("llama-3.1-8b-h100"), epoch=EPOCH, seed=seed,
                           exposed=exposed):
        advice = advisor.advise(policy, tick.signals, tick.status, tick.now)
        current = {a.split(": ", 1)[0] for a in advice.anomalies}
        new = sorted(current - active)
        active = current
        now_s.append(tick.now)
        onsets.append(bool(new))
        names.append(new)
    wall = time.perf_counter() - started
    profiles = parse_profiles(_NAB_PROFILES)
    outcome = inc.score_onsets(now_s, onsets, faults, EPOCH, list(profiles.values()))
    from_shown = inc.detection_delays(faults, outcome.delays, exposed)
    rel = np.asarray(now_s) - EPOCH
    false_names: dict[str, int] = {}
    in_burst = 0
    windows = [(f.start_s, f.end_s + 300.0) for f in faults]
    for k, new in enumerate(names):
        if new and not any(a < rel[k] <= b for a, b in windows):
            for n in new:
                false_names[n] = false_names.get(n, 0) + 1
            in_burst += any(b.start_s <= rel[k] <= b.start_s + b.duration_s + 300.0 for b in bursts)
    return {
        "scenario": name, "days": round(outcome.days, 3), "requests": int(t.size), "ticks": len(now_s),
        "bursts": len(bursts),
        "faults": [{"kind": f.kind, "start_h": round(f.start_s / 3600.0, 2), "minutes": round(f.duration_s / 60.0, 1),
                    "size": round(f.size, 3), "replica": f.replica,
                    "detected_after_s": _round(d),
                    "shown_after_s": _round(exposed[k] - f.start_s) if k in exposed else None,
                    "detected_after_shown_s": _round(from_shown[k])}
                   for k, (f, d) in enumerate(zip(faults, outcome.delays, strict=True))],
        "false_alerts": outcome.false_alerts, "false_alerts_per_day": round(outcome.false_per_day, 2),
        "false_alerts_near_bursts": in_burst, "false_alerts_by_finding": false_names,
        "nab": {k: round(v, 1) for k, v in outcome.nab.items()}, "wall_s": round(wall, 1),
    }


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


_NAB_PROFILES = {
    # NAB's three application profiles (numenta/NAB config/profiles.json), so the benchmark needs no data files.
    "standard": {"CostMatrix": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0}},
    "reward_low_FP_rate": {"CostMatrix": {"tpWeight": 1.0, "fpWeight": 0.22, "fnWeight": 1.0}},
    "reward_low_FN_rate": {"CostMatrix": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 2.0}},
}


def run_incidents(days: float = 2.0, seed: int = 0, azure: Path | None = AZURE_CODE,
                  rate: float = 6.0) -> dict[str, Any]:
    """Every scenario: the synthetic one always (``rate`` req/s on average), the Azure trace when
    ``azure`` names a file."""
    if not days > 0:
        raise ValueError(f"--days: must be > 0, got {days!r}")
    if not rate > 0:
        raise ValueError(f"--rate: must be > 0, got {rate!r}")
    name, *arrivals = _synthetic(days, seed, rate)
    out = [_scenario(name, (arrivals[0], arrivals[1], arrivals[2]), days, seed)]
    if azure is not None and azure.is_file():
        name, *arrivals = _azure(azure, days)
        out.append(_scenario(name, (arrivals[0], arrivals[1], arrivals[2]), days, seed + 1))
    return {"seed": seed, "scenarios": out}


def render_incidents(summary: dict[str, Any]) -> str:
    lines = []
    for s in summary["scenarios"]:
        lines.append(f"== {s['scenario']}: {s['days']:g} simulated days, {s['requests']} requests, {s['ticks']} ticks "
                     f"of 15 s, 2 replicas (llama-3.1-8b-h100 profile), {len(s['faults'])} faults, "
                     f"{s['bursts']} unlabelled bursts")
        for f in s["faults"]:
            d = f["detected_after_s"]
            seen = "MISSED" if d is None else f"detected after {d:.0f} s" + ("" if d <= DETECT_WITHIN_S else " (late)")
            shown = f.get("shown_after_s")
            if shown is None:
                seen += "; never showed (no request reached it)"
            elif shown >= 1.0:
                seen += f"; first showed after {shown:.0f} s"
            lines.append(f"  {f['kind']:<8} at {f['start_h']:6.2f} h for {f['minutes']:5.1f} min, size {f['size']:<6g} "
                         f"replica {f['replica']}: {seen}")
        delays = [f["detected_after_s"] for f in s["faults"]]
        within = sum(1 for d in delays if d is not None and d <= DETECT_WITHIN_S)
        after_shown = [f.get("detected_after_shown_s") for f in s["faults"]]
        showed = sum(1 for f in s["faults"] if f.get("shown_after_s") is not None)
        within_shown = sum(1 for d in after_shown if d is not None and d <= DETECT_WITHIN_S)
        lines.append(f"  detected within {DETECT_WITHIN_S:.0f} s of the fault's start: {within}/{len(delays)}; "
                     f"of its first showing in the metrics: {within_shown}/{showed} that showed")
        lines.append(f"  false alerts "
                     f"{s['false_alerts']} ({s['false_alerts_per_day']:.2f} a simulated day, "
                     f"{s['false_alerts_near_bursts']} during or just after a burst) by finding "
                     f"{s['false_alerts_by_finding'] or '{}'}")
        lines.append("  NAB score of the alert onsets: " + ", ".join(f"{k} {v:.1f}" for k, v in s["nab"].items())
                     + f"; {s['wall_s']:.1f} s wall")
    return "\n".join(lines)
