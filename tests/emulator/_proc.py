"""Start and stop real emulator processes (``python3 -m controlplane emulator``) on free ports."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from controlplane.ports import free_port
from tests.conftest import REPO

__all__ = ["Emulator", "start_emulator", "metric_value"]


@dataclass
class Emulator:
    proc: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def logs(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def metrics(self) -> str:
        return httpx.get(self.url + "/metrics", timeout=5).text

    def stop(self) -> int:
        """Ends the process this test started (by its PID) and returns its exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(timeout=15)


def start_emulator(tmp_path: Path, *args: str, wait_ready: bool = True) -> Emulator:
    port = free_port()
    log_path = tmp_path / f"emulator-{port}.jsonl"
    cmd = [sys.executable, "-m", "controlplane", "emulator", "--port", str(port), "--log-file", str(log_path),
           "--drain-grace-s", "2", *args]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    emu = Emulator(proc, port, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            status = httpx.get(emu.url + "/health", timeout=1).status_code
            if status == 200 or (status == 503 and not wait_ready):
                return emu
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    emu.stop()
    raise RuntimeError("emulator did not answer /health within 30 s")


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name`` whose labels include ``labels`` (KeyError if none)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise KeyError(f"{name} {labels}")
