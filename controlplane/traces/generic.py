"""Loader for any CSV trace given a column mapping.

Owns: reading arrival time and token-count columns named by the caller. Must
not import: any I/O library.

``time_unit`` is ``s``, ``ms``, ``us`` or ``datetime`` (ISO-like date-times);
arrivals are shifted to start at 0 and sorted.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from controlplane.traces.azure import parse_timestamps_with_start
from controlplane.traces.errors import (
    TraceFormatError,
    finish_arrays,
    require_columns,
    to_float_column,
    to_int_column,
)
from controlplane.traces.model import Trace

__all__ = ["ColumnMap", "load_generic"]

_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


@dataclass(frozen=True)
class ColumnMap:
    time: str
    prompt_tokens: str
    output_tokens: str
    time_unit: str = "s"

    @staticmethod
    def parse(spec: str) -> ColumnMap:
        """``time=COL,prompt=COL,output=COL[,unit=s|ms|us|datetime]``, as the CLI takes it."""
        fields: dict[str, str] = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            if not sep or not value.strip():
                raise ValueError(f"columns: expected key=value, got {part!r}")
            fields[key.strip()] = value.strip()
        unknown = set(fields) - {"time", "prompt", "output", "unit"}
        if unknown:
            raise ValueError(f"columns: unknown key(s) {sorted(unknown)}; use time, prompt, output, unit")
        for key in ("time", "prompt", "output"):
            if key not in fields:
                raise ValueError(f"columns: {key}=COLUMN is required")
        return ColumnMap(fields["time"], fields["prompt"], fields["output"], fields.get("unit", "s"))


def load_generic(path: str | Path, columns: ColumnMap, name: str | None = None, *, delimiter: str = ",") -> Trace:
    p = Path(path)
    if columns.time_unit not in _UNITS and columns.time_unit != "datetime":
        raise ValueError(f"time_unit: expected s, ms, us or datetime, got {columns.time_unit!r}")
    with p.open(newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise TraceFormatError(p, "empty file; expected a header row", row=1)
        idx = require_columns(p, header, (columns.time, columns.prompt_tokens, columns.output_tokens))
        width = max(idx.values()) + 1
        numbered = [(n, r) for n, r in enumerate(reader, start=2) if r]
    for n, r in numbered:
        if len(r) < width:
            raise TraceFormatError(p, f"expected {len(header)} fields, got {len(r)}", row=n)
    lines = [n for n, _ in numbered]
    times = [r[idx[columns.time]].strip() for _, r in numbered]
    start: float | None = None
    if columns.time_unit == "datetime":
        t, start = parse_timestamps_with_start(p, times, columns.time, lines)
    else:
        t = to_float_column(p, times, columns.time, lines) * _UNITS[columns.time_unit]
    prompt = to_int_column(p, [r[idx[columns.prompt_tokens]] for _, r in numbered], columns.prompt_tokens, lines)
    output = to_int_column(p, [r[idx[columns.output_tokens]] for _, r in numbered], columns.output_tokens, lines)
    t, prompt, output = finish_arrays(t, prompt, output)
    return Trace(name or p.stem, t, prompt, output, start)
