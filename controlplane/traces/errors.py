"""Errors and small shared helpers of the trace loaders.

Owns: :class:`TraceFormatError` (names the file, row and column of bad input)
and the column checks every loader uses. A token count must fit int64 (a larger
one would wrap when cast, and pass as garbage); inside :func:`token_limit` it
must also be within a replay's limit, the profile's ``max_model_len`` (a request
vLLM itself would refuse). Must not import: any I/O library.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np

__all__ = [
    "TraceFormatError",
    "require_columns",
    "to_int_column",
    "to_float_column",
    "finish_arrays",
    "token_limit",
    "INT64_LIMIT",
]

INT64_LIMIT = 2.0**63
"""First token count an int64 cannot hold (exact as a float64, unlike ``2**63 - 1``)."""

_limit: ContextVar[tuple[int, str] | None] = ContextVar("trace_token_limit", default=None)


@contextmanager
def token_limit(tokens: int, what: str) -> Iterator[None]:
    """While active, a token count above ``tokens`` is refused with its row and column;
    ``what`` names the limit in the message (``"max_model_len 512 of profile cpu-tiny"``)."""
    token = _limit.set((int(tokens), what))
    try:
        yield
    finally:
        _limit.reset(token)


class TraceFormatError(ValueError):
    """Input a loader cannot read. ``row`` is 1-based counting the header line as row 1."""

    def __init__(
        self, path: str | Path, message: str, *, row: int | None = None, column: str | None = None
    ) -> None:
        where = str(path)
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.row = row
        self.column = column
        self.message = message


def require_columns(path: str | Path, header: Sequence[str], wanted: Sequence[str]) -> dict[str, int]:
    """Index of each wanted column in ``header`` (surrounding spaces ignored)."""
    names = [h.strip() for h in header]
    out: dict[str, int] = {}
    for w in wanted:
        if w not in names:
            raise TraceFormatError(path, f"missing column; header has {names}", row=1, column=w)
        out[w] = names.index(w)
    return out


def _row(rows: int | Sequence[int], i: int) -> int:
    return rows + i if isinstance(rows, int) else int(rows[i])


def to_float_column(
    path: str | Path, values: Sequence[str], column: str, rows: int | Sequence[int] = 2
) -> np.ndarray:
    """Parse a column of numbers; the error names the first row that is not a finite number.

    ``rows`` is the file row of ``values[0]`` (rows follow on), or each value's row.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except ValueError:
        arr = None
    if arr is not None and np.all(np.isfinite(arr)):
        return arr
    for i, v in enumerate(values):
        try:
            f = float(v)
        except ValueError:
            raise TraceFormatError(path, f"not a number: {v!r}", row=_row(rows, i), column=column) from None
        if not np.isfinite(f):
            raise TraceFormatError(path, f"not a finite number: {v!r}", row=_row(rows, i), column=column)
    raise TraceFormatError(path, "not a number", column=column)


def to_int_column(
    path: str | Path, values: Sequence[str], column: str, rows: int | Sequence[int] = 2, minimum: int = 0
) -> np.ndarray:
    """Parse a column of token counts (integers >= ``minimum``, below int64's limit and the
    active :func:`token_limit`)."""
    arr = to_float_column(path, values, column, rows)
    bad = np.flatnonzero((arr != np.floor(arr)) | (arr < minimum))
    if len(bad):
        i = int(bad[0])
        raise TraceFormatError(
            path, f"expected an integer >= {minimum}, got {values[i]!r}", row=_row(rows, i), column=column
        )
    over = np.flatnonzero(arr >= INT64_LIMIT)
    if len(over):
        i = int(over[0])
        raise TraceFormatError(
            path,
            f"{str(values[i]).strip()} tokens does not fit a 64-bit integer",
            row=_row(rows, i),
            column=column,
        )
    limit = _limit.get()
    if limit is not None:
        over = np.flatnonzero(arr > limit[0])
        if len(over):
            i = int(over[0])
            raise TraceFormatError(
                path,
                f"{str(values[i]).strip()} tokens is more than the {limit[1]}",
                row=_row(rows, i),
                column=column,
            )
    return arr.astype(np.int64)


def finish_arrays(
    arrival_s: np.ndarray, prompt: np.ndarray, output: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort by arrival, shift to start at 0 and clamp token counts to >= 1.

    A zero-token request (a failed call in a production log) still costs the
    server a round trip, so it is kept as one token rather than dropped.
    """
    order = np.argsort(arrival_s, kind="stable")
    t = arrival_s[order]
    if len(t):
        t = t - t[0]
    p = np.maximum(prompt[order], 1).astype(np.int64)
    o = np.maximum(output[order], 1).astype(np.int64)
    return t.astype(np.float64), p, o
