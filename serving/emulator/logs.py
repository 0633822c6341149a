"""Structured JSON logs of the emulated replica: one line per finished request and per error.

Every line has ``@timestamp`` (ISO 8601 UTC, wall clock), ``level``, ``replica``,
``deployment``, ``namespace``, ``model``, ``event``, ``status``, ``error_class``
(one of :data:`~serving.emulator.config.ERROR_CLASSES` or null), ``message`` and
``request_id``; request lines add latency fields in emulated seconds. The
messages of injected errors are the texts vLLM and PyTorch print for that class.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["JsonLog", "ERROR_MESSAGES"]

ERROR_MESSAGES = {
    "oom": "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.10 GiB "
    "of which 1.12 GiB is free.",
    "cuda_error": "CUDA error: an illegal memory access was encountered",
    "engine_dead": "EngineCore encountered an issue. See stack trace (above) for the root cause.",
    "request_timeout": "Request timed out waiting for the engine",
    "http_5xx": "Internal Server Error",
}


class JsonLog:
    """Writes JSON lines to a file (appending) or to stderr, flushing each line."""

    def __init__(
        self, path: str | None, *, replica: str, deployment: str, namespace: str, model: str
    ) -> None:
        self._own = path is not None
        self._out: TextIO = open(path, "a", encoding="utf-8") if path else sys.stderr  # noqa: SIM115
        self._base = {"replica": replica, "deployment": deployment, "namespace": namespace, "model": model}

    def write(
        self,
        event: str,
        message: str,
        *,
        level: str = "INFO",
        status: int | None = None,
        error_class: str | None = None,
        request_id: str | None = None,
        **fields: Any,
    ) -> None:
        line = {
            "@timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            **self._base,
            "event": event,
            "status": status,
            "error_class": error_class,
            "message": message,
            "request_id": request_id,
            **fields,
        }
        self._out.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._out.flush()

    def close(self) -> None:
        if self._own:
            self._out.close()
