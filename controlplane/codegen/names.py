"""Every metric name the generated rules and dashboards query, taken from the catalog.

Owns: resolving each name through :mod:`controlplane.catalog` once, at import,
so a name the catalog lacks fails here rather than in a dashboard at 3 a.m.; the
``new or old`` alias expressions; the recording-rule names codegen defines.
Must not import: grafanalib, subprocess or any HTTP library.
"""

from __future__ import annotations

from controlplane import catalog
from controlplane.promql import ERROR_REASONS  # failed finished_reasons, as the signals count them

__all__ = [
    "TTFT",
    "ITL",
    "E2E",
    "QUEUE_TIME",
    "RUNNING",
    "WAITING",
    "KV_CACHE",
    "PREFIX_CACHE_HITS",
    "PREFIX_CACHE_QUERIES",
    "PREEMPTIONS",
    "PROMPT_TOKENS",
    "GENERATION_TOKENS",
    "REQUEST_SUCCESS",
    "GPU_UTIL",
    "GPU_FB_USED",
    "GPU_FB_FREE",
    "UP",
    "KSM_SPEC_REPLICAS",
    "KSM_READY_REPLICAS",
    "CP_DESIRED",
    "CP_CURRENT",
    "CP_READY",
    "CP_MAX",
    "CP_MIN",
    "CP_PENDING",
    "CP_TICKS",
    "CP_LAST_TICK",
    "CP_DECISIONS",
    "CP_OWNER_CONFLICT",
    "CP_VALID",
    "CP_SIGNAL_MISSING",
    "CP_BINDING",
    "CP_TICK_DURATION",
    "CP_STEP_ERRORS",
    "CP_LEADER",
    "CP_FORECAST_ERROR",
    "CP_FORECAST_RATE",
    "CP_ANOMALY",
    "CP_SCALE_EVENTS",
    "aliases",
    "ERROR_REASONS",
]


def _name(name: str) -> str:
    return catalog.family(name).name


def aliases(name: str) -> tuple[str, ...]:
    """The current name, then older vLLM names of the same family."""
    return catalog.names_for(name)


TTFT = _name("vllm:time_to_first_token_seconds")
ITL = _name("vllm:inter_token_latency_seconds")
E2E = _name("vllm:e2e_request_latency_seconds")
QUEUE_TIME = _name("vllm:request_queue_time_seconds")
RUNNING = _name("vllm:num_requests_running")
WAITING = _name("vllm:num_requests_waiting")
KV_CACHE = _name("vllm:kv_cache_usage_perc")
PREEMPTIONS = _name("vllm:num_preemptions_total")
PREFIX_CACHE_HITS = _name("vllm:prefix_cache_hits_total")
PREFIX_CACHE_QUERIES = _name("vllm:prefix_cache_queries_total")
PROMPT_TOKENS = _name("vllm:prompt_tokens_total")
GENERATION_TOKENS = _name("vllm:generation_tokens_total")
REQUEST_SUCCESS = _name("vllm:request_success_total")

GPU_UTIL = _name("DCGM_FI_DEV_GPU_UTIL")
GPU_FB_USED = _name("DCGM_FI_DEV_FB_USED")
GPU_FB_FREE = _name("DCGM_FI_DEV_FB_FREE")

UP = _name("up")
KSM_SPEC_REPLICAS = _name("kube_deployment_spec_replicas")
KSM_READY_REPLICAS = _name("kube_deployment_status_replicas_ready")

CP_DESIRED = _name("controlplane_desired_replicas")
CP_CURRENT = _name("controlplane_current_replicas")
CP_READY = _name("controlplane_ready_replicas")
CP_MAX = _name("controlplane_max_replicas")
CP_MIN = _name("controlplane_min_replicas")
CP_PENDING = _name("controlplane_pending_replicas")
CP_TICKS = _name("controlplane_ticks_total")
CP_LAST_TICK = _name("controlplane_last_tick_timestamp_seconds")
CP_DECISIONS = _name("controlplane_decisions_total")
CP_OWNER_CONFLICT = _name("controlplane_owner_conflict")
CP_VALID = _name("controlplane_decision_valid")
CP_SIGNAL_MISSING = _name("controlplane_signal_missing")
CP_BINDING = _name("controlplane_binding_constraint")
CP_TICK_DURATION = _name("controlplane_tick_duration_seconds")
CP_STEP_ERRORS = _name("controlplane_step_errors_total")
CP_LEADER = _name("controlplane_leader")
CP_FORECAST_ERROR = _name("controlplane_forecast_error_ratio")
CP_FORECAST_RATE = _name("controlplane_forecast_request_rate")
CP_ANOMALY = _name("controlplane_anomaly_score")
CP_SCALE_EVENTS = _name("controlplane_scale_events_total")
