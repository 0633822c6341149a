"""``controlplane decisions``: list recorded decisions and why they were taken."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("decisions", help="list recorded decisions with their reasons")
    p.add_argument("--db", default="controlplane.db", help="the controller's database: SQLite file or postgresql:// URL")
    p.add_argument("--target", help="namespace/deployment or local/group")
    p.add_argument("--limit", type=int, default=20)
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
    records = DecisionLog(Database(args.db)).list(target=args.target, limit=args.limit, only_changes=args.changes)
    for rec in reversed(records):
        d = rec.decision
        if args.json:
            print(json.dumps(rec.to_dict(), default=str))
            continue
        when = datetime.fromtimestamp(d.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        state = "valid" if d.valid else "INVALID"
        acted = "patched" if rec.patched else ("shadow" if d.shadow else "-")
        print(f"{when}  {d.target:<24} {d.current:>3} -> {d.desired:<3} {state:<7} {acted:<7} binding={d.binding}")
        for reason in d.reasons:
            print(f"    - {reason}")
    return 0
