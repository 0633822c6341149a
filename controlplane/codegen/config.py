"""The one definition that dashboards, alert rules, tests and runbooks are generated from.

Owns: :class:`CodegenConfig` (validated, frozen) and :func:`load_config`.
Must not import: grafanalib, subprocess or any HTTP library; this is data only.

The SLO targets default to :class:`controlplane.policy.model.SLO`, so the alert
thresholds and the dashboards' SLO lines follow the scaling policy's defaults.
Every threshold carries the reason it was chosen; the reason is printed in the
alert's description and its runbook.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from controlplane.policy.model import SLO, Predictive, ScalingPolicy

__all__ = [
    "BurnWindow",
    "CodegenConfig",
    "CodegenConfigError",
    "Selectors",
    "Hold",
    "Threshold",
    "Thresholds",
    "duration_seconds",
    "load_config",
]

_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    """Seconds in a single-unit Prometheus duration such as ``5m`` or ``3d``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h or 3d")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


class CodegenConfigError(ValueError):
    """A codegen config that does not validate; ``field`` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hold(_Strict):
    """How long a condition must hold before its alert fires, and why that long."""

    for_: str = Field(..., alias="for", description="Prometheus duration the condition must hold")
    reason: str = Field(..., min_length=10, description="why; shown in the alert and runbook")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("for_")
    @classmethod
    def _duration(cls, v: str) -> str:
        duration_seconds(v)
        return v


class Threshold(Hold):
    """A number an alert compares against, how long it must hold, and why that number."""

    value: float = Field(..., ge=0)


class BurnWindow(_Strict):
    """One long/short window pair of a multi-window multi-burn-rate SLO alert.

    The alert fires while the error ratio over both windows exceeds
    ``factor`` x the error budget (1 - objective).
    """

    severity: Literal["page", "ticket"]
    long: str
    short: str
    factor: float = Field(..., gt=0)

    @field_validator("long", "short")
    @classmethod
    def _duration(cls, v: str) -> str:
        duration_seconds(v)
        return v

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnWindow:
        if duration_seconds(self.short) >= duration_seconds(self.long):
            raise ValueError("short window must be shorter than long window")
        return self


def _sre_workbook_windows() -> list[BurnWindow]:
    # Google SRE workbook, chapter 5 "Alerting on SLOs", section "Multiwindow,
    # Multi-Burn-Rate Alerts" (table 5-8): page on 14.4x over 1h with a 5m short
    # window (2% of a 30-day budget gone in an hour), page on 6x over 6h/30m (5%),
    # ticket on 1x over 3d/6h (10%); short windows are 1/12 of the long. The
    # 1d/2h ticket at 3x fills the gap between them, as kubernetes-mixin does.
    return [
        BurnWindow(severity="page", long="1h", short="5m", factor=14.4),
        BurnWindow(severity="page", long="6h", short="30m", factor=6.0),
        BurnWindow(severity="ticket", long="1d", short="2h", factor=3.0),
        BurnWindow(severity="ticket", long="3d", short="6h", factor=1.0),
    ]


class Selectors(_Strict):
    """Label names and job selectors shared by every query."""

    namespace_label: str = Field("namespace", description="label carrying the Kubernetes namespace")
    model_label: str = Field("model_name", description="vLLM's served-model label")
    vllm_job_regex: str = Field(
        "(.+/)?vllm(-.*)?",
        description="scrape jobs of the vLLM replicas: 'vllm' in local mode, '<namespace>/vllm' from "
        "the PodMonitor in serving/k8s (prometheus-operator's default job label), 'vllm-<name>' elsewhere",
    )
    controlplane_job_regex: str = Field(
        "(llm-)?controlplane",
        description="scrape jobs of the control plane: 'controlplane' in local mode, 'llm-controlplane' "
        "(its Service name, the ServiceMonitor's default job label) on Kubernetes",
    )

    @field_validator("vllm_job_regex", "controlplane_job_regex")
    @classmethod
    def _regex(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        if '"' in v or "\\" in v:
            raise ValueError("must not contain quotes or backslashes (it is written into PromQL strings)")
        return v

    @field_validator("namespace_label", "model_label")
    @classmethod
    def _label(cls, v: str) -> str:
        if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", v):
            raise ValueError(f"{v!r} is not a Prometheus label name")
        return v


def _h(for_: str, reason: str) -> Hold:
    return Hold.model_validate({"for": for_, "reason": reason})


def _t(value: float, for_: str, reason: str) -> Threshold:
    return Threshold.model_validate({"value": value, "for": for_, "reason": reason})


class Thresholds(_Strict):
    """Thresholds of the non-SLO alerts, each with its reason."""

    queue_waiting_per_replica: Threshold = Field(
        default_factory=lambda: _t(
            8.0, "10m",
            "4x the policy's scaling target of 2 waiting requests per replica: the autoscaler should have "
            "added replicas long before the queue reaches this",
        )
    )
    kv_cache_usage: Threshold = Field(
        default_factory=lambda: _t(
            0.95, "10m",
            "vLLM preempts running requests when the KV cache is full; above 95% new sequences "
            "are close to recomputation or swap",
        )
    )
    replicas_pending: Threshold = Field(
        default_factory=lambda: _t(
            0.0, "15m",
            "a replica loads weights for about 3 minutes (policy startup_s 180 s); 15 minutes below "
            "the desired count means scheduling or image pulls are stuck",
        )
    )
    at_max_burn_factor: Threshold = Field(
        default_factory=lambda: _t(
            6.0, "10m",
            "the SRE workbook's 6x page burn rate: at the replica ceiling, the autoscaler can no "
            "longer hold the SLO and the budget runs out within 5 days",
        )
    )
    metrics_absent: Hold = Field(
        default_factory=lambda: _h(
            "5m",
            "without vLLM metrics every decision is invalid and the autoscaler holds; 5 minutes "
            "rides out a rolling restart",
        )
    )
    not_reconciling: Hold = Field(
        default_factory=lambda: _h(
            "5m",
            "the loop ticks every few seconds; no completed tick in 10 minutes means the "
            "replica count is frozen",
        )
    )
    decision_invalid: Hold = Field(
        default_factory=lambda: _h(
            "15m",
            "an invalid decision holds the replica count; for 15 minutes the deployment is not "
            "being scaled at all",
        )
    )
    step_errors_per_s: Threshold = Field(
        default_factory=lambda: _t(
            0.0, "15m",
            "any sustained step error means one stage of the pipeline is failing every tick",
        )
    )
    forecast_error_ratio: Threshold = Field(
        default_factory=lambda: _t(
            Predictive().max_error_mape, "30m",
            "the policy drops the predictive floor above this forecast error (predictive.max_error_mape)",
        )
    )
    gpu_under_utilised_percent: Threshold = Field(
        default_factory=lambda: _t(
            70.0, "6h",
            "below 70% busy for a whole shift the deployment holds more GPUs than the load needs",
        )
    )
    gpu_over_utilised_percent: Threshold = Field(
        default_factory=lambda: _t(
            95.0, "1h",
            "above 95% busy for an hour there is no headroom for a burst; latency follows",
        )
    )
    daily_cost_increase_ratio: Threshold = Field(
        default_factory=lambda: _t(
            1.2, "1h",
            "a day costing more than 120% of the day before is worth a look before the invoice",
        )
    )


class CodegenConfig(_Strict):
    """Everything the generated dashboards, rules, tests and runbooks depend on."""

    slo: SLO = Field(default_factory=SLO)
    latency_bucket_rounding: Literal["down", "up"] = Field(
        "down",
        description=(
            "SLO error ratios count histogram buckets, so the threshold must sit on a bucket bound; "
            "'down' uses the largest bound <= the SLO (may count some good requests as errors, "
            "never misses a bad one), 'up' the smallest bound >= the SLO"
        ),
    )
    burn_windows: list[BurnWindow] = Field(default_factory=_sre_workbook_windows, min_length=1)
    burn_for: dict[str, str] = Field(
        default_factory=lambda: {"page": "2m", "ticket": "15m"},
        description="'for' of the burn-rate alerts per severity; short, since the windows already smooth",
    )
    selectors: Selectors = Field(default_factory=Selectors)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    gpu_price_per_hour: float = Field(
        4.10,
        gt=0,
        description=(
            "USD per GPU-hour; default is an on-demand A100 40GB: the AWS p4d.24xlarge on-demand "
            "list price in us-east-1 in 2023, 32.77 USD/h for 8 GPUs; set your own"
        ),
    )
    runbook_base_url: str = Field(
        "https://example.com/llm-controlplane/runbooks",
        description="where runbooks/<AlertName>.md is served; set to your repository's runbooks/ URL",
    )
    receivers: dict[str, str] = Field(
        default_factory=lambda: {
            "page": "http://alert-receiver.monitoring.svc:8080/page",
            "ticket": "http://alert-receiver.monitoring.svc:8080/ticket",
            "info": "http://alert-receiver.monitoring.svc:8080/info",
        },
        description="Alertmanager webhook URL per severity; point them at your pager, tickets and chat",
    )
    forecast_lead: str = Field(
        default_factory=lambda: f"{int(ScalingPolicy.model_fields['startup_s'].default)}s",
        description="how far ahead the published forecast looks: the policy's replica start-up time",
    )
    forecast_quantiles: list[str] = Field(
        default_factory=lambda: ["0.5", "0.9"],
        min_length=1,
        description="quantile label values of the control plane's forecast request rate drawn as the band",
    )
    anomaly_score_threshold: float = Field(
        0.8, gt=0, lt=1, description="anomaly scores (0-1) above this become dashboard annotations"
    )
    rule_interval: str = Field("1m", description="evaluation interval of the generated rule groups")
    dashboard_refresh: str = Field("30s")
    dashboard_time_from: str = Field("now-6h")
    datasource: str = Field("Prometheus", description="Grafana data source name the panels query")

    @field_validator("runbook_base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://", v):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("receivers")
    @classmethod
    def _receivers(cls, v: dict[str, str]) -> dict[str, str]:
        if set(v) != {"page", "ticket", "info"}:
            raise ValueError("needs exactly the keys page, ticket and info")
        for key, url in v.items():
            if not re.match(r"^https?://", url):
                raise ValueError(f"{key}: must start with http:// or https://")
        return v

    @field_validator("rule_interval", "forecast_lead")
    @classmethod
    def _interval(cls, v: str) -> str:
        duration_seconds(v)
        return v

    @field_validator("burn_for")
    @classmethod
    def _burn_for(cls, v: dict[str, str]) -> dict[str, str]:
        for severity, dur in v.items():
            if severity not in ("page", "ticket"):
                raise ValueError(f"severity {severity!r} is not page or ticket")
            duration_seconds(dur)
        return v

    @model_validator(mode="after")
    def _burn_can_fire(self) -> CodegenConfig:
        budget = 1.0 - self.slo.objective
        factors = [(f"burn_windows.{i}", w.factor) for i, w in enumerate(self.burn_windows)]
        factors.append(("thresholds.at_max_burn_factor", self.thresholds.at_max_burn_factor.value))
        for field, factor in factors:
            if factor * budget >= 1:
                raise ValueError(
                    f"{field}: factor {factor:g} x error budget {budget:g} is 100% errors or more; "
                    "the alert could never fire"
                )
        return self

    @model_validator(mode="after")
    def _ratios_in_range(self) -> CodegenConfig:
        t = self.thresholds
        for field, value, high in (
            ("thresholds.kv_cache_usage", t.kv_cache_usage.value, 1.0),
            ("thresholds.gpu_under_utilised_percent", t.gpu_under_utilised_percent.value, 100.0),
            ("thresholds.gpu_over_utilised_percent", t.gpu_over_utilised_percent.value, 100.0),
        ):
            if not 0 < value < high:
                raise ValueError(f"{field}: {value:g} is not between 0 and {high:g}")
        if t.daily_cost_increase_ratio.value <= 1:
            raise ValueError("thresholds.daily_cost_increase_ratio: must be above 1 (a ratio to the day before)")
        return self

    @model_validator(mode="after")
    def _every_severity_has_for(self) -> CodegenConfig:
        missing = {w.severity for w in self.burn_windows} - set(self.burn_for)
        if missing:
            raise ValueError(f"burn_for: lacks severities {sorted(missing)}")
        return self

    @property
    def error_budget(self) -> float:
        """Share of requests allowed to miss the latency target (1 - objective)."""
        return round(1.0 - self.slo.objective, 12)

    def runbook_url(self, alert: str) -> str:
        return f"{self.runbook_base_url}/{alert}.md"


def _field_of(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "config"


def parse_config(data: Any) -> CodegenConfig:
    """Validate a decoded document; raise :class:`CodegenConfigError` naming the first bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CodegenConfigError("config", "expected a mapping")
    try:
        return CodegenConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _field_of(tuple(err["loc"]))
        # Whole-model checks carry no location; their message starts with the field.
        named = re.match(r"^Value error, ([a-z_.0-9]+): ", err["msg"])
        if not err["loc"] and named:
            field = named.group(1)
        raise CodegenConfigError(field, err["msg"]) from exc


def load_config(path: Path | None) -> CodegenConfig:
    """The config in ``path`` (YAML), or the defaults when ``path`` is None."""
    if path is None:
        return CodegenConfig()
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CodegenConfigError("config", f"not valid YAML: {exc}") from exc
    return parse_config(data)
