"""Kubernetes Events about a Deployment, so ``kubectl describe`` shows why we stopped.

Owns: :class:`EventRecorder`, which creates core/v1 Events on a Deployment the way
client-go's recorder names them (``<object>.<hex nanoseconds>``).
Must not import: the pure core's internals.

Recording is best effort: a failure to create an Event is logged and returned as
False, never raised, so it cannot block or change an actuation.
"""

from __future__ import annotations

import datetime as dt
import logging

from kubernetes import client

from controlplane.actuate.kubeclient import classify

__all__ = ["EventRecorder"]

log = logging.getLogger(__name__)


class EventRecorder:
    def __init__(
        self,
        api_client: client.ApiClient,
        component: str = "llm-controlplane",
        instance: str = "",
        request_timeout_s: float = 5.0,
    ) -> None:
        self._core = client.CoreV1Api(api_client)
        self.component = component
        self.instance = instance
        self.request_timeout_s = request_timeout_s

    def deployment_event(
        self,
        namespace: str,
        name: str,
        reason: str,
        message: str,
        now: float,
        uid: str | None = None,
        type_: str = "Warning",
    ) -> bool:
        """Create one Event on Deployment ``namespace/name``; True when the server accepted it."""
        at = dt.datetime.fromtimestamp(now, dt.UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=f"{name}.{int(now * 1e9):x}", namespace=namespace),
            involved_object=client.V1ObjectReference(
                api_version="apps/v1", kind="Deployment", name=name, namespace=namespace, uid=uid
            ),
            reason=reason,
            message=message[:1024],
            type=type_,
            source=client.V1EventSource(component=self.component),
            reporting_component=self.component,
            reporting_instance=self.instance or None,
            first_timestamp=at,
            last_timestamp=at,
            count=1,
        )
        try:
            self._core.create_namespaced_event(namespace, event, _request_timeout=self.request_timeout_s)
        except Exception as exc:  # noqa: BLE001 - an Event must never break actuation
            try:
                failure = str(classify(exc))
            except Exception:  # noqa: BLE001
                failure = repr(exc)
            log.warning("could not record event %s on %s/%s: %s", reason, namespace, name, failure)
            return False
        return True
