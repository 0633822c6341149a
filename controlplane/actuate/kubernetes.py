"""The Kubernetes actuator: a Deployment's replica count through its ``scale`` subresource.

Owns: :class:`KubernetesActuator` (implements ``controlplane.protocols.Actuator``)
and :class:`ActuatorSettings`. It talks to the API server only through the official
client (``AppsV1Api`` scale read and merge-patch with ``fieldManager``,
``AutoscalingV2Api`` HPA list, Events through :mod:`controlplane.actuate.events`).
Must not import: the decision logic; it carries out a Decision, never makes one.

What it guarantees:

- Nothing is sent for an invalid decision, in shadow mode (``decision.shadow`` or
  ``policy.mode == "shadow"``), for a count outside ``0..policy.max_replicas``, or
  while the target is in an owner conflict.
- Patch only on change: the scale is read first; equal counts send nothing.
- At most once per decision: once a patch for a decision (policy, target, at,
  desired) succeeded, or a re-read shows the count already there, the same decision
  never sends another. Every patch carries the ``resourceVersion`` it was computed
  from, so a write based on a stale read cannot land; after any failed or
  unanswered write the scale is re-read before anything else is sent, so a write
  that committed but whose answer was lost is confirmed, not repeated.
- 409 Conflict: re-read at once and retry, at most ``max_conflicts`` times.
  5xx, 429, timeouts and lost connections: back off exponentially with jitter
  (injectable ``sleep`` and ``rng``), at most ``max_attempts`` failures per call.
  403, 404, 422 and other client errors: reported in ``ScaleResult.error`` with
  the server's reason, never retried.

Hand-off (owner conflicts): a target is handed off when an HPA targets the same
Deployment, or when its replica count differs from what this actuator last set
(someone else scaled it). The conflict *latches*: it is recorded, a Warning Event
``ScalingOwnerConflict`` is created on the Deployment once, ``status()`` reports it
in ``owner_conflict`` and ``scale()`` does nothing, until an operator calls
:meth:`KubernetesActuator.release`. Releasing forgets the last count we set, so the
current count is adopted as it is; if the cause persists (the HPA still exists),
the next call latches again.

Leadership: given a ``leadership`` (anything with ``is_leader``, such as
:class:`controlplane.actuate.leader.LeaderElector`), only the leader latches
conflicts, records Events and patches; a follower's ``status()`` reports an HPA
owner but latches nothing, and its ``scale()`` sends nothing. The last count set
lives in memory, so on becoming leader the actuator forgets it
(:meth:`~KubernetesActuator.forget_baselines`): a count the previous leader set is
adopted, not mistaken for an outside change.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kubernetes import client

from controlplane.actuate.events import EventRecorder
from controlplane.actuate.kubeclient import ApiFailure, classify
from controlplane.policy.decision import Decision
from controlplane.policy.model import KubernetesTarget, ScalingPolicy
from controlplane.protocols import Leadership, ReplicaStatus, ScaleResult

__all__ = ["ActuationError", "ActuatorSettings", "KubernetesActuator"]

log = logging.getLogger(__name__)
T = TypeVar("T")

MERGE_PATCH = "application/merge-patch+json"


class ActuationError(RuntimeError):
    """A read the actuator could not do; ``failure`` says why and whether it may pass."""

    def __init__(self, what: str, failure: ApiFailure) -> None:
        super().__init__(f"{what}: {failure}")
        self.failure = failure


@dataclass(frozen=True, slots=True)
class ActuatorSettings:
    field_manager: str = "llm-controlplane"
    """Recorded by the API server as the manager of spec.replicas (managedFields)."""
    request_timeout_s: float = 5.0
    """Per HTTP call (s); a scale write is small, an API server slower than this is in trouble."""
    max_attempts: int = 5
    """Transient failures (5xx, 429, timeouts) tolerated in one scale() call before giving up."""
    max_conflicts: int = 3
    """409 Conflicts re-read and retried in one scale() call; more means a fight with another writer."""
    backoff_base_s: float = 0.5
    """First back-off (s); doubles per transient failure (0.5, 1, 2, 4 with the defaults)."""
    backoff_max_s: float = 8.0
    """Cap of one back-off (s), below a 10 s tick so a retried write still lands in its tick."""
    jitter: float = 0.5
    """Each back-off is drawn from [(1 - jitter) x delay, delay] so replicas do not retry in step."""

    def __post_init__(self) -> None:
        if not 0 < len(self.field_manager) <= 128:
            raise ValueError("field_manager: 1 to 128 characters (API server limit)")
        for name in ("request_timeout_s", "backoff_base_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0")
        if self.max_attempts < 1:
            raise ValueError("max_attempts: at least 1")
        if self.max_conflicts < 0:
            raise ValueError("max_conflicts: must be >= 0")
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s: must be >= backoff_base_s")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter: must be in [0, 1)")


@dataclass(slots=True)
class _Target:
    last_set: int | None = None
    applied: tuple[str, str, float, int] | None = None
    conflict: str | None = None


def _decision_key(decision: Decision) -> tuple[str, str, float, int]:
    return (decision.policy, decision.target, decision.at, decision.desired)


class KubernetesActuator:
    def __init__(
        self,
        api_client: client.ApiClient,
        settings: ActuatorSettings | None = None,
        *,
        events: EventRecorder | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self.settings = settings or ActuatorSettings()
        self._leadership = leadership
        self._was_leader = False
        self._apps = client.AppsV1Api(api_client)
        self._autoscaling = client.AutoscalingV2Api(api_client)
        self._events = (
            events if events is not None else EventRecorder(api_client, self.settings.field_manager)
        )
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._targets: dict[str, _Target] = {}

    # operator controls

    def conflicts(self) -> dict[str, str]:
        """Latched owner conflicts by target key (``namespace/deployment``)."""
        with self._lock:
            return {k: t.conflict for k, t in self._targets.items() if t.conflict}

    def release(self, target: str) -> bool:
        """Clear a latched conflict and adopt the current count; True when one was latched."""
        with self._lock:
            state = self._targets.pop(target, None)
        if state is not None and state.conflict:
            log.info("owner conflict on %s released: %s", target, state.conflict)
            return True
        return False

    def forget_baselines(self) -> None:
        """Adopt every count as it stands (call on becoming leader); latched conflicts stay."""
        with self._lock:
            for state in self._targets.values():
                state.last_set = None
                state.applied = None

    def _leading(self) -> bool:
        """Whether we may act; forgets baselines on becoming leader."""
        if self._leadership is None:
            return True
        leader = bool(self._leadership.is_leader)
        if leader and not self._was_leader:
            self.forget_baselines()
        self._was_leader = leader
        return leader

    # Actuator protocol

    def status(self, policy: ScalingPolicy, now: float) -> ReplicaStatus:
        """Spec, ready and pending replicas; raises :class:`ActuationError` when it cannot read them."""
        ns, name = _target(policy)
        dep = self._read(
            "read deployment", lambda t: self._apps.read_namespaced_deployment(name, ns, _request_timeout=t)
        )
        spec = dep.spec.replicas if dep.spec and dep.spec.replicas is not None else 1
        ready = (dep.status.ready_replicas or 0) if dep.status else 0
        uid = dep.metadata.uid if dep.metadata else None
        if self._leading():
            conflict = self._check_owner(policy, spec, uid, now, _replicas_manager(dep))
        else:
            conflict = self.conflicts().get(policy.target_key) or self._hpa_owner(ns, name)
        return ReplicaStatus(
            spec=spec, ready=ready, pending=max(0, spec - ready), owner_conflict=conflict, observed_at=now
        )

    def scale(self, policy: ScalingPolicy, decision: Decision, now: float) -> ScaleResult:
        ns, name = _target(policy)
        skip = self._refusal(policy, decision)
        if skip is not None:
            return skip
        key = _decision_key(decision)
        state = self._state(policy.target_key)
        if state.applied == key:
            return ScaleResult(
                False, decision.desired, "decision already applied: no second patch", attempts=0
            )
        desired, cfg = decision.desired, self.settings
        patches = transient = conflicts = 0
        uncertain = False
        first = True
        while True:
            try:
                scale = self._apps.read_namespaced_deployment_scale(
                    name, ns, _request_timeout=cfg.request_timeout_s
                )
                spec = int(scale.spec.replicas if scale.spec and scale.spec.replicas is not None else 0)
                meta = scale.metadata or client.V1ObjectMeta()
                # our own unanswered write may have landed: that count is ours, not an outside change
                if not (uncertain and spec == desired):
                    conflict = self._check_owner(policy, spec, meta.uid, now, None, with_hpa=first)
                    if conflict:
                        return ScaleResult(
                            False,
                            spec,
                            f"owner conflict: {conflict}",
                            patches,
                            error=f"OwnerConflict: {conflict}",
                        )
                first = False
            except Exception as exc:  # noqa: BLE001 - classified, unknown ones re-raised
                failure = exc.failure if isinstance(exc, ActuationError) else classify(exc)
                if failure.kind == "fatal" or transient + 1 >= cfg.max_attempts:
                    return ScaleResult(
                        False, decision.current, "could not read the scale", patches, error=str(failure)
                    )
                transient += 1
                self._backoff(transient)
                continue
            if spec == desired:
                self._applied(policy.target_key, key, desired)
                if uncertain:
                    return ScaleResult(
                        True, desired, f"patch to {desired} confirmed by re-read after a lost answer", patches
                    )
                return ScaleResult(False, desired, f"already at {desired}: no patch", patches)
            body = {
                "metadata": {"resourceVersion": meta.resource_version},
                "spec": {"replicas": desired},
            }
            patches += 1
            try:
                self._apps.patch_namespaced_deployment_scale(
                    name,
                    ns,
                    body,
                    field_manager=cfg.field_manager,
                    _content_type=MERGE_PATCH,
                    _request_timeout=cfg.request_timeout_s,
                )
            except Exception as exc:  # noqa: BLE001 - classified, unknown ones re-raised
                failure = classify(exc)
                if failure.kind == "conflict" and conflicts < cfg.max_conflicts:
                    conflicts += 1
                    continue
                if failure.kind == "transient" and transient + 1 < cfg.max_attempts:
                    transient += 1
                    uncertain = True
                    self._backoff(transient)
                    continue
                return ScaleResult(
                    False, spec, f"patch {spec} -> {desired} failed", patches, error=str(failure)
                )
            self._applied(policy.target_key, key, desired)
            log.info("scaled %s: %d -> %d (%s)", policy.target_key, spec, desired, decision.binding)
            return ScaleResult(True, desired, f"scaled {spec} -> {desired}", patches)

    # internals

    def _refusal(self, policy: ScalingPolicy, decision: Decision) -> ScaleResult | None:
        if decision.target != policy.target_key:
            return ScaleResult(
                False,
                decision.current,
                "decision is for another target",
                attempts=0,
                error=f"decision.target {decision.target!r} is not policy target {policy.target_key!r}",
            )
        if not decision.valid:
            return ScaleResult(False, decision.current, "invalid decision: nothing sent", attempts=0)
        if decision.shadow or policy.mode == "shadow":
            return ScaleResult(
                False, decision.current, f"shadow mode: would set {decision.desired}", attempts=0
            )
        if not self._leading():
            return ScaleResult(False, decision.current, "not the leader: nothing sent", attempts=0)
        if not 0 <= decision.desired <= policy.max_replicas:
            return ScaleResult(
                False,
                decision.current,
                "refused",
                attempts=0,
                error=f"decision.desired {decision.desired} is outside 0..{policy.max_replicas} (policy.max_replicas)",
            )
        with self._lock:
            conflict = self._targets.get(policy.target_key, _Target()).conflict
        if conflict:
            return ScaleResult(
                False,
                decision.current,
                f"owner conflict: {conflict}",
                attempts=0,
                error=f"OwnerConflict: {conflict}",
            )
        return None

    def _state(self, key: str) -> _Target:
        with self._lock:
            return self._targets.setdefault(key, _Target())

    def _applied(self, target: str, key: tuple[str, str, float, int], replicas: int) -> None:
        with self._lock:
            state = self._targets.setdefault(target, _Target())
            state.last_set, state.applied = replicas, key

    def _backoff(self, failures: int) -> None:
        cfg = self.settings
        delay = min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** (failures - 1))
        self._sleep(delay * (1.0 - cfg.jitter * self._rng.random()))

    def _read(self, what: str, call: Callable[[float], T]) -> T:
        try:
            return call(self.settings.request_timeout_s)
        except Exception as exc:  # noqa: BLE001 - classified, unknown ones re-raised
            raise ActuationError(what, classify(exc)) from exc

    def _check_owner(
        self,
        policy: ScalingPolicy,
        spec: int,
        uid: str | None,
        now: float,
        manager: str | None,
        with_hpa: bool = True,
    ) -> str | None:
        """The latched conflict, or a new one found now (latched, with an Event)."""
        key = policy.target_key
        ns, name = _target(policy)
        with self._lock:
            state = self._targets.setdefault(key, _Target())
            if state.conflict:
                return state.conflict
            last_set = state.last_set
        reason = self._hpa_owner(ns, name) if with_hpa else None
        if reason is None and last_set is not None and spec != last_set:
            by = f" by {manager}" if manager and manager != self.settings.field_manager else ""
            reason = f"replicas changed outside the control plane{by}: spec {spec}, last set by us {last_set}"
        if reason is None:
            return None
        with self._lock:
            state = self._targets.setdefault(key, _Target())
            state.conflict, state.last_set, state.applied = reason, None, None
        log.warning("owner conflict on %s, scaling stopped until released: %s", key, reason)
        self._events.deployment_event(
            ns,
            name,
            "ScalingOwnerConflict",
            f"{reason}; llm-controlplane stopped scaling this Deployment until an operator releases it",
            now,
            uid=uid,
        )
        return reason

    def _hpa_owner(self, ns: str, name: str) -> str | None:
        hpas = self._read(
            "list HPAs",
            lambda t: self._autoscaling.list_namespaced_horizontal_pod_autoscaler(ns, _request_timeout=t),
        )
        for hpa in hpas.items or []:
            ref = hpa.spec.scale_target_ref if hpa.spec else None
            if (
                ref
                and ref.kind == "Deployment"
                and ref.name == name
                and (ref.api_version or "apps/").startswith("apps/")
            ):
                hpa_name = hpa.metadata.name if hpa.metadata else "?"
                return f"HorizontalPodAutoscaler {hpa_name} also scales deployment {name}"
        return None


def _target(policy: ScalingPolicy) -> tuple[str, str]:
    if not isinstance(policy.target, KubernetesTarget):
        raise ValueError(
            f"policy.target: the Kubernetes actuator needs kind 'kubernetes', got {policy.target.kind!r}"
        )
    return policy.target.namespace, policy.target.deployment


def _replicas_manager(dep: Any) -> str | None:
    """Who last set spec.replicas, from managedFields (None when not recorded)."""
    for entry in reversed(dep.metadata.managed_fields or []):
        spec = (entry.fields_v1 or {}).get("f:spec", {}) if isinstance(entry.fields_v1, dict) else {}
        if "f:replicas" in spec:
            return str(entry.manager)
    return None
