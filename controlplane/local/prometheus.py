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
from typing import Any

import httpx
import yaml

from controlplane.ports import free_port

__all__ = ["PrometheusServer", "PrometheusNotFound"]


class PrometheusNotFound(RuntimeError):
    pass




class PrometheusServer:
    """One Prometheus process on 127.0.0.1; ``url`` is its HTTP API root.

    ``file_sd_globs`` are the file_sd files of the ``vllm`` job (the local
    actuator's targets); ``file_sd_jobs`` names more jobs, each with its own files;
    ``static_targets`` adds static jobs (the controller's own /metrics).
    """

    def __init__(
        self,
        workdir: str | Path,
        *,
        file_sd_globs: Sequence[str] = (),
        file_sd_jobs: dict[str, Sequence[str]] | None = None,
        static_targets: dict[str, Sequence[str]] | None = None,
        rule_files: Sequence[str | Path] = (),
        alertmanager_url: str | None = None,
        extra_scrape_configs: Sequence[dict[str, Any]] = (),
        scrape_interval_s: float = 1.0,
        binary: str = "prometheus",
        port: int | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.port = port or free_port()
        self.binary = shutil.which(binary) or binary
        # Prometheus runs in its own folder: every path it reads is made absolute here.
        self.file_sd_jobs: dict[str, list[str]] = {
            k: [str(Path(f).resolve()) for f in v] for k, v in (file_sd_jobs or {}).items()
        }
        if file_sd_globs:
            self.file_sd_jobs.setdefault("vllm", []).extend(str(Path(f).resolve()) for f in file_sd_globs)
        self.static_targets = dict(static_targets or {})
        self.rule_files = [str(Path(r).resolve()) for r in rule_files]
        self.alertmanager_url = alertmanager_url
        self.extra_scrape_configs = list(extra_scrape_configs)
        self.scrape_interval_s = scrape_interval_s
        self.log_path = self.workdir / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        interval = f"{self.scrape_interval_s:g}s"
        scrapes: list[dict[str, Any]] = [
            {"job_name": job, "file_sd_configs": [{"files": files, "refresh_interval": "1s"}]}
            for job, files in self.file_sd_jobs.items()
        ]
        for job, targets in self.static_targets.items():
            scrapes.append({"job_name": job, "static_configs": [{"targets": list(targets)}]})
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
            "scrape_configs": scrapes + self.extra_scrape_configs,
        }
        if self.rule_files:
            config["rule_files"] = self.rule_files
        if self.alertmanager_url:
            host = self.alertmanager_url.split("://", 1)[-1].rstrip("/")
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
        return config

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        return path

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def start(self, ready_timeout_s: float = 30.0) -> PrometheusServer:
        if shutil.which(self.binary) is None:
            raise PrometheusNotFound(f"{self.binary!r} not found: install the Debian package 'prometheus'")
        cfg = self.write_config()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={cfg}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                    "--storage.tsdb.retention.time=1d",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1.0, trust_env=False).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"prometheus not ready within {ready_timeout_s} s: {self.log_tail()}")

    def reload(self) -> None:
        """Write the config again and ask the server to re-read it and its rule files."""
        self.write_config()
        httpx.post(f"{self.url}/-/reload", timeout=5.0, trust_env=False).raise_for_status()

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
