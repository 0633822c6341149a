"""promtool unit-test files built from each alert's cases.

Owns: :func:`promtool_document`, turning a :class:`RuleFile`'s alerts and their
:class:`Case` rows into a ``promtool test rules`` document.
Must not import: grafanalib, subprocess or any HTTP library.

Every case becomes one test group: the alert is expected silent at
``silent_at`` and, for a firing case, firing at ``firing_at`` with exactly the
case's labels plus ``severity`` and the annotations rendered from them.
"""

from __future__ import annotations

from typing import Any

from controlplane.codegen.model import Alert, Case, RuleFile

__all__ = ["promtool_document", "count_cases"]


def _group(alert: Alert, case: Case) -> dict[str, Any]:
    tests: list[dict[str, Any]] = [{"eval_time": case.silent_at, "alertname": alert.name, "exp_alerts": []}]
    if case.labels is not None:
        tests.append(
            {
                "eval_time": case.firing_at,
                "alertname": alert.name,
                "exp_alerts": [
                    {
                        "exp_labels": {**case.labels, "severity": alert.severity},
                        "exp_annotations": alert.rendered_annotations(case),
                    }
                ],
            }
        )
    group: dict[str, Any] = {
        "name": f"{alert.name}: {case.name}",
        "interval": case.interval,
        "input_series": [{"series": s.series, "values": s.values} for s in case.series],
        "alert_rule_test": tests,
    }
    if case.labels is not None:
        # Silent must mean pending: the condition holds and only ``for`` keeps it quiet.
        pending = {**case.labels, "alertname": alert.name, "alertstate": "pending", "severity": alert.severity}
        group["promql_expr_test"] = [
            {
                "expr": f'ALERTS{{alertname="{alert.name}", alertstate="pending"}}',
                "eval_time": case.silent_at,
                "exp_samples": [{"labels": _series_text("ALERTS", pending), "value": 1}],
            }
        ]
    return group


def _series_text(name: str, labels: dict[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def promtool_document(rules: RuleFile, interval: str, needed: list[RuleFile] | None = None) -> dict[str, Any]:
    """The promtool document for ``rules``; rule files are named relative to alert_rules/tests/.

    ``needed`` are the rule files named in ``rules.needs``. Their groups come first in
    ``group_eval_order``: promtool otherwise evaluates groups in map order, so an alert
    could read a recording rule's previous value in one run and its current one in the next.
    """
    needed = needed or []
    files = [f"../{f.name}.yaml" for f in needed] + [f"../{rules.name}.yaml"]
    order = [g.name for f in (*needed, rules) for g in f.groups]
    return {
        "rule_files": files,
        "evaluation_interval": interval,
        "group_eval_order": order,
        "tests": [_group(a, c) for a in rules.alerts for c in a.cases],
    }


def count_cases(rules: RuleFile) -> int:
    """Checks: one silent per case; for a firing case also pending-at-silent and firing."""
    return sum(1 + 2 * (c.labels is not None) for a in rules.alerts for c in a.cases)
