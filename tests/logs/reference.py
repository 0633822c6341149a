"""A plain-Python statement of the documented error-class mapping, the oracle the
executed queries are checked against (see controlplane/sources/logquery.py)."""

from __future__ import annotations

from typing import Any

CLASSES = ("oom", "cuda_error", "engine_dead", "request_timeout", "http_5xx")
PHRASES = {
    "oom": ("cuda out of memory", "outofmemoryerror"),
    "cuda_error": ("cuda error",),
    "engine_dead": ("enginedeaderror", "engine dead", "enginecore encountered an issue"),
    "request_timeout": ("timed out",),
}


def classify(line: dict[str, Any]) -> str | None:
    cls = line.get("error_class")
    if cls is not None:
        return cls if cls in CLASSES else None
    message = str(line.get("message") or "").lower()
    for name, phrases in PHRASES.items():
        if any(p in message for p in phrases):
            return name
    status = line.get("status")
    if isinstance(status, int) and status >= 500:
        return "http_5xx"
    return None


def count(lines: list[dict[str, Any]]) -> dict[str, int]:
    out = dict.fromkeys(CLASSES, 0)
    for line in lines:
        c = classify(line)
        if c is not None:
            out[c] += 1
    return out
