"""``controlplane policy``: manage scaling policies through the admin API over HTTP.

``apply -f policy.yaml`` (create or update; several ``---`` documents allowed),
``get NAME``, ``list``, ``history NAME``, ``rollback NAME --to N``, ``delete NAME``.
The server is given by ``--url`` or ``CONTROLPLANE_URL`` and the bearer token by
``--token`` or ``CONTROLPLANE_TOKEN``. A refused policy prints the field the
server named. Exit codes: 0 done, 1 the API refused or could not be reached,
2 bad usage or input.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["register"]

_DEFAULT_URL = "http://127.0.0.1:8080"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("policy", help="create, read, update, roll back and delete policies via the admin API")
    p.add_argument(
        "--url", default=None, help=f"admin API base URL (env CONTROLPLANE_URL; default {_DEFAULT_URL})"
    )
    p.add_argument("--token", default=None, help="bearer token (env CONTROLPLANE_TOKEN)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    ps = p.add_subparsers(dest="policy_command", required=True)
    a = ps.add_parser("apply", help="create or update the policies in a YAML file")
    a.add_argument("-f", "--file", required=True, help="policy YAML; - for stdin")
    a.set_defaults(func=_apply)
    g = ps.add_parser("get", help="print a policy's current version as YAML")
    g.add_argument("name")
    g.set_defaults(func=_get)
    ps.add_parser("list", help="list policies").set_defaults(func=_list)
    h = ps.add_parser("history", help="list a policy's versions")
    h.add_argument("name")
    h.set_defaults(func=_history)
    r = ps.add_parser("rollback", help="make an earlier version's content the newest version")
    r.add_argument("name")
    r.add_argument("--to", type=int, required=True, help="the version to restore")
    r.set_defaults(func=_rollback)
    d = ps.add_parser("delete", help="delete a policy (its history is kept)")
    d.add_argument("name")
    d.set_defaults(func=_delete)


class ApiRefused(Exception):
    pass


def _client(args: argparse.Namespace) -> Any:
    import httpx

    url = args.url or os.environ.get("CONTROLPLANE_URL") or _DEFAULT_URL
    token = args.token or os.environ.get("CONTROLPLANE_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=args.timeout)


def _call(args: argparse.Namespace, method: str, path: str, **kw: Any) -> Any:
    import httpx

    client = _client(args)
    try:
        with client:
            r = client.request(method, path, **kw)
    except httpx.HTTPError as exc:
        raise ApiRefused(f"cannot reach the admin API at {client.base_url}: {exc}") from exc
    if r.status_code >= 400:
        raise ApiRefused(_explain(r))
    return r


def _explain(r: Any) -> str:
    try:
        detail = r.json().get("detail")
    except ValueError:
        detail = r.text.strip() or r.reason_phrase
    if isinstance(detail, list):
        parts = [f"{d.get('field') or '.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail]
        return f"{r.status_code} invalid: " + "; ".join(parts)
    hint = {401: " (set --token or CONTROLPLANE_TOKEN)"}.get(r.status_code, "")
    return f"{r.status_code}: {detail}{hint}"


def _run(fn: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return int(fn(args) or 0)
        except ApiRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    wrapped.__name__ = fn.__name__
    return wrapped


@_run
def _apply(args: argparse.Namespace) -> int:
    import yaml

    try:
        text = sys.stdin.read() if args.file == "-" else open(args.file).read()  # noqa: SIM115
    except OSError as exc:
        raise ValueError(f"-f: cannot read {args.file}: {exc}") from exc
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ValueError(f"-f: {args.file} is not valid YAML: {exc}") from exc
    if not docs:
        raise ValueError(f"-f: {args.file} holds no policy")
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
            raise ValueError(f"-f: document {i + 1} of {args.file}: name: a policy needs a name")
    for doc in docs:
        name = doc["name"]
        try:
            before = _call(args, "GET", f"/v1/policies/{name}").json()["version"]
        except ApiRefused as exc:
            if not str(exc).startswith("404"):
                raise
            before = None
        try:
            if before is None:
                rec = _call(args, "POST", "/v1/policies", json=doc).json()
                print(f"{name}: created (version {rec['version']})")
            else:
                rec = _call(args, "PUT", f"/v1/policies/{name}", json=doc).json()
                state = "unchanged" if rec["version"] == before else "configured"
                print(f"{name}: {state} (version {rec['version']})")
        except ApiRefused as exc:
            raise ApiRefused(f"{name}: {exc}") from exc
    return 0


@_run
def _get(args: argparse.Namespace) -> int:
    import yaml

    rec = _call(args, "GET", f"/v1/policies/{args.name}").json()
    print(f"# version {rec['version']}, managed by {rec['managed_by']}")
    print(yaml.safe_dump(rec["policy"], sort_keys=False).rstrip())
    return 0


@_run
def _list(args: argparse.Namespace) -> int:
    rows = _call(args, "GET", "/v1/policies").json()
    print(f"{'NAME':<24} {'TARGET':<32} {'MIN':>4} {'MAX':>4} {'VERSION':>7}  MANAGED-BY  MODE")
    for r in rows:
        p = r["policy"]
        t = p["target"]
        target = f"{t.get('namespace', 'local')}/{t.get('deployment') or t.get('group')}"
        print(
            f"{r['name']:<24} {target:<32} {p['min_replicas']:>4} {p['max_replicas']:>4} {r['version']:>7}"
            f"  {r['managed_by']:<10}  {p['mode']}"
        )
    return 0


@_run
def _history(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    rows = _call(args, "GET", f"/v1/policies/{args.name}/versions").json()
    print(f"{'VERSION':>7}  {'CREATED (UTC)':<19}  {'BY':<20}  COMMENT")
    for v in rows:
        when = datetime.fromtimestamp(v["created_at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{v['version']:>7}  {when:<19}  {v['created_by']:<20}  {v['comment']}")
    return 0


@_run
def _rollback(args: argparse.Namespace) -> int:
    rec = _call(args, "POST", f"/v1/policies/{args.name}/rollback", json={"version": args.to}).json()
    print(f"{args.name}: rolled back to version {args.to} as version {rec['version']}")
    return 0


@_run
def _delete(args: argparse.Namespace) -> int:
    _call(args, "DELETE", f"/v1/policies/{args.name}")
    print(f"{args.name}: deleted")
    return 0
