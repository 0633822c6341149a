"""Loader for the Azure LLM inference traces (Azure Public Dataset, CC-BY-4.0).

Format: CSV with header ``TIMESTAMP,ContextTokens,GeneratedTokens``; timestamps
like ``2023-11-16 18:17:03.9799600`` (UTC, 100 ns resolution), one row per
request. The 2023 code and conversation traces and the 2024 week-long traces
share it. Attribution: "Azure LLM inference trace 2023, Microsoft Azure Public
Dataset".

Owns: parsing that format into a :class:`Trace`. Must not import: any I/O library.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from controlplane.traces.errors import TraceFormatError, finish_arrays, require_columns, to_int_column
from controlplane.traces.model import Trace

__all__ = ["load_azure", "AZURE_COLUMNS", "parse_timestamps", "parse_timestamps_with_start"]

AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def parse_timestamps_with_start(
    path: str | Path, values: Sequence[str], column: str, rows: int | Sequence[int] = 2
) -> tuple[np.ndarray, float | None]:
    """ISO-like date-times to seconds since the first one (float64, ns precision kept), and the
    first one as Unix seconds (date-times without a zone read as UTC; None for no rows)."""
    try:
        ts = np.asarray(values, dtype="datetime64[ns]")
    except ValueError:
        ts = None
    if ts is None or np.any(np.isnat(ts)):
        for i, v in enumerate(values):
            try:
                if np.isnat(np.datetime64(v, "ns")):
                    raise ValueError
            except ValueError:
                raise TraceFormatError(path, f"not a date-time: {v!r}", row=rows + i if isinstance(rows, int) else int(rows[i]), column=column) from None
        raise TraceFormatError(path, "not a date-time", column=column)
    if not len(ts):
        return np.zeros(0), None
    first = ts.min()
    return (ts - first).astype(np.int64).astype(np.float64) / 1e9, int(first.astype(np.int64)) / 1e9


def parse_timestamps(
    path: str | Path, values: Sequence[str], column: str, rows: int | Sequence[int] = 2
) -> np.ndarray:
    """ISO-like date-times to seconds since the first one (float64, ns precision kept)."""
    return parse_timestamps_with_start(path, values, column, rows)[0]


def load_azure(path: str | Path, name: str | None = None) -> Trace:
    p = Path(path)
    with p.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise TraceFormatError(p, "empty file; expected header " + ",".join(AZURE_COLUMNS), row=1)
        idx = require_columns(p, header, AZURE_COLUMNS)
        numbered = [(n, r) for n, r in enumerate(reader, start=2) if r]
    width = max(idx.values()) + 1
    for n, r in numbered:
        if len(r) < width:
            raise TraceFormatError(p, f"expected {len(header)} fields, got {len(r)}", row=n)
    lines = [n for n, _ in numbered]
    rows = [r for _, r in numbered]
    stamps = [r[idx["TIMESTAMP"]].strip() for r in rows]
    t, start = parse_timestamps_with_start(p, stamps, "TIMESTAMP", lines)
    prompt = to_int_column(p, [r[idx["ContextTokens"]] for r in rows], "ContextTokens", lines)
    output = to_int_column(p, [r[idx["GeneratedTokens"]] for r in rows], "GeneratedTokens", lines)
    t, prompt, output = finish_arrays(t, prompt, output)
    return Trace(name or p.stem, t, prompt, output, start_unix=start)
