"""A real Alertmanager (the Debian ``prometheus-alertmanager`` binary) and a webhook
receiver, both on 127.0.0.1, for tests.

Fixtures (registered in tests/conftest.py):

``webhook``
    A :class:`WebhookReceiver`: a tiny HTTP server that keeps every notification
    Alertmanager POSTs (``notifications``), with ``wait_for(predicate)``.
``alertmanager``
    An :class:`AlertmanagerServer` routing every alert to ``webhook`` with
    ``send_resolved``, grouped by alertname and target, and short timers
    (group_wait 1 s, group_interval 1 s, repeat_interval 1 h) so a test sees a
    notification within seconds of an alert firing or resolving.

Alertmanager runs with clustering off (``--cluster.listen-address=`` empty), its
storage in a temp dir, on a free port, and is stopped by PID: SIGTERM, then
SIGKILL after 10 s. Tests using it skip when the binary is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

__all__ = ["AlertmanagerServer", "WebhookReceiver", "ALERTMANAGER_BIN", "alertmanager", "webhook"]

ALERTMANAGER_BIN = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebhookReceiver:
    """Keeps each webhook notification (the JSON body) with its wall-clock arrival time."""

    def __init__(self) -> None:
        self.notifications: list[tuple[float, dict[str, Any]]] = []
        self._cond = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner._cond:
                    owner.notifications.append((time.time(), json.loads(raw)))
                    owner._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def alerts(self) -> list[tuple[float, dict[str, Any]]]:
        """Every alert of every notification, with the notification's arrival time."""
        with self._cond:
            return [(t, a) for t, n in self.notifications for a in n.get("alerts", [])]

    def wait_for(self, check: Callable[[dict[str, Any]], bool], timeout_s: float) -> tuple[float, dict[str, Any]]:
        """The first alert (arrival time, alert) for which ``check`` holds; AssertionError on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for t, n in self.notifications:
                    for a in n.get("alerts", []):
                        if check(a):
                            return t, a
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(a["status"], a["labels"].get("alertname")) for _, n in self.notifications
                            for a in n.get("alerts", [])]
                    raise AssertionError(f"no matching alert within {timeout_s} s; received {seen}")
                self._cond.wait(left)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class AlertmanagerServer:
    """One Alertmanager process; ``url`` is its root (API at ``/api/v2``)."""

    def __init__(self, workdir: Path, webhook_url: str, *, group_wait: str = "1s", group_interval: str = "1s",
                 repeat_interval: str = "1h") -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "alertmanager.log"
        self.proc: subprocess.Popen[bytes] | None = None
        config = {
            "route": {
                "receiver": "hook",
                "group_by": ["alertname", "target"],
                "group_wait": group_wait,
                "group_interval": group_interval,
                "repeat_interval": repeat_interval,
            },
            "receivers": [{"name": "hook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
        }
        (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    def start(self, timeout_s: float = 30.0) -> AlertmanagerServer:
        if not os.path.exists(ALERTMANAGER_BIN):
            pytest.skip(f"{ALERTMANAGER_BIN} is not installed")
        cmd = [
            ALERTMANAGER_BIN,
            f"--config.file={self.workdir / 'alertmanager.yml'}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=1, trust_env=False) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"alertmanager exited with {self.proc.returncode}: {self.log_tail()}")
                try:
                    if http.get(f"{self.url}/-/ready").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"alertmanager not ready within {timeout_s} s: {self.log_tail()}")

    def alerts(self, active_only: bool = False) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: what Alertmanager holds now (resolved ones included unless active_only)."""
        params = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}
        r = httpx.get(f"{self.url}/api/v2/alerts", params=params, timeout=5, trust_env=False)
        r.raise_for_status()
        out: list[dict[str, Any]] = r.json()
        return [a for a in out if not active_only or a["status"]["state"] == "active"]

    def stop(self) -> None:
        """SIGTERM this server's PID, SIGKILL after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def alertmanager(webhook: WebhookReceiver) -> Iterator[AlertmanagerServer]:
    with tempfile.TemporaryDirectory(prefix="cp-am-") as d:
        server = AlertmanagerServer(Path(d), webhook.url)
        try:
            yield server.start()
        finally:
            server.stop()
