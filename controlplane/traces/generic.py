"""Loader for any CSV trace given a column mapping.

Owns: reading arrival time and token-count columns named by the caller. Must
not import: any I/O library.

``time_unit`` is ``s``, ``ms``, ``us`` or ``datetime`` (ISO-like date-times);
arrivals are shifted to start at 0 and sorted. An optional ``blocks`` column
holds each prompt's block ids, separated by spaces or semicolons (an id
standing for its ``block_tokens``-token block and everything before it, as
Mooncake's ``hash_ids``); an empty cell is a prompt with no id.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    blocks: str | None = None  # column of prompt block ids
    block_tokens: int = 512  # tokens per block of that column

    @staticmethod
    def parse(spec: str) -> ColumnMap:
        """``time=COL,prompt=COL,output=COL[,unit=s|ms|us|datetime][,blocks=COL[,block_tokens=N]]``,
        as the CLI takes it."""
        fields: dict[str, str] = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            if not sep or not value.strip():
                raise ValueError(f"columns: expected key=value, got {part!r}")
            fields[key.strip()] = value.strip()
        unknown = set(fields) - {"time", "prompt", "output", "unit", "blocks", "block_tokens"}
        if unknown:
            raise ValueError(
                f"columns: unknown key(s) {sorted(unknown)}; use time, prompt, output, unit, blocks, block_tokens"
            )
        for key in ("time", "prompt", "output"):
            if key not in fields:
                raise ValueError(f"columns: {key}=COLUMN is required")
        raw = fields.get("block_tokens", "512")
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"columns: block_tokens must be an integer >= 1, got {raw!r}")
        return ColumnMap(fields["time"], fields["prompt"], fields["output"], fields.get("unit", "s"),
                         fields.get("blocks"), int(raw))


def load_generic(path: str | Path, columns: ColumnMap, name: str | None = None, *, delimiter: str = ",") -> Trace:
    p = Path(path)
    if columns.time_unit not in _UNITS and columns.time_unit != "datetime":
        raise ValueError(f"time_unit: expected s, ms, us or datetime, got {columns.time_unit!r}")
    with p.open(newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            raise TraceFormatError(p, "empty file; expected a header row", row=1)
        wanted = (columns.time, columns.prompt_tokens, columns.output_tokens)
        idx = require_columns(p, header, wanted if columns.blocks is None else (*wanted, columns.blocks))
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
    order = np.argsort(t, kind="stable").tolist()  # the order finish_arrays sorts by
    t, prompt, output = finish_arrays(t, prompt, output)
    if columns.blocks is None:
        return Trace(name or p.stem, t, prompt, output, start_unix=start)
    cells = [r[idx[columns.blocks]] for _, r in numbered]
    blocks = tuple(tuple(cells[j].replace(";", " ").split()) for j in order)
    return Trace(name or p.stem, t, prompt, output, start_unix=start, blocks=blocks, block_tokens=columns.block_tokens)
