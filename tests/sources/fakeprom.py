"""A tiny fake Prometheus HTTP API on 127.0.0.1 that answers with canned JSON.

Each test starts its own (KEDA's prometheus_scaler_test style): ``answer`` maps a
query to ``(status, body)``; the server records every query and its ``time``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Answer = Callable[[str, float | None], tuple[int, Any]]


def vector(*samples: tuple[dict[str, str], float | str], at: float = 0.0) -> dict[str, Any]:
    """A success document with one instant-vector sample per (labels, value)."""
    result = [
        {"metric": labels, "value": [at, str(v) if not isinstance(v, str) else v]} for labels, v in samples
    ]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def one(value: float | str) -> dict[str, Any]:
    return vector(({}, value))


EMPTY: dict[str, Any] = {"status": "success", "data": {"resultType": "vector", "result": []}}


def fresh(now: float, age_s: float = 5.0) -> Answer:
    """Every ``timestamp()`` query says the newest sample is ``age_s`` old; everything else is 1.5."""

    def answer(query: str, t: float | None) -> tuple[int, Any]:
        if "timestamp(" in query:
            return 200, one(now - age_s)
        return 200, one(1.5)

    return answer


@dataclass
class FakePrometheus:
    url: str
    queries: list[tuple[str, float | None]] = field(default_factory=list)


@contextmanager
def fake_prometheus(answer: Answer, *, hang: threading.Event | None = None) -> Iterator[FakePrometheus]:
    """Serve ``answer`` on a free 127.0.0.1 port; with ``hang``, every request waits for it."""
    seen: list[tuple[str, float | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlparse(self.path)
            args = parse_qs(url.query)
            query = args.get("query", [""])[0]
            t = float(args["time"][0]) if "time" in args else None
            seen.append((query, t))
            if hang is not None:
                hang.wait(10)
            status, body = answer(query, t)
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield FakePrometheus(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        if hang is not None:
            hang.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
