"""The decider: from one tick's signals to the replica count a target should have.

Owns: :func:`decide`, a pure function of (policy, signals, state, now, status)
returning a :class:`Decision` that explains itself and the next
:class:`DecisionState`.
Must not import: any I/O library; it never reads the clock (``now`` is given).

The pipeline, in order; every step that moves the number names itself as the
``binding`` and leaves a reason:

1. ``check_inputs``   owner conflict, or a missing/NaN/stale input any enabled
                      signal or SLO check needs -> invalid, desired = current.
2. override           an unexpired pin or pause decides alone, even on invalid
                      data (an owner conflict still wins).
3. ``apply_windows``  each signal asks ceil(stable-window mean / per-replica
                      target) (``propose_from_signals``); in panic the panic-window
                      peak, never below current (Knative KPA).
4. ``apply_slo``      a latency p95 over target asks for more in proportion,
                      at least ready + 1; raise-only; ignored without load, and
                      left to the capacity correction when model sizing proposes.
5. ``apply_floors``   model sizing, predictive and scheduled floors; raise-only.
6. ``apply_guard``    an anomaly guard holds scale-up at current.
7. ``stabilize``      HPA windows: scale down to the highest, up to the lowest
                      recommendation in the window; cautious after a restart.
8. ``apply_scale_to_zero``  1 -> 0 only after the idle period; 0 -> 1 on activation.
9. ``apply_pending``  replicas still starting count as supply.
10. ``limit_steps``  at most +max(pods, percent) up, -min(pods, percent) down.
11. ``apply_bounds`` min/max replicas, narrowed by active schedule windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from controlplane.policy.decision import Decision, Proposal
from controlplane.policy.inputs import LOAD_FIELDS, SIZING_FIELDS, SIZING_SOURCE, SLO_CHECKS, capacity_bound
from controlplane.policy.model import ScalingPolicy, StepLimits
from controlplane.policy.override import Override
from controlplane.policy.schedule import Bounds, bounds_at
from controlplane.policy.state import DecisionState
from controlplane.policy.windows import (
    SIGNAL_FIELDS,
    demand_totals,
    enabled_targets,
    panic_step,
    replicas_for,
    window_demand,
)
from controlplane.signals import Reading, ReplicaStatus, Signals

__all__ = ["decide", "check_inputs"]


@dataclass
class _Tally:
    """The number being decided, what last fixed it, and the story so far."""

    value: int
    binding: str
    reasons: list[str] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    latency_without_load: list[str] = field(default_factory=list)

    def bind(self, value: int, binding: str, reason: str) -> None:
        self.value, self.binding = value, binding
        self.reasons.append(reason)


@dataclass(frozen=True, slots=True)
class _Load:
    waiting: float
    running: float
    rate: float | None

    @property
    def requests(self) -> float:
        return self.waiting + self.running

    @property
    def idle(self) -> bool:
        return self.requests == 0 and not self.rate

    def capacity_bound(self, ready: int) -> bool:
        return capacity_bound(self.waiting, self.running, ready)


def check_inputs(policy: ScalingPolicy, signals: Signals, now: float, status: ReplicaStatus) -> list[tuple[str, str]]:
    """Every (signal, why) that makes this tick's data unusable, in a fixed order.

    Readings are not required where nothing can produce them: KV-cache usage
    and latency with no ready replica, and a latency p95 over no requests --
    verified zero load, or a verified zero completion rate while long requests
    run -- which is undefined, not high. A value that is NaN, infinite or
    negative is as unusable as a missing one.
    """
    problems: list[tuple[str, str]] = []
    needed = list(LOAD_FIELDS)
    ready = status.ready
    for name in enabled_targets(policy.signals):
        fld = SIGNAL_FIELDS[name]
        if fld in needed or (name == "kv_cache_usage" and ready == 0):
            continue
        needed.append(fld)
    if policy.sizing.enabled and ready > 0:
        needed.extend(f for f in SIZING_FIELDS if f not in needed)
    no_requests = all(_is_zero(getattr(signals, f)) for f in LOAD_FIELDS) or _is_zero(signals.request_rate)
    for fld, _, _ in SLO_CHECKS.values():
        if ready == 0 or (no_requests and not getattr(signals, fld).ok):
            continue
        needed.append(fld)
    for fld in needed:
        reading = getattr(signals, fld)
        if not reading.ok:
            problems.append((fld, f"{fld} missing: {reading.reason}"))
        elif not math.isfinite(reading.value) or reading.value < 0:
            problems.append((fld, f"{fld} unusable: value {reading.value}"))
        elif reading.stale(now, policy.max_signal_age_s):
            age = now - (reading.at or now)
            problems.append((fld, f"{fld} stale: sample {age:.0f} s old > max_signal_age_s {policy.max_signal_age_s:g}"))
    return problems


def propose_from_signals(
    policy: ScalingPolicy, state: DecisionState, now: float
) -> tuple[dict[str, float], list[Proposal]]:
    """Each enabled signal asks ceil(stable-window mean / per-replica target)."""
    targets = enabled_targets(policy.signals)
    length = policy.windows.stable_s
    demand = window_demand(state, now, length, targets)
    proposals: list[Proposal] = []
    for name, target in targets.items():
        if name not in demand:
            proposals.append(Proposal(name, None, f"no samples in the {length:g} s window"))
            continue
        n = replicas_for(demand[name])
        unit = "ready-replica KV usage" if name == "kv_cache_usage" else name.replace("_", " ")
        mean = demand[name] * target
        proposals.append(Proposal(name, n, f"{unit} {mean:.4g} / {target:g} per replica -> {n} ({length:g} s mean)"))
    return demand, proposals


def apply_windows(
    policy: ScalingPolicy, state: DecisionState, now: float, status: ReplicaStatus, tally: _Tally
) -> tuple[DecisionState, str]:
    """Stable-window ask, or the panic ask (never below current) while panicking."""
    win = policy.windows
    stable, proposals = propose_from_signals(policy, state, now)
    panic = window_demand(state, now, win.panic_s, enabled_targets(policy.signals))
    tally.proposals.extend(proposals)
    if not stable:
        tally.bind(status.spec, "no_signals", "no enabled signal: holding current")
        return state, "stable"
    top = max(stable, key=lambda n: replicas_for(stable[n]))
    tally.value, tally.binding = replicas_for(stable[top]), top
    panic_demand = max(panic.values(), default=0.0)
    step = panic_step(
        state, now, panic_demand, status.ready, win.panic_threshold, win.stable_s, replicas_for(panic_demand)
    )
    state = replace(state, panic_since=step.panic_since, max_panic_replicas=step.max_panic_replicas)
    if step.exited:
        tally.reasons.append(f"panic over: {win.stable_s:g} s without panic-window demand >= threshold")
    if not step.in_panic:
        return state, "stable"
    panic_ask = max(step.max_panic_replicas, tally.value)
    tally.proposals.append(
        Proposal(
            "panic",
            panic_ask,
            f"panic-window demand {panic_demand:.3g} vs {win.panic_threshold:g} x {max(1, status.ready)} ready"
            f" -> peak ask {step.max_panic_replicas}",
        )
    )
    if step.entered:
        tally.reasons.append(
            f"panic: {win.panic_s:g} s demand {panic_demand:.3g} >= {win.panic_threshold:g} x {max(1, status.ready)} ready"
        )
    if panic_ask > tally.value:
        tally.bind(panic_ask, "panic", f"panic: asking the panic-window peak {panic_ask}")
    if tally.value < status.spec:
        tally.bind(status.spec, "panic_no_scale_down", f"panic: no scale-down below current {status.spec}")
    return state, "panic"


def apply_slo(
    policy: ScalingPolicy,
    signals: Signals,
    status: ReplicaStatus,
    load: _Load,
    tally: _Tally,
    state: DecisionState | None = None,
    now: float | None = None,
    sized: bool = False,
) -> None:
    """Raise-only: a p95 over its target asks ceil(ready x overshoot), at least ready + 1.

    ``sized`` (the model-based sizing proposed a number this tick): the p95 is listed
    but asks nothing; it corrects the sizing's capacity instead (the sizing reads the
    same p95 against the load per replica), so one miss is not answered twice.

    The ask is proportional to the replicas the p95 was measured on (ready ones;
    starting ones count against it in the pending guard). The p95 is measured
    over the stable window, so it lags a change of capacity: until a whole window
    has passed since the ready count last grew it describes the old fleet, and
    multiplying the new ready count by the old overshoot would add replicas for a
    problem already being fixed (a runaway the load signals, which have no such
    lag, do not share). Down-stabilization keeps the earlier asks meanwhile.
    """
    ready = status.ready
    stale_for = _slo_window_stale(policy, status, state, now)
    for source, (fld, attr, label) in SLO_CHECKS.items():
        observed = getattr(signals, fld).value
        target = float(getattr(policy.slo, attr))
        if observed is None:
            tally.proposals.append(Proposal(source, None, f"{label}: no samples (no requests or no ready replica)"))
            continue
        if observed <= target:
            tally.proposals.append(Proposal(source, None, f"{label} {observed:.3g} s <= {target:g} s: met"))
            continue
        if not load.capacity_bound(ready):
            note = (
                f"{label} {observed:.3g} s > {target:g} s without load (waiting {load.waiting:g},"
                f" running {load.running:g} on {ready} ready): not a capacity problem, not scaling"
            )
            tally.proposals.append(Proposal(source, None, note))
            tally.reasons.append(f"slo_without_load: {note}")
            tally.latency_without_load.append(source)
            continue
        if stale_for:
            tally.proposals.append(Proposal(source, None, f"{label} {observed:.3g} s > {target:g} s, but {stale_for}"))
            continue
        if sized:
            note = f"{label} {observed:.3g} s > {target:g} s: corrects the model sizing's capacity, asks nothing itself"
            tally.proposals.append(Proposal(source, None, note))
            continue
        overshoot = observed / target
        ask = max(ready + 1, replicas_for(ready * overshoot))
        tally.proposals.append(
            Proposal(
                source,
                ask,
                f"{label} {observed:.3g} s / {target:g} s = {overshoot:.2f}x on {ready} ready"
                f" -> max(ceil({ready * overshoot:.3g}), {ready + 1}) = {ask}",
            )
        )
        if ask > tally.value:
            tally.bind(ask, source, f"{label} over SLO raises the ask to {ask}")


def _slo_window_stale(
    policy: ScalingPolicy, status: ReplicaStatus, state: DecisionState | None, now: float | None
) -> str | None:
    if state is None or now is None or state.ready_since is None:
        return None
    age = now - state.ready_since
    if age < policy.windows.stable_s:
        return (
            f"ready replicas grew to {state.ready_count} {age:.0f} s ago: the {policy.windows.stable_s:g} s"
            " latency window still measures the old fleet"
        )
    return None


def _track_ready(state: DecisionState, status: ReplicaStatus, now: float) -> DecisionState:
    """Remember when ready replicas last grew: only growth makes an older p95 too
    pessimistic (after a loss it is optimistic, and asking on it is safe)."""
    if state.ready_count is None or status.ready < state.ready_count:
        return replace(state, ready_count=status.ready)
    if status.ready > state.ready_count:
        return replace(state, ready_count=status.ready, ready_since=now)
    return state


def apply_floors(floors: Sequence[Proposal], tally: _Tally) -> None:
    """Raise-only floors such as the predictive forecast."""
    for floor in floors:
        source = floor.source if floor.source.startswith("floor:") else f"floor:{floor.source}"
        tally.proposals.append(Proposal(source, floor.replicas, floor.detail))
        if floor.replicas is not None and floor.replicas > tally.value:
            tally.bind(floor.replicas, source, f"{source} raises the ask to {floor.replicas}: {floor.detail}")


def apply_guard(guard: str | None, current: int, tally: _Tally) -> None:
    if guard and tally.value > current:
        tally.bind(current, "anomaly_guard", f"anomaly guard holds scale-up {current} -> {tally.value}: {guard}")


def apply_scale_to_zero(
    policy: ScalingPolicy, state: DecisionState, now: float, current: int, load: _Load, tally: _Tally
) -> None:
    """Activation (0 <-> 1) is its own threshold, as in KEDA; a forecast floor may
    still wake a target ahead of its demand."""
    s2z = policy.scale_to_zero
    if not s2z.enabled:
        return
    if current == 0:
        if load.requests >= s2z.activation_requests:
            if tally.value < 1:
                tally.bind(1, "activation", f"activation: {load.requests:g} requests >= {s2z.activation_requests:g}")
        elif tally.value > 0 and not tally.binding.startswith("floor:"):
            tally.bind(0, "activation", f"staying at zero: {load.requests:g} requests < {s2z.activation_requests:g}")
        return
    if tally.value == 0:
        idle_for = 0.0 if state.idle_since is None else now - state.idle_since
        if idle_for < s2z.idle_period_s:
            tally.bind(1, "idle_period", f"idle {idle_for:.0f} s < idle_period_s {s2z.idle_period_s:g}: keep one")
        else:
            tally.bind(0, "scale_to_zero", f"idle {idle_for:.0f} s >= idle_period_s {s2z.idle_period_s:g}")


def stabilize(policy: ScalingPolicy, state: DecisionState, now: float, current: int, tally: _Tally) -> None:
    """HPA behaviour windows over the recommendation history (which includes this tick)."""
    win = policy.windows
    rec = tally.value
    if rec < current:
        recent = [r for t, r in state.recommendations if t > now - win.scale_down_stabilization_s or t == now]
        held = min(current, max(recent))
        if held > rec:
            tally.bind(
                held,
                "down_stabilization",
                f"highest recommendation in the last {win.scale_down_stabilization_s:g} s is {max(recent)}",
            )
        need = max(win.stable_s, win.scale_down_stabilization_s)
        if tally.value < current and state.held_for(now) < need:
            tally.bind(
                current,
                "cautious_start",
                f"cautious start: {state.held_for(now):.0f} s of data, no scale-down before {need:g} s",
            )
    elif rec > current:
        recent = [r for t, r in state.recommendations if t > now - win.scale_up_stabilization_s or t == now]
        held = max(current, min(recent))
        if held < rec:
            tally.bind(
                held,
                "up_stabilization",
                f"lowest recommendation in the last {win.scale_up_stabilization_s:g} s is {min(recent)}",
            )


def apply_pending(status: ReplicaStatus, tally: _Tally) -> None:
    """Replicas still starting are supply on the way: an ask they already cover
    (more than ready, less than spec) keeps spec rather than churning a starting pod."""
    if status.pending <= 0 or tally.value <= status.ready:
        return
    if tally.value < status.spec:
        tally.bind(
            status.spec,
            "pending_guard",
            f"{status.ready} ready + {status.pending} starting already cover the ask of {tally.value}",
        )
    elif tally.value == status.spec:
        tally.reasons.append(f"{status.ready} ready + {status.pending} starting already cover the ask of {tally.value}")


def limit_steps(steps: StepLimits, current: int, tally: _Tally, ready: int | None = None) -> None:
    """Up by the more permissive of the pod and percent limits (the HPA's default
    selectPolicy Max), down by the stricter one, at least one pod: a GPU added
    late costs SLO misses, one removed early costs those plus a cold start.

    Growth is measured from the replicas that are ready, not from the spec: while
    earlier additions are still starting (minutes for a vLLM replica) the signals
    keep showing the old shortage, and stepping from the spec every tick would
    double the fleet several times before any new replica could prove the ask.
    """
    if tally.value > current:
        base = current if ready is None else min(current, ready)
        up = max(steps.max_up_pods, math.ceil(base * steps.max_up_percent / 100))
        cap = base + up
        if cap <= current:
            tally.bind(
                current,
                "step_up_limit",
                f"{current - base} replica(s) still starting already make +{current - base} of the +{up}"
                f" allowed over {base} ready; more when they are ready",
            )
        elif tally.value > cap:
            tally.bind(
                cap,
                "step_up_limit",
                f"step up limited to +{up} over {base} ready (max of {steps.max_up_pods} pods,"
                f" {steps.max_up_percent:g}% of {base})",
            )
    elif tally.value < current:
        down = max(1, min(steps.max_down_pods, math.floor(current * steps.max_down_percent / 100)))
        if tally.value < current - down:
            tally.bind(
                current - down,
                "step_down_limit",
                f"step down limited to -{down} (min of {steps.max_down_pods} pods,"
                f" {steps.max_down_percent:g}% of {current})",
            )


def apply_bounds(bounds: Bounds, tally: _Tally) -> None:
    """Hard bounds last: the budget and the schedule hold whatever came before."""
    for name in bounds.windows:
        tally.reasons.append(f"schedule:{name} active")
    if tally.value > bounds.max_replicas:
        tally.bind(bounds.max_replicas, bounds.max_source, f"{bounds.max_source} max {bounds.max_replicas}")
    elif tally.value < bounds.min_replicas:
        tally.bind(bounds.min_replicas, bounds.min_source, f"{bounds.min_source} min {bounds.min_replicas}")


def _inputs(signals: Signals, status: ReplicaStatus, bounds: Bounds, tally: _Tally) -> dict[str, Any]:
    """What the decision saw; ``latency_without_load`` lists SLO checks over target
    with no load behind them, a fault rather than demand, for the anomaly guard."""
    return {
        "signals": {k: r.value for k, r in signals.readings().items() if r.ok},
        "status": {"spec": status.spec, "ready": status.ready, "pending": status.pending},
        "schedule": list(bounds.windows),
        "latency_without_load": list(tally.latency_without_load),
    }


def _decision(
    policy: ScalingPolicy,
    now: float,
    status: ReplicaStatus,
    bounds: Bounds,
    signals: Signals,
    *,
    valid: bool,
    tally: _Tally,
    mode: str = "stable",
) -> Decision:
    return Decision(
        target=policy.target_key,
        policy=policy.name,
        at=now,
        valid=valid,
        current=status.spec,
        desired=tally.value,
        binding=tally.binding,
        reasons=tuple(tally.reasons),
        proposals=tuple(tally.proposals),
        mode=mode,
        bounds=(bounds.min_replicas, bounds.max_replicas),
        inputs=_inputs(signals, status, bounds, tally),
        shadow=policy.mode == "shadow",
    )


def _apply_override(policy: ScalingPolicy, override: Override, current: int, tally: _Tally) -> None:
    who = f"{override.created_by}: {override.reason}"
    if override.kind == "pause":
        tally.bind(current, "override:pause", f"scaling paused until {override.expires_at:.0f} by {who}")
        return
    pinned = int(override.replicas or 0)
    tally.bind(pinned, "override:pin", f"pinned to {pinned} until {override.expires_at:.0f} by {who}")
    if pinned > policy.max_replicas:
        tally.bind(policy.max_replicas, "max_replicas", f"pin {pinned} capped at max_replicas {policy.max_replicas}")
    elif pinned < policy.min_replicas:
        tally.bind(policy.min_replicas, "min_replicas", f"pin {pinned} raised to min_replicas {policy.min_replicas}")


def decide(
    policy: ScalingPolicy,
    signals: Signals,
    state: DecisionState,
    now: float,
    status: ReplicaStatus,
    *,
    floors: Sequence[Proposal] = (),
    guard: str | None = None,
    override: Override | None = None,
) -> tuple[Decision, DecisionState]:
    """Decide one tick for one target; pure and deterministic in its arguments."""
    current = status.spec
    bounds = bounds_at(policy, now)
    tally = _Tally(current, "current")
    if not state.target:
        state = replace(state, target=policy.target_key)

    if status.owner_conflict:
        tally.bind(current, "invalid:owner_conflict", f"owner conflict: {status.owner_conflict}; not scaling")
        return _decision(policy, now, status, bounds, signals, valid=False, tally=tally), state

    problems = check_inputs(policy, signals, now, status)
    if not problems:
        targets = enabled_targets(policy.signals)
        obs = replace(demand_totals(targets, signals, status.ready), at=now)
        state = state.observe(obs, _horizon(policy))
        state = replace(state, idle_since=_idle_since(state, signals, now))

    if override is not None:
        if override.active(now):
            _apply_override(policy, override, current, tally)
            tally.reasons.extend(why for _, why in problems)
            return _decision(policy, now, status, bounds, signals, valid=True, tally=tally), state
        tally.reasons.append(f"override {override.kind} by {override.created_by} expired at {override.expires_at:.0f}")

    if problems:
        tally.reasons.extend(why for _, why in problems)
        if current < bounds.min_replicas:
            # Blind, but below the floor: raising to it is safe and is how a target with no
            # replica (a new local group, a Deployment someone set to 0) gets its first data.
            tally.bind(
                bounds.min_replicas,
                bounds.min_source,
                f"below {bounds.min_source} {bounds.min_replicas} with no usable data: raising to the floor only",
            )
            return _decision(policy, now, status, bounds, signals, valid=True, tally=tally), state
        tally.bind(current, f"invalid:{problems[0][0]}", "invalid input: holding current, never scaling down")
        return _decision(policy, now, status, bounds, signals, valid=False, tally=tally), state

    load = _load(signals)
    state = _track_ready(state, status, now)
    state, mode = apply_windows(policy, state, now, status, tally)
    sized = any(f.source == SIZING_SOURCE and f.replicas is not None for f in floors)
    apply_slo(policy, signals, status, load, tally, state, now, sized=sized)
    apply_floors(floors, tally)
    apply_guard(guard, current, tally)
    state = state.recommend(now, tally.value)
    stabilize(policy, state, now, current, tally)
    apply_scale_to_zero(policy, state, now, current, load, tally)
    apply_pending(status, tally)
    limit_steps(policy.steps, current, tally, status.ready)
    apply_bounds(bounds, tally)
    tally.reasons.append(f"desired {tally.value} (current {current}), bound by {tally.binding}")
    return _decision(policy, now, status, bounds, signals, valid=True, tally=tally, mode=mode), state


def _is_zero(reading: Reading) -> bool:
    return reading.ok and reading.value == 0


def _horizon(policy: ScalingPolicy) -> float:
    w = policy.windows
    return max(w.stable_s, w.scale_down_stabilization_s, w.scale_up_stabilization_s)


def _load(signals: Signals) -> _Load:
    return _Load(
        waiting=signals.waiting_requests.value or 0.0,
        running=signals.running_requests.value or 0.0,
        rate=signals.request_rate.value,
    )


def _idle_since(state: DecisionState, signals: Signals, now: float) -> float | None:
    if not _load(signals).idle:
        return None
    return state.idle_since if state.idle_since is not None else now
