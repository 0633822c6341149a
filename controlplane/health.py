"""The controller process's health: ``/healthz`` beside ``/metrics`` on the metrics port.

Owns: :class:`TickHealth` (is the tick still running on time?) and
:func:`serve_metrics_and_health`, one small threaded WSGI server that answers
``/healthz`` itself and hands every other path to prometheus_client's exposition.
The metrics port is always on in a cluster (the API may be disabled), so the
kubelet's probes and the image's HEALTHCHECK use this endpoint.
Must not import: the loop, the actuators or any backend client.

Healthy means a tick finished within ``stale_after_s`` (three ticks plus 30 s of
slack by default, so one slow tick against a timing-out Prometheus is not a
restart), or the process started less than that long ago. A follower replica
ticks too (it decides and records without patching), so both replicas of a
leader-elected pair report healthy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

__all__ = ["TickHealth", "serve_metrics_and_health"]


class TickHealth:
    """Tracks the end of the last tick on a monotonic clock."""

    def __init__(self, tick_s: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.stale_after_s = 3.0 * tick_s + 30.0
        self._monotonic = monotonic
        self._started = monotonic()
        self._last: float | None = None
        self._lock = threading.Lock()

    def ticked(self) -> None:
        with self._lock:
            self._last = self._monotonic()

    def check(self) -> tuple[bool, str]:
        """``(healthy, one-line detail)``."""
        now = self._monotonic()
        with self._lock:
            last = self._last
        if last is None:
            age = now - self._started
            if age < self.stale_after_s:
                return True, f"starting: no tick yet, {age:.0f} s since start"
            return False, f"no tick in the {age:.0f} s since start (limit {self.stale_after_s:.0f} s)"
        age = now - last
        if age < self.stale_after_s:
            return True, f"ok: last tick {age:.0f} s ago"
        return False, f"last tick {age:.0f} s ago, more than {self.stale_after_s:.0f} s"


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Probes arrive every few seconds; access lines would drown the controller's log."""


def _app(registry: CollectorRegistry, health: TickHealth) -> Callable[..., Iterable[bytes]]:
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthz":
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        ok, detail = health.check()
        start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
        return [detail.encode() + b"\n"]

    return app


def serve_metrics_and_health(
    registry: CollectorRegistry, health: TickHealth, port: int, addr: str = "127.0.0.1"
) -> Callable[[], None]:
    """Serve on a daemon thread; returns a function that stops the server."""
    server = make_server(addr, port, _app(registry, health), _ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.2,), name="metrics-health", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
