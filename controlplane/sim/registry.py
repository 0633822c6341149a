"""The policies a comparison can run, by name: one entry each, one place to add one.

Owns: :data:`POLICIES` (name -> factory of an :class:`Autoscaler` from a
:class:`PolicyContext`) and :func:`default_policy`. ``oracle`` and
``hindsight`` are references, not autoscalers: :mod:`controlplane.sim.compare`
computes the first as a bound and searches the second
(:mod:`controlplane.sim.hindsight`) with the comparison's own simulator
settings. Must not import: any I/O library.

Adding a policy is one function and one entry here. Our policies run the
controller's advisors (:func:`~controlplane.sim.advisors.sim_advisors`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controlplane.capacity.profile import PerformanceProfile
from controlplane.policy.model import SLO, LocalTarget, ScalingPolicy
from controlplane.sim.advisors import sim_advisors
from controlplane.sim.autoscaler import Autoscaler, DecideAutoscaler, StaticAutoscaler
from controlplane.sim.baselines import HpaAutoscaler, HpaRules, KedaAutoscaler, KnativeAutoscaler
from controlplane.sim.calibrate import knative_target, static_replicas
from controlplane.sim.predictive import predictive_autoscaler
from controlplane.traces.model import Trace

__all__ = ["PolicyContext", "POLICIES", "REFERENCES", "ALL_POLICIES", "default_policy", "make_autoscaler"]


@dataclass(frozen=True)
class PolicyContext:
    """What a factory may use: the trace (for calibrated baselines), the profile, our policy."""

    trace: Trace
    profile: PerformanceProfile
    policy: ScalingPolicy
    max_replicas: int = 64
    static_replicas: int | None = None  # None: sized for the trace's busiest minute


def default_policy(slo_ttft_s: float, profile: PerformanceProfile, max_replicas: int = 64) -> ScalingPolicy:
    """Our policy with its shipped defaults, the run's TTFT SLO and the profile's start-up time."""
    return ScalingPolicy(
        name="sim",
        target=LocalTarget(group="sim", profile=profile.name),
        max_replicas=max_replicas,
        slo=SLO(ttft_p95_s=slo_ttft_s),
        startup_s=max(profile.startup_s, 1.0),
    )


def _reactive(ctx: PolicyContext) -> Autoscaler:
    return DecideAutoscaler(ctx.policy, advisors=sim_advisors(ctx.profile))


def sized_policy(policy: ScalingPolicy) -> ScalingPolicy:
    """The policy with model-based sizing on (:mod:`controlplane.advisors.sizing`), its other settings kept."""
    return policy.model_copy(update={"sizing": policy.sizing.model_copy(update={"enabled": True})})


def _sized(ctx: PolicyContext) -> Autoscaler:
    return DecideAutoscaler(sized_policy(ctx.policy), name="sized", advisors=sim_advisors(ctx.profile))


def _predictive(ctx: PolicyContext) -> Autoscaler:
    return predictive_autoscaler(ctx.policy, ctx.profile)


def _static(ctx: PolicyContext) -> Autoscaler:
    n = ctx.static_replicas if ctx.static_replicas is not None else static_replicas(ctx.trace, ctx.profile)
    return StaticAutoscaler(min(n, ctx.max_replicas))


def _hpa(ctx: PolicyContext) -> Autoscaler:
    return HpaAutoscaler(rules=HpaRules(min_replicas=ctx.policy.min_replicas, max_replicas=ctx.max_replicas))


def _keda(ctx: PolicyContext) -> Autoscaler:
    return KedaAutoscaler(rules=HpaRules(min_replicas=ctx.policy.min_replicas, max_replicas=ctx.max_replicas))


def _knative(ctx: PolicyContext) -> Autoscaler:
    return KnativeAutoscaler(
        target_concurrency=knative_target(ctx.trace, ctx.profile),
        min_replicas=ctx.policy.min_replicas,
        max_replicas=ctx.max_replicas,
    )


POLICIES: dict[str, Callable[[PolicyContext], Autoscaler]] = {
    "reactive": _reactive,
    "predictive": _predictive,
    "sized": _sized,
    "hpa": _hpa,
    "keda": _keda,
    "knative": _knative,
    "static": _static,
}

REFERENCES = ("hindsight", "oracle")
ALL_POLICIES = (*POLICIES, *REFERENCES)


def make_autoscaler(name: str, ctx: PolicyContext) -> Autoscaler:
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(f"policies: unknown {name!r}; known: {', '.join(ALL_POLICIES)}") from None
    return factory(ctx)
