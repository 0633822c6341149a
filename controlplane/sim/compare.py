"""Run several policies over one trace and put their figures side by side.

Owns: :func:`compare` (the runs, the attainable share, the hindsight
reference and the oracle bound, ratios to both) and the :class:`Comparison` it
returns, which the ``bench autoscale`` command prints, writes and charts. Must
not import: any I/O library.

The hindsight reference and the oracle bound both keep
``min(objective, attainable_share - 0.005)`` of requests within the TTFT SLO
(:func:`~controlplane.sim.hindsight.reference_share`): asking a bound for a
share no fleet can reach would only count work no schedule can do in time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from controlplane.advisors.overrides import PlannedOverride
from controlplane.capacity.profile import PerformanceProfile
from controlplane.policy.model import ScalingPolicy
from controlplane.sim.advisors import sim_advisors
from controlplane.sim.attainable import attainable_share
from controlplane.sim.autoscaler import DecideAutoscaler, StaticAutoscaler
from controlplane.sim.hindsight import HindsightResult, hindsight_schedule, reference_share
from controlplane.sim.observe import ScrapeConfig
from controlplane.sim.oracle import OracleBound, oracle_bound
from controlplane.sim.registry import PolicyContext, make_autoscaler
from controlplane.sim.replay import ColdStart, SimConfig, simulate
from controlplane.sim.results import RunResult, SloTargets
from controlplane.traces.model import Trace

__all__ = ["Comparison", "compare", "simulate_policy"]


@dataclass
class Comparison:
    trace: str
    requests: int
    duration_s: float
    slo: SloTargets
    runs: dict[str, RunResult]
    oracle: OracleBound | None
    series_step_s: float
    attainable_share: float = 1.0  # within the TTFT SLO on an idle replica (sim.attainable)
    hindsight: HindsightResult | None = None
    wall_s: dict[str, float] = field(default_factory=dict)  # per policy, when compare() had a timer

    def rows(self) -> list[dict[str, Any]]:
        """One summary per policy (oracle last), with ``gpu_hours_vs_oracle`` and ``gpu_hours_vs_hindsight``."""
        out: list[dict[str, Any]] = []
        base = self.oracle.replica_seconds if self.oracle is not None else None
        ref = self.hindsight.run.replica_seconds if self.hindsight is not None else None
        for name, run in self.runs.items():
            row = run.summary(self.slo)
            row["gpu_hours_vs_oracle"] = row["replica_seconds"] / base if base else None
            row["gpu_hours_vs_hindsight"] = row["replica_seconds"] / ref if ref else None
            if name == "hindsight" and self.hindsight is not None:
                row.update(self.hindsight.summary_extra())
            if name in self.wall_s:
                row["wall_s"] = self.wall_s[name]
            row["series"] = run.series(self.series_step_s)
            out.append(row)
        if self.oracle is not None:
            row = dict(self.oracle.summary())
            row["gpu_hours_vs_oracle"] = 1.0
            row["gpu_hours_vs_hindsight"] = self.oracle.replica_seconds / ref if ref else None
            row["series"] = {"replicas": self.oracle.series(self.series_step_s)}
            out.append(row)
        return out


def compare(
    trace: Trace,
    policies: Sequence[str],
    config: SimConfig,
    ctx: PolicyContext,
    slo: SloTargets,
    *,
    series_step_s: float = 60.0,
    on_progress: Callable[[str, int], None] | None = None,
    timer: Callable[[], float] | None = None,
    hindsight_replays: int = 300,
) -> Comparison:
    """Simulate each named policy (``oracle`` is computed as a bound, ``hindsight`` searched with at
    most ``hindsight_replays`` replays) under the same config. ``timer`` (seconds, e.g.
    ``time.perf_counter``) times each one."""
    runs: dict[str, RunResult] = {}
    wall: dict[str, float] = {}
    oracle = None
    hindsight = None
    attainable = attainable_share(trace, config.profile, slo.ttft_s)
    for name in policies:
        started = timer() if timer is not None else 0.0
        if name == "oracle":
            oracle = oracle_bound(
                trace,
                config.profile,
                ttft_slo_s=slo.ttft_s,
                objective=reference_share(slo.objective, attainable),
                startup_s=config.cold_start.bound_s(config.profile),
                min_replicas=ctx.policy.min_replicas,
            )
            continue
        if name == "hindsight":
            hindsight = hindsight_schedule(trace, config, slo, min_replicas=ctx.policy.min_replicas,
                                           max_simulations=hindsight_replays)
            runs[name] = hindsight.run
            if on_progress is not None:
                on_progress(name, len(trace))
            if timer is not None:
                wall[name] = timer() - started
            continue
        autoscaler = make_autoscaler(name, ctx)
        cfg = config
        if isinstance(autoscaler, StaticAutoscaler):
            # Provisioned for the peak ahead of time: all replicas ready from t=0.
            cfg = replace(config, initial_replicas=autoscaler.replicas)
        progress = (lambda k, _n=name: on_progress(_n, k)) if on_progress is not None else None
        runs[name] = simulate(trace, autoscaler, cfg, progress)
        if timer is not None:
            wall[name] = timer() - started
    return Comparison(
        trace.name, len(trace), trace.duration_s, slo, runs, oracle, series_step_s, attainable, hindsight, wall,
    )


def simulate_policy(
    trace: Trace,
    policy: ScalingPolicy,
    profile: PerformanceProfile,
    *,
    initial_replicas: int | None = None,
    cold_start_s: float | None = None,
    sync_period_s: float = 15.0,
    scrape: ScrapeConfig | None = None,
    epoch: float | None = None,
    overrides: Sequence[PlannedOverride] = (),
) -> RunResult:
    """Replay ``trace`` under the live loop's tick with the same policy, profile and advisors
    the loop uses (forecast floor, schedule pre-warm, ``overrides``): what-if and the fidelity
    comparison. ``initial_replicas`` defaults to the policy's ``min_replicas``; the cold start
    to the profile's ``startup_s``; ``epoch`` (the Unix time of the trace's first second,
    which schedule windows are read at) to the trace's own start, 0 when it has none."""
    if epoch is None:
        epoch = trace.start_unix if trace.start_unix is not None else 0.0
    config = SimConfig(
        profile=profile,
        cold_start=ColdStart(mean_s=cold_start_s),
        scrape=scrape or ScrapeConfig(),
        window_s=policy.windows.stable_s,
        initial_replicas=policy.min_replicas if initial_replicas is None else initial_replicas,
        max_replicas=policy.max_replicas,
        epoch=epoch,
        target=policy.target_key,
    )
    advisors = sim_advisors(profile, tick_s=sync_period_s, overrides=overrides)
    return simulate(trace, DecideAutoscaler(policy, sync_period_s=sync_period_s, advisors=advisors), config)
