"""A real Prometheus (the Debian ``prometheus`` binary) on 127.0.0.1 for tests.

Fixtures (registered in tests/conftest.py):

``prometheus``
    One running server for the test, no targets yet, 1 s scrape and rule
    evaluation. Give it targets with ``prometheus.set_targets("vllm",
    ["127.0.0.1:8001", ...])``: each job reads its own file_sd file, re-read
    by Prometheus within about 5 s (its discovery manager sends target updates
    at most every 5 s, also the first time), so a test can add and remove
    replicas while running. Wait with ``wait_for_up(job, n)``.
``prometheus_factory``
    ``start(jobs=..., targets={job: [...]}, labels={...}, rule_files=...,
    alertmanager_url=...)`` for tests that need initial targets, rules, an
    Alertmanager, or several servers; all are stopped at teardown.

The server runs in a temp dir (config, file_sd files, TSDB), listens on a free
port, and is stopped by PID: SIGTERM, then SIGKILL after 10 s. Tests using it
skip when the binary is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.local.prometheus import PrometheusServer as LocalPrometheus

__all__ = ["PrometheusServer", "prometheus", "prometheus_factory", "PROMETHEUS_BIN"]

PROMETHEUS_BIN = shutil.which("prometheus") or "/usr/bin/prometheus"


class PrometheusServer(LocalPrometheus):
    """The product's Prometheus launcher with per-job target files and query helpers."""

    def __init__(
        self,
        workdir: Path,
        *,
        jobs: Sequence[str] = ("vllm",),
        targets: dict[str, Sequence[str]] | None = None,
        labels: dict[str, str] | None = None,
        rule_files: Sequence[str | Path] = (),
        alertmanager_url: str | None = None,
        interval_s: int = 1,
        extra_scrape_configs: Sequence[dict[str, Any]] = (),
    ) -> None:
        super().__init__(
            workdir,
            file_sd_jobs={job: [str(workdir / f"targets-{job}.json")] for job in jobs},
            rule_files=rule_files,
            alertmanager_url=alertmanager_url,
            extra_scrape_configs=extra_scrape_configs,
            scrape_interval_s=interval_s,
            binary=PROMETHEUS_BIN,
        )
        self.jobs = list(jobs)
        self.interval_s = interval_s
        self._http = httpx.Client(timeout=10, trust_env=False)
        for job in self.jobs:
            self.set_targets(job, (targets or {}).get(job, []), labels)
        self.write_config()

    # -- configuration -----------------------------------------------------------

    def targets_file(self, job: str) -> Path:
        return self.workdir / f"targets-{job}.json"

    def set_targets(self, job: str, targets: Sequence[str], labels: dict[str, str] | None = None) -> None:
        """Replace ``job``'s targets (``host:port``), all with the same ``labels``."""
        self.set_target_groups(
            job, [{"targets": list(targets), "labels": dict(labels or {})}] if targets else []
        )

    def set_target_groups(self, job: str, groups: Sequence[dict[str, Any]]) -> None:
        """Replace ``job``'s file_sd groups (``[{"targets": [...], "labels": {...}}, ...]``), e.g. one
        group per replica with its own ``replica`` label, as the local actuator writes them.
        Written atomically so Prometheus never reads half a file."""
        if job not in self.jobs:
            raise ValueError(f"job: {job!r} is not one of {self.jobs}")
        tmp = self.targets_file(job).with_suffix(".tmp")
        tmp.write_text(json.dumps(list(groups)))
        os.replace(tmp, self.targets_file(job))

    # -- lifecycle -----------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> PrometheusServer:
        if not os.path.exists(PROMETHEUS_BIN):
            pytest.skip(f"{PROMETHEUS_BIN} is not installed")
        try:
            super().start(timeout_s)
        except TimeoutError as exc:
            raise RuntimeError(str(exc)) from exc
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM this server's PID, SIGKILL after ``timeout_s``."""
        self._http.close()
        super().stop(timeout_s)

    # -- queries -------------------------------------------------------------------

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query; the API's ``result`` list. Raises on an error answer."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        r = self._http.get(f"{self.url}/api/v1/query", params=params)
        body = r.json()
        if body.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The single value of an instant query, None when it returned no series."""
        result = self.query(expr, at)
        if not result:
            return None
        if len(result) != 1:
            raise AssertionError(f"{expr!r}: {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def active_targets(self, job: str | None = None) -> list[dict[str, Any]]:
        r = self._http.get(f"{self.url}/api/v1/targets", params={"state": "active"})
        targets: list[dict[str, Any]] = r.json()["data"]["activeTargets"]
        return [t for t in targets if job is None or t["labels"].get("job") == job]

    def wait_for(self, check: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
        """Poll ``check`` every 0.2 s until it is true; fail with ``what`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")

    def wait_for_up(self, job: str, n: int, timeout_s: float = 20.0) -> None:
        """Until exactly ``n`` of ``job``'s targets have been scraped successfully (``up == 1``)."""

        def ready() -> bool:
            up = [t for t in self.active_targets(job) if t.get("health") == "up"]
            return len(up) == n

        self.wait_for(ready, timeout_s, f"{n} healthy targets in job {job}")


@pytest.fixture
def prometheus_factory() -> Iterator[Callable[..., PrometheusServer]]:
    """``start(**kwargs)`` -> a running :class:`PrometheusServer`; all stopped at teardown."""
    started: list[PrometheusServer] = []
    dirs: list[tempfile.TemporaryDirectory[str]] = []

    def start(**kwargs: Any) -> PrometheusServer:
        d = tempfile.TemporaryDirectory(prefix="cp-prom-")
        dirs.append(d)
        server = PrometheusServer(Path(d.name), **kwargs)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()
        for d in dirs:
            d.cleanup()


@pytest.fixture
def prometheus(prometheus_factory: Callable[..., PrometheusServer]) -> PrometheusServer:
    """A running Prometheus with one file_sd job, ``vllm``, and no targets."""
    return prometheus_factory()
