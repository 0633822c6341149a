"""``controlplane backup``: an online copy of the SQLite store (policies, versions, decisions, audit)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "backup",
        help="copy the controller's SQLite database while it runs (sqlite3 backup API)",
        description="Copy a consistent snapshot of the database while the controller keeps writing; "
        "the copy is integrity-checked and renamed into place only when complete.",
    )
    p.add_argument("--db", required=True, help="the controller's database (loop.database)")
    p.add_argument("--out", required=True, help="backup file to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out when it exists")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from controlplane.store.backup import backup

    info = backup(args.db, args.out, overwrite=args.overwrite)
    print(f"backed up {args.db} to {info.summary()}")
    return 0
