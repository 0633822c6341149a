"""The serving overview dashboard: traffic, latency against the SLO, saturation, GPUs.

Owns: the panels of ``serving-overview.json``. The SLO lines are drawn from the
config's SLO, the same numbers the burn-rate alerts use.
Must not import: subprocess or any HTTP library.
"""

from __future__ import annotations

from grafanalib import core as g

from controlplane.codegen import names
from controlplane.codegen.capacity_alerts import GPU_UTIL_AVG
from controlplane.codegen.config import CodegenConfig
from controlplane.codegen.dashboards.panels import Layout, Query, dashboard, steps, variables
from controlplane.codegen.model import SERVING_UID
from controlplane.codegen.serving_alerts import first_of
from controlplane.codegen.slo import ratio_record, slis

__all__ = ["serving_dashboard", "VLLM_SEL", "GPU_SEL"]

VLLM_SEL = '{namespace=~"$namespace", model_name=~"$model"}'
GPU_SEL = '{namespace=~"$namespace"}'
_RATE = "[$__rate_interval]"


def _quantiles(metric: str) -> list[Query]:
    out = []
    for q in (0.5, 0.95, 0.99):
        exprs = [
            f"histogram_quantile({q}, sum by (le, model_name) (rate({n}_bucket{VLLM_SEL}{_RATE})))"
            for n in names.aliases(metric)
        ]
        out.append(Query(first_of(exprs), f"p{round(q * 100)} {{{{model_name}}}}"))
    return out


