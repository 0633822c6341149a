"""The ScalingPolicy: what to scale, within which bounds, towards which SLOs.

Owns: the validated policy model and its documented defaults.
Must not import: any I/O library (this is the pure core).

Every field says its unit and why its default was chosen. Validation errors
name the field (pydantic's ``loc``), so the API can answer 422 with it.

Numbers are strict (pydantic strict mode): finite, a boolean is not a number,
an integer field takes no ``2.0`` and no ``"2"``; and bounded above, so every
stored value is one JSON carries back unchanged. The bounds are the module's
``MAX_*`` constants, shared with overrides and what-if and listed in docs/api.md.
"""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "KubernetesTarget",
    "LocalTarget",
    "SLO",
    "SignalTargets",
    "Windows",
    "StepLimits",
    "ScaleToZero",
    "ScheduleWindow",
    "Predictive",
    "ScalingPolicy",
    "load_policy_yaml",
    "PolicyError",
    "MAX_REPLICAS",
    "MAX_DURATION_S",
    "MAX_REQUESTS",
    "MAX_TOKENS_PER_S",
    "MAX_PERCENT",
    "MAX_SCHEDULE_WINDOWS",
]

MAX_REPLICAS = 10_000
"""Replicas of one target (and a step's pods): above any GPU budget one deployment is given."""
MAX_DURATION_S = 86_400.0
"""Any latency objective, window, start-up or signal age (s): one day is past every real one."""
MAX_REQUESTS = 1_000_000.0
"""Requests per replica (queue, batch, activation): vLLM batches hundreds, not millions."""
MAX_TOKENS_PER_S = 10_000_000.0
"""Generated tokens/s per replica: a thousand times a large GPU's decode rate."""
MAX_PERCENT = 10_000.0
"""A scale-up step as % of current replicas (x100)."""
MAX_SCHEDULE_WINDOWS = 64
"""Schedule windows of one policy: a week of hourly rules fits many times over."""


