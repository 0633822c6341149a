"""Latency SLO recording rules and multi-window multi-burn-rate alerts (TTFT, end-to-end).

Owns: the SLI definition (share of requests slower than the SLO threshold,
counted from histogram buckets), its recording rules per window, the burn-rate
page and ticket alerts, their runbooks and promtool cases.
Must not import: grafanalib, subprocess or any HTTP library.

Method: Google SRE workbook, chapter 5 "Alerting on SLOs": an alert fires while
the error ratio over a long window AND over a short window (1/12 of it) both
exceed factor x error budget; windows and factors come from the config.

Bucket rounding: a ratio of "requests slower than T" is exact only when T is a
bucket bound, since ``le`` buckets are cumulative counts. vLLM's TTFT buckets
jump from 1.0 s to 2.5 s, so the policy default of 2.0 s is not a bound; the
config's ``latency_bucket_rounding`` picks the bound used, and every alert and
dashboard says which bound that is.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.catalog import E2E_BUCKETS, TTFT_BUCKETS
from controlplane.codegen import names
from controlplane.codegen.config import BurnWindow, CodegenConfig, duration_seconds
from controlplane.codegen.model import (
    SERVING_UID,
    Alert,
    Case,
    Recording,
    RuleFile,
    RuleGroup,
    Runbook,
    Series,
    case_times,
    num,
)

__all__ = ["SLI", "slis", "slo_rule_file", "ratio_record", "bucket_bound", "le_label"]

_BUDGET_DAYS = 30
_AGG = "namespace, model_name"


def bucket_bound(target_s: float, bounds: tuple[float, ...], rounding: str) -> float:
    """The bucket bound the SLI counts at: ``target_s`` itself when it is a bound."""
    if target_s in bounds:
        return target_s
    if rounding == "down":
        below = [b for b in bounds if b < target_s]
        if not below:
            raise ValueError(f"slo: {target_s} s is below the smallest bucket bound {bounds[0]} s")
        return below[-1]
    above = [b for b in bounds if b > target_s]
    if not above:
        raise ValueError(f"slo: {target_s} s is above the largest bucket bound {bounds[-1]} s")
    return above[0]


def le_label(bound: float) -> str:
    """``le`` as Python's prometheus_client writes it (1.0, not 1): Prometheus 2 matches it verbatim."""
    return repr(float(bound))


@dataclass(frozen=True)
class SLI:
    key: str
    title: str
    metric: str
    target_s: float
    bound_s: float
    alert_prefix: str

    @property
    def rounded(self) -> bool:
        return self.bound_s != self.target_s


def slis(cfg: CodegenConfig) -> list[SLI]:
    r = cfg.latency_bucket_rounding
    return [
        SLI("ttft", "time to first token", names.TTFT, cfg.slo.ttft_p95_s,
            bucket_bound(cfg.slo.ttft_p95_s, TTFT_BUCKETS, r), "VllmTtft"),
        SLI("e2e", "end-to-end latency", names.E2E, cfg.slo.e2e_p95_s,
            bucket_bound(cfg.slo.e2e_p95_s, E2E_BUCKETS, r), "VllmE2eLatency"),
    ]


def ratio_record(sli: SLI, window: str) -> str:
    return f"namespace_model:vllm_{sli.key}_slo_errors:ratio_rate{window}"


def _windows(cfg: CodegenConfig) -> list[str]:
    ws = {w for bw in cfg.burn_windows for w in (bw.long, bw.short)}
    return sorted(ws, key=duration_seconds)


def _recording(sli: SLI, window: str) -> Recording:
    good = f'sum by ({_AGG}) (rate({sli.metric}_bucket{{le="{le_label(sli.bound_s)}"}}[{window}]))'
    total = f"sum by ({_AGG}) (rate({sli.metric}_count[{window}]))"
    return Recording(ratio_record(sli, window), f"1 - {good} / {total}")


def _burn_expr(sli: SLI, pairs: list[BurnWindow], budget: float) -> str:
    branches = []
    for p in pairs:
        limit = num(p.factor * budget)
        branches.append(
            f"(\n  {ratio_record(sli, p.long)} > {limit}\nand\n  {ratio_record(sli, p.short)} > {limit}\n)"
        )
    return "\nor\n".join(branches)


def _threshold_text(sli: SLI, cfg: CodegenConfig) -> str:
    text = (
        f"SLO: {num(cfg.slo.objective * 100)}% of requests within {num(sli.target_s)} s {sli.title}"
    )
    if sli.rounded:
        text += f", counted at the {num(sli.bound_s)} s histogram bucket"
    return text


