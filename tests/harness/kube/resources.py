"""What the stand-in serves: resource types, object shapes, validation and pod readiness.

Owns: the table of served resources (Deployments, HPAs, Leases, Events and any
registered custom resource), a complete Deployment object (the official client's
models reject one without selector and template), the ``autoscaling/v1`` Scale
view of a Deployment, the validation answers (422) the real server gives for the
fields the control plane writes, and :class:`Readiness`, a model of replicas that
become ready a configurable delay after they are created.
Must not import: anything from ``controlplane``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tests.harness.kube.store import KubeError, ResourceType

__all__ = [
    "DEPLOYMENTS",
    "EVENTS",
    "HPAS",
    "LEASES",
    "BUILTIN",
    "Readiness",
    "new_deployment",
    "scale_view",
    "validate",
]

DEPLOYMENTS = ResourceType("apps", "v1", "deployments", "Deployment")
HPAS = ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
LEASES = ResourceType("coordination.k8s.io", "v1", "leases", "Lease")
EVENTS = ResourceType("", "v1", "events", "Event")
BUILTIN = (DEPLOYMENTS, HPAS, LEASES, EVENTS)


def new_deployment(name: str, replicas: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
    selector = {"app": name}
    return {
        "metadata": {"name": name, "labels": dict(labels or selector)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:latest"}]},
            },
        },
        "status": {},
    }


def scale_view(dep: dict[str, Any]) -> dict[str, Any]:
    """The Scale subresource shares its Deployment's name, uid and resourceVersion."""
    meta = dep["metadata"]
    selector = ",".join(f"{k}={v}" for k, v in sorted(dep["spec"]["selector"]["matchLabels"].items()))
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": dep["spec"].get("replicas", 1)},
        "status": {"replicas": dep.get("status", {}).get("replicas", 0), "selector": selector},
    }


def _check_replicas(kind: str, group: str, name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise KubeError.invalid(kind, group, name, "spec.replicas", value, "must be an integer")
    if value < 0:
        raise KubeError.invalid(
            kind, group, name, "spec.replicas", value, "must be greater than or equal to 0"
        )


def validate(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Reject what the real server rejects for the fields this project writes."""
    name = obj.get("metadata", {}).get("name", "")
    spec = obj.get("spec") or {}
    if rt is DEPLOYMENTS:
        _check_replicas("Deployment", "apps", name, spec.get("replicas", 1))
        if not (spec.get("selector") or {}).get("matchLabels") or not spec.get("template"):
            raise KubeError.invalid("Deployment", "apps", name, "spec.selector", None, "Required value")
    elif rt.plural == "scale":
        _check_replicas("Scale", "autoscaling", name, spec.get("replicas", 0))
    elif rt is LEASES:
        duration = spec.get("leaseDurationSeconds")
        if duration is not None and (not isinstance(duration, int) or duration <= 0):
            raise KubeError.invalid(
                "Lease", rt.group, name, "spec.leaseDurationSeconds", duration, "must be greater than 0"
            )
    elif rt is HPAS:
        ref = spec.get("scaleTargetRef") or {}
        if not ref.get("kind") or not ref.get("name"):
            raise KubeError.invalid(rt.kind, rt.group, name, "spec.scaleTargetRef", ref, "Required value")
        if not isinstance(spec.get("maxReplicas"), int) or spec["maxReplicas"] < 1:
            raise KubeError.invalid(
                rt.kind, rt.group, name, "spec.maxReplicas", spec.get("maxReplicas"), "must be greater than 0"
            )
    elif rt is EVENTS:
        if not (obj.get("involvedObject") or {}).get("name"):
            raise KubeError.invalid("Event", "", name, "involvedObject.name", None, "Required value")


@dataclass(slots=True)
class _Pods:
    starts: list[float] = field(default_factory=list)
    delay_s: float = 0.0
    pinned_ready: int | None = None


class Readiness:
    """Replicas created at time t report ready at t + delay_s, unless a test pins the count.

    Scaling down removes the newest replicas first, as the ReplicaSet controller
    prefers not-ready pods.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pods: dict[tuple[str, str], _Pods] = {}

    def set_delay(self, ns: str, name: str, delay_s: float) -> None:
        if delay_s < 0:
            raise ValueError("delay_s: must be >= 0")
        with self._lock:
            self._pods.setdefault((ns, name), _Pods()).delay_s = delay_s

    def pin(self, ns: str, name: str, ready: int | None) -> None:
        """Hold readyReplicas at ``ready`` (capped by spec); None returns to the delay model."""
        with self._lock:
            self._pods.setdefault((ns, name), _Pods()).pinned_ready = ready

    def forget(self, ns: str, name: str) -> None:
        with self._lock:
            self._pods.pop((ns, name), None)

    def status(self, ns: str, name: str, spec_replicas: int, generation: int, now: float) -> dict[str, Any]:
        with self._lock:
            pods = self._pods.setdefault((ns, name), _Pods())
            while len(pods.starts) < spec_replicas:
                pods.starts.append(now)
            del pods.starts[spec_replicas:]
            ready = sum(1 for s in pods.starts if s + pods.delay_s <= now)
            if pods.pinned_ready is not None:
                ready = min(pods.pinned_ready, spec_replicas)
        return {
            "observedGeneration": generation,
            "replicas": spec_replicas,
            "updatedReplicas": spec_replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": spec_replicas - ready,
        }
