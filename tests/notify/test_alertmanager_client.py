"""The Alertmanager client against httpx's mock transport, and the background sender's
failure handling: failures are logged and counted, never raised, and retried."""

from __future__ import annotations

import json

import httpx
import pytest

from controlplane.notify.alertmanager import AlertmanagerNotifier, NotifyError, alert_payload
from controlplane.notify.dispatch import BackgroundNotifier
from controlplane.protocols import Alert
from controlplane.telemetry import ControllerMetrics

T0 = 1795654800.0  # 2026-11-26T01:00:00Z


def _alert(ends: float | None = None) -> Alert:
    return Alert(
        "VllmErrorBurst",
        {"target": "local/a", "severity": "page", "alertname": "ignored", "model_name": ""},
        {"summary": "s", "evidence": "error_ratio 0.5"},
        T0,
        ends,
    )


def test_payload_active_and_resolved() -> None:
    active = alert_payload(_alert(), T0 + 30, valid_for_s=300, generator_url="http://cp/decisions")
    # The alert's name wins over a label of the same name; empty labels are dropped.
    assert active["labels"] == {"alertname": "VllmErrorBurst", "target": "local/a", "severity": "page"}
    assert active["startsAt"] == "2026-11-26T01:00:00.000Z"
    # Active: endsAt 300 s after now (01:00:30 + 5 min).
    assert active["endsAt"] == "2026-11-26T01:05:30.000Z"
    assert active["generatorURL"] == "http://cp/decisions"
    resolved = alert_payload(_alert(ends=T0 + 42), T0 + 50, valid_for_s=300)
    assert resolved["endsAt"] == "2026-11-26T01:00:42.000Z"
    assert "generatorURL" not in resolved


def _notifier(handler) -> tuple[AlertmanagerNotifier, list[httpx.Request]]:  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return AlertmanagerNotifier("http://am.test:9093/", transport=httpx.MockTransport(record)), seen


def test_posts_to_api_v2_alerts() -> None:
    notifier, seen = _notifier(lambda r: httpx.Response(200))
    notifier.send([_alert()], T0)
    assert seen[0].method == "POST" and str(seen[0].url) == "http://am.test:9093/api/v2/alerts"
    assert json.loads(seen[0].content)[0]["labels"]["alertname"] == "VllmErrorBurst"
    notifier.send([], T0)
    assert len(seen) == 1  # nothing to send, no request


@pytest.mark.parametrize(
    "handler,words",
    [
        (lambda r: httpx.Response(400, text='"start time must be before end time"'), "HTTP 400"),
        (lambda r: httpx.Response(503, text="unavailable"), "HTTP 503"),
        (lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")), "unreachable"),
    ],
    ids=["400", "503", "refused"],
)
def test_failures_raise_notify_error(handler, words: str) -> None:  # type: ignore[no-untyped-def]
    notifier, _ = _notifier(handler)
    with pytest.raises(NotifyError, match=words):
        notifier.send([_alert()], T0)


class _Flaky:
    """Fails the first ``fail`` sends, then records."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.got: list[list[Alert]] = []

    def send(self, alerts, now):  # type: ignore[no-untyped-def]
        if self.fail:
            self.fail -= 1
            raise NotifyError("alertmanager unreachable")
        self.got.append(list(alerts))
        self.at = getattr(self, "at", [])
        self.at.append(now)


def test_background_sender_counts_failures_and_retries() -> None:
    metrics = ControllerMetrics()
    inner = _Flaky(fail=2)
    bg = BackgroundNotifier(inner, metrics=metrics, retry_s=0.05)
    try:
        bg.send([_alert()], T0)  # never raises, whatever the inner notifier does
        assert bg.flush(5)
        assert inner.got and inner.got[-1][0].name == "VllmErrorBurst"
        errors = metrics.registry.get_sample_value("controlplane_step_errors_total", {"step": "notify"})
        assert errors == 2 and bg.failures == 2 and bg.sent == 1
    finally:
        bg.close()


def test_newer_version_of_an_alert_replaces_a_pending_one() -> None:
    inner = _Flaky(fail=1)
    bg = BackgroundNotifier(inner, retry_s=0.2)
    try:
        bg.send([_alert()], T0)
        bg.send([_alert(ends=T0 + 5)], T0 + 5)  # the resolve supersedes the failed firing version
        assert bg.flush(5)
        last = [a for batch in inner.got for a in batch]
        assert last[-1].ends_at == T0 + 5
        assert all(a.ends_at == T0 + 5 for a in inner.got[-1])
    finally:
        bg.close()


def test_background_sends_are_stamped_with_the_clock_given() -> None:
    from controlplane.clock import FakeClock

    inner = _Flaky(fail=0)
    bg = BackgroundNotifier(inner, retry_s=0.05, clock=FakeClock(T0 + 42.0))
    try:
        bg.send([_alert()], T0)
        assert bg.flush(5)
        assert inner.at == [T0 + 42.0]  # the controller's clock, never the wall clock
    finally:
        bg.close()
