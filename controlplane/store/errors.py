"""Errors the store raises; the API maps each to one HTTP status.

Owns: :class:`NotFound` (404), :class:`Conflict` (409), :class:`ManagedElsewhere`
(409: the object belongs to another source of truth, e.g. a Kubernetes custom resource),
:class:`StaleVersion` (412: the caller's expected version is not the current one)
and :class:`StoreUnavailable` (503: the database server cannot be reached).
"""

from __future__ import annotations

__all__ = ["StoreError", "NotFound", "Conflict", "ManagedElsewhere", "StaleVersion", "StoreUnavailable"]


class StoreError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class ManagedElsewhere(Conflict):
    pass


class StaleVersion(Conflict):
    """A write conditioned on a version that is no longer current; ``current`` is the one that is."""

    def __init__(self, message: str, current: int) -> None:
        super().__init__(message)
        self.current = current


class StoreUnavailable(StoreError):
    pass
