"""Dry-run: what the decider would decide for a stored policy right now, without patching.

Owns: :func:`dry_run`. It reads the same inputs the loop's next tick would
(the source's signals, the actuator's replica status, every advisor's advice
including an active override, the target's decision state) and makes the
tick's decision with the loop's own :func:`controlplane.tick.decide_tick`. The state it gets back is thrown away and nothing is patched or
recorded. With no running loop, or no source or actuator, it raises
:class:`~controlplane.api.errors.Unavailable` (503) rather than guess.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from controlplane.api.context import ApiContext
from controlplane.api.encode import finite
from controlplane.api.errors import Unavailable
from controlplane.policy.state import DecisionState
from controlplane.store.errors import NotFound
from controlplane.tick import decide_tick, gather_advice

__all__ = ["dry_run"]

log = logging.getLogger(__name__)


def dry_run(ctx: ApiContext, name: str) -> dict[str, Any]:
    record = ctx.policies.get(name)
    policy = ctx.policies.get_policy(name)
    if policy is None:
        raise NotFound(
            f"policy {name!r} version {record.version} does not validate against the current model"
        )
    source, actuator = ctx.source, ctx.actuator
    if source is None or actuator is None:
        raise Unavailable(
            "dry-run needs the controller's signal source and actuator; this API runs without them"
        )
    now = ctx.clock.now()
    try:
        signals = source.collect(policy, now)
    except Exception as exc:
        raise Unavailable(f"signals could not be collected: {exc}") from exc
    try:
        status = actuator.status(policy, now)
    except Exception as exc:
        raise Unavailable(f"replica status is unavailable: {exc}") from exc
    advice, failures = gather_advice(getattr(ctx.loop, "advisors", ()), policy, signals, status, now)
    if advice.override is None:
        # the loop wires the override advisor; without a loop's advisors the table is read here
        advice = replace(advice, override=ctx.overrides.active_for(policy.target_key, now))
    states = getattr(ctx.loop, "states", {})
    state = states.get(policy.target_key) or DecisionState.fresh(policy.target_key)
    decision, _ = decide_tick(policy, signals, status, state, now, advice, failures)
    override = advice.override
    leader = bool(getattr(getattr(ctx.loop, "leadership", None), "is_leader", True))
    would_patch = decision.valid and not decision.shadow and leader and decision.desired != decision.current
    return {
        "decision": finite(decision.to_dict()),
        "would_patch": would_patch,
        "override": override.to_dict() if override is not None else None,
    }
