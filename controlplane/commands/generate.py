"""``controlplane generate``: write dashboards, alert rules, promtool tests, runbooks and
Kubernetes monitoring objects from one codegen config (defaults when none is given)."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "generate",
        help="generate dashboards/, alert_rules/, runbooks/ and serving/monitoring/ from the codegen config",
    )
    parser.add_argument("--config", type=Path, default=None, help="codegen config YAML (default: built-in defaults)")
    parser.add_argument(
        "--out", type=Path, default=None, help="output root (default: the repository root of this checkout)"
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file would change")
    parser.set_defaults(func=_run)


def _repo_root() -> Path:
    """The checkout this package runs from (where pyproject.toml is), else the current directory."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def _run(args: argparse.Namespace) -> int:
    from controlplane.codegen.config import load_config
    from controlplane.codegen.generate import generate, write

    out = args.out if args.out is not None else _repo_root()
    files = generate(load_config(args.config))
    if args.check:
        stale = [rel for rel, text in sorted(files.items()) if _differs(out / rel, text)]
        for rel in stale:
            print(f"stale: {rel}")
        return 1 if stale else 0
    changed = write(files, out)
    print(f"{len(files)} files generated under {out}, {len(changed)} changed")
    return 0


def _differs(path: Path, text: str) -> bool:
    return not path.exists() or path.read_text() != text
