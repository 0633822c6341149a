"""Pieces the fault matrix shares: a policy, an in-process controller on the stand-in,
a delaying proxy in front of Prometheus, a scrape target that reports NaN, metric reads.

Every server here binds 127.0.0.1 on a free port and is stopped by the test that
started it; nothing here starts a process (conftest.py and the cases do, by PID).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from controlplane.actuate.kubeclient import make_api_client
from controlplane.actuate.kubernetes import ActuatorSettings, KubernetesActuator
from controlplane.config import ControllerConfig
from controlplane.controller import Controller, build_controller
from controlplane.loop import StaticPolicies
from controlplane.policy.decision import Decision
from controlplane.policy.model import ScalingPolicy

__all__ = [
    "policy",
    "controller",
    "set_policy",
    "metric",
    "wait_for",
    "tick_until",
    "warm",
    "ticks_after_floor_drop",
    "DelayProxy",
    "NaNExporter",
    "POD_HASH",
]

# Pods of Deployment <name> are <name>-<replicaset hash>-<pod hash>, as the Kubernetes selector expects.
POD_HASH = "7d9f8"


def policy(deployment: str = "chat", **overrides: Any) -> ScalingPolicy:
    """A policy for default/<deployment> with short windows so a case fits in seconds.

    stable 4 s / panic 1 s windows, no down-stabilization, signals older than 10 s
    are stale; KV usage off (the tiny emulator keeps it near 0).
    """
    doc: dict[str, Any] = {
        "name": deployment,
        "target": {"kind": "kubernetes", "namespace": "default", "deployment": deployment},
        "min_replicas": 2,
        "max_replicas": 6,
        "slo": {"ttft_p95_s": 5.0, "itl_p95_s": 1.0, "e2e_p95_s": 60.0},
        "signals": {"waiting_requests": 2.0, "kv_cache_usage": None, "running_requests": 3.0},
        "windows": {"stable_s": 4.0, "panic_s": 1.0, "scale_down_stabilization_s": 0.0},
        "steps": {"max_up_pods": 2, "max_down_pods": 1},
        "startup_s": 2.0,
        "max_signal_age_s": 10.0,
    }
    doc.update(overrides)
    return ScalingPolicy.model_validate(doc)


def controller(
    kube_url: str,
    prometheus_url: str,
    db: Path | str,
    policies: list[ScalingPolicy],
    *,
    prom_timeout_s: float = 1.0,
    api: dict[str, Any] | None = None,
) -> Controller:
    """The real wiring (build_controller) against the stand-in, ticked by the test.

    The Kubernetes actuator is rebuilt with a 1 s request timeout and 0.1 s first
    back-off so injected timeouts and 5xx cost little wall time. ``db`` is a SQLite
    file or a PostgreSQL URL; ``api`` the ``api`` settings (off by default).
    """
    cfg = ControllerConfig.model_validate(
        {
            "prometheus": {"url": prometheus_url, "timeout_s": prom_timeout_s},
            "kubernetes": {"enabled": True, "host": kube_url},
            "loop": {"database": str(db), "metrics_port": 0, "tick_s": 1.0},
            "api": api or {"enabled": False},
        }
    )
    ctl = build_controller(cfg, policies=policies)
    api = make_api_client(kube_url, user_agent="llm-controlplane")
    ctl.on_stop.append(api.close)
    ctl.loop.actuator.kubernetes = KubernetesActuator(  # type: ignore[attr-defined]
        api, ActuatorSettings(request_timeout_s=1.0, backoff_base_s=0.1, backoff_max_s=0.4)
    )
    return ctl


def set_policy(ctl: Controller, p: ScalingPolicy) -> None:
    """What a policy update does to a running loop: the next tick decides with ``p``."""
    ctl.loop.policies = StaticPolicies([p])


def metric(ctl: Controller, name: str, **labels: str) -> float | None:
    return ctl.loop.metrics.registry.get_sample_value(name, labels)  # type: ignore[no-any-return]


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 20.0, every_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def tick_until(ctl: Controller, what: str, check: Callable[[Decision], bool], ticks: int = 20) -> Decision:
    """Tick (0.5 s apart) until ``check`` holds for the decision; fail naming the last one."""
    last = None
    for _ in range(ticks):
        last = ctl.loop.tick()[0]
        if check(last):
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {ticks} ticks; last {last and (last.binding, last.reasons)}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _Background:
    """A ThreadingHTTPServer on a free 127.0.0.1 port, served from a daemon thread."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        handler = type("Bound", (self.handler,), {"owner": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: DelayProxy

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._forward()

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self._forward()

    def _forward(self) -> None:
        owner = self.owner
        with owner.lock:
            owner.requests += 1
            delay = owner.delay_s
        time.sleep(delay)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        try:
            r = owner.http.request(
                self.command,
                owner.upstream + self.path,
                content=body,
                headers={
                    "Content-Type": self.headers.get("Content-Type", "application/x-www-form-urlencoded")
                },
            )
        except httpx.HTTPError:
            self.send_error(502)
            return
        try:
            self.send_response(r.status_code)
            self.send_header("Content-Type", r.headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(r.content)))
            self.end_headers()
            self.wfile.write(r.content)
        except OSError:
            pass  # the client gave up waiting (its timeout): that is the point of the delay

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Silent: the test counts requests instead."""


class DelayProxy(_Background):
    """Forwards to ``upstream`` after ``delay_s`` (settable while running); counts requests."""

    handler = _ProxyHandler

    def __init__(self, upstream: str, delay_s: float = 0.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.delay_s = delay_s
        self.requests = 0
        self.lock = threading.Lock()
        self.http = httpx.Client(timeout=30, trust_env=False)
        super().__init__()

    def set_delay(self, delay_s: float) -> None:
        with self.lock:
            self.delay_s = delay_s

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.http.close()


class _NaNHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        # A replica whose queue gauge is broken: the exposition format allows NaN, Prometheus stores it.
        body = (
            b"# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
            b"# TYPE vllm:num_requests_waiting gauge\n"
            b'vllm:num_requests_waiting{engine="0",model_name="chat"} NaN\n'
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Silent: scraped every second."""


class NaNExporter(_Background):
    """A scrape target exposing ``vllm:num_requests_waiting NaN``."""

    handler = _NaNHandler

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


def warm(ctl: Controller, ticks: int = 10) -> None:
    """Valid decisions at the floor (2) for more than one stable window (4 s), as in test_baseline."""
    tick_until(ctl, "a first valid decision", lambda d: d.valid)
    for _ in range(ticks):
        d = ctl.loop.tick()[0]
        assert d.valid and d.desired == d.current == 2, (d.binding, d.reasons)
        time.sleep(0.5)


def ticks_after_floor_drop(ctl: Controller, deployment: str, n: int = 3) -> list[Decision]:
    """Drop min_replicas to 1 (the baseline scales 2 -> 1 on the next tick) and tick ``n`` times."""
    set_policy(ctl, policy(deployment, min_replicas=1))
    out = []
    for _ in range(n):
        out.append(ctl.loop.tick()[0])
        time.sleep(0.5)
    return out
