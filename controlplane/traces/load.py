"""``load_trace``: one entry point that picks the loader by format name or by sniffing.

Owns: format names and detection. Must not import: any I/O library.

Sniffing rules: a directory is ServeGen client files; a file whose first
non-blank line starts with ``{`` is Mooncake JSONL; a CSV header with
``TIMESTAMP`` and ``ContextTokens`` is Azure; one with ``Request tokens`` is
BurstGPT; a header-less 6-field row naming Gamma/Weibull (or empty) is a ServeGen
file. Anything else needs ``format="generic"`` with a column mapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controlplane.traces.azure import load_azure
from controlplane.traces.burstgpt import load_burstgpt
from controlplane.traces.errors import TraceFormatError
from controlplane.traces.generic import ColumnMap, load_generic
from controlplane.traces.model import Trace
from controlplane.traces.mooncake import load_mooncake
from controlplane.traces.servegen import load_servegen

__all__ = ["FORMATS", "sniff_format", "load_trace"]

FORMATS = ("azure", "mooncake", "servegen", "burstgpt", "generic")


def sniff_format(path: str | Path) -> str:
    p = Path(path)
    if p.is_dir():
        return "servegen"
    if not p.exists():
        raise TraceFormatError(p, "no such file or directory")
    with p.open(errors="replace") as fh:
        first = ""
        for line in fh:
            if line.strip():
                first = line.strip()
                break
    if not first:
        raise TraceFormatError(p, "empty file", row=1)
    if first.startswith("{"):
        return "mooncake"
    cols = [c.strip() for c in first.split(",")]
    if "TIMESTAMP" in cols and "ContextTokens" in cols:
        return "azure"
    if "Request tokens" in cols and "Timestamp" in cols:
        return "burstgpt"
    if len(cols) == 6 and cols[3] in ("Gamma", "Weibull", ""):
        return "servegen"
    raise TraceFormatError(
        p, f"cannot tell the trace format from its first line {first[:80]!r}; pass format= one of {FORMATS}", row=1
    )


def load_trace(path: str | Path, format: str | None = None, **options: Any) -> Trace:
    """Load a trace. ``options`` go to the loader: ``columns`` (a :class:`ColumnMap` or
    its ``time=..,prompt=..,output=..`` string) for generic; ``seed``, ``rate_scale``,
    ``start_s``, ``end_s`` for ServeGen; ``model`` for BurstGPT; ``name`` for all."""
    fmt = format or sniff_format(path)
    if fmt == "azure":
        return load_azure(path, **options)
    if fmt == "mooncake":
        return load_mooncake(path, **options)
    if fmt == "servegen":
        return load_servegen(path, **options)
    if fmt == "burstgpt":
        return load_burstgpt(path, **options)
    if fmt == "generic":
        columns = options.pop("columns", None)
        if columns is None:
            raise ValueError("columns: the generic format needs a column mapping (time=..,prompt=..,output=..)")
        if isinstance(columns, str):
            columns = ColumnMap.parse(columns)
        return load_generic(path, columns, **options)
    raise ValueError(f"format: expected one of {FORMATS}, got {fmt!r}")