def _burn_alert(sli: SLI, cfg: CodegenConfig, severity: str, pairs: list[BurnWindow]) -> Alert:
    budget = cfg.error_budget
    speed = "Fast" if severity == "page" else "Slow"
    name = f"{sli.alert_prefix}BudgetBurn{speed}"
    windows = " or ".join(
        f"{num(p.factor)}x over {p.long} and {p.short} (budget gone in {num(round(_BUDGET_DAYS / p.factor, 1))} days)"
        for p in pairs
    )
    labels = {"namespace": "serving", "model_name": "tiny-llama"}
    # Halfway between the first pair's threshold and 100% errors: above it for any budget.
    # Three significant digits, so the %.4g in the annotation never sits on a rounding tie.
    halfway = float(f"{(pairs[0].factor * budget + 1) / 2:.3g}")
    cases = [
        _burn_case(f"burning above {num(pairs[0].factor)}x", sli, halfway, labels, cfg, severity),
        _burn_case(
            f"burning at 80% of the lowest factor, {num(min(p.factor for p in pairs))}x",
            sli, min(p.factor for p in pairs) * budget * 0.8, None, cfg, severity,
        ),
    ]
    return Alert(
        name=name,
        expr=_burn_expr(sli, pairs, budget),
        for_=cfg.burn_for[severity],
        severity=severity,
        summary=f"{sli.title.capitalize()} error budget of {{{{ $labels.model_name }}}} in "
        f"{{{{ $labels.namespace }}}} is burning {'fast' if severity == 'page' else 'steadily'}",
        description=(
            f"{{{{ $value | humanizePercentage }}}} of requests to {{{{ $labels.model_name }}}} over the "
            f"{' or '.join(p.long for p in pairs)} window took longer than {num(sli.bound_s)} s "
            f"({_threshold_text(sli, cfg)}). "
            f"Fires at {windows}."
        ),
        runbook=_runbook(sli, cfg, severity),
        cases=tuple(cases),
        runbook_url=cfg.runbook_url(name),
        dashboard=SERVING_UID,
    )


def _burn_case(
    title: str, sli: SLI, ratio: float, labels: dict[str, str] | None, cfg: CodegenConfig, severity: str
) -> Case:
    # 100000 requests a minute, ``good`` of them inside the SLO bucket: the recorded
    # error ratio over every window is exactly 1 - good / 100000.
    per_minute = 100_000
    good = round(per_minute * (1 - ratio))
    actual = 1 - good / per_minute
    sel = '{namespace="serving", model_name="tiny-llama"'
    series = (
        Series(f'{sli.metric}_bucket{sel}, le="{le_label(sli.bound_s)}"}}', f"0+{good}x240"),
        Series(f"{sli.metric}_count{sel}}}", f"0+{per_minute}x240"),
    )
    if labels is None:
        return Case(title, series, silent_at="200m")
    # Rates exist from the second sample, so the alert is pending from 1m on.
    silent, firing = case_times(cfg.burn_for[severity], first_true="1m")
    # humanizePercentage is Go's %.4g of the value x 100.
    return Case(
        title, series, silent_at=silent, firing_at=firing, labels=labels, value_text=f"{actual * 100:.4g}%"
    )


def _runbook(sli: SLI, cfg: CodegenConfig, severity: str) -> Runbook:
    urgency = (
        "At this burn rate the monthly error budget is gone within days; users see slow responses now."
        if severity == "page"
        else "The budget is being spent faster than it refills; nothing is on fire, but it will be."
    )
    return Runbook(
        meaning=(
            f"Too many requests miss the {sli.title} objective ({_threshold_text(sli, cfg)}). {urgency}"
        ),
        checks=(
            f"Serving overview dashboard: the {sli.title} p95 panel against its SLO line, and request rate.",
            "Autoscaler dashboard: are desired replicas above current or ready replicas (scale-up stuck), "
            "or pinned at the maximum?",
            f"`{ratio_record(sli, '5m')}` per model: one model or all of them?",
            "Waiting requests and KV-cache usage: queueing (too few replicas) or preemption (cache too small)?",
        ),
        actions=(
            "If replicas are pending, see ControlplaneReplicasPending; if at the maximum, raise "
            "max_replicas in the scaling policy when the GPU budget allows.",
            "If the control plane is not deciding (decision invalid, not reconciling), scale the "
            "Deployment by hand and follow that alert's runbook.",
            "If one replica is slow while others are not, drain and restart it.",
        ),
    )


def slo_rule_file(cfg: CodegenConfig) -> RuleFile:
    recordings = tuple(_recording(s, w) for s in slis(cfg) for w in _windows(cfg))
    alerts = []
    for sli in slis(cfg):
        for severity in ("page", "ticket"):
            pairs = [w for w in cfg.burn_windows if w.severity == severity]
            if pairs:
                alerts.append(_burn_alert(sli, cfg, severity, pairs))
    return RuleFile(
        name="slo",
        groups=(
            RuleGroup("vllm-slo.rules", cfg.rule_interval, recordings),
            RuleGroup("vllm-slo.alerts", cfg.rule_interval, tuple(alerts)),
        ),
    )
