"""Opt-in: real vLLM (CPU build) serving a tiny local model, scraped by real Prometheus.

Run with ``CONTROLPLANE_VLLM=1`` after ``bash scripts/install-vllm-cpu``, which puts
vLLM in its own virtualenv (``.venv-vllm``; another one can be named with
CONTROLPLANE_VLLM_PYTHON). The local
actuator starts vLLM's OpenAI-compatible server as a process (the same code path as
single-machine mode with real vLLM), the load generator sends streaming requests,
and every catalog query the Prometheus source runs must return data from the real
server (GPU families excepted: there is no GPU and no DCGM exporter).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from controlplane.actuate.local import LocalActuator, vllm_command
from controlplane.loadgen.runner import run_load
from controlplane.loadgen.targets import read_file_sd
from controlplane.local.demo import _bootstrap
from controlplane.local.prometheus import PrometheusServer
from controlplane.policy.model import ScalingPolicy
from controlplane.sources.prometheus import PrometheusSource
from controlplane.traces.model import Trace

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
GPU_ONLY = {"gpu_utilization", "gpu_memory_used_bytes", "log_error_rate"}


def test_every_catalog_signal_reads_from_real_vllm(tmp_path: Path) -> None:
    python = os.environ.get("CONTROLPLANE_VLLM_PYTHON", str(REPO / ".venv-vllm" / "bin" / "python"))
    if not Path(python).exists():
        pytest.skip(f"no vLLM interpreter at {python}: run bash scripts/install-vllm-cpu")
    if shutil.which("prometheus") is None:
        pytest.skip("needs the Debian prometheus binary")
    import numpy as np

    model = tmp_path / "tiny-llama"
    builder = Path(__file__).with_name("tiny_model.py")
    subprocess.run([python, str(builder), str(model), str(REPO)], check=True, timeout=300)
    cache = tmp_path / "cache"
    cache.mkdir()
    env = {
        "HF_HUB_OFFLINE": "1",
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "TMPDIR": str(cache),
        "VLLM_CACHE_ROOT": str(cache / "vllm"),
        "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor"),
    }
    extra = ["--max-model-len", "512", "--enforce-eager", "--max-num-seqs", "4"]
    actuator = LocalActuator(tmp_path / "local", command_for=vllm_command(str(model), extra, python), env=env)
    policy = ScalingPolicy.model_validate(
        {
            "name": "real",
            "target": {"kind": "local", "group": "real", "model_name": "tiny-llama"},
            "max_replicas": 1,
            "max_signal_age_s": 30.0,
        }
    )
    prom = PrometheusServer(tmp_path / "prom", file_sd_globs=[str(actuator.targets_dir / "*.json")])
    try:
        prom.start()
        _bootstrap(actuator, policy, timeout_s=300.0)
        n = 40
        trace = Trace(
            "real-vllm",
            np.linspace(0.0, 8.0, n),
            np.full(n, 32, dtype=np.int64),
            np.full(n, 64, dtype=np.int64),
        )
        summary = run_load(trace, targets_file=actuator.targets_dir / "real.json", max_seconds=120, model="tiny-llama")
        assert summary["ok"] == n, summary
        time.sleep(4.0)  # two scrapes after the last request
        signals = PrometheusSource(prom.url, window_s=60.0).collect(policy, time.time())
        missing = {k: r.reason for k, r in signals.readings().items() if not r.ok and k not in GPU_ONLY}
        assert not missing, missing
        assert signals.ready_replicas.value == 1
        assert signals.request_rate.value and signals.request_rate.value > 0
        # the same 300-token prompt three times: vLLM's prefix cache (128-token CPU blocks) serves
        # its first two blocks on the repeats, and the three prefix-cache families count them
        (url,) = read_file_sd(actuator.targets_dir / "real.json")
        body = {"model": "tiny-llama", "prompt": [100 + k % 900 for k in range(300)], "max_tokens": 4}
        for _ in range(3):
            assert httpx.post(f"http://{url}/v1/completions", json=body, timeout=60).status_code == 200
        text = httpx.get(f"http://{url}/metrics", timeout=10).text
        for name in ("vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total",
                     "vllm:prompt_tokens_cached_total"):
            assert sum(v for n, v in _samples(text) if n == name) > 0, name
    finally:
        actuator.close(timeout_s=20.0)
        prom.stop()


def _samples(text: str) -> list[tuple[str, float]]:
    return [(smp.name, smp.value) for f in text_string_to_metric_families(text) for smp in f.samples]
