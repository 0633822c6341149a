"""``controlplane policy``: manage scaling policies through the admin API over HTTP.

``apply -f policy.yaml`` (create or update; several ``---`` documents allowed),
``get NAME``, ``list``, ``history NAME``, ``rollback NAME --to N``, ``delete NAME``,
``whatif -f candidate.yaml (--trace FILE | --last SECONDS | --start T --end T)``: the
candidate and the stored policy of its name replayed on a trace, or on what the
controller's Prometheus recorded of the target, side by side.
The server is given by ``--url`` or ``CONTROLPLANE_URL`` and the bearer token by
``--token`` or ``CONTROLPLANE_TOKEN``. A refused policy prints the field the
server named. ``apply``, ``rollback`` and ``delete`` send ``If-Match`` with the
version they read, so a change someone made in between is refused (412), never
overwritten. Exit codes: 0 done, 1 the API refused or could not be reached,
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
    w = ps.add_parser("whatif", help="replay a candidate policy (and the stored one) through the simulator")
    w.add_argument("-f", "--file", required=True, help="the candidate policy's YAML; - for stdin")
    src = w.add_mutually_exclusive_group(required=True)
    src.add_argument("--trace", help="a trace file to upload (Azure/BurstGPT CSV, Mooncake JSONL)")
    src.add_argument("--last", type=float, help="the target's last SECONDS as Prometheus recorded them")
    src.add_argument("--start", type=float, help="a recorded window from this Unix time (with --end)")
    w.add_argument("--end", type=float, help="end of the recorded window (Unix time; default now)")
    w.add_argument("--step", type=int, default=15, help="recorded window: seconds per step (default 15)")
    w.add_argument("--profile", default=None, help="replica performance profile (server default: cpu-tiny)")
    w.set_defaults(func=_whatif)


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


def _if_match(read: Any) -> dict[str, str]:
    """Make the write conditional on the version just read: a change in between is refused (412)."""
    tag = read.headers.get("ETag")
    return {"If-Match": tag} if tag else {}


def _current_tag(args: argparse.Namespace, name: str) -> dict[str, str]:
    """If-Match for the version current now; none when it cannot be read (the write then says why)."""
    try:
        return _if_match(_call(args, "GET", f"/v1/policies/{name}"))
    except ApiRefused:
        return {}


def _explain(r: Any) -> str:
    try:
        detail = r.json().get("detail")
    except ValueError:
        detail = r.text.strip() or r.reason_phrase
    if isinstance(detail, list):
        parts = [f"{d.get('field') or '.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail]
        return f"{r.status_code} invalid: " + "; ".join(parts)
    hint = {
        401: " (set --token or CONTROLPLANE_TOKEN)",
        412: " (changed by someone else since it was read; read it again)",
    }.get(r.status_code, "")
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
            current = _call(args, "GET", f"/v1/policies/{name}")
        except ApiRefused as exc:
            if not str(exc).startswith("404"):
                raise
            current = None
        try:
            if current is None:
                rec = _call(args, "POST", "/v1/policies", json=doc).json()
                print(f"{name}: created (version {rec['version']})")
            else:
                before = current.json()["version"]
                rec = _call(args, "PUT", f"/v1/policies/{name}", json=doc, headers=_if_match(current)).json()
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
    rec = _call(
        args,
        "POST",
        f"/v1/policies/{args.name}/rollback",
        json={"version": args.to},
        headers=_current_tag(args, args.name),
    ).json()
    print(f"{args.name}: rolled back to version {args.to} as version {rec['version']}")
    return 0


@_run
def _delete(args: argparse.Namespace) -> int:
    _call(args, "DELETE", f"/v1/policies/{args.name}", headers=_current_tag(args, args.name))
    print(f"{args.name}: deleted")
    return 0


_FIGURES = (
    ("TTFT within SLO", "ttft_within_slo", "{:.2%}"),
    ("TTFT p95 s", "ttft_p95_s", "{:.3f}"),
    ("TTFT p99 s", "ttft_p99_s", "{:.3f}"),
    ("replica-seconds", "replica_seconds", "{:.0f}"),
    ("GPU-hours", "gpu_hours", "{:.3f}"),
    ("peak replicas", "peak_replicas", "{}"),
    ("scale events", "scale_events", "{}"),
    ("reversals", "reversals", "{}"),
)


@_run
def _whatif(args: argparse.Namespace) -> int:
    import time

    import yaml

    try:
        doc = yaml.safe_load(sys.stdin.read() if args.file == "-" else open(args.file).read())  # noqa: SIM115
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"-f: cannot read a policy from {args.file}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"-f: {args.file} holds no policy")
    trace: dict[str, Any]
    if args.trace is not None:
        try:
            trace = {"content": open(args.trace).read()}  # noqa: SIM115
        except OSError as exc:
            raise ValueError(f"--trace: cannot read {args.trace}: {exc}") from exc
    else:
        end = args.end if args.end is not None else time.time()
        start = end - args.last if args.last is not None else args.start
        if args.last is not None and not args.last > 0:
            raise ValueError("--last: must be a positive number of seconds")
        trace = {"recorded": {"start": start, "end": end, "step_s": args.step}}
    body: dict[str, Any] = {"policy": doc, "trace": trace, "compare_current": True}
    if args.profile:
        body["profile"] = args.profile
    out = _call(args, "POST", "/v1/whatif", json=body).json()
    t = out["trace"]
    seen = f"; {t['missing_steps']} of {t['steps']} steps without data" if t.get("missing_steps") else ""
    print(f"trace: {t['name']}, {t['requests']} requests over {t['duration_s']:.0f} s{seen}; profile {out['profile']}")
    columns = [("candidate", out["candidate"])] + ([("stored", out["current"])] if out.get("current") else [])
    print(f"{'':<18}" + "".join(f"{name:>12}" for name, _ in columns))
    for label, key, fmt in _FIGURES:
        cells = "".join(f"{_cell(fig.get(key), fmt):>12}" for _, fig in columns)
        print(f"{label:<18}{cells}")
    return 0


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)
