"""GPU utilisation and cost: recording rules and the under-, over-utilised and cost alerts.

Owns: the capacity rule file (GPU count, utilisation, GPU-hours and cost per
namespace, and the alerts on them), runbooks and promtool cases.
Must not import: grafanalib, subprocess or any HTTP library.

Cost is GPU-hours x the configured price per GPU-hour. GPU-hours over a day are
the day's mean GPU count x 24, so a day with a scrape gap is not cheaper, and a
namespace's first day is compared as if it were complete.
"""

from __future__ import annotations

import math

from controlplane.codegen import names
from controlplane.codegen.config import CodegenConfig, duration_seconds
from controlplane.codegen.model import (
    AUTOSCALER_UID,
    SERVING_UID,
    Alert,
    Case,
    Recording,
    RuleFile,
    RuleGroup,
    Runbook,
    Series,
    case_times,
    humanize,
    num,
    steady,
)

__all__ = ["capacity_rule_file", "GPU_COUNT", "GPU_UTIL_AVG", "GPU_HOURS_1D", "COST_1D"]

GPU_COUNT = "namespace:dcgm_gpus:count"
GPU_UTIL_AVG = "namespace:dcgm_gpu_utilisation:avg"
GPU_HOURS_1D = "namespace:gpu_hours:sum1d"
COST_1D = "namespace:gpu_cost_usd:sum1d"


def _recordings(cfg: CodegenConfig) -> tuple[Recording, ...]:
    return (
        Recording(GPU_COUNT, f"count by (namespace) ({names.GPU_UTIL})"),
        Recording(GPU_UTIL_AVG, f"avg by (namespace) ({names.GPU_UTIL})"),
        Recording(GPU_HOURS_1D, f"avg_over_time({GPU_COUNT}[1d]) * 24"),
        Recording(COST_1D, f"{GPU_HOURS_1D} * {num(cfg.gpu_price_per_hour)}"),
    )


def _gpu_series(n: int, value: str, start_blank: int = 0, first: int = 0) -> tuple[Series, ...]:
    blanks = f"_x{start_blank} " if start_blank else ""
    return tuple(
        Series(f'{names.GPU_UTIL}{{namespace="serving", pod="chat-{i}", gpu="0", Hostname="node-{i}"}}',
               blanks + value)
        for i in range(first, first + n)
    )


