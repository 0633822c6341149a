"""A tiny OpenAI-compatible streaming server on 127.0.0.1 for load generator tests.

Answers ``/v1/models`` and streams ``max_tokens`` chunks for ``/v1/completions``;
records every request body. ``status`` other than 200 answers with that status;
``hang`` holds every completion until the server stops.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeOpenAI:
    url: str
    target: str
    bodies: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def fake_openai(*, status: int = 200, hang: bool = False, model: str = "tiny") -> Iterator[FakeOpenAI]:
    release = threading.Event()
    state: FakeOpenAI | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            data = json.dumps({"object": "list", "data": [{"id": model, "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert state is not None
            state.bodies.append(body)
            try:
                if hang:
                    release.wait(30)
                if status != 200:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for k in range(body["max_tokens"]):
                    chunk = {"object": "text_completion", "choices": [{"index": 0, "text": f" t{k}"}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    state = FakeOpenAI(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
