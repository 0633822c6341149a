"""Run the real Prometheus server (Debian's ``prometheus`` binary) for single-machine mode.

Owns: writing a config that scrapes file_sd targets (the local actuator's replicas)
and static targets (the controller itself), starting the binary on 127.0.0.1 with
a free port and its own data directory, waiting until it is ready, and stopping
exactly that process by PID.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import yaml

from controlplane.ports import free_port

__all__ = ["PrometheusServer", "PrometheusNotFound"]


class PrometheusNotFound(RuntimeError):
    pass




class PrometheusServer:
    def __init__(
        self,
        workdir: str | Path,
        *,
        file_sd_globs: Sequence[str] = (),
        static_targets: dict[str, Sequence[str]] | None = None,
        rule_files: Sequence[str] = (),
        scrape_interval_s: float = 1.0,
        binary: str = "prometheus",
        port: int | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.binary = shutil.which(binary) or binary
        self.file_sd_globs = list(file_sd_globs)
        self.static_targets = dict(static_targets or {})
        self.rule_files = list(rule_files)
        self.scrape_interval_s = scrape_interval_s
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict:
        interval = f"{self.scrape_interval_s:g}s"
        scrapes: list[dict] = []
        if self.file_sd_globs:
            scrapes.append(
                {
                    "job_name": "vllm",
                    "scrape_interval": interval,
                    "file_sd_configs": [{"files": self.file_sd_globs, "refresh_interval": "1s"}],
                }
            )
        for job, targets in self.static_targets.items():
            scrapes.append({"job_name": job, "scrape_interval": interval, "static_configs": [{"targets": list(targets)}]})
        return {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": self.rule_files,
            "scrape_configs": scrapes,
        }

    def start(self, ready_timeout_s: float = 30.0) -> PrometheusServer:
        if shutil.which(self.binary) is None:
            raise PrometheusNotFound(f"{self.binary!r} not found: install the Debian package 'prometheus'")
        self.workdir.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1d",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}; see {self.workdir / 'prometheus.log'}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"prometheus not ready within {ready_timeout_s} s")

    def reload(self) -> None:
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(self.config(), sort_keys=False))
        httpx.post(f"{self.url}/-/reload", timeout=5.0).raise_for_status()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