class PolicyError(ValueError):
    """A policy document that does not validate; ``field`` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class _FieldError(ValueError):
    """Raised by cross-field validators so the error names the field, not the model."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class KubernetesTarget(_Strict):
    kind: Literal["kubernetes"] = "kubernetes"
    namespace: str = Field("default", min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    deployment: str = Field(..., min_length=1, max_length=253, pattern=r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")
    model_name: str | None = Field(
        None,
        min_length=1,
        max_length=253,
        description="vLLM --served-model-name; selects the series when set",
    )

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.deployment}"


class LocalTarget(_Strict):
    kind: Literal["local"] = "local"
    group: str = Field(..., min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    model_name: str | None = Field(None, min_length=1, max_length=253)
    profile: str = Field(
        "cpu-tiny", min_length=1, max_length=100, description="emulator performance profile of local replicas"
    )

    @property
    def key(self) -> str:
        return f"local/{self.group}"


class SLO(_Strict):
    """Latency objectives at p95, in seconds. The SLO check can only raise replicas."""

    ttft_p95_s: float = Field(
        2.0, gt=0, le=MAX_DURATION_S, description="time to first token, p95 (s); 2 s is a common chat SLO"
    )
    itl_p95_s: float = Field(
        0.1,
        gt=0,
        le=MAX_DURATION_S,
        description="inter-token latency, p95 (s); 100 ms reads as fluent streaming",
    )
    e2e_p95_s: float = Field(60.0, gt=0, le=MAX_DURATION_S, description="end-to-end request latency, p95 (s)")
    objective: float = Field(0.99, gt=0, lt=1, description="share of requests that must meet the TTFT target")


class SignalTargets(_Strict):
    """Per-replica targets; each enabled signal proposes ceil(total / target) replicas.

    A target of None disables that signal.
    """

    waiting_requests: float | None = Field(
        2.0, gt=0, le=MAX_REQUESTS, description="queued requests per replica"
    )
    kv_cache_usage: float | None = Field(
        0.75, gt=0, le=1, description="mean KV-cache usage ratio per replica"
    )
    generation_tokens_per_s: float | None = Field(
        None, gt=0, le=MAX_TOKENS_PER_S, description="tokens/s per replica; off until profiled"
    )
    running_requests: float | None = Field(
        48.0, gt=0, le=MAX_REQUESTS, description="requests in the batch per replica"
    )


class Windows(_Strict):
    stable_s: float = Field(
        60.0, gt=0, le=MAX_DURATION_S, description="Knative stable window (s): averages for scale decisions"
    )
    panic_s: float = Field(
        6.0, gt=0, le=MAX_DURATION_S, description="Knative panic window (s): 10% of stable, reacts to bursts"
    )
    panic_threshold: float = Field(
        2.0, gt=1, le=1000, description="enter panic when panic-window demand >= this x ready"
    )
    scale_up_stabilization_s: float = Field(
        0.0, ge=0, le=MAX_DURATION_S, description="HPA default: scale up at once"
    )
    scale_down_stabilization_s: float = Field(
        300.0, ge=0, le=MAX_DURATION_S, description="HPA default: highest recommendation over 5 min"
    )

    @model_validator(mode="after")
    def _panic_shorter(self) -> Windows:
        if self.panic_s >= self.stable_s:
            raise _FieldError("panic_s", "panic_s must be shorter than stable_s")
        return self


class StepLimits(_Strict):
    max_up_pods: int = Field(4, ge=1, le=MAX_REPLICAS, description="most replicas added in one decision")
    max_up_percent: float = Field(
        100.0, gt=0, le=MAX_PERCENT, description="most replicas added, as % of current (HPA: 100%)"
    )
    max_down_pods: int = Field(1, ge=1, le=MAX_REPLICAS, description="most replicas removed in one decision")
    max_down_percent: float = Field(50.0, gt=0, le=100, description="most replicas removed, as % of current")


class ScaleToZero(_Strict):
    enabled: bool = False
    activation_requests: float = Field(
        1.0, gt=0, le=MAX_REQUESTS, description="waiting+running requests that wake 0 -> 1"
    )
    idle_period_s: float = Field(
        900.0, gt=0, le=MAX_DURATION_S, description="no requests for this long before 1 -> 0"
    )


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleWindow(_Strict):
    """A recurring time-of-day window that sets replica bounds, in its own time zone."""

    name: str = Field(..., min_length=1, max_length=63)
    days: list[Day] = Field(default_factory=lambda: list(_DAYS))
    start: str = Field(..., pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM local time")
    end: str = Field(
        ..., pattern=r"^([01]\d|2[0-4]):[0-5]\d$", description="HH:MM local time (24:00 allowed)"
    )
    timezone: str = Field("UTC", min_length=1, max_length=64, description="IANA zone, e.g. Europe/Berlin")
    min_replicas: int | None = Field(None, ge=0, le=MAX_REPLICAS)
    max_replicas: int | None = Field(None, ge=1, le=MAX_REPLICAS)

    @model_validator(mode="after")
    def _check(self) -> ScheduleWindow:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise _FieldError("timezone", f"timezone {self.timezone!r} is not an IANA time zone") from exc
        if self.min_replicas is None and self.max_replicas is None:
            raise _FieldError("min_replicas", "a schedule window sets min_replicas, max_replicas or both")
        if (
            self.min_replicas is not None
            and self.max_replicas is not None
            and self.min_replicas > self.max_replicas
        ):
            raise _FieldError("min_replicas", "min_replicas must not exceed max_replicas")
        return self


class Predictive(_Strict):
    enabled: bool = False
    quantile: float = Field(0.9, gt=0, lt=1, description="forecast quantile the floor covers")
    max_error_mape: float = Field(
        0.35, gt=0, le=100, description="drop the floor when recent forecast error exceeds this"
    )
    target_utilization: float = Field(
        0.8, gt=0, le=1, description="share of SLO capacity a replica is planned at"
    )


class Sizing(_Strict):
    """Model-based sizing (:mod:`controlplane.advisors.sizing`): the replicas the observed
    request rate needs at the SLO, from the performance profile's capacity corrected by
    what the fleet sustains, held at the rate level that ``slo.objective`` of the recent
    requests arrived under (the burst headroom). Raise-only beside the threshold signals."""

    enabled: bool = False
    history_s: float = Field(
        3600.0, ge=60, le=MAX_DURATION_S,
        description="the recent span whose arrivals set the burst headroom (s)",
    )


class ScalingPolicy(_Strict):
    """A scaling policy for one serving deployment."""

    name: str = Field(..., min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    target: KubernetesTarget | LocalTarget = Field(..., discriminator="kind")
    min_replicas: int = Field(
        1, ge=0, le=MAX_REPLICAS, description="never fewer replicas (0 only with scale_to_zero)"
    )
    max_replicas: int = Field(8, ge=1, le=MAX_REPLICAS, description="never more replicas: the GPU budget")
    slo: SLO = Field(default_factory=SLO)
    signals: SignalTargets = Field(default_factory=SignalTargets)
    windows: Windows = Field(default_factory=Windows)
    steps: StepLimits = Field(default_factory=StepLimits)
    scale_to_zero: ScaleToZero = Field(default_factory=ScaleToZero)
    schedule: list[ScheduleWindow] = Field(default_factory=list, max_length=MAX_SCHEDULE_WINDOWS)
    predictive: Predictive = Field(default_factory=Predictive)
    sizing: Sizing = Field(default_factory=Sizing)
    startup_s: float = Field(
        180.0,
        gt=0,
        le=MAX_DURATION_S,
        description="expected replica start-up (s) until measured; vLLM loads weights for minutes",
    )
    max_signal_age_s: float = Field(
        60.0, gt=0, le=MAX_DURATION_S, description="older samples are stale and invalidate a decision"
    )
    mode: Literal["active", "shadow"] = Field("active", description="shadow: decide and record, never patch")

    @model_validator(mode="after")
    def _bounds(self) -> ScalingPolicy:
        if self.min_replicas > self.max_replicas:
            raise _FieldError("min_replicas", "min_replicas must not exceed max_replicas")
        if self.min_replicas == 0 and not self.scale_to_zero.enabled:
            raise _FieldError("min_replicas", "min_replicas 0 needs scale_to_zero.enabled")
        return self

    @property
    def target_key(self) -> str:
        return self.target.key

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in ("kubernetes", "local"))]
    return ".".join(parts) or "policy"


def parse_policy(data: Any) -> ScalingPolicy:
    """Validate a decoded document; raise :class:`PolicyError` naming the first bad field."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise PolicyError("policy", "expected a mapping")
    try:
        return ScalingPolicy.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, _FieldError):
            loc += (cause.field,)
        raise PolicyError(_field_of(loc), err["msg"]) from exc


def load_policy_yaml(text: str) -> ScalingPolicy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError("policy", f"not valid YAML: {exc}") from exc
    return parse_policy(data)
