"""The TTFT burn-rate page, end to end on a real Prometheus: a slow emulator replica
(every engine step 250x slower) makes its time to first token miss the SLO bucket, and
the generated rule turns the alert pending for that model only; the fast model stays quiet.

Rule groups run every second here, so both windows of the 14.4x pair (1h and 5m) hold the
same few seconds of data; the alert stays pending because its ``for`` (2m) outlasts the test.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from controlplane.codegen.config import CodegenConfig

from .live import burst, fast_rule_files

CFG = CodegenConfig()


def test_slow_model_turns_ttft_page_pending(
    tmp_path: Path,
    generated: dict[str, str],
    prometheus_factory: Callable[..., Any],
    emulator_factory: Callable[..., list[Any]],
) -> None:
    (fast,) = emulator_factory(1, model_name="fast-model")
    (slow,) = emulator_factory(1, model_name="slow-model", extra_args=["--latency-multiplier", "250"])
    slo_rules = [p for p in fast_rule_files(generated, tmp_path) if p.name == "slo.yaml"]
    prom = prometheus_factory(jobs=["vllm"], rule_files=slo_rules)
    prom.set_targets("vllm", [fast.target, slow.target], labels={"namespace": "serving"})
    prom.wait_for_up("vllm", 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = pool.map(
            lambda args: burst([args[0]], requests=4, deadline_s=30, workers=4, model=args[1], max_tokens=1),
            [(fast.url, "fast-model"), (slow.url, "slow-model")],
        )
        assert all(n > 0 for n in done)

    pending = 'ALERTS{alertname="VllmTtftBudgetBurnFast", alertstate="pending"}'
    prom.wait_for(lambda: bool(prom.query(pending)), timeout_s=30, what="the TTFT page to go pending")
    (alert,) = prom.query(pending)
    assert alert["metric"]["model_name"] == "slow-model"
    assert alert["metric"]["namespace"] == "serving"
    assert alert["metric"]["severity"] == "page"
    # The slow model's first tokens take seconds (a lone request at 250x: about 1.5 s), far
    # past the 1.0 s bucket; the fast model's take milliseconds. The page threshold is
    # 14.4 x the 1% budget = 14.4% of requests.
    ratio = "namespace_model:vllm_ttft_slo_errors:ratio_rate5m"
    page = 14.4 * CFG.error_budget
    slow_ratio = prom.value(f'{ratio}{{model_name="slow-model"}}')
    fast_ratio = prom.value(f'{ratio}{{model_name="fast-model"}}')
    assert slow_ratio is not None and slow_ratio > page, slow_ratio
    assert fast_ratio is not None and fast_ratio < page, fast_ratio
    # End-to-end latency stays far inside its 60 s objective for both.
    assert not prom.query('ALERTS{alertname="VllmE2eLatencyBudgetBurnFast"}')
    assert not prom.query('ALERTS{alertname="VllmTtftBudgetBurnFast", alertstate="firing"}')
