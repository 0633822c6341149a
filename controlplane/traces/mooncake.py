"""Loader for Mooncake traces (kvcache-ai/Mooncake, Apache-2.0).

Format: JSON Lines, one object per request with ``timestamp`` (milliseconds
from the trace start), ``input_length`` and ``output_length`` (tokens), and
optionally ``hash_ids``: one integer id per 512-token prompt block, equal ids
being the same prefix content (kept as the trace's ``blocks``; a trace keeps
blocks only when every row has them). Other keys are ignored.

Owns: parsing that format into a :class:`Trace`. Must not import: any I/O library.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from controlplane.traces.errors import TraceFormatError, finish_arrays
from controlplane.traces.model import Trace

__all__ = ["load_mooncake", "MOONCAKE_KEYS", "MOONCAKE_BLOCK_TOKENS"]

MOONCAKE_KEYS = ("timestamp", "input_length", "output_length")
MOONCAKE_BLOCK_TOKENS = 512  # tokens per hash_ids block in the Mooncake traces


def load_mooncake(path: str | Path, name: str | None = None) -> Trace:
    p = Path(path)
    t: list[float] = []
    prompt: list[int] = []
    output: list[int] = []
    blocks: list[tuple[int, ...]] | None = []
    with p.open() as fh:
        for row, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TraceFormatError(p, f"not JSON: {exc.msg}", row=row) from None
            if not isinstance(obj, dict):
                raise TraceFormatError(p, "expected a JSON object per line", row=row)
            for key in MOONCAKE_KEYS:
                v = obj.get(key)
                if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
                    raise TraceFormatError(p, f"expected a number >= 0, got {v!r}", row=row, column=key)
            t.append(float(obj["timestamp"]) / 1000.0)
            prompt.append(int(obj["input_length"]))
            output.append(int(obj["output_length"]))
            ids = obj.get("hash_ids")
            if ids is None:
                blocks = None
            elif not isinstance(ids, list) or not all(isinstance(b, int) and not isinstance(b, bool) for b in ids):
                raise TraceFormatError(p, f"expected a list of integers, got {str(ids)[:60]}", row=row,
                                       column="hash_ids")
            elif blocks is not None:
                blocks.append(tuple(ids))
    arrival = np.asarray(t, dtype=np.float64)
    ta, pa, oa = finish_arrays(arrival, np.asarray(prompt), np.asarray(output))
    if not blocks:
        return Trace(name or p.stem, ta, pa, oa)
    order = np.argsort(arrival, kind="stable").tolist()  # the order finish_arrays sorted by
    return Trace(name or p.stem, ta, pa, oa, blocks=tuple(blocks[j] for j in order), block_tokens=MOONCAKE_BLOCK_TOKENS)
