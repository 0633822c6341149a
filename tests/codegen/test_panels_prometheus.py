"""Every dashboard query runs against a real Prometheus (the Debian binary) with data.

The vLLM panels read two emulator replicas (``controlplane emulator``, cpu-tiny)
scraped under job ``vllm`` after a bounded burst of requests. The families the
emulator cannot produce (DCGM, kube-state-metrics, ``controlplane_*``) come from
:class:`SyntheticCollector` exporters on free ports, scraped as jobs
``dcgm-exporter`` and ``controlplane``. The generated rule files are loaded (group
intervals shortened to 1 s) so panels reading recording rules have data too.

Every query of every panel must parse and return at least one series with a
finite value; each template variable must resolve to at least one value; each
annotation query must parse; and every loaded rule must evaluate without error. Panels that need the synthetic series are listed in
:data:`SYNTHETIC_PANELS`, and a test keeps that list equal to what the queries read.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, start_http_server

from controlplane import catalog
from controlplane.codegen.config import CodegenConfig
from controlplane.codegen.rules import all_alerts, all_recordings

from .live import burst, fast_rule_files, free_port
from .synthetic import SyntheticCollector

CFG = CodegenConfig()
BOARDS = ("serving-overview.json", "autoscaler.json", "controlplane-health.json")

# Panels whose queries read DCGM, kube-state-metrics or controlplane_* series (directly or
# through the GPU/cost recording rules): tested against the synthetic exporters.
SYNTHETIC_PANELS: dict[str, set[str]] = {
    "serving-overview.json": {"GPU utilisation", "GPU memory used"},
    "autoscaler.json": {
        "Replicas: desired, current, ready",
        "Decision validity",
        "Binding constraint and missing signals",
        "Scale events",
        "Forecast band against actual load",
        "Forecast error and anomaly score",
        "GPU-hours, last 24 h",
        "GPU cost, last 24 h",
        "Cost per million generated tokens",
    },
    "controlplane-health.json": {
        "Seconds since the last tick",
        "Ticks per minute",
        "Leaders",
        "Owner conflicts",
        "Tick duration",
        "Step duration p95 by step",
        "Step errors",
        "Decisions by validity",
        "Missing signals",
        "Leader by instance",
    },
}

# Grafana's values for the variables when "All" is selected, and a rate window.
_SUBSTITUTE = {"$__rate_interval": "1m", "$namespace": ".*", "$model": ".*", "$target": ".*"}
_SYNTHETIC_NAMES = (*catalog.DCGM, *(n for n in catalog.KUBE if n != "up"), *catalog.CONTROLPLANE)


def _resolve(expr: str) -> str:
    for var, value in _SUBSTITUTE.items():
        expr = expr.replace(var, value)
    return expr


def _panels(generated: dict[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for board in BOARDS:
        for p in json.loads(generated[f"dashboards/{board}"])["panels"]:
            if p["type"] != "row":
                yield board, p


def _reads_synthetic(panel: dict[str, Any]) -> bool:
    text = " ".join(t["expr"] for t in panel["targets"])
    derived = ("namespace:dcgm_", "namespace:gpu_")
    return any(n in text for n in _SYNTHETIC_NAMES) or any(d in text for d in derived)


def test_synthetic_panel_list_is_what_the_queries_read(generated: dict[str, str]) -> None:
    found: dict[str, set[str]] = {b: set() for b in BOARDS}
    for board, p in _panels(generated):
        if _reads_synthetic(p):
            found[board].add(p["title"])
    assert found == SYNTHETIC_PANELS


def _exporter(families: list[catalog.MetricFamily]) -> tuple[Any, int]:
    registry = CollectorRegistry()
    registry.register(SyntheticCollector(families))
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    return server, port


@pytest.fixture
def exporters() -> Iterator[dict[str, int]]:
    """Job name -> port of a running synthetic exporter; shut down at teardown."""
    started = {
        "controlplane": _exporter(list(catalog.CONTROLPLANE.values())),
        "dcgm-exporter": _exporter([*catalog.DCGM.values(), *(f for n, f in catalog.KUBE.items() if n != "up")]),
    }
    try:
        yield {job: port for job, (_server, port) in started.items()}
    finally:
        for server, _port in started.values():
            server.shutdown()
            server.server_close()


@pytest.fixture
def loaded_prometheus(
    tmp_path: Path,
    generated: dict[str, str],
    prometheus_factory: Callable[..., Any],
    emulator_factory: Callable[..., list[Any]],
    exporters: dict[str, int],
) -> Any:
    replicas = emulator_factory(2)
    prom = prometheus_factory(
        jobs=["vllm", "controlplane", "dcgm-exporter"],
        rule_files=fast_rule_files(generated, tmp_path),
    )
    prom.set_targets("vllm", [r.target for r in replicas], labels={"namespace": "serving"})
    prom.set_targets("controlplane", [f"127.0.0.1:{exporters['controlplane']}"])
    prom.set_targets("dcgm-exporter", [f"127.0.0.1:{exporters['dcgm-exporter']}"])
    prom.wait_for_up("vllm", 2)
    prom.wait_for_up("controlplane", 1)
    prom.wait_for_up("dcgm-exporter", 1)
    assert burst([r.url for r in replicas]) > 0
    # A few scrapes after the burst, and the recording rules of recording rules evaluated.
    for expr in ("namespace_model:vllm_ttft_slo_errors:ratio_rate5m", "namespace:gpu_cost_usd:sum1d"):
        prom.wait_for(lambda e=expr: bool(prom.query(e)), timeout_s=30, what=f"{expr} to be recorded")
    time.sleep(3)
    return prom


def _finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(s["value"][1])) for s in result)


def test_dashboards_against_real_prometheus(loaded_prometheus: Any, generated: dict[str, str]) -> None:
    """One Prometheus, two emulators and the exporters, started once for all three checks."""
    _every_panel_query_returns_series(loaded_prometheus, generated)
    _template_variables_resolve(loaded_prometheus, generated)
    _annotation_queries_parse_and_anomalies_show(loaded_prometheus, generated)
    _every_rule_evaluates_without_error(loaded_prometheus)


def _every_panel_query_returns_series(prom: Any, generated: dict[str, str]) -> None:
    failures = []
    executed = 0
    for board, panel in _panels(generated):
        for target in panel["targets"]:
            expr = _resolve(target["expr"])
            # The forecast band is drawn ``offset`` by the lead time: evaluate it when that
            # lead time has passed, as Grafana will once the test's data is that old.
            shift = re.search(r"offset (\d+)s", expr)
            result = prom.query(expr, at=time.time() + int(shift.group(1)) if shift else None)
            executed += 1
            if not result or not _finite(result):
                failures.append(f"{board} / {panel['title']} / {target['refId']}: {expr!r} -> {result}")
    assert not failures, "\n".join(failures)
    # 33 panels with 54 queries at the time of writing; fewer means a panel lost its queries.
    assert executed >= 50


def _template_variables_resolve(prom: Any, generated: dict[str, str]) -> None:
    for board in BOARDS:
        for var in json.loads(generated[f"dashboards/{board}"])["templating"]["list"]:
            if var["type"] != "query":
                continue
            match = re.fullmatch(r"label_values\((.+), ([a-zA-Z_]+)\)", var["query"]["query"])
            assert match, var["query"]
            selector, label = _resolve(match.group(1)), match.group(2)
            r = httpx.get(f"{prom.url}/api/v1/label/{label}/values", params={"match[]": selector}, timeout=10)
            body = r.json()
            assert body["status"] == "success", (board, var["name"], body)
            assert body["data"], f"{board}: ${var['name']} ({selector}, {label}) has no values"


def _annotation_queries_parse_and_anomalies_show(prom: Any, generated: dict[str, str]) -> None:
    annotations = json.loads(generated["dashboards/autoscaler.json"])["annotations"]["list"]
    by_name = {a["name"]: _resolve(a["expr"]) for a in annotations}
    # The synthetic anomaly score is 0.9, above the 0.8 annotation threshold.
    assert prom.query(by_name["Anomalies"])
    # No alert fires within this short test (every alert has a ``for``): parse only.
    prom.query(by_name["Alerts"])


def _every_rule_evaluates_without_error(prom: Any) -> None:
    """On real series (several replicas, real label sets) no rule hits a matching error."""
    groups = httpx.get(f"{prom.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == len(all_alerts(CFG)) + len(all_recordings(CFG))
    broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not broken, broken
