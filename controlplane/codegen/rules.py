"""All rule files, from the one config: SLO, serving, control plane, capacity.

Owns: :func:`rule_files`, the ordered list every renderer (rule YAML, promtool
tests, PrometheusRule, runbooks, Alertmanager routes) iterates.
Must not import: grafanalib, subprocess or any HTTP library.
"""

from __future__ import annotations

from controlplane.codegen.capacity_alerts import capacity_rule_file
from controlplane.codegen.config import CodegenConfig
from controlplane.codegen.controlplane_alerts import controlplane_rule_file
from controlplane.codegen.model import Alert, Recording, RuleFile
from controlplane.codegen.serving_alerts import serving_rule_file
from controlplane.codegen.slo import slo_rule_file

__all__ = ["rule_files", "all_alerts", "all_recordings"]


def rule_files(cfg: CodegenConfig) -> list[RuleFile]:
    files = [slo_rule_file(cfg), serving_rule_file(cfg), controlplane_rule_file(cfg), capacity_rule_file(cfg)]
    seen: set[str] = set()
    for f in files:
        for a in f.alerts:
            if a.name in seen:
                raise ValueError(f"alert {a.name} is defined twice")
            seen.add(a.name)
    return files


def all_alerts(cfg: CodegenConfig) -> list[Alert]:
    return [a for f in rule_files(cfg) for a in f.alerts]


def all_recordings(cfg: CodegenConfig) -> list[Recording]:
    return [r for f in rule_files(cfg) for r in f.recordings]
