"""``controlplane bench KIND``: benchmark commands, one module each in :mod:`controlplane.bench`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

import controlplane.bench as bench


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("bench", help="benchmarks that print figures (autoscale, forecast, anomalies, ...)")
    kinds = parser.add_subparsers(dest="bench_kind", required=True)
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{bench.__name__}.{info.name}").register(kinds)
