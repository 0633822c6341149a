"""One tick's decision for one policy: advice gathered and merged, decided, invalidated, annotated.

Owns: :func:`gather_advice`, :func:`merge_advice` and :func:`decide_tick`, the
part of a tick between reading the inputs and acting on the decision. The live
:class:`~controlplane.loop.ControlLoop`, the simulator's
:class:`~controlplane.sim.autoscaler.DecideAutoscaler` (so ``bench autoscale``
and what-if), the API's dry-run and the local demo and replay all run a tick's
decision through these functions and nothing else, so what the simulator
replays is what the controller does.
Must not import: any I/O library; time comes in as ``now``.

Advisors run in the order given. Their floors are all kept (in that order); the
first guard, override and forecast record win; anomalies are concatenated. An
advisor that raises is skipped, unless it is ``required`` (the operator's
overrides): then its failure makes the decision invalid. An invalid decision
keeps the current replica count, whatever made it so, and names the first
failure in ``binding``; the decider's own reasons follow the failures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

from controlplane.policy.decide import decide
from controlplane.policy.decision import Decision, Proposal
from controlplane.policy.model import ScalingPolicy
from controlplane.policy.override import Override
from controlplane.policy.state import DecisionState
from controlplane.protocols import Advice, Advisor
from controlplane.signals import ReplicaStatus, Signals

__all__ = ["StepTimer", "gather_advice", "merge_advice", "decide_tick", "invalidate", "annotate"]

log = logging.getLogger(__name__)

#: ``name -> context manager`` timing (and counting failures of) one step; the loop's metrics.
StepTimer = Callable[[str], AbstractContextManager[Any]]


def merge_advice(advices: Iterable[Advice]) -> Advice:
    """Every floor and anomaly in order; the first guard, override and forecast record."""
    floors: list[Proposal] = []
    guard: str | None = None
    override: Override | None = None
    anomalies: list[str] = []
    forecast: dict[str, Any] | None = None
    for a in advices:
        floors.extend(a.floors)
        guard = guard or a.guard
        override = override or a.override
        anomalies.extend(a.anomalies)
        forecast = forecast or a.forecast
    return Advice(tuple(floors), guard, override, tuple(anomalies), forecast)


def gather_advice(
    advisors: Sequence[Advisor],
    policy: ScalingPolicy,
    signals: Signals,
    status: ReplicaStatus,
    now: float,
    *,
    step: StepTimer | None = None,
) -> tuple[Advice, tuple[str, ...]]:
    """Ask every advisor; returns the merged advice and the failures of required advisors."""
    advices: list[Advice] = []
    failures: list[str] = []
    for advisor in advisors:
        name = type(advisor).__name__
        try:
            with step(f"advise:{name}") if step is not None else nullcontext():
                advices.append(advisor.advise(policy, signals, status, now))
        except Exception as exc:
            log.exception("advisor %s failed for %s", name, policy.target_key)
            if getattr(advisor, "required", False):
                failures.append(f"{name} unavailable: {exc}")
    return merge_advice(advices), tuple(failures)


def decide_tick(
    policy: ScalingPolicy,
    signals: Signals,
    status: ReplicaStatus,
    state: DecisionState,
    now: float,
    advice: Advice = Advice(),
    failures: Sequence[str] = (),
) -> tuple[Decision, DecisionState]:
    """The decision for one policy at ``now`` and the state for its next tick.

    ``failures`` are the steps that could not run this tick (collecting signals,
    reading the replica status, a required advisor): any makes the decision invalid.
    """
    decision, state = decide(
        policy, signals, state, now, status, floors=advice.floors, guard=advice.guard, override=advice.override
    )
    if failures:
        decision = invalidate(decision, failures)
    if advice.anomalies or advice.forecast:
        decision = annotate(decision, advice)
    return decision, state


def invalidate(decision: Decision, failures: Sequence[str]) -> Decision:
    """The decision made invalid by ``failures``: it keeps the current count and says why first."""
    return replace(
        decision,
        valid=False,
        desired=decision.current,
        binding="invalid:" + failures[0].split(":", 1)[0].replace(" ", "_"),
        reasons=(*failures, *decision.reasons),
    )


def annotate(decision: Decision, advice: Advice) -> Decision:
    """The advisors' anomalies and forecast record put on the decision."""
    return replace(
        decision, anomalies=(*decision.anomalies, *advice.anomalies), forecast=advice.forecast or decision.forecast
    )
