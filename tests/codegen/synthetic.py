"""A tiny exporter of synthetic series for the families the emulator cannot produce.

DCGM (GPU), kube-state-metrics and the control plane's own ``controlplane_*``
families are exposed with exactly the names and label names the catalog declares,
so a dashboard query that works here works on the real exporters' series.
Counters and histograms grow with wall time, so ``rate()`` over them is non-zero.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from controlplane import catalog

__all__ = ["SyntheticCollector", "LABEL_VALUES", "GAUGE_VALUES"]

# Every label name the catalog uses for these families, with the values exported.
LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "policy": ("chat",),
    "target": ("serving/chat",),
    "step": ("tick", "collect"),
    "signal": ("kv_cache_usage",),
    "detector": ("ensemble",),
    "constraint": ("signal",),
    "direction": ("up",),
    "quantile": ("0.5", "0.9"),
    "forecaster": ("ets",),
    "identity": ("cp-0",),
    "valid": ("true",),
    "namespace": ("serving",),
    "deployment": ("chat",),
    "pod": ("chat-0",),
    "container": ("vllm",),
    "gpu": ("0",),
    "UUID": ("GPU-00000000-0000-0000-0000-000000000000",),
    "device": ("nvidia0",),
    "pci_bus_id": ("00000000:00:1E.0",),
    "modelName": ("NVIDIA A100-SXM4-40GB",),
    "Hostname": ("node-0",),
    "DCGM_FI_DRIVER_VERSION": ("535.104.05",),
}

GAUGE_VALUES: dict[str, float] = {
    "DCGM_FI_DEV_GPU_UTIL": 80.0,
    "DCGM_FI_DEV_FB_USED": 30000.0,
    "DCGM_FI_DEV_FB_FREE": 10000.0,
    "DCGM_FI_DEV_POWER_USAGE": 300.0,
    "DCGM_FI_DEV_GPU_TEMP": 60.0,
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": 0.8,
    "controlplane_max_replicas": 8.0,
    "controlplane_desired_replicas": 3.0,
    "controlplane_forecast_request_rate": 5.0,
    "controlplane_forecast_error_ratio": 0.2,
    # Above the dashboards' annotation threshold (0.8), so the anomaly annotation has a series.
    "controlplane_anomaly_score": 0.9,
    "controlplane_signal_missing": 0.0,
    "controlplane_owner_conflict": 0.0,
    "controlplane_pending_replicas": 0.0,
}
_BUCKETS = ((0.01, 0.2), (0.1, 0.7), (1.0, 0.95), (10.0, 1.0))


class SyntheticCollector(Collector):
    """Collects ``families`` (catalog entries) with every combination of :data:`LABEL_VALUES`."""

    def __init__(self, families: Iterable[catalog.MetricFamily], start: float | None = None) -> None:
        self.families = list(families)
        self.start = time.time() if start is None else start

    def _label_sets(self, fam: catalog.MetricFamily) -> Iterator[tuple[str, ...]]:
        return itertools.product(*(LABEL_VALUES[label] for label in fam.labels))

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        elapsed = max(now - self.start, 0.001)
        for fam in self.families:
            labels = list(fam.labels)
            m: Any
            if fam.type == "counter":
                m = CounterMetricFamily(fam.name.removesuffix("_total"), fam.help, labels=labels)
                for values in self._label_sets(fam):
                    m.add_metric(list(values), elapsed)
            elif fam.type == "histogram":
                m = HistogramMetricFamily(fam.name, fam.help, labels=labels)
                count = 2 * elapsed
                for values in self._label_sets(fam):
                    buckets = [(repr(b), share * count) for b, share in _BUCKETS] + [("+Inf", count)]
                    m.add_metric(list(values), buckets, 0.05 * count)
            else:
                value = now if fam.name == "controlplane_last_tick_timestamp_seconds" else GAUGE_VALUES.get(fam.name, 2.0)
                m = GaugeMetricFamily(fam.name, fam.help, labels=labels)
                for values in self._label_sets(fam):
                    m.add_metric(list(values), value)
            yield m
