"""Loader for BurstGPT traces (HPMLL/BurstGPT, CC-BY-4.0).

Format: CSV with header ``Timestamp,Model,Request tokens,Response tokens,Total
tokens,Log Type``; ``Timestamp`` in seconds from the trace start. Failed calls
have 0 response tokens; they are kept as 1-token requests (see
:func:`controlplane.traces.errors.finish_arrays`).

Owns: parsing that format into a :class:`Trace`. Must not import: any I/O library.
"""

from __future__ import annotations

import csv
from pathlib import Path

from controlplane.traces.errors import (
    TraceFormatError,
    finish_arrays,
    require_columns,
    to_float_column,
    to_int_column,
)
from controlplane.traces.model import Trace

__all__ = ["load_burstgpt", "BURSTGPT_COLUMNS"]

BURSTGPT_COLUMNS = ("Timestamp", "Model", "Request tokens", "Response tokens")


def load_burstgpt(
    path: str | Path, name: str | None = None, *, model: str | None = None, log_type: str | None = None
) -> Trace:
    """Read the trace, optionally only rows of one ``Model`` (e.g. ``ChatGPT``) or ``Log Type``."""
    p = Path(path)
    with p.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise TraceFormatError(p, "empty file; expected a BurstGPT header", row=1)
        idx = require_columns(p, header, BURSTGPT_COLUMNS)
        log_idx = require_columns(p, header, ("Log Type",))["Log Type"] if log_type is not None else None
        rows: list[list[str]] = []
        row_numbers: list[int] = []
        width = max(idx.values()) + 1
        for n, r in enumerate(reader, start=2):
            if not r:
                continue
            if len(r) < width:
                raise TraceFormatError(p, f"expected {len(header)} fields, got {len(r)}", row=n)
            if model is not None and r[idx["Model"]].strip() != model:
                continue
            if log_idx is not None and r[log_idx].strip() != log_type:
                continue
            rows.append(r)
            row_numbers.append(n)
    if not rows:
        raise TraceFormatError(p, "no requests after filtering" if (model or log_type) else "no requests")
    t = to_float_column(p, [r[idx["Timestamp"]] for r in rows], "Timestamp", row_numbers)
    prompt = to_int_column(p, [r[idx["Request tokens"]] for r in rows], "Request tokens", row_numbers)
    output = to_int_column(p, [r[idx["Response tokens"]] for r in rows], "Response tokens", row_numbers)
    t, prompt, output = finish_arrays(t, prompt, output)
    return Trace(name or p.stem, t, prompt, output)
