"""What the loop last learned beside its decisions: forecasts and anomalies, in memory.

Owns: :class:`Insights`, a bounded in-memory record the API serves at
``/v1/forecasts/{target}`` and ``/v1/anomalies``. The loop feeds it through its
``on_decision`` hook (:meth:`Insights.record_decision` reads the forecast and
anomalies each decision carries); forecasting and anomaly advisors may also
write to it directly. It is empty after a restart and while no forecasting or
anomaly advisor is wired, and then the API answers an empty list; the durable
copy is the decision log, whose rows carry the same forecast and anomalies.
Must not import: any web framework.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from controlplane.policy.decision import Decision

__all__ = ["Insights"]


class Insights:
    def __init__(self, per_target: int = 120, anomalies: int = 2000) -> None:
        self._lock = threading.Lock()
        self._per_target = per_target
        self._forecasts: dict[str, deque[dict[str, Any]]] = {}
        self._anomalies: deque[dict[str, Any]] = deque(maxlen=anomalies)

    def record_forecast(self, target: str, policy: str, at: float, forecast: dict[str, Any]) -> None:
        with self._lock:
            ring = self._forecasts.setdefault(target, deque(maxlen=self._per_target))
            ring.append({"target": target, "policy": policy, "at": at, "forecast": forecast})

    def record_anomaly(self, target: str, policy: str, at: float, description: str) -> None:
        with self._lock:
            self._anomalies.append({"target": target, "policy": policy, "at": at, "description": description})

    def record_decision(self, decision: Decision, result: object = None) -> None:
        """The loop's ``on_decision`` hook."""
        if decision.forecast:
            self.record_forecast(decision.target, decision.policy, decision.at, dict(decision.forecast))
        for description in decision.anomalies:
            self.record_anomaly(decision.target, decision.policy, decision.at, description)

    def forecasts(self, target: str, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first."""
        with self._lock:
            ring = list(self._forecasts.get(target, ()))
        return ring[::-1][:limit]

    def anomalies(
        self, target: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Newest first."""
        with self._lock:
            items = list(self._anomalies)
        items = [
            a
            for a in items
            if (target is None or a["target"] == target) and (since is None or a["at"] >= since)
        ]
        return items[::-1][:limit]
