"""The stand-in API server's object store: resourceVersions, conflicts and Status errors.

Owns: :class:`ObjectStore` (a thread-safe map of namespaced objects with one global
resourceVersion counter, like etcd's revision), :class:`KubeError` (a failure
rendered as a ``kind: Status`` body the way the real API server renders it) and
the JSON merge-patch of RFC 7386.
Must not import: anything from ``controlplane``; it is a test double of a real server.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["KubeError", "ObjectStore", "ResourceType", "merge_patch", "status_body"]

_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True, slots=True)
class ResourceType:
    """One served resource: ``group`` is "" for the core group."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``deployments.apps``: how the API server names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def status_body(
    code: int,
    message: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _REASONS.get(code, ""),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class KubeError(Exception):
    """A request the server refuses; ``body()`` is the Status object it answers with."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _REASONS.get(code, "")
        self.details = details

    def body(self) -> dict[str, Any]:
        return status_body(self.code, self.message, self.reason, self.details)

    @staticmethod
    def not_found(rt: ResourceType, name: str) -> KubeError:
        return KubeError(
            404,
            f'{rt.qualified} "{name}" not found',
            details={"name": name, "group": rt.group, "kind": rt.plural},
        )

    @staticmethod
    def conflict(rt: ResourceType, name: str) -> KubeError:
        return KubeError(
            409,
            f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
            details={"name": name, "group": rt.group, "kind": rt.plural},
        )

    @staticmethod
    def invalid(kind: str, group: str, name: str, field: str, value: Any, why: str) -> KubeError:
        qualified = f"{kind}.{group}" if group else kind
        cause = (
            f"Invalid value: {value!r}: {why}"
            if not isinstance(value, int)
            else f"Invalid value: {value}: {why}"
        )
        return KubeError(
            422,
            f'{qualified} "{name}" is invalid: {field}: {cause}',
            details={
                "name": name,
                "group": group,
                "kind": kind,
                "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": field}],
            },
        )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


Key = tuple[str, str, str, str]  # (apiVersion, plural, namespace, name)


class ObjectStore:
    """Objects keyed by resource type, namespace and name; every write bumps one counter."""

    def __init__(self, now_iso: Callable[[], str]) -> None:
        self.lock = threading.RLock()
        self._objects: dict[Key, dict[str, Any]] = {}
        self._rv = 100
        self._now_iso = now_iso

    @staticmethod
    def _key(rt: ResourceType, namespace: str, name: str) -> Key:
        return (rt.api_version, rt.plural, namespace if rt.namespaced else "", name)

    def next_rv(self) -> str:
        with self.lock:
            self._rv += 1
            return str(self._rv)

    def current_rv(self) -> str:
        with self.lock:
            return str(self._rv)

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            obj = self._objects.get(self._key(rt, namespace, name))
            if obj is None:
                raise KubeError.not_found(rt, name)
            return copy.deepcopy(obj)

    def list(self, rt: ResourceType, namespace: str | None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                copy.deepcopy(o)
                for (av, plural, ns, _), o in sorted(self._objects.items())
                if av == rt.api_version and plural == rt.plural and (namespace is None or ns == namespace)
            ]

    def create(self, rt: ResourceType, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        with self.lock:
            if not name and meta.get("generateName"):
                name = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
                meta["name"] = name
            if not name:
                raise KubeError(
                    422,
                    f"{rt.kind} is invalid: metadata.name: Required value: name or generateName is required",
                )
            key = self._key(rt, namespace, name)
            if key in self._objects:
                raise KubeError(
                    409,
                    f'{rt.qualified} "{name}" already exists',
                    reason="AlreadyExists",
                    details={"name": name, "group": rt.group, "kind": rt.plural},
                )
            obj["apiVersion"] = rt.api_version
            obj["kind"] = rt.kind
            if rt.namespaced:
                meta["namespace"] = namespace
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = self._now_iso()
            meta["generation"] = 1
            meta["resourceVersion"] = self.next_rv()
            self._objects[key] = copy.deepcopy(obj)
            return copy.deepcopy(obj)

    def replace(self, rt: ResourceType, namespace: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT semantics: a given resourceVersion is a precondition; an absent one is unconditional."""
        with self.lock:
            current = self.get(rt, namespace, name)
            want_rv = (obj.get("metadata") or {}).get("resourceVersion")
            if want_rv and want_rv != current["metadata"]["resourceVersion"]:
                raise KubeError.conflict(rt, name)
            return self.write(rt, namespace, name, current, obj)

    def write(
        self, rt: ResourceType, namespace: str, name: str, current: dict[str, Any], new: dict[str, Any]
    ) -> dict[str, Any]:
        """Store ``new`` over ``current``, keeping the server-owned metadata; bumps generation on spec change."""
        with self.lock:
            meta = new.setdefault("metadata", {})
            old_meta = current["metadata"]
            for owned in ("uid", "creationTimestamp", "namespace", "name"):
                if owned in old_meta:
                    meta[owned] = old_meta[owned]
            new["apiVersion"] = rt.api_version
            new["kind"] = rt.kind
            generation = int(old_meta.get("generation", 1))
            meta["generation"] = generation + 1 if new.get("spec") != current.get("spec") else generation
            meta["resourceVersion"] = self.next_rv()
            self._objects[self._key(rt, namespace, name)] = copy.deepcopy(new)
            return copy.deepcopy(new)

    def delete(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            obj = self.get(rt, namespace, name)
            del self._objects[self._key(rt, namespace, name)]
            self.next_rv()
            return obj
