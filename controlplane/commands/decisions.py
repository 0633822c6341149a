"""``controlplane decisions``: list recorded decisions and why they were taken."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("decisions", help="list recorded decisions with their reasons")
    p.add_argument("--db", default="controlplane.db", help="the controller's database: SQLite file or postgresql:// URL")
    p.add_argument("--target", help="namespace/deployment or local/group")
    p.add_argument("--limit", type=int, default=20, help="show the newest N (default 20)")
    p.add_argument("--changes", action="store_true", help="only decisions that changed the replica count")
    p.add_argument("--json", action="store_true", help="full records as JSON lines")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from controlplane.store import Database
    from controlplane.store.decisions import DecisionLog
    from controlplane.store.url import parse_database

    url = parse_database(args.db, "--db")
    if url.dialect == "sqlite" and not Path(url.target).exists():
        raise ValueError(f"--db: no database at {args.db}")
    log = DecisionLog(Database(args.db))
    if args.limit < 1:
        raise ValueError("--limit: must be >= 1")
    records = log.list(target=args.target, limit=args.limit, only_changes=args.changes)
    if args.json:
        for rec in reversed(records):
            print(json.dumps(rec.to_dict(), default=str))
        return 0
    total = log.count(target=args.target)
    changes = log.count(target=args.target, only_changes=True)
    print(header(len(records), total, changes, args.target, args.changes))
    for rec in reversed(records):
        d = rec.decision
        when = datetime.fromtimestamp(d.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        state = "valid" if d.valid else "INVALID"
        acted = "patched" if rec.patched else ("shadow" if d.shadow else "-")
        print(f"{when}  {d.target:<24} {d.current:>3} -> {d.desired:<3} {state:<7} {acted:<7} binding={d.binding}")
        for reason in d.reasons:
            print(f"    - {reason}")
    hint = changes_hint(records, changes, args.changes)
    if hint:
        print(hint)
    return 0


def header(shown: int, total: int, changes: int, target: str | None, only_changes: bool) -> str:
    """``last N of M decisions ...``: how much of the log is on screen."""
    scope = f" for {target}" if target else ""
    if only_changes:
        return (f"last {shown} of {changes} decisions{scope} that changed the replica count "
                f"({total} in all), oldest first")
    if total == 0:
        return f"no decisions recorded{scope}"
    return (f"last {shown} of {total} decisions{scope}, oldest first; "
            f"{changes} changed the replica count")


def changes_hint(records: list[Any], changes: int, only_changes: bool) -> str | None:
    """When every row on screen kept the replica count, point at the rows that did not."""
    if only_changes or not records or any(r.decision.desired != r.decision.current for r in records):
        return None
    if changes == 0:
        return "none of these changed the replica count, and no recorded decision did"
    return f"none of these changed the replica count; --changes lists the {changes} that did"
