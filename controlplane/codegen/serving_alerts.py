"""Alerts on the vLLM replicas themselves: queueing, KV-cache pressure, missing metrics.

Owns: the serving rule file (its alerts, runbooks and promtool cases).
Must not import: grafanalib, subprocess or any HTTP library.
"""

from __future__ import annotations

from controlplane.codegen import names
from controlplane.codegen.config import CodegenConfig
from controlplane.codegen.model import (
    SERVING_UID,
    Alert,
    Case,
    RuleFile,
    RuleGroup,
    Runbook,
    Series,
    case_times,
    humanize,
    num,
    steady,
)

__all__ = ["serving_rule_file", "first_of"]

_AGG = "namespace, model_name"
_SERIES = 'namespace="serving", model_name="tiny-llama"'
_LABELS = {"namespace": "serving", "model_name": "tiny-llama"}


def first_of(exprs: list[str]) -> str:
    """``(a) or (b)``: the current vLLM name wins, older names fill in where it is absent."""
    return exprs[0] if len(exprs) == 1 else " or ".join(f"({e})" for e in exprs)


def _queue(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.queue_waiting_per_replica
    silent, firing = case_times(t.for_)
    v = t.value

    def pods(a: float, b: float) -> tuple[Series, ...]:
        return tuple(
            Series(f'{names.WAITING}{{{_SERIES}, pod="chat-{i}"}}', steady(x, firing)) for i, x in enumerate((a, b))
        )

    # Above the threshold by 3 per replica, evenly or on one hot replica; 3/8 of it stays quiet.
    busy, hot, calm = pods(v + 2, v + 4), pods(0, 2 * v + 6), pods(v / 4, v / 2)
    name = "VllmQueueSaturated"
    return Alert(
        name=name,
        expr=f"avg by ({_AGG}) ({names.WAITING}) > {num(t.value)}",
        for_=t.for_,
        severity="ticket",
        summary="Requests queue on {{ $labels.model_name }} in {{ $labels.namespace }}",
        description=(
            "{{ $value | humanize }} requests wait per replica of {{ $labels.model_name }} "
            f"(threshold {num(t.value)} for {t.for_}: {t.reason})."
        ),
        runbook=Runbook(
            meaning="Replicas receive more requests than their batches admit; each queued request "
            "adds its wait to time to first token.",
            checks=(
                "Autoscaler dashboard: desired vs current vs ready replicas. Is a scale-up pending, "
                "blocked at max_replicas, or not decided at all?",
                "Serving overview: running requests per replica. A full batch (max_num_seqs) with a "
                "queue means too few replicas; a small batch with a queue means KV-cache pressure.",
            ),
            actions=(
                "Scale-up pending: see ControlplaneReplicasPending.",
                "At max_replicas: raise the bound in the scaling policy if the GPU budget allows.",
                "Decision invalid: scale the Deployment by hand, then see ControlplaneDecisionInvalid.",
            ),
        ),
        cases=(
            Case(f"{num(v + 2)} and {num(v + 4)} waiting", busy, silent, firing, _LABELS, humanize(v + 3)),
            Case(f"one hot replica: 0 and {num(2 * v + 6)} waiting", hot, silent, firing, _LABELS, humanize(v + 3)),
            Case(f"{num(v / 4)} and {num(v / 2)} waiting, below the threshold", calm, silent_at=firing),
        ),
        runbook_url=cfg.runbook_url(name),
        dashboard=SERVING_UID,
    )


def _kv_cache(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.kv_cache_usage
    silent, firing = case_times(t.for_)
    kv = [f"max by ({_AGG}) ({n})" for n in names.aliases(names.KV_CACHE)]
    # Halfway from the threshold to a full cache, to three digits (no rounding tie in %.4g).
    full = float(f"{(t.value + 1) / 2:.3g}")
    cases = [
        Case(f"{n} at {num(full * 100)}%", (Series(f'{n}{{{_SERIES}, pod="chat-0"}}', steady(full, firing)),),
             silent, firing, _LABELS, f"{full * 100:.4g}%")
        for n in names.aliases(names.KV_CACHE)
    ]
    below = t.value * 0.9
    cases.append(
        Case(f"at {num(below * 100)}%, below the threshold",
             (Series(f'{names.KV_CACHE}{{{_SERIES}, pod="chat-0"}}', steady(below, firing)),), silent_at=firing)
    )
    name = "VllmKvCachePressure"
    return Alert(
        name=name,
        expr=f"({first_of(kv)}) > {num(t.value)}",
        for_=t.for_,
        severity="ticket",
        summary="KV cache of {{ $labels.model_name }} in {{ $labels.namespace }} is nearly full",
        description=(
            "The fullest replica of {{ $labels.model_name }} uses {{ $value | humanizePercentage }} "
            f"of its KV cache (threshold {num(t.value * 100)}% for {t.for_}: {t.reason})."
        ),
        runbook=Runbook(
            meaning="Running sequences fill the KV cache; vLLM preempts (recomputes or swaps) requests "
            "to make room, which shows as latency spikes and wasted GPU time.",
            checks=(
                "Serving overview: preemptions per second and KV-cache usage per replica.",
                "Prompt and generation token rates: did request lengths grow?",
            ),
            actions=(
                "Add replicas: lower the scaling policy's kv_cache_usage target so the autoscaler "
                "acts earlier.",
                "Lower --max-num-seqs or --max-model-len, or raise --gpu-memory-utilization, on the "
                "vLLM Deployment.",
            ),
        ),
        cases=tuple(cases),
        runbook_url=cfg.runbook_url(name),
        dashboard=SERVING_UID,
    )


def _absent(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.metrics_absent
    job = cfg.selectors.vllm_job_regex
    silent, firing = case_times(t.for_)
    name = "VllmMetricsAbsent"
    return Alert(
        name=name,
        expr=f'absent({names.RUNNING}{{job=~"{job}"}})',
        for_=t.for_,
        severity="page",
        summary="No vLLM metrics reach Prometheus",
        description=(
            f'No {names.RUNNING} series from any job matching "{job}" for {t.for_}: every scaling '
            "decision is invalid and the autoscaler holds the replica count."
        ),
        runbook=Runbook(
            meaning="Prometheus has no current vLLM series: the replicas are gone, not scraped, or "
            "their samples are stale (older than the 5 minute lookback).",
            checks=(
                "`up{job=~\"" + job + "\"}` in Prometheus: targets down, or no targets at all?",
                "Prometheus' targets page: scrape errors, service discovery, relabelling.",
                "`kubectl get pods -n <namespace>`: are the vLLM pods running?",
            ),
            actions=(
                "Pods missing: check the Deployment's events; restore replicas by hand if needed.",
                "Pods running but not scraped: fix the scrape config or ServiceMonitor.",
                "The autoscaler holds meanwhile; it never scales down on missing data.",
            ),
        ),
        cases=(
            Case("no vLLM series at all", (Series('up{job="prometheus"}', steady(1, firing)),), silent, firing, {}),
            Case(
                "series present",
                (Series(f'{names.RUNNING}{{job="vllm", {_SERIES}}}', steady(3, firing)),),
                silent_at=firing,
            ),
        ),
        runbook_url=cfg.runbook_url(name),
    )


def _target_down(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.metrics_absent
    job = cfg.selectors.vllm_job_regex
    silent, firing = case_times(t.for_)
    labels = {"job": "vllm", "instance": "10.0.0.7:8000", "namespace": "serving", "pod": "chat-0"}
    series_labels = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    name = "VllmTargetDown"
    return Alert(
        name=name,
        expr=f'{names.UP}{{job=~"{job}"}} == 0',
        for_=t.for_,
        severity="ticket",
        summary="Prometheus cannot scrape vLLM replica {{ $labels.instance }}",
        description=(
            "Scrapes of {{ $labels.instance }} (job {{ $labels.job }}) have failed for "
            f"{t.for_}; its series go stale and the deployment's signals lose that replica."
        ),
        runbook=Runbook(
            meaning="One vLLM replica does not answer /metrics: crashed, restarting, overloaded, or "
            "unreachable from Prometheus.",
            checks=(
                "Prometheus' targets page: the scrape error text.",
                "`kubectl describe pod` and the pod's logs: OOM kills, CUDA errors, restarts.",
            ),
            actions=(
                "Crash-looping: read the last log lines before the restart; roll back a bad image or "
                "config.",
                "Healthy but unreachable: check the Service, NetworkPolicy and scrape port.",
            ),
        ),
        cases=(
            Case("scrape failing", (Series(f"up{{{series_labels}}}", steady(0, firing)),), silent, firing, labels),
            Case("scrape healthy", (Series(f"up{{{series_labels}}}", steady(1, firing)),), silent_at=firing),
        ),
        runbook_url=cfg.runbook_url(name),
    )


def serving_rule_file(cfg: CodegenConfig) -> RuleFile:
    alerts = (_queue(cfg), _kv_cache(cfg), _absent(cfg), _target_down(cfg))
    return RuleFile(name="serving", groups=(RuleGroup("vllm-serving.alerts", cfg.rule_interval, alerts),))
