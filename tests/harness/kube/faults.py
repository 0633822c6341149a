"""Test controls of the stand-in API server: injected faults, RBAC denials, the request log.

Owns: :class:`Fault` (what the next N matching requests suffer), :class:`RequestRecord`
(one logged request, with the fieldManager it carried) and :class:`Controls`, the
thread-safe book of all three.
Must not import: anything from ``controlplane``.

Fault kinds:

- ``status``: answer ``code`` with a Status body and do nothing else.
- ``timeout``: hold the request for ``delay_s`` then close the connection without
  an answer and without applying it (a request lost on the way in).
- ``slow``: apply the request, then hold the answer for ``delay_s`` (a write that
  committed but whose answer the client gave up on: the dangerous case for
  duplicate writes).
- ``before``: run ``action`` (another writer's change), then serve the request
  normally: the way to make a real resourceVersion race happen between a
  client's read and its write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Controls", "Fault", "RequestRecord"]

_FAULT_KINDS = ("status", "timeout", "slow", "before")


@dataclass(slots=True)
class Fault:
    count: int
    kind: str = "status"
    code: int = 503
    delay_s: float = 0.0
    method: str | None = None
    path: str | None = None
    message: str = ""
    action: Callable[[], None] | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or self.path in path


@dataclass(slots=True)
class RequestRecord:
    """One request as the server saw it; ``status`` is 0 for a dropped (timed-out) request."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    content_type: str | None
    user_agent: str | None
    status: int = 0
    fault: str | None = None

    @property
    def field_manager(self) -> str | None:
        return self.query.get("fieldManager")


@dataclass(slots=True)
class Controls:
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: list[Fault] = field(default_factory=list)
    denied: set[tuple[str, str]] = field(default_factory=set)
    log: list[RequestRecord] = field(default_factory=list)

    def add_fault(self, fault: Fault) -> None:
        if fault.kind not in _FAULT_KINDS:
            raise ValueError(f"kind: one of {_FAULT_KINDS}, got {fault.kind!r}")
        if fault.count < 1:
            raise ValueError("count: at least 1")
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first armed fault matching this request, consuming one of its uses."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def is_denied(self, verb: str, resource: str) -> bool:
        with self.lock:
            return (verb, resource) in self.denied or ("*", resource) in self.denied

    def record(self, rec: RequestRecord) -> None:
        with self.lock:
            self.log.append(rec)

    def requests(self, method: str | None = None, path_contains: str | None = None) -> list[RequestRecord]:
        with self.lock:
            return [
                r
                for r in self.log
                if (method is None or r.method == method.upper())
                and (path_contains is None or path_contains in r.path)
            ]
