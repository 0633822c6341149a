"""The codegen config: defaults follow the policy's SLO, bad input names the field,
and SLO thresholds land on histogram bucket bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.codegen.config import CodegenConfig, CodegenConfigError, load_config, parse_config
from controlplane.codegen.slo import E2E_BUCKETS, TTFT_BUCKETS, bucket_bound, le_label
from controlplane.policy.model import SLO, Predictive


def test_defaults_come_from_the_policy_model() -> None:
    cfg = CodegenConfig()
    assert cfg.slo == SLO()
    assert cfg.thresholds.forecast_error_ratio.value == Predictive().max_error_mape
    # 1 - 0.99 objective: 1% of requests may miss the target.
    assert cfg.error_budget == pytest.approx(0.01)


def test_every_threshold_says_why() -> None:
    for name, threshold in CodegenConfig().thresholds:
        assert len(threshold.reason) >= 10, name


@pytest.mark.parametrize(
    "doc, field",
    [
        pytest.param({"slo": {"ttft_p95_s": -1}}, "slo.ttft_p95_s", id="negative-slo"),
        pytest.param({"slo": {"objective": 1.0}}, "slo.objective", id="objective-100pct"),
        pytest.param({"burn_windows": [{"severity": "page", "long": "5m", "short": "1h", "factor": 14.4}]},
                     "burn_windows.0", id="short-longer-than-long"),
        pytest.param({"burn_windows": [{"severity": "page", "long": "1 hour", "short": "5m", "factor": 1}]},
                     "burn_windows.0.long", id="bad-duration"),
        pytest.param({"thresholds": {"kv_cache_usage": {"value": 0.9, "for": "10m", "reason": "short"}}},
                     "thresholds.kv_cache_usage.reason", id="reason-too-short"),
        pytest.param({"gpu_price_per_hour": 0}, "gpu_price_per_hour", id="free-gpus"),
        pytest.param({"runbook_base_url": "runbooks/"}, "runbook_base_url", id="relative-url"),
        pytest.param({"receivers": {"page": "http://x"}}, "receivers", id="missing-receivers"),
        pytest.param({"burn_for": {"page": "2m"}}, "burn_for", id="ticket-without-for"),
        pytest.param({"selectors": {"model_label": "model-name"}}, "selectors.model_label", id="bad-label"),
        pytest.param({"colour": "blue"}, "colour", id="unknown-key"),
    ],
)
def test_bad_config_names_the_field(doc: dict[str, object], field: str) -> None:
    with pytest.raises(CodegenConfigError) as err:
        parse_config(doc)
    assert err.value.field == field


def test_load_config_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "codegen.yaml"
    path.write_text("slo:\n  ttft_p95_s: 5.0\ngpu_price_per_hour: 2.5\n")
    cfg = load_config(path)
    assert cfg.slo.ttft_p95_s == 5.0 and cfg.gpu_price_per_hour == 2.5
    assert load_config(None) == CodegenConfig()


@pytest.mark.parametrize(
    "target, bounds, rounding, expected",
    [
        # 2.0 s sits between vLLM's TTFT buckets 1.0 and 2.5.
        pytest.param(2.0, TTFT_BUCKETS, "down", 1.0, id="ttft-default-rounds-down"),
        pytest.param(2.0, TTFT_BUCKETS, "up", 2.5, id="ttft-default-rounds-up"),
        pytest.param(5.0, TTFT_BUCKETS, "down", 5.0, id="ttft-on-a-bound"),
        pytest.param(60.0, E2E_BUCKETS, "down", 60.0, id="e2e-default-on-a-bound"),
        pytest.param(0.0005, TTFT_BUCKETS, "up", 0.001, id="below-first-bound-rounds-up"),
    ],
)
def test_bucket_bound(target: float, bounds: tuple[float, ...], rounding: str, expected: float) -> None:
    assert bucket_bound(target, bounds, rounding) == expected


def test_bucket_bound_outside_the_histogram_is_an_error() -> None:
    with pytest.raises(ValueError, match="slo"):
        bucket_bound(0.0005, TTFT_BUCKETS, "down")
    with pytest.raises(ValueError, match="slo"):
        bucket_bound(9999.0, TTFT_BUCKETS, "up")


def test_le_label_is_written_as_vllm_writes_it() -> None:
    # prometheus_client writes 1.0, not 1; Prometheus 2 matches le verbatim.
    assert le_label(1.0) == "1.0" and le_label(60) == "60.0" and le_label(0.25) == "0.25"


def test_vllm_reference_buckets_match() -> None:
    ref = Path(__file__).resolve().parents[3] / "shared" / "reference" / "vllm-0.32-cpu-metrics.txt"
    if not ref.exists():
        pytest.skip("../shared/reference is not beside this checkout")
    text = ref.read_text()
    for name, bounds in (("time_to_first_token_seconds", TTFT_BUCKETS), ("e2e_request_latency_seconds", E2E_BUCKETS)):
        for b in bounds:
            assert f'vllm:{name}_bucket{{engine="0",le="{le_label(b)}"' in text, (name, b)


@pytest.mark.parametrize(
    "field, job, matches",
    [
        pytest.param("vllm_job_regex", "vllm", True, id="local-mode-file-sd-job"),
        pytest.param("vllm_job_regex", "llm-serving/vllm", True, id="k8s-podmonitor-job"),
        pytest.param("vllm_job_regex", "vllm-chat", True, id="per-deployment-job"),
        pytest.param("vllm_job_regex", "controlplane", False, id="not-the-controller"),
        pytest.param("controlplane_job_regex", "controlplane", True, id="local-demo-job"),
        pytest.param("controlplane_job_regex", "llm-controlplane", True, id="k8s-service-job"),
        pytest.param("controlplane_job_regex", "llm-serving/vllm", False, id="not-vllm"),
    ],
)
def test_job_regexes_match_the_shipped_scrape_configs(field: str, job: str, matches: bool) -> None:
    # Prometheus anchors label regexes, as fullmatch does.
    import re

    assert bool(re.fullmatch(getattr(CodegenConfig().selectors, field), job)) is matches


def test_bad_job_regex_names_the_field() -> None:
    with pytest.raises(CodegenConfigError) as err:
        parse_config({"selectors": {"vllm_job_regex": "vllm("}})
    assert err.value.field == "selectors.vllm_job_regex"


def test_burn_factor_beyond_all_errors_is_rejected() -> None:
    # Objective 90%: budget 10%, and 14.4 x 10% = 144% of requests failing: never reachable.
    with pytest.raises(CodegenConfigError) as err:
        parse_config({"slo": {"objective": 0.9}})
    assert err.value.field == "burn_windows.0"


@pytest.mark.parametrize("objective", [0.95, 0.999, 0.9995])
def test_generated_burn_cases_hold_for_other_objectives(objective: float, promtool: str, tmp_path: Path) -> None:
    # The cases are computed from the budget; promtool proves them for budgets of 5%, 0.1%, 0.05%.
    import subprocess

    from controlplane.codegen.generate import generate, write

    write(generate(parse_config({"slo": {"objective": objective}, "burn_windows": [
        {"severity": "page", "long": "1h", "short": "5m", "factor": 14.4 if objective > 0.95 else 6},
        {"severity": "ticket", "long": "3d", "short": "6h", "factor": 1},
    ]})), tmp_path)
    out = subprocess.run([promtool, "test", "rules", str(tmp_path / "alert_rules" / "tests" / "slo.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout
