"""The stand-in API server's HTTP side: routing, verbs, patches, RBAC and faults.

Owns: :class:`ApiHandler`, which turns a request into a store operation the way
kube-apiserver would (paths, verbs, Status bodies, resourceVersion preconditions,
merge and strategic-merge patches, the Deployment ``scale`` subresource, the
``fieldManager`` of each write) and applies the test controls before it does.
Must not import: anything from ``controlplane``.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from tests.harness.kube.faults import RequestRecord
from tests.harness.kube.resources import DEPLOYMENTS, scale_view, validate
from tests.harness.kube.store import KubeError, ResourceType, merge_patch

if TYPE_CHECKING:
    from tests.harness.kube_standin import KubeStandIn

__all__ = ["ApiHandler", "json_patch"]

_MERGE_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
_SCALE = ResourceType("autoscaling", "v1", "scale", "Scale")
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def json_patch(doc: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 for object members: add, replace, remove and test."""
    if not isinstance(ops, list):
        raise KubeError(400, "json patch must be a list of operations")
    doc = json.loads(json.dumps(doc))
    for op in ops:
        parts = _pointer(str(op.get("path", "")))
        if not parts:
            raise KubeError(422, f"json patch path {op.get('path')!r} is not supported")
        parent = doc
        for p in parts[:-1]:
            parent = parent.setdefault(p, {})
        leaf = parts[-1]
        kind = op.get("op")
        if kind in ("add", "replace"):
            parent[leaf] = op.get("value")
        elif kind == "remove":
            parent.pop(leaf, None)
        elif kind == "test":
            if parent.get(leaf) != op.get("value"):
                raise KubeError(
                    422,
                    f"the server rejected our request due to an error in our request: test of {op['path']} failed",
                )
        else:
            raise KubeError(400, f"json patch op {kind!r} is not supported")
    return doc


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-standin/1.0"
    standin: KubeStandIn  # set on the subclass the stand-in builds

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query))
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip() or None
        rec = RequestRecord(
            self.command, split.path, query, None, content_type, self.headers.get("User-Agent")
        )
        controls = self.standin.controls
        try:
            rec.body = json.loads(raw) if raw else None
        except ValueError:
            controls.record(rec)
            self._reply(rec, 400, KubeError(400, "the body is not valid JSON").body())
            return
        fault = controls.take_fault(self.command, split.path)
        if fault is not None:
            rec.fault = fault.kind
        if fault is not None and fault.kind == "status":
            controls.record(rec)
            message = fault.message or f"injected failure {fault.code}"
            self._reply(rec, fault.code, KubeError(fault.code, message).body())
            return
        if fault is not None and fault.kind == "timeout":
            controls.record(rec)
            self.standin.stopping.wait(fault.delay_s)
            self.close_connection = True
            return
        if fault is not None and fault.kind == "before" and fault.action is not None:
            fault.action()
        code, body = self._dispatch(split.path, query, rec)
        controls.record(rec)
        if fault is not None and fault.kind == "slow":
            self.standin.stopping.wait(fault.delay_s)
        self._reply(rec, code, body)

    def _reply(self, rec: RequestRecord, code: int, body: dict[str, Any]) -> None:
        rec.status = code
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, path: str) -> tuple[ResourceType, str | None, str | None, str | None]:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise KubeError(404, "the server could not find the requested resource")
        namespace = None
        if len(rest) >= 2 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise KubeError(404, "the server could not find the requested resource")
        rt = self.standin.resource(group, version, rest[0])
        if rt is None:
            raise KubeError(404, "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        return rt, namespace, name, sub

    def _dispatch(self, path: str, query: dict[str, str], rec: RequestRecord) -> tuple[int, dict[str, Any]]:
        try:
            rt, ns, name, sub = self._route(path)
            verb = _VERBS.get(self.command) or ("get" if name else "list")
            if query.get("watch") in ("true", "1"):
                raise KubeError(405, "watch is not served by the stand-in", reason="MethodNotAllowed")
            resource = f"{rt.plural}/{sub}" if sub else rt.plural
            if self.standin.controls.is_denied(verb, resource):
                raise self._forbidden(rt, verb, resource, ns, name)
            if sub is not None and (rt is not DEPLOYMENTS or sub not in ("scale", "status")):
                raise KubeError(404, "the server could not find the requested resource")
            if rt.namespaced and ns is None and verb != "list":
                raise KubeError(404, "the server could not find the requested resource")
            return self._apply(rt, verb, ns or "", name, sub, query, rec)
        except KubeError as err:
            return err.code, err.body()

    def _forbidden(
        self, rt: ResourceType, verb: str, resource: str, ns: str | None, name: str | None
    ) -> KubeError:
        subject = f'{rt.qualified} "{name}"' if name else rt.qualified
        where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
        return KubeError(
            403,
            f'{subject} is forbidden: User "{self.standin.user}" cannot {verb} resource "{resource}" '
            f'in API group "{rt.group}"{where}',
            details={"name": name or "", "group": rt.group, "kind": rt.plural},
        )

    def _apply(
        self,
        rt: ResourceType,
        verb: str,
        ns: str,
        name: str | None,
        sub: str | None,
        query: dict[str, str],
        rec: RequestRecord,
    ) -> tuple[int, dict[str, Any]]:
        kube = self.standin
        store = kube.store
        body = rec.body
        manager = query.get("fieldManager") or (rec.user_agent or "unknown").split("/")[0]
        if verb == "list":
            items = kube.list_objects(rt, ns or None, query.get("labelSelector"))
            return 200, {
                "apiVersion": rt.api_version,
                "kind": f"{rt.kind}List",
                "metadata": {"resourceVersion": store.current_rv()},
                "items": items,
            }
        if verb == "create":
            if not isinstance(body, dict):
                raise KubeError(400, "the body must be an object")
            validate(rt, body)
            return 201, kube.created(rt, ns, store.create(rt, ns, body))
        assert name is not None
        if verb == "delete":
            store.delete(rt, ns, name)
            return 200, {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": name, "group": rt.group, "kind": rt.plural},
            }
        with store.lock:
            current = kube.read(rt, ns, name)
            if verb == "get":
                return 200, scale_view(current) if sub == "scale" else current
            view = scale_view(current) if sub == "scale" else current
            if verb == "update":
                if not isinstance(body, dict):
                    raise KubeError(400, "the body must be an object")
                new = body
            elif rec.content_type in _MERGE_TYPES:
                new = merge_patch(view, body)
            elif rec.content_type == "application/json-patch+json":
                new = json_patch(view, body)
            else:
                raise KubeError(
                    415,
                    f"the body of the request was in an unknown format - accepted media types include: {', '.join(_MERGE_TYPES)}, application/json-patch+json",
                )
            want_rv = (new.get("metadata") or {}).get("resourceVersion")
            if want_rv and want_rv != current["metadata"]["resourceVersion"]:
                raise KubeError.conflict(rt, name)
            if sub == "scale":
                new.setdefault("metadata", {})["name"] = name
                validate(_SCALE, new)
                merged = json.loads(json.dumps(current))
                merged["spec"]["replicas"] = new["spec"]["replicas"]
                new = merged
            elif sub == "status":
                merged = json.loads(json.dumps(current))
                merged["status"] = new.get("status", {})
                new = merged
            else:
                new.setdefault("metadata", {})["name"] = name
                validate(rt, new)
            return 200, kube.updated(rt, ns, name, current, new, manager, sub)