def serving_dashboard(cfg: CodegenConfig) -> g.Dashboard:
    slo = cfg.slo
    lay = Layout()
    lay.row("Traffic")
    lay.timeseries(
        "Request rate",
        [Query(f"sum by (model_name) (rate({names.REQUEST_SUCCESS}{VLLM_SEL}{_RATE}))", "{{model_name}}")],
        "reqps", steps(("green", None)), "Finished requests per second, every finished_reason.", w=8,
    )
    lay.timeseries(
        "Tokens per second",
        [
            Query(f"sum by (model_name) (rate({names.PROMPT_TOKENS}{VLLM_SEL}{_RATE}))", "prompt {{model_name}}"),
            Query(f"sum by (model_name) (rate({names.GENERATION_TOKENS}{VLLM_SEL}{_RATE}))",
                  "generation {{model_name}}"),
        ],
        "suffix: tok/s", steps(("green", None)), "Prefill (prompt) and decode (generation) tokens per second.", w=8,
    )
    errors = "|".join(names.ERROR_REASONS)
    failed = (
        f'sum by (finished_reason) (rate({names.REQUEST_SUCCESS}'
        f'{{namespace=~"$namespace", model_name=~"$model", finished_reason=~"{errors}"}}{_RATE}))'
    )
    lay.timeseries(
        "Error ratio by finished_reason",
        [Query(f"{failed}\n/ ignoring (finished_reason) group_left\n"
               f"sum(rate({names.REQUEST_SUCCESS}{VLLM_SEL}{_RATE}))", "{{finished_reason}}")],
        "percentunit", steps(("green", None), ("red", cfg.error_budget)),
        f"Share of finished requests that ended as {', '.join(names.ERROR_REASONS)}; the red line is "
        f"the SLO's error budget ({cfg.error_budget:.2%}).", w=8, line=True,
    )
    lay.row("Latency against the SLO")
    for title, metric, target, what in (
        ("Time to first token", names.TTFT, slo.ttft_p95_s, "ttft_p95_s"),
        ("Inter-token latency", names.ITL, slo.itl_p95_s, "itl_p95_s"),
        ("End-to-end latency", names.E2E, slo.e2e_p95_s, "e2e_p95_s"),
    ):
        lay.timeseries(
            title, _quantiles(metric), "s", steps(("green", None), ("red", target)),
            f"p50, p95 and p99 over all replicas; the red line is the SLO's p95 target ({what} = {target:g} s).",
            line=True, w=8,
        )
    budget = cfg.error_budget
    for sli in slis(cfg):
        queries = [Query(f'{ratio_record(sli, w)}{{namespace=~"$namespace", model_name=~"$model"}}',
                         f"{w} {{{{model_name}}}}") for w in ("5m", "1h")]
        bound = f"{sli.bound_s:g} s" + (f" (SLO {sli.target_s:g} s, rounded to a bucket)" if sli.rounded else "")
        lay.timeseries(
            f"{sli.title.capitalize()} SLO error ratio", queries, "percentunit",
            steps(("green", None), ("orange", budget), ("red", budget * 14.4)),
            f"Share of requests slower than {bound}. Orange: the error budget ({budget:.2%}, objective "
            f"{slo.objective:.2%}); red: the 14.4x fast-burn page threshold.",
            line=True, w=12,
        )
    lay.row("Saturation")
    lay.timeseries(
        "Waiting and running requests",
        [
            Query(f"sum by (model_name) ({names.WAITING}{VLLM_SEL})", "waiting {{model_name}}"),
            Query(f"sum by (model_name) ({names.RUNNING}{VLLM_SEL})", "running {{model_name}}"),
        ],
        "short", steps(("green", None)), "Requests queued and in the running batch, summed over replicas.", w=6,
    )
    kv = [f"max by (instance) ({n}{VLLM_SEL})" for n in names.aliases(names.KV_CACHE)]
    lay.timeseries(
        "KV-cache usage per replica", [Query(first_of(kv), "{{instance}}")], "percentunit",
        steps(("green", None), ("red", cfg.thresholds.kv_cache_usage.value)),
        "Fraction of each replica's KV cache in use; the line is the VllmKvCachePressure threshold.",
        line=True, w=6,
    )
    lay.timeseries(
        "Preemptions", [Query(f"sum by (model_name) (rate({names.PREEMPTIONS}{VLLM_SEL}{_RATE}))", "{{model_name}}")],
        "suffix: /s", steps(("green", None), ("red", 0.1)),
        "Requests evicted from the KV cache per second; any sustained rate means the cache is too small.", w=6,
    )
    hit_ratio = [
        f"sum by (model_name) (rate({h}{VLLM_SEL}{_RATE}))\n/\nsum by (model_name) (rate({q}{VLLM_SEL}{_RATE}))"
        for h, q in zip(names.aliases(names.PREFIX_CACHE_HITS), names.aliases(names.PREFIX_CACHE_QUERIES),
                        strict=True)
    ]
    lay.timeseries(
        "Prefix-cache hit ratio", [Query(first_of(hit_ratio), "{{model_name}}")], "percentunit",
        steps(("green", None)),
        "Prompt tokens found in the prefix cache over those looked up; a high ratio means prefill work saved. "
        "It falls when traffic shares fewer prefixes or the router spreads a conversation over replicas.",
        w=6,
    )
    lay.row("GPUs (DCGM)")
    under = cfg.thresholds.gpu_under_utilised_percent.value
    over = cfg.thresholds.gpu_over_utilised_percent.value
    lay.timeseries(
        "GPU utilisation",
        [
            Query(f"avg by (Hostname, gpu) ({names.GPU_UTIL}{GPU_SEL})", "{{Hostname}} gpu {{gpu}}"),
            Query(f'{GPU_UTIL_AVG}{{namespace=~"$namespace"}}', "mean {{namespace}}"),
        ],
        "percent", steps(("orange", None), ("green", under), ("red", over)),
        f"{names.GPU_UTIL} per GPU; lines at {under:g}% (under-utilised) and {over:g}% (saturated).",
        line=True,
    )
    lay.timeseries(
        "GPU memory used",
        [Query(f"sum by (Hostname, gpu) ({names.GPU_FB_USED}{GPU_SEL})\n/\n"
               f"sum by (Hostname, gpu) ({names.GPU_FB_USED}{GPU_SEL} + {names.GPU_FB_FREE}{GPU_SEL})",
               "{{Hostname}} gpu {{gpu}}")],
        "percentunit", steps(("green", None), ("red", 0.95)),
        "Framebuffer used / (used + free) per GPU; vLLM reserves --gpu-memory-utilization up front.",
    )
    return dashboard(
        cfg, SERVING_UID, "LLM serving overview",
        "vLLM traffic, latency against the SLO, saturation and GPUs. Generated by controlplane generate.",
        lay, variables(model_metric=names.RUNNING),
    )
