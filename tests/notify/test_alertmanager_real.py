"""The notifier against a REAL Alertmanager (Debian prometheus-alertmanager on 127.0.0.1)
routing to a webhook receiver: an alert posted fires at the receiver with our labels and
annotations, and posting it with endsAt resolves it there."""

from __future__ import annotations

import time

from controlplane.notify.alertmanager import AlertmanagerNotifier
from controlplane.protocols import Alert
from tests.harness.alertmanager import AlertmanagerServer, WebhookReceiver


def test_fires_and_resolves_through_a_real_alertmanager(
    alertmanager: AlertmanagerServer, webhook: WebhookReceiver
) -> None:
    notifier = AlertmanagerNotifier(alertmanager.url, timeout_s=5, valid_for_s=120)
    start = time.time()
    alert = Alert(
        "VllmErrorBurst",
        {"target": "local/chat", "deployment": "chat", "kind": "errors", "severity": "page"},
        {"summary": "chat: 40% of requests fail", "evidence": "error_ratio 0.4 >= 0.05",
         "runbook_url": "https://example.com/llm-controlplane/runbooks/VllmErrorBurst.md"},
        start,
    )
    notifier.send([alert], time.time())
    held = alertmanager.alerts(active_only=True)
    assert [a["labels"]["alertname"] for a in held] == ["VllmErrorBurst"]
    assert held[0]["annotations"]["evidence"] == "error_ratio 0.4 >= 0.05"
    _, firing = webhook.wait_for(lambda a: a["status"] == "firing", timeout_s=15)
    assert firing["labels"] == {"alertname": "VllmErrorBurst", "target": "local/chat", "deployment": "chat",
                                "kind": "errors", "severity": "page"}
    assert firing["annotations"]["runbook_url"].endswith("/runbooks/VllmErrorBurst.md")
    ended = time.time()
    notifier.send([Alert(alert.name, alert.labels, alert.annotations, start, ended)], time.time())
    _, resolved = webhook.wait_for(lambda a: a["status"] == "resolved", timeout_s=15)
    assert resolved["labels"]["alertname"] == "VllmErrorBurst"
    assert alertmanager.alerts(active_only=True) == []
    notifier.close()
