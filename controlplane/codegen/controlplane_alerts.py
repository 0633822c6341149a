"""Alerts on the control plane: not reconciling, invalid decisions, stuck or capped replicas.

Owns: the control-plane rule file (alerts, runbooks, promtool cases).
Must not import: grafanalib, subprocess or any HTTP library.

The control plane labels its series ``policy`` and ``target`` (``namespace/deployment``
or ``local/group``); :func:`namespace_of_target` derives ``namespace`` from
``target`` so they join the SLO recording rules, which are per namespace and model.
"""

from __future__ import annotations

from controlplane.codegen import names
from controlplane.codegen.config import CodegenConfig, duration_seconds
from controlplane.codegen.model import (
    AUTOSCALER_UID,
    HEALTH_UID,
    Alert,
    Case,
    RuleFile,
    RuleGroup,
    Runbook,
    Series,
    case_times,
    humanize,
    num,
    sentence,
    steady,
)
from controlplane.codegen.slo import le_label, ratio_record, slis

__all__ = ["controlplane_rule_file", "namespace_of_target"]

_CP = {"job": "controlplane", "instance": "10.0.0.9:9100", "policy": "chat", "target": "serving/chat"}


def _sel(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def namespace_of_target(expr: str) -> str:
    return f'label_replace({expr}, "namespace", "$1", "target", "([^/]+)/.*")'


def _not_reconciling(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.not_reconciling
    job = cfg.selectors.controlplane_job_regex
    ticks = f'{names.CP_TICKS}{{job=~"{job}"}}'
    silent, firing = case_times(t.for_, first_true="1m")
    flat = Series(f'{names.CP_TICKS}{{job="controlplane", instance="a"}}', steady(120, firing))
    n = duration_seconds(firing) // 60 + 10
    ticking = Series(f'{names.CP_TICKS}{{job="controlplane", instance="a"}}', f"0+12x{n}")
    name = "ControlplaneNotReconciling"
    return Alert(
        name=name,
        expr=f"sum by (job) (increase({ticks}[10m])) == 0\nor\nabsent({ticks})",
        for_=t.for_,
        severity="page",
        summary="The control plane has not completed a tick in 10 minutes",
        description=(
            f"No control plane (jobs matching {job}) finished a reconcile tick in the last 10 minutes, for {t.for_}. "
            f"{sentence(t.reason)}."
        ),
        runbook=Runbook(
            meaning="No control plane instance is running its loop: crashed, stuck in a step, not "
            "scraped, or no instance holds the leader Lease.",
            checks=(
                "Control-plane health dashboard: leader, tick duration, step errors.",
                f"`{names.CP_LEADER}`: exactly one instance should report 1.",
                "The control plane's logs around the last tick.",
            ),
            actions=(
                "Restart the control plane Deployment; a new leader takes the Lease within its "
                "lease duration.",
                "Until it reconciles, set replicas by hand: `kubectl scale deployment/<name> --replicas=N`.",
            ),
        ),
        cases=(
            Case("tick count flat", (flat,), silent, firing, {"job": "controlplane"}),
            Case("no tick series at all", (Series('up{job="prometheus"}', steady(1, firing)),), *case_times(t.for_), {}),
            Case("ticking", (ticking,), silent_at=firing),
        ),
        runbook_url=cfg.runbook_url(name),
        dashboard=HEALTH_UID,
    )


def _decision_invalid(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.decision_invalid
    silent, firing = case_times(t.for_)
    name = "ControlplaneDecisionInvalid"
    return Alert(
        name=name,
        expr=f"{names.CP_VALID} == 0",
        for_=t.for_,
        severity="ticket",
        summary="Scaling decisions for {{ $labels.target }} are invalid",
        description=(
            "Policy {{ $labels.policy }} has produced no valid decision for {{ $labels.target }} "
            f"for {t.for_}; the replica count is held. {sentence(t.reason)}."
        ),
        runbook=Runbook(
            meaning="An input the decision needs is missing, stale or NaN; by design the control "
            "plane then changes nothing (missing data never scales down).",
            checks=(
                f"`{names.CP_SIGNAL_MISSING} == 1`: which signal is missing?",
                "The decision log (admin API, /decisions): the reasons of the last decisions.",
                "VllmMetricsAbsent or VllmTargetDown firing at the same time?",
            ),
            actions=(
                "Restore the missing series (scrape config, DCGM exporter, kube-state-metrics).",
                "If one optional signal is the cause, disable it in the scaling policy until fixed.",
            ),
        ),
        cases=(
            Case("invalid", (Series(f"{names.CP_VALID}{_sel(_CP)}", steady(0, firing)),), silent, firing, _CP),
            Case("valid", (Series(f"{names.CP_VALID}{_sel(_CP)}", steady(1, firing)),), silent_at=firing),
        ),
        runbook_url=cfg.runbook_url(name),
        dashboard=AUTOSCALER_UID,
    )


def _step_errors(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.step_errors_per_s
    silent, firing = case_times(t.for_, first_true="1m")
    labels = {"job": "controlplane", "step": "forecast"}
    n = duration_seconds(firing) // 60 + 10
    # One error a second above the threshold: a counter growing 60 x (threshold + 1) a minute.
    per_s = t.value + 1
    failing = Series(f'{names.CP_STEP_ERRORS}{{job="controlplane", instance="a", step="forecast"}}',
                     f"0+{num(60 * per_s)}x{n}")
    stopped = Series(failing.series, steady(5, firing))
    name = "ControlplaneStepErrors"
    return Alert(
        name=name,
        expr=f"sum by (job, step) (rate({names.CP_STEP_ERRORS}[5m])) > {num(t.value)}",
        for_=t.for_,
        severity="ticket",
        summary="Control plane step {{ $labels.step }} keeps failing",
        description=(
            "Step {{ $labels.step }} raised {{ $value | humanize }} errors per second over 5 minutes, "
            f"for {t.for_}. {sentence(t.reason)}."
        ),
        runbook=Runbook(
            meaning="One stage of the pipeline (collect, detect, forecast, decide, actuate, notify, "
            "record) raises on every tick.",
            checks=(
                "Control-plane health dashboard: step errors by step.",
                "The control plane's logs: the exception of that step.",
            ),
            actions=(
                "collect: the metrics source is unreachable or answers errors; see the source's URL.",
                "actuate: RBAC or API errors patching the scale subresource; check the ServiceAccount.",
                "forecast or detect: a model fit fails; the policy falls back to reactive scaling.",
            ),
        ),
        cases=(
            Case(f"{num(per_s)} errors a second", (failing,), silent, firing, labels, humanize(per_s)),
            Case("errors stopped", (stopped,), silent_at=firing),
        ),
        runbook_url=cfg.runbook_url(name),
        dashboard=HEALTH_UID,
    )


def _forecast_error(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.forecast_error_ratio
    silent, firing = case_times(t.for_)
    labels = {**_CP, "forecaster": "ets"}
    # Half as much again as the threshold, to three digits; half of it stays quiet.
    high = float(f"{t.value * 1.5 + 0.05:.3g}")
    name = "ControlplaneForecastErrorHigh"
    return Alert(
        name=name,
        expr=f"{names.CP_FORECAST_ERROR} > {num(t.value)}",
        for_=t.for_,
        severity="ticket",
        summary="Demand forecast for {{ $labels.target }} is off",
        description=(
            "Forecaster {{ $labels.forecaster }} of {{ $labels.target }} has a recent error of "
            f"{{{{ $value | humanizePercentage }}}} (threshold {num(t.value * 100)}% for {t.for_}: {t.reason})."
        ),
        runbook=Runbook(
            meaning="Recent demand no longer follows the learned pattern; predictive scaling is "
            "switched off for this target until the error drops, so bursts are met reactively.",
            checks=(
                "Autoscaler dashboard: forecast band against actual request rate. A level shift, a "
                "new daily shape, or a one-off event?",
                "Anomaly annotations on the same dashboard.",
            ),
            actions=(
                "A lasting change: let the forecaster refit on the new data, or shorten its history.",
                "A one-off event: no action; the floor comes back when the error falls.",
            ),
        ),
        cases=(
            Case(f"error {num(high * 100)}%", (Series(f"{names.CP_FORECAST_ERROR}{_sel(labels)}", steady(high, firing)),),
                 silent, firing, labels, f"{high * 100:.4g}%"),
            Case(f"error {num(t.value * 50)}%",
                 (Series(f"{names.CP_FORECAST_ERROR}{_sel(labels)}", steady(t.value / 2, firing)),), silent_at=firing),
        ),
        runbook_url=cfg.runbook_url(name),
        dashboard=AUTOSCALER_UID,
    )


def _pending(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.replicas_pending
    silent, firing = case_times(t.for_)
    gap = int(t.value) + 2
    name = "ControlplaneReplicasPending"
    return Alert(
        name=name,
        expr=f"{names.CP_DESIRED} - {names.CP_READY} > {num(t.value)}",
        for_=t.for_,
        severity="ticket",
        summary="{{ $labels.target }} has had fewer ready replicas than desired for " + t.for_,
        description=(
            "{{ $value | humanize }} replicas of {{ $labels.target }} that the control plane asked for "
            f"are not ready after {t.for_}. {sentence(t.reason)}."
        ),
        runbook=Runbook(
            meaning="The control plane scaled up but the new replicas do not become ready.",
            checks=(
                "`kubectl get pods -n <namespace>`: Pending (no GPU node), ContainerCreating "
                "(image pull), or Running but not ready (model loading, failing probes)?",
                "`kubectl describe pod`: scheduling events, e.g. Insufficient nvidia.com/gpu.",
                "Cluster autoscaler or node pool: can it add GPU nodes?",
            ),
            actions=(
                "No GPU capacity: lower max_replicas to what the cluster can hold, or add nodes.",
                "Slow weight loads: raise startup_s in the policy so the autoscaler plans for it.",
            ),
        ),
        cases=(
            Case(f"{num(2 + gap)} desired, 2 ready", (
                Series(f"{names.CP_DESIRED}{_sel(_CP)}", steady(2 + gap, firing)),
                Series(f"{names.CP_READY}{_sel(_CP)}", steady(2, firing)),
            ), silent, firing, _CP, humanize(gap)),
            Case("caught up", (
                Series(f"{names.CP_DESIRED}{_sel(_CP)}", steady(4, firing)),
                Series(f"{names.CP_READY}{_sel(_CP)}", steady(4, firing)),
            ), silent_at=firing),
        ),
        runbook_url=cfg.runbook_url(name),
        dashboard=AUTOSCALER_UID,
    )


def _at_max(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.at_max_burn_factor
    limit = num(t.value * cfg.error_budget)
    burning = "\n  or\n  ".join(f"max by (namespace) ({ratio_record(s, '1h')}) > {limit}" for s in slis(cfg))
    at_max = namespace_of_target(f"{names.CP_DESIRED} >= {names.CP_MAX}")
    silent, firing = case_times(t.for_, first_true="1m")
    n = duration_seconds(firing) // 60 + 10
    sli = slis(cfg)[0]
    # Halfway from the burn threshold to 100% errors, out of 100000 requests a minute.
    per_minute = 100_000
    good = round(per_minute * (1 - float(f"{(t.value * cfg.error_budget + 1) / 2:.3g}")))
    slo_series = '{namespace="serving", model_name="tiny-llama"'
    bucket = f'{sli.metric}_bucket{slo_series}, le="{le_label(sli.bound_s)}"}}'
    burn = (Series(bucket, f"0+{good}x{n}"), Series(f"{sli.metric}_count{slo_series}}}", f"0+{per_minute}x{n}"))
    calm = (Series(bucket, f"0+{per_minute}x{n}"), burn[1])

    def replicas(desired: int) -> tuple[Series, ...]:
        return (
            Series(f"{names.CP_DESIRED}{_sel(_CP)}", steady(desired, firing)),
            Series(f"{names.CP_MAX}{_sel(_CP)}", steady(8, firing)),
        )

    name = "ControlplaneReplicasAtMaxWhileBurning"
    return Alert(
        name=name,
        expr=f"{at_max}\nand on (namespace)\n(\n  {burning}\n)",
        for_=t.for_,
        severity="page",
        summary="{{ $labels.target }} is at max replicas and still missing its latency SLO",
        description=(
            "The control plane wants {{ $value | humanize }} replicas for {{ $labels.target }}, its "
            f"max_replicas, while the latency error budget burns faster than {num(t.value)}x over 1h. "
            f"{sentence(t.reason)}."
        ),
        runbook=Runbook(
            meaning="Demand exceeds what max_replicas can serve within the SLO; the autoscaler has "
            "nothing left to give. (Kubernetes targets: the namespace is read from the target name "
            "namespace/deployment and matched with the SLO rules' namespace label.)",
            checks=(
                "Autoscaler dashboard: desired pinned at the maximum; forecast against actual load.",
                "Serving overview: is the load real (request rate up) or an anomaly (retries, one client)?",
            ),
            actions=(
                "Raise max_replicas in the scaling policy if the GPU budget allows.",
                "Shed or rate-limit low-priority traffic at the gateway.",
            ),
        ),
        cases=(
            Case("8 of 8 replicas and burning", (*replicas(8), *burn), silent, firing,
                 {**_CP, "namespace": "serving"}, "8"),
            Case("burning with room to grow", (*replicas(6), *burn), silent_at=firing),
            Case("at max within the SLO", (*replicas(8), *calm), silent_at=firing),
        ),
        runbook_url=cfg.runbook_url(name),
        dashboard=AUTOSCALER_UID,
    )


def controlplane_rule_file(cfg: CodegenConfig) -> RuleFile:
    alerts = (
        _not_reconciling(cfg),
        _decision_invalid(cfg),
        _step_errors(cfg),
        _forecast_error(cfg),
        _pending(cfg),
        _at_max(cfg),
    )
    return RuleFile(
        name="controlplane",
        groups=(RuleGroup("controlplane.alerts", cfg.rule_interval, alerts),),
        needs=("slo",),
    )
