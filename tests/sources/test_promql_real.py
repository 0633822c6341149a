"""Every PromQL the catalog builds is accepted by a real Prometheus (the ``prometheus`` binary).

The server has no targets: each query must parse and evaluate (empty answers are
fine); a syntax error would come back as ``bad_data``.
"""

from __future__ import annotations

from harness.prometheus import PrometheusServer

from controlplane import promql
from controlplane.catalog import VLLM, Selector

SELECTORS = {
    "local": Selector.local("chat"),
    "local-model": Selector.local("chat", model_name='odd"name'),
    "k8s-model": Selector.kubernetes("serving", "llama-8b", model_name="meta-llama/Llama-3.1-8B"),
    "k8s-pods": Selector.kubernetes("serving", "llama.v2", extra={"tier": "gold"}),
}


def _all_queries() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for label, sel in SELECTORS.items():
        for name, q in promql.signal_queries(sel, 30).items():
            out.append((f"{label}/{name}", q.expr))
            out.append((f"{label}/{name}/newest", promql.newest_sample(q.freshness_family, sel)))
        for family in ("vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc"):
            out.append((f"{label}/{family}/by-replica", promql.by_replica(family, sel)))
        out.append((f"{label}/window-ms", promql.ttft_quantile(0.9, sel, 1.5)))
    return out


def test_every_catalog_query_evaluates(prometheus: PrometheusServer) -> None:
    failures = []
    for name, expr in _all_queries():
        try:
            prometheus.query(expr)
        except RuntimeError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)
    assert len(VLLM) >= 38
