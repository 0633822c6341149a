"""A tiny HTTP server on 127.0.0.1 that answers the elasticsearch client with recorded
Elasticsearch responses (tests/logs/recorded/*.json) and checks what the client sent.

Each recording holds ``request`` (method, path) and ``response`` (status, headers,
body). The server checks the method and path, that ``Accept`` and ``Content-Type``
carry the client's compatibility mimetype (``application/vnd.elasticsearch+json;
compatible-with=<client major>``), and -- when the test sets ``expect_body`` -- that
the JSON body is exactly the query built by the code under test. Every request is
kept in ``requests`` with any mismatch in ``problems``. ``delay_s`` makes it slow.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).parent / "recorded"


def load(name: str) -> dict[str, Any]:
    return json.loads((RECORDED / f"{name}.json").read_text())


def compat_mimetype() -> str:
    import elasticsearch

    return f"application/vnd.elasticsearch+json; compatible-with={elasticsearch.__versionstr__.split('.')[0]}"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class RecordedElasticsearch:
    recording: dict[str, Any]
    expect_body: dict[str, Any] | None = None
    delay_s: float = 0.0
    product_header: bool = True
    requests: list[Seen] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> RecordedElasticsearch:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner._answer(self, "POST", raw)

            def do_GET(self) -> None:
                owner._answer(self, "GET", b"")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _answer(self, h: BaseHTTPRequestHandler, method: str, raw: bytes) -> None:
        body = json.loads(raw) if raw else None
        headers = {k.lower(): v for k, v in h.headers.items()}
        self.requests.append(Seen(method, h.path, headers, body))
        want = self.recording["request"]
        if (method, h.path.split("?")[0]) != (want["method"], want["path"]):
            self.problems.append(f"{method} {h.path}, recorded {want['method']} {want['path']}")
        for name in ("accept", "content-type"):
            if headers.get(name) != compat_mimetype():
                self.problems.append(f"{name}: {headers.get(name)!r}, expected {compat_mimetype()!r}")
        if self.expect_body is not None and body != self.expect_body:
            self.problems.append("request body differs from the expected query")
        if self.delay_s:
            time.sleep(self.delay_s)
        resp = self.recording["response"]
        payload = json.dumps(resp["body"]).encode()
        try:
            h.send_response(resp["status"])
            for k, v in resp.get("headers", {}).items():
                if k.lower() != "x-elastic-product" or self.product_header:
                    h.send_header(k, v)
            h.send_header("Content-Type", compat_mimetype().replace("; ", ";"))
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to answer

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
