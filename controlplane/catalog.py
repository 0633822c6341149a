"""The one catalog of metric names: vLLM, DCGM, kube-state-metrics and our own.

Owns: every metric family the control plane reads or exports (name, type, unit,
help, label names), the renames across vLLM versions, and the per-deployment
label :class:`Selector`. The PromQL for each signal is built from these names in
:mod:`controlplane.promql`.
Must not import: any I/O library (pure data and string building).

vLLM names follow the ``/metrics`` exposition of vLLM 0.32 (see
``../shared/reference/vllm-0.32-cpu-metrics.txt``): every series there carries
the labels ``engine`` and ``model_name``. Renames are those of vLLM's metric
deprecation policy (deprecated in X.Y, hidden in X.Y+1, removed in X.Y+2):
``gpu_cache_usage_perc``/``gpu_prefix_cache_*`` were deprecated for the
``kv_cache_usage_perc``/``prefix_cache_*`` names in vllm-project/vllm#18354 and
removed in #29330; ``time_per_output_token_seconds`` was deprecated for
``inter_token_latency_seconds`` in #24110.

DCGM label names are those dcgm-exporter emits: ``gpu``, ``UUID``, ``device``,
``pci_bus_id``, ``modelName``, ``Hostname``, ``DCGM_FI_DRIVER_VERSION``, and
``pod``/``namespace``/``container`` when Kubernetes pod mapping is on
(``DCGM_EXPORTER_KUBERNETES=true``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from controlplane.policy.model import KubernetesTarget, LocalTarget

# Upper bounds (s) of vLLM's latency histograms (+Inf implied), from the /metrics
# exposition of vLLM 0.32 (../shared/reference/vllm-0.32-cpu-metrics.txt).
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)
ITL_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)
E2E_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
    960.0, 1920.0, 7680.0,
)
# the Signals field of each latency p95 -> the bounds of the histogram it is taken from
LATENCY_BUCKETS = {"ttft_p95": TTFT_BUCKETS, "itl_p95": ITL_BUCKETS, "e2e_p95": E2E_BUCKETS}


def build_1_2_5_buckets(max_value: int) -> list[int]:
    """1, 2, 5, 10, 20, 50, ... up to ``max_value``: the bounds of vLLM's token-count
    histograms (``vllm:request_prompt_tokens``, ``vllm:request_generation_tokens``), which
    vLLM builds from the served ``max_model_len`` (+Inf implied)."""
    out: list[int] = []
    exponent = 0
    while True:
        for m in (1, 2, 5):
            v = m * 10**exponent
            if v > max_value:
                return out
            out.append(v)
        exponent += 1

__all__ = [
    "TTFT_BUCKETS",
    "ITL_BUCKETS",
    "E2E_BUCKETS",
    "LATENCY_BUCKETS",
    "build_1_2_5_buckets",
    "MetricFamily",
    "VLLM",
    "VLLM_ALIASES",
    "DCGM",
    "KUBE",
    "CONTROLPLANE",
    "ALL_FAMILIES",
    "family",
    "names_for",
    "Selector",
    "LOCAL_JOB",
    "escape_label_value",
]

MetricType = Literal["counter", "gauge", "histogram", "info"]


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """One metric family as the exposition names it (``# TYPE <name> <type>``).

    Counters are named with their ``_total`` suffix as PromQL sees them;
    histograms by their base name (queries add ``_bucket``, ``_sum``, ``_count``).
    ``labels`` excludes ``le`` and the target labels Prometheus adds (``job``,
    ``instance``, and ``namespace``/``pod`` from Kubernetes service discovery).
    ``aliases`` are older names of the same quantity, newest first.
    """

    name: str
    type: MetricType
    unit: str
    help: str
    labels: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def series(self, suffix: str = "") -> str:
        """The series name for PromQL: ``family.series("_bucket")`` for a histogram."""
        if suffix and self.type != "histogram":
            raise ValueError(f"suffix: {self.name} is a {self.type}, not a histogram")
        return self.name + suffix


_E = ("engine", "model_name")


def _fam(
    name: str, type_: MetricType, unit: str, help_: str, *extra: str, aliases: tuple[str, ...] = ()
) -> MetricFamily:
    return MetricFamily(name, type_, unit, help_, _E + extra, aliases)


_VLLM_LIST = [
    _fam("vllm:num_requests_running", "gauge", "requests", "Number of requests in model execution batches."),
    _fam("vllm:num_requests_waiting", "gauge", "requests", "Number of requests waiting to be processed."),
    _fam(
        "vllm:num_requests_waiting_by_reason",
        "gauge",
        "requests",
        "Number of waiting requests by reason ('capacity' or 'deferred'); sums to vllm:num_requests_waiting.",
        "reason",
    ),
    _fam(
        "vllm:engine_sleep_state",
        "gauge",
        "state",
        "Engine sleep state; awake = 1 means the engine is awake.",
        "sleep_state",
    ),
    _fam(
        "vllm:kv_cache_usage_perc",
        "gauge",
        "ratio 0-1",
        "KV-cache usage. 1 means 100 percent usage.",
        aliases=("vllm:gpu_cache_usage_perc",),
    ),
    _fam(
        "vllm:prefix_cache_queries_total",
        "counter",
        "tokens",
        "Prefix cache queries, in terms of number of queried tokens.",
        aliases=("vllm:gpu_prefix_cache_queries_total",),
    ),
    _fam(
        "vllm:prefix_cache_hits_total",
        "counter",
        "tokens",
        "Prefix cache hits, in terms of number of cached tokens.",
        aliases=("vllm:gpu_prefix_cache_hits_total",),
    ),
    _fam(
        "vllm:external_prefix_cache_queries_total",
        "counter",
        "tokens",
        "External prefix cache queries from KV connector cross-instance cache sharing.",
    ),
    _fam(
        "vllm:external_prefix_cache_hits_total",
        "counter",
        "tokens",
        "External prefix cache hits from KV connector cross-instance cache sharing.",
    ),
    _fam("vllm:mm_cache_queries_total", "counter", "items", "Multi-modal cache queries."),
    _fam("vllm:mm_cache_hits_total", "counter", "items", "Multi-modal cache hits."),
    _fam(
        "vllm:num_preemptions_total",
        "counter",
        "preemptions",
        "Cumulative number of preemption from the engine.",
    ),
    _fam("vllm:prompt_tokens_total", "counter", "tokens", "Number of prefill tokens processed."),
    _fam(
        "vllm:prompt_tokens_by_source_total",
        "counter",
        "tokens",
        "Number of prompt tokens by source.",
        "source",
    ),
    _fam(
        "vllm:prompt_tokens_cached_total",
        "counter",
        "tokens",
        "Number of cached prompt tokens (local + external).",
    ),
    _fam(
        "vllm:prompt_tokens_cached_by_source_total",
        "counter",
        "tokens",
        "Prefix-cache hit tokens by the cache tier that supplied them.",
        "source",
    ),
    _fam("vllm:generation_tokens_total", "counter", "tokens", "Number of generation tokens processed."),
    _fam(
        "vllm:request_success_total",
        "counter",
        "requests",
        "Count of successfully processed requests.",
        "finished_reason",
    ),
    MetricFamily(
        "vllm:admission_rejections_total",
        "counter",
        "requests",
        "Number of admission attempts rejected by a queue limit, by reason.",
        ("model_name", "reason"),
    ),
    _fam(
        "vllm:estimated_flops_per_gpu_total",
        "counter",
        "FLOP",
        "Estimated floating point operations per GPU.",
    ),
    _fam(
        "vllm:estimated_read_bytes_per_gpu_total",
        "counter",
        "bytes",
        "Estimated bytes read from memory per GPU.",
    ),
    _fam(
        "vllm:estimated_write_bytes_per_gpu_total",
        "counter",
        "bytes",
        "Estimated bytes written to memory per GPU.",
    ),
    _fam("vllm:request_prompt_tokens", "histogram", "tokens", "Number of prefill tokens processed."),
    _fam("vllm:request_generation_tokens", "histogram", "tokens", "Number of generation tokens processed."),
    _fam(
        "vllm:iteration_tokens_total", "histogram", "tokens", "Histogram of number of tokens per engine_step."
    ),
    _fam(
        "vllm:request_max_num_generation_tokens",
        "histogram",
        "tokens",
        "Histogram of maximum number of requested generation tokens.",
    ),
    _fam("vllm:request_params_n", "histogram", "count", "Histogram of the n request parameter."),
    _fam(
        "vllm:request_params_max_tokens",
        "histogram",
        "tokens",
        "Histogram of the max_tokens request parameter.",
    ),
    _fam(
        "vllm:time_to_first_token_seconds", "histogram", "s", "Histogram of time to first token in seconds."
    ),
    _fam(
        "vllm:inter_token_latency_seconds",
        "histogram",
        "s",
        "Histogram of inter-token latency in seconds.",
        aliases=("vllm:time_per_output_token_seconds",),
    ),
    _fam(
        "vllm:request_time_per_output_token_seconds",
        "histogram",
        "s",
        "Histogram of time_per_output_token_seconds per request.",
    ),
    _fam(
        "vllm:e2e_request_latency_seconds", "histogram", "s", "Histogram of e2e request latency in seconds."
    ),
    _fam(
        "vllm:request_queue_time_seconds",
        "histogram",
        "s",
        "Histogram of time spent in WAITING phase for request.",
    ),
    _fam(
        "vllm:request_inference_time_seconds",
        "histogram",
        "s",
        "Histogram of time spent in RUNNING phase for request.",
    ),
    _fam(
        "vllm:request_prefill_time_seconds",
        "histogram",
        "s",
        "Histogram of time spent in PREFILL phase for request.",
    ),
    _fam(
        "vllm:request_decode_time_seconds",
        "histogram",
        "s",
        "Histogram of time spent in DECODE phase for request.",
    ),
    _fam(
        "vllm:request_num_preemptions",
        "histogram",
        "preemptions",
        "Histogram of the number of times a request was preempted.",
    ),
    _fam(
        "vllm:request_prefill_kv_computed_tokens",
        "histogram",
        "tokens",
        "Histogram of new KV tokens computed during prefill (excluding cached tokens).",
    ),
    MetricFamily(
        "vllm:cache_config_info",
        "gauge",
        "info",
        "Information of the LLMEngine CacheConfig (value 1; the configuration is in labels).",
        ("engine", "block_size", "num_gpu_blocks", "kv_cache_memory_bytes", "enable_prefix_caching"),
    ),
]
VLLM: dict[str, MetricFamily] = {f.name: f for f in _VLLM_LIST}

# Old name -> current name, for reading older vLLM versions and migrating queries.
VLLM_ALIASES: dict[str, str] = {alias: f.name for f in _VLLM_LIST for alias in f.aliases}

_DCGM_LABELS = (
    "gpu",
    "UUID",
    "device",
    "pci_bus_id",
    "modelName",
    "Hostname",
    "DCGM_FI_DRIVER_VERSION",
    "pod",
    "namespace",
    "container",
)
_DCGM_LIST = [
    MetricFamily("DCGM_FI_DEV_GPU_UTIL", "gauge", "percent 0-100", "GPU utilization (in %).", _DCGM_LABELS),
    MetricFamily("DCGM_FI_DEV_FB_USED", "gauge", "MiB", "Framebuffer memory used (in MiB).", _DCGM_LABELS),
    MetricFamily("DCGM_FI_DEV_FB_FREE", "gauge", "MiB", "Framebuffer memory free (in MiB).", _DCGM_LABELS),
    MetricFamily("DCGM_FI_DEV_POWER_USAGE", "gauge", "W", "Power draw (in W).", _DCGM_LABELS),
    MetricFamily("DCGM_FI_DEV_GPU_TEMP", "gauge", "C", "GPU temperature (in C).", _DCGM_LABELS),
    MetricFamily(
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "gauge",
        "ratio 0-1",
        "Ratio of time the graphics engine is active (profiling metric).",
        _DCGM_LABELS,
    ),
]
DCGM: dict[str, MetricFamily] = {f.name: f for f in _DCGM_LIST}

_KUBE_LIST = [
    MetricFamily(
        "up", "gauge", "0/1", "1 when Prometheus' last scrape of the target succeeded.", ("job", "instance")
    ),
    MetricFamily(
        "kube_deployment_status_replicas_ready",
        "gauge",
        "replicas",
        "The number of ready replicas per deployment (kube-state-metrics).",
        ("namespace", "deployment"),
    ),
    MetricFamily(
        "kube_deployment_spec_replicas",
        "gauge",
        "replicas",
        "Number of desired pods for a deployment (kube-state-metrics).",
        ("namespace", "deployment"),
    ),
    MetricFamily(
        "kube_deployment_status_replicas",
        "gauge",
        "replicas",
        "The number of replicas per deployment (kube-state-metrics).",
        ("namespace", "deployment"),
    ),
]
KUBE: dict[str, MetricFamily] = {f.name: f for f in _KUBE_LIST}

# The control plane's own /metrics. ``policy`` is the policy name, ``target`` its
# target key (``namespace/deployment`` or ``local/group``).
_PT = ("policy", "target")
_CP_LIST = [
    MetricFamily(
        "controlplane_desired_replicas", "gauge", "replicas", "Replicas the last decision asked for.", _PT
    ),
    MetricFamily("controlplane_current_replicas", "gauge", "replicas", "Replicas in the target's spec.", _PT),
    MetricFamily("controlplane_ready_replicas", "gauge", "replicas", "Replicas ready to serve.", _PT),
    MetricFamily(
        "controlplane_decision_valid",
        "gauge",
        "0/1",
        "1 when the last decision had every input it needs; 0 freezes scale-down.",
        _PT,
    ),
    MetricFamily(
        "controlplane_signal_missing",
        "gauge",
        "0/1",
        "1 when a signal could not be read on the last tick (the reason is in the decision log).",
        _PT + ("signal",),
    ),
    MetricFamily(
        "controlplane_tick_duration_seconds",
        "histogram",
        "s",
        "Duration of one pipeline step of a tick (collect, detect, forecast, decide, actuate, notify, record).",
        ("step",),
    ),
    MetricFamily(
        "controlplane_step_errors_total",
        "counter",
        "errors",
        "Pipeline steps that raised, by step.",
        ("step",),
    ),
    MetricFamily(
        "controlplane_leader", "gauge", "0/1", "1 on the replica holding the leader Lease.", ("identity",)
    ),
    MetricFamily(
        "controlplane_forecast_error_ratio",
        "gauge",
        "ratio",
        "Recent absolute percentage error of the demand forecast (MAPE, 0.2 = 20%).",
        _PT + ("forecaster",),
    ),
    MetricFamily(
        "controlplane_scale_events_total",
        "counter",
        "events",
        "Replica changes patched, by direction (up or down).",
        _PT + ("direction",),
    ),
    MetricFamily(
        "controlplane_anomaly_score",
        "gauge",
        "score 0-1",
        "Latest anomaly score per signal and detector.",
        _PT + ("signal", "detector"),
    ),
    MetricFamily("controlplane_pending_replicas", "gauge", "replicas", "Replicas still starting.", _PT),
    MetricFamily(
        "controlplane_min_replicas", "gauge", "replicas", "The policy's replica floor (min_replicas).", _PT
    ),
    MetricFamily(
        "controlplane_max_replicas", "gauge", "replicas", "The policy's replica ceiling (max_replicas).", _PT
    ),
    MetricFamily(
        "controlplane_owner_conflict",
        "gauge",
        "0/1",
        "1 while something else (an HPA, a person) also scales the target; the controller hands off.",
        _PT,
    ),
    MetricFamily(
        "controlplane_decisions_total", "counter", "decisions", "Decisions taken.", _PT + ("valid",)
    ),
    MetricFamily("controlplane_ticks_total", "counter", "ticks", "Control ticks completed."),
    MetricFamily(
        "controlplane_last_tick_timestamp_seconds", "gauge", "s", "Unix time the last control tick ended."
    ),
    MetricFamily(
        "controlplane_forecast_request_rate",
        "gauge",
        "requests/s",
        "Forecast request rate at the replica lead time, by quantile (0.5, 0.9).",
        _PT + ("quantile",),
    ),
    MetricFamily(
        "controlplane_binding_constraint",
        "gauge",
        "0/1",
        "1 for the constraint that set the last decision (signal, slo, forecast, schedule, bounds, step).",
        _PT + ("constraint",),
    ),
]
CONTROLPLANE: dict[str, MetricFamily] = {f.name: f for f in _CP_LIST}

ALL_FAMILIES: dict[str, MetricFamily] = {**VLLM, **DCGM, **KUBE, **CONTROLPLANE}


def family(name: str) -> MetricFamily:
    """The family of ``name``, also when ``name`` is an older vLLM alias."""
    name = VLLM_ALIASES.get(name, name)
    try:
        return ALL_FAMILIES[name]
    except KeyError:
        raise KeyError(f"metric {name!r} is not in the catalog") from None


def names_for(name: str) -> tuple[str, ...]:
    """The current name of a family followed by its older aliases, newest first."""
    f = family(name)
    return (f.name, *f.aliases)


_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_OPS = ("=", "!=", "=~", "!~")


def escape_label_value(value: str) -> str:
    """Quote-safe label value for a PromQL matcher (backslash, double quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# Local mode: every replica group is scraped under one file_sd job; the local
# actuator labels each target with ``group`` and ``replica`` (its process name).
LOCAL_JOB = "vllm"


@dataclass(frozen=True, slots=True)
class Selector:
    """Label matchers that pick one serving deployment's series.

    ``matchers`` select the vLLM series; ``gpu_matchers`` the DCGM series (which
    carry pod labels but no ``model_name``); ``up_matchers`` the scrape targets.
    ``replica_label`` tells replicas apart (``pod`` on Kubernetes, ``replica``
    for local processes). Build one with :meth:`kubernetes` or :meth:`local`.
    """

    matchers: tuple[tuple[str, str, str], ...]
    gpu_matchers: tuple[tuple[str, str, str], ...] = ()
    up_matchers: tuple[tuple[str, str, str], ...] = ()
    replica_label: str = "instance"
    namespace: str | None = None
    deployment: str | None = None

    def __post_init__(self) -> None:
        for group in (self.matchers, self.gpu_matchers, self.up_matchers):
            for label, op, _ in group:
                if not _LABEL_NAME.match(label):
                    raise ValueError(f"selector.label: {label!r} is not a Prometheus label name")
                if op not in _OPS:
                    raise ValueError(f"selector.op: {op!r} is not one of {', '.join(_OPS)}")
        if not _LABEL_NAME.match(self.replica_label):
            raise ValueError(f"selector.replica_label: {self.replica_label!r} is not a Prometheus label name")

    @staticmethod
    def kubernetes(
        namespace: str,
        deployment: str,
        model_name: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> Selector:
        """Series of one Deployment: its namespace, and its ``model_name`` when set,
        else its pods by name (``<deployment>-<replicaset hash>-<pod hash>``)."""
        ns = (("namespace", "=", namespace),)
        pods = (("pod", "=~", _pod_regex(deployment)),)
        more = tuple((k, "=", v) for k, v in sorted((extra or {}).items()))
        vllm = ns + ((("model_name", "=", model_name),) if model_name else pods) + more
        return Selector(
            matchers=vllm,
            gpu_matchers=ns + pods,
            up_matchers=ns + pods,
            replica_label="pod",
            namespace=namespace,
            deployment=deployment,
        )

    @staticmethod
    def local(group: str, model_name: str | None = None, job: str = LOCAL_JOB) -> Selector:
        """Series of a local replica group: the file_sd ``job`` and the target label ``group``."""
        g = (("job", "=", job), ("group", "=", group))
        vllm = g + ((("model_name", "=", model_name),) if model_name else ())
        return Selector(matchers=vllm, gpu_matchers=g, up_matchers=g, replica_label="replica")

    @staticmethod
    def for_target(target: KubernetesTarget | LocalTarget) -> Selector:
        """The selector of a policy's target."""
        if isinstance(target, KubernetesTarget):
            return Selector.kubernetes(target.namespace, target.deployment, target.model_name)
        if isinstance(target, LocalTarget):
            return Selector.local(target.group, target.model_name)
        raise ValueError(f"target: expected a KubernetesTarget or LocalTarget, got {type(target).__name__}")

    def render(self, *more: tuple[str, str, str], which: Literal["vllm", "gpu", "up"] = "vllm") -> str:
        """``{a="x",b=~"y"}`` with the deployment's matchers followed by ``more``."""
        base = {"vllm": self.matchers, "gpu": self.gpu_matchers, "up": self.up_matchers}[which]
        parts = [f'{label}{op}"{escape_label_value(value)}"' for label, op, value in (*base, *more)]
        return "{" + ",".join(parts) + "}"


def _pod_regex(deployment: str) -> str:
    # A Deployment's pods are named <deployment>-<replicaset hash>-<pod hash>.
    return deployment.replace(".", "\\.") + "-[a-z0-9]+-[a-z0-9]+"
