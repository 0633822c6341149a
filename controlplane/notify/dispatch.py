"""Sending alerts off the tick thread: the tick hands alerts over and goes on.

Owns: :class:`BackgroundNotifier`, a :class:`~controlplane.protocols.Notifier`
that queues alerts (the newest version of each alert wins) for one worker
thread, which sends them through the inner notifier. A failed send is logged,
counted as ``controlplane_step_errors_total{step="notify"}`` and retried after
``retry_s`` unless a newer version of the same alert arrived meanwhile; nothing
is ever raised into the tick. Each send is stamped with ``clock``'s time (the
controller's clock), not the wall clock read here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from controlplane.clock import Clock, SystemClock
from controlplane.notify.book import AlertKey, alert_key
from controlplane.protocols import Alert, Notifier
from controlplane.telemetry import ControllerMetrics

__all__ = ["BackgroundNotifier"]

log = logging.getLogger(__name__)


class BackgroundNotifier:
    def __init__(
        self, inner: Notifier, *, metrics: ControllerMetrics | None = None, retry_s: float = 5.0,
        max_pending: int = 1000, clock: Clock | None = None,
    ) -> None:
        self.inner = inner
        self.clock = clock or SystemClock()
        self.metrics = metrics
        self.retry_s = retry_s
        self.max_pending = max_pending
        self.sent = 0
        self.failures = 0
        self._pending: dict[AlertKey, Alert] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._thread.start()

    def send(self, alerts: Sequence[Alert], now: float) -> None:
        if not alerts:
            return
        with self._cond:
            for a in alerts:
                self._pending[alert_key(a)] = a
            while len(self._pending) > self.max_pending:
                # An unreachable Alertmanager must not grow memory without bound; the book re-sends.
                self._pending.pop(next(iter(self._pending)))
            self._cond.notify_all()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Until nothing is pending or being sent (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is pending (bounded by ``timeout_s``), then stop the worker."""
        self.flush(timeout_s)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout_s)
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                batch, self._pending = self._pending, {}
                self._busy = True
            ok = self._send(list(batch.values()))
            with self._cond:
                if not ok:
                    for key, alert in batch.items():
                        self._pending.setdefault(key, alert)
                self._busy = False
                self._cond.notify_all()
                if not ok and not self._closed:
                    self._cond.wait(self.retry_s)

    def _send(self, alerts: list[Alert]) -> bool:
        try:
            if self.metrics is not None:
                with self.metrics.step("notify"):
                    self.inner.send(alerts, self.clock.now())
            else:
                self.inner.send(alerts, self.clock.now())
        except Exception as exc:
            self.failures += 1
            log.warning("could not send %d alert(s): %s", len(alerts), exc)
            return False
        self.sent += len(alerts)
        return True
