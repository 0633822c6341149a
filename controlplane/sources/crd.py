"""Kubernetes-native policies: ScalingPolicy custom resources copied into the policy store.

Owns: :class:`CrdSyncer`. Every ``interval_s`` it lists the resources with the
official client's ``CustomObjectsApi`` (all namespaces, or one) and, for each:

- a valid resource becomes (or updates) the policy named by ``metadata.name``,
  ``managed_by`` "crd" with ``source`` "namespace/name"; the API then refuses
  to edit it (409), and an unchanged resource writes nothing;
- a malformed one (a cross-field rule the API server cannot check, or any field
  when the CRD's schema was bypassed) is refused with the field named
  (``spec.min_replicas``): recorded once per resourceVersion in the store with
  an audit row, logged, and reported as a Warning Event on the resource. The
  policy it would replace keeps running unchanged;
- a resource whose name is already a policy of the API, or of a resource in
  another namespace, is refused the same way (``metadata.name``).

A crd-managed policy whose resource is gone from a successful list is deleted
(its history kept). A failed list changes nothing.
Must not import: the pure core's internals beyond the policy model.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from controlplane.clock import Clock
from controlplane.crd import GROUP, KIND, PLURAL, VERSION
from controlplane.policy.model import PolicyError, parse_policy
from controlplane.store.audit import Actor
from controlplane.store.errors import NotFound
from controlplane.store.policies import PolicyRecord, PolicyRepository

__all__ = ["CrdSyncer", "SyncReport", "SYNC_ACTOR"]

log = logging.getLogger(__name__)

SYNC_ACTOR = Actor("crd-sync", "system")


@dataclass
class SyncReport:
    listed: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # "namespace/name" -> "field: message"
    error: str | None = None


class CrdSyncer:
    def __init__(
        self,
        api_client: Any,
        repo: PolicyRepository,
        clock: Clock,
        *,
        namespace: str | None = None,
        interval_s: float = 30.0,
        request_timeout_s: float = 10.0,
    ) -> None:
        from kubernetes import client

        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self.repo = repo
        self.clock = clock
        self.namespace = namespace
        self.interval_s = interval_s
        self.request_timeout_s = request_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> CrdSyncer:
        self._thread = threading.Thread(target=self._run, name="crd-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.request_timeout_s + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception:
                log.exception("ScalingPolicy sync failed")
            self._stop.wait(self.interval_s)

    def _list(self) -> list[dict[str, Any]]:
        out: Any
        if self.namespace:
            out = self._custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, _request_timeout=self.request_timeout_s
            )
        else:
            out = self._custom.list_cluster_custom_object(
                GROUP, VERSION, PLURAL, _request_timeout=self.request_timeout_s
            )
        return list(out.get("items") or [])

    def sync_once(self) -> SyncReport:
        report = SyncReport()
        try:
            items = self._list()
        except Exception as exc:
            report.error = f"could not list {PLURAL}.{GROUP}: {exc}"
            log.warning("%s; policies left as they are", report.error)
            return report
        report.listed = len(items)
        now = self.clock.now()
        present = set()
        for item in items:
            meta = item.get("metadata") or {}
            ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
            present.add(f"{ns}/{name}")
            self._apply(item, ns, name, now, report)
        for rec in self.repo.list():
            if rec.managed_by == "crd" and rec.source not in present and self._watched(rec):
                self.repo.delete(rec.name, SYNC_ACTOR, now, managed_by="crd")
                report.deleted.append(rec.name)
                log.info("policy %s deleted: its ScalingPolicy %s is gone", rec.name, rec.source)
        return report

    def _watched(self, rec: PolicyRecord) -> bool:
        return self.namespace is None or (rec.source or "").startswith(f"{self.namespace}/")

    def _apply(self, item: dict[str, Any], ns: str, name: str, now: float, report: SyncReport) -> None:
        source = f"{ns}/{name}"
        spec = item.get("spec")
        if not isinstance(spec, dict):
            self._reject(
                item, ns, name, "spec", "expected an object holding the policy's fields", now, report
            )
            return
        if "name" in spec:
            self._reject(
                item, ns, name, "spec.name", "the policy name is metadata.name; remove spec.name", now, report
            )
            return
        try:
            policy = parse_policy({"name": name, **spec})
        except PolicyError as exc:
            where = "metadata.name" if exc.field == "name" else f"spec.{exc.field}"
            self._reject(item, ns, name, where, exc.message.removeprefix("Value error, "), now, report)
            return
        try:
            current: PolicyRecord | None = self.repo.get(name)
        except NotFound:
            current = None
        if current is not None and current.managed_by != "crd":
            self._reject(
                item,
                ns,
                name,
                "metadata.name",
                f"policy {name!r} is managed by the {current.managed_by}; delete it there before managing it here",
                now,
                report,
            )
            return
        if current is not None and current.source != source:
            self._reject(
                item,
                ns,
                name,
                "metadata.name",
                f"policy {name!r} is already managed by ScalingPolicy {current.source}",
                now,
                report,
            )
            return
        if current is None:
            self.repo.create(
                policy, SYNC_ACTOR, now, managed_by="crd", source=source, comment=f"from {source}"
            )
            report.created.append(name)
        else:
            _, changed = self.repo.update(
                name, policy, SYNC_ACTOR, now, managed_by="crd", source=source, comment=f"from {source}"
            )
            if changed:
                report.updated.append(name)
        self.repo.clear_rejection(ns, name)

    def _reject(
        self,
        item: dict[str, Any],
        ns: str,
        name: str,
        where: str,
        message: str,
        now: float,
        report: SyncReport,
    ) -> None:
        report.rejected[f"{ns}/{name}"] = f"{where}: {message}"
        rv = str((item.get("metadata") or {}).get("resourceVersion", ""))
        if not self.repo.record_rejection(ns, name, rv, where, message, SYNC_ACTOR, now):
            return
        log.warning(
            "ScalingPolicy %s/%s refused: %s: %s; the running policy is unchanged", ns, name, where, message
        )
        self._event(item, ns, name, f"{where}: {message}", now)

    def _event(self, item: dict[str, Any], ns: str, name: str, message: str, now: float) -> None:
        from kubernetes import client

        at = dt.datetime.fromtimestamp(now, dt.UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=f"{name}.{int(now * 1e9):x}", namespace=ns),
            involved_object=client.V1ObjectReference(
                api_version=f"{GROUP}/{VERSION}",
                kind=KIND,
                name=name,
                namespace=ns,
                uid=(item.get("metadata") or {}).get("uid"),
            ),
            reason="InvalidPolicy",
            message=message[:1024],
            type="Warning",
            source=client.V1EventSource(component="llm-controlplane"),
            first_timestamp=at,
            last_timestamp=at,
            count=1,
        )
        try:
            self._core.create_namespaced_event(ns, event, _request_timeout=self.request_timeout_s)
        except Exception as exc:  # noqa: BLE001 - an Event is best effort; the refusal is recorded already
            log.warning("could not record an Event on ScalingPolicy %s/%s: %s", ns, name, exc)
