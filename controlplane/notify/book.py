"""Which alerts to send, and when: new ones at once, active ones again every ``resend_s``,
resolved ones at once and a few times more.

Owns: :class:`AlertBook`. Pure bookkeeping: no I/O, no clock (``now`` is given).

Alertmanager forgets an alert whose ``endsAt`` passes without a re-send, and a
lost resolve would leave a receiver showing a firing alert; so active alerts are
re-sent every ``resend_s`` and resolved ones ``resolved_repeats`` more times.
An alert is known by its name and labels; its ``starts_at`` is kept from the first
time it was sent until it resolves, whatever later updates say.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from controlplane.protocols import Alert

__all__ = ["AlertBook", "alert_key"]

AlertKey = tuple[str, tuple[tuple[str, str], ...]]


def alert_key(alert: Alert) -> AlertKey:
    return alert.name, tuple(sorted((k, str(v)) for k, v in alert.labels.items()))


@dataclass
class _Entry:
    alert: Alert
    scope: str
    last_sent: float
    resolved_sends: int = 0


class AlertBook:
    def __init__(self, resend_s: float = 60.0, resolved_repeats: int = 2) -> None:
        if not resend_s > 0:
            raise ValueError(f"resend_s: must be > 0, got {resend_s}")
        if resolved_repeats < 0:
            raise ValueError(f"resolved_repeats: must be >= 0, got {resolved_repeats}")
        self.resend_s = resend_s
        self.resolved_repeats = resolved_repeats
        self._active: dict[AlertKey, _Entry] = {}
        self._resolved: dict[AlertKey, _Entry] = {}

    def update(self, scope: str, firing: list[Alert], now: float) -> list[Alert]:
        """``firing``: every alert of ``scope`` (e.g. one target) that holds at ``now``.
        Returns what to send now."""
        out: list[Alert] = []
        keys = set()
        for alert in firing:
            key = alert_key(alert)
            keys.add(key)
            entry = self._active.get(key)
            if entry is None:
                self._resolved.pop(key, None)
                sent = replace(alert, ends_at=None)
                self._active[key] = _Entry(sent, scope, now)
                out.append(sent)
                continue
            entry.alert = replace(alert, starts_at=entry.alert.starts_at, ends_at=None)
            if now - entry.last_sent >= self.resend_s:
                entry.last_sent = now
                out.append(entry.alert)
        for key in [k for k, e in self._active.items() if e.scope == scope and k not in keys]:
            entry = self._active.pop(key)
            entry.alert = replace(entry.alert, ends_at=max(now, entry.alert.starts_at))
            entry.last_sent = now
            self._resolved[key] = entry
            out.append(entry.alert)
        out.extend(self._due_resolved(scope, now))
        return out

    def _due_resolved(self, scope: str, now: float) -> list[Alert]:
        out = []
        for key, entry in list(self._resolved.items()):
            if entry.scope != scope or now - entry.last_sent < self.resend_s:
                continue
            if entry.resolved_sends >= self.resolved_repeats:
                del self._resolved[key]
                continue
            entry.resolved_sends += 1
            entry.last_sent = now
            out.append(entry.alert)
        return out

    def active(self, scope: str | None = None) -> list[Alert]:
        return [e.alert for e in self._active.values() if scope is None or e.scope == scope]
