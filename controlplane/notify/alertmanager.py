"""Alertmanager API v2: ``POST /api/v2/alerts`` with labels, annotations, startsAt and endsAt.

Owns: :class:`AlertmanagerNotifier` (a :class:`~controlplane.protocols.Notifier`)
and :func:`alert_payload`, the JSON of one alert.
Must not import: the decision core's internals; it sends what it is given.

An active alert (``ends_at`` None) is posted with ``endsAt`` ``valid_for_s``
ahead of now. Alertmanager keeps it firing while re-sends keep moving that
time forward and resolves it by itself if they stop (a controller that died
does not leave alerts firing forever), as Prometheus does for its own alerts.
A resolved alert is posted with its ``endsAt`` in the past, which Alertmanager
delivers to receivers with ``send_resolved`` as status "resolved".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from controlplane.protocols import Alert

__all__ = ["AlertmanagerNotifier", "NotifyError", "alert_payload", "iso"]


class NotifyError(Exception):
    """Alertmanager could not be reached, or refused the alerts."""


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_payload(alert: Alert, now: float, valid_for_s: float, generator_url: str | None = None) -> dict[str, Any]:
    """One ``postableAlert``; ``alertname`` is the alert's name whatever the labels say."""
    labels = {k: str(v) for k, v in alert.labels.items() if v is not None and str(v) != ""}
    labels["alertname"] = alert.name
    ends = alert.ends_at if alert.ends_at is not None else now + valid_for_s
    body: dict[str, Any] = {
        "labels": labels,
        "annotations": {k: str(v) for k, v in alert.annotations.items()},
        "startsAt": iso(alert.starts_at),
        "endsAt": iso(max(ends, alert.starts_at)),
    }
    if generator_url:
        body["generatorURL"] = generator_url
    return body


class AlertmanagerNotifier:
    """Posts alerts to one Alertmanager; raises :class:`NotifyError` on any failure.

    ``valid_for_s`` is how long an active alert stays firing without a re-send;
    keep it several re-send intervals long.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        valid_for_s: float = 300.0,
        generator_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"alertmanager.url: expected an http(s) URL, got {url!r}")
        if not timeout_s > 0:
            raise ValueError(f"alertmanager.timeout_s: must be > 0, got {timeout_s}")
        if not valid_for_s > 0:
            raise ValueError(f"valid_for_s: must be > 0, got {valid_for_s}")
        self.url = url.rstrip("/")
        self.valid_for_s = valid_for_s
        self.generator_url = generator_url
        self._http = httpx.Client(timeout=timeout_s, transport=transport, trust_env=False)

    def payload(self, alerts: Sequence[Alert], now: float) -> list[dict[str, Any]]:
        return [alert_payload(a, now, self.valid_for_s, self.generator_url) for a in alerts]

    def send(self, alerts: Sequence[Alert], now: float) -> None:
        if not alerts:
            return
        try:
            r = self._http.post(f"{self.url}/api/v2/alerts", json=self.payload(alerts, now))
        except httpx.HTTPError as exc:
            raise NotifyError(f"alertmanager unreachable at {self.url}: {exc!r}") from exc
        if r.status_code // 100 != 2:
            raise NotifyError(f"alertmanager answered HTTP {r.status_code}: {r.text.strip()[:300]}")

    def close(self) -> None:
        self._http.close()
