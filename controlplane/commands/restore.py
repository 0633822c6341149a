"""``controlplane restore``: replace the SQLite store with a backup (controller stopped)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "restore",
        help="replace the controller's database with a checked backup (stop the controller first)",
        description="Check a backup (integrity, known schema) and copy it over the database. "
        "Stop every controller using the database first; the next start migrates it if it is older.",
    )
    p.add_argument("--backup", required=True, help="file written by `controlplane backup`")
    p.add_argument("--db", required=True, help="the controller's database (loop.database)")
    p.add_argument("--force", action="store_true", help="replace --db when it exists")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from controlplane.store.backup import restore

    info = restore(args.backup, args.db, force=args.force)
    print(f"restored {args.backup} into {info.summary()}")
    return 0
