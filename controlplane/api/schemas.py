"""Request and response bodies of the admin API (they make up its OpenAPI document).

Owns: the wire shapes. Policies travel as :class:`~controlplane.policy.model.ScalingPolicy`
itself, so the API, the CLI's YAML and the custom resource share one schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from controlplane.policy.model import MAX_REPLICAS, ScalingPolicy
from controlplane.store.overrides import MAX_OVERRIDE_S

__all__ = [
    "Problem",
    "StaleOut",
    "PolicyOut",
    "PolicyVersionOut",
    "FieldChange",
    "DiffOut",
    "RollbackIn",
    "DryRunOut",
    "DecisionOut",
    "OverrideIn",
    "OverrideOut",
    "AuditOut",
    "ForecastOut",
    "AnomalyOut",
    "TraceIn",
    "WhatIfIn",
    "WhatIfOut",
    "Health",
    "Readiness",
    "ERRORS",
    "MAX_ID",
]

MAX_ID = 2**53  # versions and ids stay exact in JSON numbers and fit SQLite's 64-bit integers
MAX_TRACE_S = 10 * 366 * 86_400.0  # an offset or span into a trace: ten years is past any recorded one
MAX_UNIX_S = 4_102_444_800.0  # 2100-01-01: a time to query Prometheus for
_TARGET = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$"


class _In(BaseModel):
    """Request bodies: unknown keys refused; numbers strict (no booleans, no ``"2"``) and finite."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Problem(BaseModel):
    detail: str


class StaleOut(Problem):
    current_version: int = Field(..., description="the version that is current; also the ETag header")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "the request body could not be parsed"},
    401: {"model": Problem, "description": "no bearer token, or one that is invalid or expired"},
    403: {"model": Problem, "description": "the token's role may not do this"},
    429: {"model": Problem, "description": "this token's rate limit; see Retry-After"},
}


class PolicyOut(BaseModel):
    name: str
    version: int
    managed_by: Literal["api", "crd"]
    source: str | None = Field(
        None, description="the custom resource (namespace/name) of a crd-managed policy"
    )
    created_at: float
    updated_at: float
    policy: ScalingPolicy


class PolicyVersionOut(BaseModel):
    name: str
    version: int
    policy: ScalingPolicy
    created_at: float
    created_by: str
    comment: str


class FieldChange(BaseModel):
    field: str = Field(..., description="dotted path, list items by index: schedule.0.start")
    before: Any = None
    after: Any = None
    change: Literal["added", "removed", "changed"]


class DiffOut(BaseModel):
    name: str
    from_version: int
    to_version: int
    changes: list[FieldChange]


class RollbackIn(_In):
    version: int = Field(
        ..., ge=1, le=MAX_ID, description="the version whose content becomes the newest version"
    )


class DecisionOut(BaseModel):
    id: int | None = None
    target: str
    policy: str
    at: float
    valid: bool
    current: int
    desired: int
    binding: str
    reasons: list[str]
    proposals: list[dict[str, Any]]
    mode: str
    bounds: list[int]
    inputs: dict[str, Any]
    forecast: dict[str, Any] | None = None
    anomalies: list[str]
    shadow: bool
    patched: bool = False
    actuation: dict[str, Any] | None = None


class DryRunOut(BaseModel):
    decision: DecisionOut
    would_patch: bool = Field(..., description="the loop, as leader, would patch the target to 'desired'")
    override: dict[str, Any] | None = None


class OverrideIn(_In):
    target: str = Field(..., pattern=_TARGET, description="namespace/deployment, or local/group")
    kind: Literal["pin", "pause"]
    replicas: int | None = Field(
        None, ge=0, le=MAX_REPLICAS, description="a pin's replica count; unset for a pause"
    )
    expires_at: float | None = Field(
        None, gt=0, description="Unix seconds, at most 30 days from now; give this or ttl_s"
    )
    ttl_s: float | None = Field(
        None, gt=0, le=MAX_OVERRIDE_S, description="seconds from now (at most 30 days); give this or expires_at"
    )
    reason: str = Field(..., min_length=1, max_length=500)


class OverrideOut(BaseModel):
    id: int
    target: str
    kind: Literal["pin", "pause"]
    replicas: int | None
    expires_at: float
    reason: str
    created_by: str
    created_at: float
    ended_at: float | None
    active: bool


class AuditOut(BaseModel):
    id: int
    at: float
    actor: str
    role: str
    action: str
    kind: str
    name: str
    before: Any = None
    after: Any = None
    detail: str


class ForecastOut(BaseModel):
    target: str
    policy: str
    at: float
    forecast: dict[str, Any]


class AnomalyOut(BaseModel):
    target: str
    policy: str
    at: float
    description: str


class RecordedIn(_In):
    """A window of what Prometheus recorded of the candidate policy's target, rebuilt as a trace."""

    start: float = Field(..., gt=0, le=MAX_UNIX_S, description="Unix time (s) the window starts")
    end: float = Field(..., gt=0, le=MAX_UNIX_S, description="Unix time (s) the window ends; not in the future")
    step_s: int = Field(15, ge=1, le=3600, description="one request rate per step (whole seconds)")
    rate_window_s: float = Field(60.0, ge=1, le=3600, description="the rate() window behind each step (s)")


class TraceIn(_In):
    path: str | None = Field(None, max_length=500, description="relative to the server's what-if directory")
    content: str | None = Field(None, description="the trace file's text (CSV or JSONL), uploaded inline")
    recorded: RecordedIn | None = Field(
        None, description="rebuild the trace from Prometheus: rates and mean sizes per step of the target"
    )
    format: Literal["azure", "mooncake", "burstgpt", "servegen"] | None = Field(
        None, description="sniffed when unset; servegen (a directory) only by path"
    )


class WhatIfIn(_In):
    policy: ScalingPolicy
    trace: TraceIn
    start_s: float = Field(0.0, ge=0, le=MAX_TRACE_S, description="replay from this offset into the trace (s)")
    duration_s: float | None = Field(
        None, gt=0, le=MAX_TRACE_S, description="replay this long (s); the whole trace when unset"
    )
    replay_at: float | None = Field(
        None, ge=0, allow_inf_nan=False,
        description="Unix time the replayed window starts at, for schedule windows; default the"
        " trace's own time (its date-times, or the recorded window), else 0",
    )
    profile: str | None = Field(
        None, max_length=100, description="replica performance profile; default cpu-tiny"
    )
    compare_current: bool = Field(True, description="also replay the stored policy of the same name")


class WhatIfOut(BaseModel):
    trace: dict[str, Any]
    profile: str
    candidate: dict[str, Any]
    current: dict[str, Any] | None = None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, dict[str, Any]]
