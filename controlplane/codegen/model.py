"""The shapes codegen builds before rendering: rules, alerts with their runbooks and test cases.

Owns: :class:`Recording`, :class:`Alert`, :class:`Runbook`, :class:`Case`,
:class:`RuleFile` and their rendering to Prometheus rule-file dictionaries.
Must not import: grafanalib, subprocess or any HTTP library.

An :class:`Alert` carries everything generated from it: the rule, the runbook
text, and the promtool scenarios that prove it stays silent before ``for``
elapses and fires afterwards with exact labels and annotations.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from controlplane.codegen.config import duration_seconds

__all__ = [
    "AUTOSCALER_UID",
    "HEALTH_UID",
    "SERVING_UID",
    "Alert",
    "Case",
    "Recording",
    "RuleFile",
    "RuleGroup",
    "Runbook",
    "Series",
    "case_times",
    "humanize",
    "num",
    "render_template",
    "sentence",
    "steady",
]

# Grafana uids of the generated dashboards; alerts name theirs in the dashboard_uid annotation.
SERVING_UID = "llm-serving-overview"
AUTOSCALER_UID = "llm-autoscaler"
HEALTH_UID = "llm-controlplane-health"

_ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]+$")
_RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")
_SEVERITIES = ("page", "ticket", "info")


def num(x: float) -> str:
    """A number as PromQL and humans read it: 0.144, 6, 1e-05."""
    return f"{x:.10g}"


def humanize(v: float) -> str:
    """Prometheus' ``humanize`` template function: %.4g with an SI prefix (1.5k, 250m)."""
    if v == 0 or math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
    else:
        for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
            if abs(v) >= 1:
                break
            prefix, v = p, v * 1000
    return f"{v:.4g}{prefix}"


def steady(value: float, until: str) -> str:
    """promtool values: ``value`` every minute until 10 minutes past ``until``."""
    return f"{num(value)}x{duration_seconds(until) // 60 + 10}"


def sentence(text: str) -> str:
    """``text`` with its first letter upper-cased and the rest untouched (SLO stays SLO)."""
    return text[:1].upper() + text[1:]


def case_times(for_: str, first_true: str = "0m") -> tuple[str, str]:
    """When to look for silence and for firing, given when the condition first holds.

    Silent halfway through ``for`` (whole minutes, the evaluation grid); firing
    two minutes after ``for`` has elapsed, so one missed evaluation does not matter.
    """
    start = duration_seconds(first_true)
    hold = duration_seconds(for_)
    silent = start + max(0, (hold // 2) // 60 * 60)
    return f"{silent // 60}m", f"{(start + hold + 120) // 60}m"


@dataclass(frozen=True)
class Recording:
    """A recording rule named level:metric:operations."""

    record: str
    expr: str

    def __post_init__(self) -> None:
        if not _RECORD_NAME.match(self.record):
            raise ValueError(f"record: {self.record!r} is not level:metric:operations")

    def to_rule(self) -> dict[str, Any]:
        return {"record": self.record, "expr": self.expr}


@dataclass(frozen=True)
class Series:
    """One promtool input series in expanding notation, e.g. ``0+60x30``."""

    series: str
    values: str


@dataclass(frozen=True)
class Case:
    """A promtool scenario for one alert.

    The alert must be silent at ``silent_at`` (condition true, ``for`` not yet
    elapsed, or the condition false on purpose) and, when ``labels`` is not
    None, firing at ``firing_at`` with exactly ``labels`` (severity added) and the
    annotations rendered with them; ``value_text`` replaces ``{{ $value ... }}``.
    """

    name: str
    series: tuple[Series, ...]
    silent_at: str
    firing_at: str | None = None
    labels: dict[str, str] | None = None
    value_text: str | None = None
    interval: str = "1m"


@dataclass(frozen=True)
class Runbook:
    meaning: str
    checks: tuple[str, ...]
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    runbook: Runbook
    cases: tuple[Case, ...]
    runbook_url: str
    dashboard: str = ""

    def __post_init__(self) -> None:
        if not _ALERT_NAME.match(self.name):
            raise ValueError(f"alert: {self.name!r} is not CamelCase")
        if self.severity not in _SEVERITIES:
            raise ValueError(f"{self.name}.severity: {self.severity!r} is not one of {_SEVERITIES}")
        if not any(c.labels is not None for c in self.cases):
            raise ValueError(f"{self.name}.cases: needs at least one case where the alert fires")

    def to_rule(self) -> dict[str, Any]:
        annotations = {"summary": self.summary, "description": self.description, "runbook_url": self.runbook_url}
        if self.dashboard:
            annotations["dashboard_uid"] = self.dashboard
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity},
            "annotations": annotations,
        }

    def rendered_annotations(self, case: Case) -> dict[str, str]:
        """The annotations as Prometheus renders them for ``case`` (labels and value filled in)."""
        out = {}
        for key, text in self.to_rule()["annotations"].items():
            out[key] = render_template(text, case.labels or {}, case.value_text)
        return out


_LABEL_REF = re.compile(r"\{\{ \$labels\.([a-zA-Z_][a-zA-Z0-9_]*) \}\}")
_VALUE_REF = re.compile(r"\{\{ \$value[^}]*\}\}")


def render_template(text: str, labels: dict[str, str], value_text: str | None) -> str:
    """Fill the two template forms codegen uses: ``{{ $labels.x }}`` and ``{{ $value | f }}``."""
    text = _LABEL_REF.sub(lambda m: labels.get(m.group(1), "<no value>"), text)
    if _VALUE_REF.search(text):
        if value_text is None:
            raise ValueError("a case of an alert whose annotations show $value must set value_text")
        text = _VALUE_REF.sub(value_text, text)
    if "{{" in text:
        raise ValueError(f"template form not supported by codegen's renderer: {text!r}")
    return text


@dataclass(frozen=True)
class RuleGroup:
    name: str
    interval: str
    rules: tuple[Recording | Alert, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "interval": self.interval, "rules": [r.to_rule() for r in self.rules]}


@dataclass(frozen=True)
class RuleFile:
    """One file under alert_rules/ and, beside it, its promtool test file.

    ``needs`` names other rule files whose recording rules these alerts read.
    """

    name: str
    groups: tuple[RuleGroup, ...]
    needs: tuple[str, ...] = field(default_factory=tuple)

    @property
    def alerts(self) -> list[Alert]:
        return [r for g in self.groups for r in g.rules if isinstance(r, Alert)]

    @property
    def recordings(self) -> list[Recording]:
        return [r for g in self.groups for r in g.rules if isinstance(r, Recording)]

    def to_dict(self) -> dict[str, Any]:
        return {"groups": [g.to_dict() for g in self.groups]}
