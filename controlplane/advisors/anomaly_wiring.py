"""Wiring the anomaly advisor, the log source and the Alertmanager notifier from settings.

Owns: :func:`wire_anomalies`, called by :func:`controlplane.controller.build_controller`
when ``alertmanager.url`` or ``elasticsearch.url`` is set. It builds the backends
(a search client for the configured flavour, the Alertmanager client behind a
background sender) and returns the source to use, the advisor, a stop hook and
the scheduler jobs it needs.

The advisor's state (detectors, their learning period, the calm baselines, the
served envelope and the KV share per request, all a day long) is saved to
``anomaly.json`` in the state directory every ``SAVE_S`` and on stop, and
restored when the controller starts: a restart does not put the detectors back
into a day of learning. A state file that cannot be read is logged and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from controlplane.advisors.anomaly import AnomalyAdvisor
from controlplane.advisors.state_file import StateFile
from controlplane.clock import Clock
from controlplane.config import ControllerConfig
from controlplane.notify.book import AlertBook
from controlplane.protocols import Notifier, Source
from controlplane.telemetry import ControllerMetrics

__all__ = ["wire_anomalies", "SAVE_S"]

#: Active alerts are re-sent this often; Alertmanager holds each for five re-sends without one.
RESEND_S = 60.0
#: The anomaly state is saved this often besides on stop (a crash loses at most this much).
SAVE_S = 600.0


def wire_anomalies(
    config: ControllerConfig, source: Source, metrics: ControllerMetrics, clock: Clock | None = None,
    state_dir: Path | None = None,
) -> tuple[Source, AnomalyAdvisor, Callable[[], None], list[tuple[str, Callable[[], Any], float]]]:
    """``(source, advisor, stop, jobs)``: ``source`` enriched with log errors when Elasticsearch
    is configured; the advisor alerting through Alertmanager when it is configured, its state
    restored from and saved to ``state_dir``."""
    closers: list[Callable[[], None]] = []
    latest = None
    es = config.elasticsearch
    if es.url:
        from controlplane.sources.logclients import make_search_client
        from controlplane.sources.logs import LogEnrichedSource, LogSource

        client = make_search_client(es.flavour, es.url, timeout_s=es.timeout_s)
        logs = LogSource(client, es.index)
        source = LogEnrichedSource(source, logs)
        latest = logs.latest
        closers.append(client.close)
    notifier: Notifier | None = None
    am = config.alertmanager
    if am.url:
        from controlplane.notify.alertmanager import AlertmanagerNotifier
        from controlplane.notify.dispatch import BackgroundNotifier

        notifier = BackgroundNotifier(
            AlertmanagerNotifier(am.url, timeout_s=am.timeout_s, valid_for_s=5 * RESEND_S), metrics=metrics, clock=clock
        )
    advisor = AnomalyAdvisor(metrics=metrics, notifier=notifier, book=AlertBook(resend_s=RESEND_S), logs=latest)
    saved = StateFile(state_dir, "anomaly.json")
    saved.load(advisor.restore)
    save = saved.saver(advisor.state)

    def stop() -> None:
        save()
        advisor.close()
        for close in closers:
            close()

    return source, advisor, stop, [("anomaly-state-save", save, SAVE_S)]
