"""Replica start-up durations seen from outside: from a scale-up until ready reaches it.

Owns: :class:`StartupWatch`. It needs nothing but the :class:`ReplicaStatus`
every tick already reads, so it works the same for Kubernetes (spec and
ready replicas of the Deployment), local replicas and the simulator.
Must not import: any I/O library; time comes in as ``now``.

When spec rises from s to s' between two observations, replicas s+1..s' were
asked for at the earlier observation (the tick whose decision patched them).
Replica k counts as started at the first observation with ready >= k; its
duration is that time minus the ask. Sampling at ticks makes a duration at
most one tick long too, which errs towards starting early. A scale-down
cancels the newest outstanding asks first (the replicas still starting go
first); an ask outstanding for longer than ``give_up_s`` (a pod that never
schedules) is dropped, not scored. After a gap of more than ``max_gap_s``
between observations (a restart, a lost leadership) a rise in spec cannot be
dated, so it starts no ask.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from controlplane.protocols import ReplicaStatus

__all__ = ["StartupWatch"]


class StartupWatch:
    def __init__(self, give_up_s: float = 1800.0, max_gap_s: float = 300.0) -> None:
        if not give_up_s > 0:
            raise ValueError("give_up_s: must be > 0")
        if not max_gap_s > 0:
            raise ValueError("max_gap_s: must be > 0")
        self.give_up_s = float(give_up_s)
        self.max_gap_s = float(max_gap_s)
        self._asks: deque[tuple[int, float]] = deque()  # (ready level that completes it, asked at)
        self._last: tuple[float, int] | None = None  # (observed at, spec)

    @property
    def outstanding(self) -> int:
        return len(self._asks)

    def observe(self, now: float, status: ReplicaStatus) -> list[float]:
        """Feed one status; returns the start-up durations completed by it (seconds)."""
        if status.owner_conflict:
            return []
        done: list[float] = []
        if self._last is not None:
            prev_t, prev_spec = self._last
            if now <= prev_t:
                return []
            if status.spec > prev_spec and now - prev_t <= self.max_gap_s:
                base = max(prev_spec, self._asks[-1][0] if self._asks else 0)
                self._asks.extend((k, prev_t) for k in range(base + 1, status.spec + 1))
            while self._asks and self._asks[-1][0] > status.spec:
                self._asks.pop()
            while self._asks and status.ready >= self._asks[0][0]:
                _, asked = self._asks.popleft()
                done.append(now - asked)
            while self._asks and now - self._asks[0][1] > self.give_up_s:
                self._asks.popleft()
        self._last = (now, status.spec)
        return [d for d in done if d > 0]

    def to_dict(self) -> dict[str, Any]:
        return {"give_up_s": self.give_up_s, "max_gap_s": self.max_gap_s, "asks": [list(a) for a in self._asks],
                "last": None if self._last is None else list(self._last)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> StartupWatch:
        w = StartupWatch(float(d.get("give_up_s", 1800.0)), float(d.get("max_gap_s", 300.0)))
        w._asks.extend((int(k), float(t)) for k, t in d.get("asks", ()))
        last = d.get("last")
        w._last = None if last is None else (float(last[0]), int(last[1]))
        return w
