"""The ``controlplane`` command line.

Sub-commands live one per module in :mod:`controlplane.commands`; each exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the
parsed arguments; its return value is the exit code). :data:`GROUPS` orders them by
task for ``controlplane --help``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import controlplane.commands as commands
from controlplane.console import configure_logging
from controlplane.store.errors import StoreUnavailable

__all__ = ["main", "build_parser", "GROUPS"]

ABOUT = """\
Observability and autoscaling for a self-hosted vLLM serving tier, on Kubernetes or one
machine. The controller reads Prometheus metrics and serving logs, decides a replica count
for every scaling policy each tick, scales, and records why; the same policies can be
replayed against traces and benchmarked; dashboards and alert rules are generated as code."""

# (title, command names); a command missing here is listed under "Other commands".
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Run", ("run", "demo", "api", "emulator")),
    ("Inspect and operate", ("decisions", "policy", "backup", "restore")),
    ("Benchmark and load", ("bench", "loadgen")),
    ("Generate", ("generate",)),
)

FOOTER = """\
Start here: controlplane demo   (the whole loop on this machine, about four minutes)
Run 'controlplane COMMAND --help' for a command's options."""


def _command_list(sub: argparse._SubParsersAction) -> str:  # type: ignore[type-arg]
    helps = {action.dest: action.help or "" for action in sub._choices_actions}
    width = max(len(name) for name in helps) + 2
    listed: set[str] = set()
    blocks: list[str] = []
    groups = list(GROUPS) + [("Other commands", tuple(sorted(helps)))]
    for title, names in groups:
        rows = [f"  {name:<{width}}{helps[name]}" for name in names if name in helps and name not in listed]
        listed.update(name for name in names if name in helps)
        if rows:
            blocks.append("\n".join([f"{title}:", *rows]))
    return "\n\n".join(blocks)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="controlplane",
        usage="controlplane COMMAND [options]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    parser.description = f"{ABOUT}\n\n{_command_list(sub)}"
    parser.epilog = FOOTER
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        configure_logging(getattr(args, "log_level", None) or "INFO")
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