def _under(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.gpu_under_utilised_percent
    silent, firing = case_times(t.for_)
    # Half the threshold, and halfway from it to 100%; three digits, so no %.4g rounding tie.
    idle, busy = float(f"{t.value / 2:.3g}"), float(f"{(t.value + 100) / 2:.3g}")
    name = "GpuUnderUtilised"
    return Alert(
        name=name,
        expr=f"{GPU_UTIL_AVG} < {num(t.value)}",
        for_=t.for_,
        severity="info",
        summary="GPUs in {{ $labels.namespace }} are mostly idle",
        description=(
            "GPUs in {{ $labels.namespace }} averaged {{ $value | humanize }}% busy "
            f"(below {num(t.value)}% for {t.for_}: {t.reason})."
        ),
        runbook=Runbook(
            meaning="The deployment holds more GPU time than its load uses: money spent on idle GPUs.",
            checks=(
                "Autoscaler dashboard: is min_replicas or a schedule window holding replicas up?",
                "Cost panel: GPU-hours per day and cost per million tokens.",
            ),
            actions=(
                "Lower min_replicas or the schedule window's floor in the scaling policy.",
                "Raise the per-replica signal targets (waiting requests, KV-cache usage) so each "
                "replica carries more load, if the latency SLO has room.",
            ),
        ),
        cases=(
            Case(f"two GPUs at {num(idle)}%", _gpu_series(2, steady(idle, firing)), silent, firing,
                 {"namespace": "serving"}, humanize(idle)),
            Case(f"two GPUs at {num(busy)}%", _gpu_series(2, steady(busy, firing)), silent_at=firing),
        ),
        runbook_url=cfg.runbook_url(name),
        dashboard=SERVING_UID,
    )


def _over(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.gpu_over_utilised_percent
    silent, firing = case_times(t.for_)
    hot, warm = float(f"{(t.value + 100) / 2:.3g}"), float(f"{t.value * 0.9:.3g}")
    name = "GpuOverUtilised"
    return Alert(
        name=name,
        expr=f"{GPU_UTIL_AVG} > {num(t.value)}",
        for_=t.for_,
        severity="ticket",
        summary="GPUs in {{ $labels.namespace }} are saturated",
        description=(
            "GPUs in {{ $labels.namespace }} averaged {{ $value | humanize }}% busy "
            f"(above {num(t.value)}% for {t.for_}: {t.reason})."
        ),
        runbook=Runbook(
            meaning="Every GPU is busy nearly all the time; the next burst queues.",
            checks=(
                "Serving overview: waiting requests and TTFT p95 against its SLO.",
                "Autoscaler dashboard: desired vs max replicas.",
            ),
            actions=(
                "Lower the per-replica signal targets so the autoscaler keeps headroom.",
                "Raise max_replicas if the budget allows.",
            ),
        ),
        cases=(
            Case(f"two GPUs at {num(hot)}%", _gpu_series(2, steady(hot, firing)), silent, firing,
                 {"namespace": "serving"}, humanize(hot)),
            Case(f"two GPUs at {num(warm)}%", _gpu_series(2, steady(warm, firing)), silent_at=firing),
        ),
        runbook_url=cfg.runbook_url(name),
        dashboard=SERVING_UID,
    )


def _cost(cfg: CodegenConfig) -> Alert:
    t = cfg.thresholds.daily_cost_increase_ratio
    name = "ServingCostDayOverDayIncrease"
    # Day one: 2 GPUs; from minute 1440 on, 2k, with k = floor(threshold) + 2 so the
    # ratio can climb well past the threshold within the day. The 1d range holds 1441
    # samples (both ends inclusive in Prometheus 2), so at minute 1440 + x today's
    # mean count is (2 * (1440 - x) + 2k * (x + 1)) / 1441 against yesterday's 2.
    # Default (1.2, k = 3): above 2.4 from x = 144; pending there, firing an hour on.
    # At the firing check, minute 1440 + 209: (2 * 1231 + 6 * 210) / 1441 = 2.5829 GPUs
    # x 24 h x 4.10 USD/GPU-hour = 254.16 USD.
    k = int(t.value) + 2
    x0 = max(0, math.floor((2882 * t.value - 2880 - 2 * k) / (2 * k - 2)) + 1)
    hold = duration_seconds(t.for_) // 60
    silent, firing = 1440 + x0 + hold // 2, 1440 + x0 + hold + 5
    if firing > 2800:
        raise ValueError("thresholds.daily_cost_increase_ratio.for: too long to test within one day")
    xf = firing - 1440
    cost = (2 * (1440 - xf) + 2 * k * (xf + 1)) / 1441 * 24 * cfg.gpu_price_per_hour
    grown = _gpu_series(2, f"50x{firing + 10}") + _gpu_series(
        2 * k - 2, f"50x{xf + 10}", start_blank=1440, first=2
    )
    flat = _gpu_series(2, f"50x{firing + 10}")
    return Alert(
        name=name,
        expr=f"{COST_1D} > {num(t.value)} * ({COST_1D} offset 1d)",
        for_=t.for_,
        severity="ticket",
        summary="GPU cost of {{ $labels.namespace }} is up more than "
        + f"{num(round((t.value - 1) * 100, 4))}% on the day before",
        description=(
            "The last 24 hours of GPUs in {{ $labels.namespace }} cost "
            f"{{{{ $value | printf \"%.2f\" }}}} USD at {num(cfg.gpu_price_per_hour)} USD per GPU-hour, more "
            f"than {num(t.value)}x the 24 hours before ({t.reason})."
        ),
        runbook=Runbook(
            meaning="The deployment held noticeably more GPUs today than yesterday.",
            checks=(
                "Autoscaler dashboard: GPU-hours per day, desired replicas over the two days.",
                "Serving overview: did request or token rates grow as much? Compare cost per million tokens.",
            ),
            actions=(
                "Load grew: expected; confirm the budget.",
                "Load did not grow: look for replicas held up by min_replicas, a schedule window, or "
                "a scale-down that never happened (decision invalid, owner conflict).",
            ),
        ),
        cases=(
            Case(f"GPUs x{k} at 24h", grown, silent_at=f"{silent}m", firing_at=f"{firing}m",
                 labels={"namespace": "serving"}, value_text=f"{cost:.2f}"),
            Case("same GPUs both days", flat, silent_at=f"{firing}m"),
        ),
        runbook_url=cfg.runbook_url(name),
        dashboard=AUTOSCALER_UID,
    )


def capacity_rule_file(cfg: CodegenConfig) -> RuleFile:
    return RuleFile(
        name="capacity",
        groups=(
            RuleGroup("gpu-cost.rules", cfg.rule_interval, _recordings(cfg)),
            RuleGroup("gpu-cost.alerts", cfg.rule_interval, (_under(cfg), _over(cfg), _cost(cfg))),
        ),
    )
