"""A Kubernetes API server stand-in on 127.0.0.1 for the official ``kubernetes`` client.

No real API server can run on the test machines, so the actuator and the leader
election are tested against this threaded HTTP server. It speaks the REST paths,
verbs and error bodies the official client expects, for:

- ``apps/v1`` Deployments: get, list, create, replace, patch, delete; the
  ``scale`` subresource (GET, PUT, PATCH with merge-patch, strategic-merge-patch or
  JSON-patch); ``status`` with readyReplicas from a readiness model.
- ``autoscaling/v2`` HorizontalPodAutoscalers, ``coordination.k8s.io/v1`` Leases,
  ``v1`` Events, and any registered namespaced custom resource (the ScalingPolicy
  resource ``scalingpolicies.controlplane.io/v1`` is registered by default).

What it enforces like the real server: one resourceVersion counter bumped by every
write; a write carrying a stale ``metadata.resourceVersion`` (PUT body or patch
body) answers 409 Conflict; missing objects 404 NotFound; denied verbs 403
Forbidden; negative replicas and other invalid fields 422 Invalid; every failure is
a ``kind: Status`` body with ``reason`` and ``code``. A write's ``fieldManager``
(or, without one, the User-Agent's product token) becomes the manager of
``spec.replicas`` in the Deployment's ``managedFields``.

Test controls (all thread-safe)::

    with KubeStandIn(clock=FakeClock()) as kube:   # start(); stop() on exit
        kube.url                                   # http://127.0.0.1:<free port>
        kube.add_deployment("chat", replicas=2, readiness_delay_s=60)
        kube.set_replicas("chat", 5, manager="kubectl")    # someone else scales
        kube.set_ready("chat", 1)                  # pin readyReplicas (None: delay model)
        kube.add_hpa("chat-hpa", target="chat")
        kube.deny("patch", "deployments/scale")    # RBAC says no
        kube.fail_next(2, code=503, method="PATCH", path="/scale")
        kube.fail_next(1, kind="timeout", delay_s=2.0, path="/scale")  # no answer, not applied
        kube.fail_next(1, kind="slow", delay_s=2.0, path="/scale")     # applied, answer late
        kube.before_next(lambda: kube.touch("chat"), method="PATCH")   # rv moves under a client
        kube.requests("PATCH", "/scale")           # [RequestRecord(method, path, query, body, ...)]
        kube.lease("controlplane-leader"), kube.events()

Readiness uses ``clock.now()``: with a fake clock, replicas become ready only when
the test advances it past ``readiness_delay_s``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any, Protocol

from tests.harness.kube.faults import Controls, Fault, RequestRecord
from tests.harness.kube.resources import (
    BUILTIN,
    DEPLOYMENTS,
    EVENTS,
    HPAS,
    LEASES,
    Readiness,
    new_deployment,
    scale_view,
)
from tests.harness.kube.server import ApiHandler
from tests.harness.kube.store import KubeError, ObjectStore, ResourceType

__all__ = ["KubeStandIn", "RequestRecord", "SCALING_POLICIES"]

SCALING_POLICIES = ResourceType("controlplane.io", "v1", "scalingpolicies", "ScalingPolicy")


class _Clock(Protocol):
    def now(self) -> float: ...


class _WallClock:
    def now(self) -> float:
        return time.time()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class KubeStandIn:
    """The server and its controls; ``start()`` binds a free loopback port."""

    def __init__(
        self, clock: _Clock | None = None, user: str = "system:serviceaccount:default:llm-controlplane"
    ) -> None:
        self.clock: _Clock = clock or _WallClock()
        self.user = user
        self.store = ObjectStore(self._now_iso)
        self.controls = Controls()
        self.readiness = Readiness()
        self.stopping = threading.Event()
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rt in (*BUILTIN, SCALING_POLICIES):
            self.register(rt)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> KubeStandIn:
        handler = type("BoundApiHandler", (ApiHandler,), {"standin": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="kube-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> KubeStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # resources

    def register(self, rt: ResourceType) -> None:
        """Serve another (custom) resource type under /apis/{group}/{version}/namespaces/{ns}/{plural}."""
        self._types[(rt.group, rt.version, rt.plural)] = rt

    def resource(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def _now_iso(self) -> str:
        return dt.datetime.fromtimestamp(self.clock.now(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def read(self, rt: ResourceType, ns: str, name: str) -> dict[str, Any]:
        """Get an object; a Deployment's status is brought up to date first (a status write bumps its rv)."""
        with self.store.lock:
            obj = self.store.get(rt, ns, name)
            if rt is not DEPLOYMENTS:
                return obj
            status = self.readiness.status(
                ns,
                name,
                int(obj["spec"].get("replicas", 1)),
                int(obj["metadata"]["generation"]),
                self.clock.now(),
            )
            if obj.get("status") == status:
                return obj
            obj["status"] = status
            return self.store.write(rt, ns, name, self.store.get(rt, ns, name), obj)

    def list_objects(
        self, rt: ResourceType, ns: str | None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        wanted = (
            dict(p.split("=", 1) for p in label_selector.split(",") if "=" in p) if label_selector else {}
        )
        out = []
        for obj in self.store.list(rt, ns):
            labels = obj["metadata"].get("labels") or {}
            if all(labels.get(k) == v for k, v in wanted.items()):
                meta = obj["metadata"]
                out.append(
                    self.read(rt, meta.get("namespace", ""), meta["name"]) if rt is DEPLOYMENTS else obj
                )
        return out

    def created(self, rt: ResourceType, ns: str, obj: dict[str, Any]) -> dict[str, Any]:
        if rt is DEPLOYMENTS:
            self.readiness.forget(ns, obj["metadata"]["name"])
            return self.read(rt, ns, obj["metadata"]["name"])
        return obj

    def updated(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        current: dict[str, Any],
        new: dict[str, Any],
        manager: str,
        subresource: str | None,
    ) -> dict[str, Any]:
        """Store a write; on a Deployment, whoever changed spec.replicas now manages it."""
        with self.store.lock:
            if rt is DEPLOYMENTS and new["spec"].get("replicas") != current["spec"].get("replicas"):
                self._take_replicas(new, manager, subresource)
            self.store.write(rt, ns, name, current, new)
            written = self.read(rt, ns, name)
            if subresource == "scale":
                return scale_view(written)
            return written

    def _take_replicas(self, obj: dict[str, Any], manager: str, subresource: str | None) -> None:
        entries = [
            e
            for e in obj["metadata"].get("managedFields") or []
            if "f:replicas" not in e.get("fieldsV1", {}).get("f:spec", {})
        ]
        entry: dict[str, Any] = {
            "manager": manager,
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": self._now_iso(),
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }
        if subresource:
            entry["subresource"] = subresource
        obj["metadata"]["managedFields"] = [*entries, entry]

    # test controls

    def add_deployment(
        self,
        name: str,
        replicas: int = 1,
        namespace: str = "default",
        readiness_delay_s: float = 0.0,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        self.store.create(DEPLOYMENTS, namespace, new_deployment(name, replicas, labels))
        self.readiness.forget(namespace, name)
        self.readiness.set_delay(namespace, name, readiness_delay_s)
        return self.read(DEPLOYMENTS, namespace, name)

    def deployment(self, name: str, namespace: str = "default") -> dict[str, Any]:
        return self.read(DEPLOYMENTS, namespace, name)

    def replicas(self, name: str, namespace: str = "default") -> int:
        return int(self.deployment(name, namespace)["spec"]["replicas"])

    def replicas_manager(self, name: str, namespace: str = "default") -> str | None:
        """The manager that last set spec.replicas (managedFields), None if never changed."""
        for entry in reversed(self.deployment(name, namespace)["metadata"].get("managedFields") or []):
            if "f:replicas" in entry["fieldsV1"].get("f:spec", {}):
                return str(entry["manager"])
        return None

    def set_replicas(
        self, name: str, replicas: int, namespace: str = "default", manager: str = "kubectl"
    ) -> None:
        """Someone else (kubectl, an HPA, a GitOps sync) changes the replica count."""
        with self.store.lock:
            current = self.read(DEPLOYMENTS, namespace, name)
            new = {**current, "spec": {**current["spec"], "replicas": replicas}}
            self.updated(DEPLOYMENTS, namespace, name, current, new, manager, None)

    def set_ready(self, name: str, ready: int | None, namespace: str = "default") -> None:
        self.readiness.pin(namespace, name, ready)

    def set_readiness_delay(self, name: str, delay_s: float, namespace: str = "default") -> None:
        self.readiness.set_delay(namespace, name, delay_s)

    def add_hpa(
        self,
        name: str,
        target: str,
        namespace: str = "default",
        min_replicas: int = 1,
        max_replicas: int = 10,
    ) -> dict[str, Any]:
        return self.store.create(
            HPAS,
            namespace,
            {
                "metadata": {"name": name},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                    "minReplicas": min_replicas,
                    "maxReplicas": max_replicas,
                },
            },
        )

    def delete_hpa(self, name: str, namespace: str = "default") -> None:
        self.store.delete(HPAS, namespace, name)

    def put_object(self, rt: ResourceType, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        return self.store.create(rt, namespace, obj)

    def get_object(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.store.get(rt, namespace, name)
        except KubeError:
            return None

    def lease(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        return self.get_object(LEASES, namespace, name)

    def events(self, namespace: str = "default") -> list[dict[str, Any]]:
        return self.store.list(EVENTS, namespace)

    def deny(self, verb: str, resource: str) -> None:
        """Answer 403 to ``verb`` (get, list, create, update, patch, delete or *) on ``resource``."""
        with self.controls.lock:
            self.controls.denied.add((verb, resource))

    def allow(self, verb: str, resource: str) -> None:
        with self.controls.lock:
            self.controls.denied.discard((verb, resource))

    def fail_next(
        self,
        count: int,
        *,
        code: int = 503,
        kind: str = "status",
        delay_s: float = 0.0,
        method: str | None = None,
        path: str | None = None,
        message: str = "",
    ) -> None:
        """Make the next ``count`` requests matching method and path substring fail (see faults.py)."""
        self.controls.add_fault(Fault(count, kind, code, delay_s, method, path, message))

    def before_next(
        self,
        action: Callable[[], None],
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Run ``action`` just before the next ``count`` matching requests are served."""
        self.controls.add_fault(Fault(count, "before", method=method, path=path, action=action))

    def touch(self, name: str, namespace: str = "default", manager: str = "kubectl") -> None:
        """Someone else writes the Deployment without changing replicas (an annotation): only its rv moves."""
        with self.store.lock:
            current = self.read(DEPLOYMENTS, namespace, name)
            meta = current["metadata"]
            annotations = {**(meta.get("annotations") or {}), "touched-by": manager}
            new = {**current, "metadata": {**meta, "annotations": annotations}}
            self.updated(DEPLOYMENTS, namespace, name, current, new, manager, None)

    def requests(self, method: str | None = None, path_contains: str | None = None) -> list[RequestRecord]:
        return self.controls.requests(method, path_contains)

    def clear_log(self) -> None:
        with self.controls.lock:
            self.controls.log.clear()
