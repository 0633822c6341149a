"""Panel builders on grafanalib with fixed ids and a simple grid, and the shared variables.

Owns: :class:`Layout` (assigns panel ids in definition order and grid positions,
so the JSON is stable), the panel helpers (time series, stat, state timeline,
table) that always set a unit and thresholds, the template variables, and
:func:`render` (grafanalib's encoder with sorted keys).
Must not import: subprocess or any HTTP library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from controlplane.codegen.config import CodegenConfig

__all__ = [
    "Layout",
    "Query",
    "DS",
    "VAR_NAMESPACE",
    "VAR_MODEL",
    "steps",
    "variables",
    "dashboard",
    "render",
]

DS = {"type": "prometheus", "uid": "${datasource}"}
VAR_NAMESPACE = "$namespace"
VAR_MODEL = "$model"
_WIDTH = 24


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


def steps(*pairs: tuple[str, float | None]) -> list[dict[str, Any]]:
    """Grafana threshold steps: the first has no value (the base colour)."""
    return [{"color": color, "value": value} for color, value in pairs]


def _targets(queries: list[Query]) -> list[g.Target]:
    return [
        g.Target(
            expr=q.expr,
            legendFormat=q.legend,
            refId=chr(ord("A") + i),
            instant=q.instant,
            format="table" if q.instant else "time_series",
            datasource=DS,
        )
        for i, q in enumerate(queries)
    ]


@dataclass
class Layout:
    """Places panels left to right in rows of 24 columns and numbers them from 1."""

    panels: list[Any] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _row_h: int = 0

    def _pos(self, w: int, h: int) -> g.GridPos:
        if self._x + w > _WIDTH:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0
        pos = g.GridPos(h=h, w=w, x=self._x, y=self._y)
        self._x += w
        self._row_h = max(self._row_h, h)
        return pos

    @property
    def next_id(self) -> int:
        return len(self.panels) + 1

    def _common(self, title: str, description: str, queries: list[Query], w: int, h: int) -> dict[str, Any]:
        """What every data panel carries: its title and help, the next id and place, the queries."""
        return {
            "title": title,
            "description": description,
            "id": self.next_id,
            "gridPos": self._pos(w, h),
            "dataSource": DS,
            "targets": _targets(queries),
        }

    def row(self, title: str) -> None:
        if self._x:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0
        self.panels.append(g.RowPanel(title=title, id=self.next_id, gridPos=self._pos(_WIDTH, 1)))
        self._x, self._y, self._row_h = 0, self._y + 1, 0

    def timeseries(
        self,
        title: str,
        queries: list[Query],
        unit: str,
        thresholds: list[dict[str, Any]],
        description: str,
        *,
        line: bool = False,
        w: int = 12,
        h: int = 8,
        draw: str = "line",
        stack: bool = False,
    ) -> None:
        """``line`` draws the thresholds as lines (an SLO or alert threshold), not just colours."""
        self.panels.append(
            g.TimeSeries(
                **self._common(title, description, queries, w, h),
                unit=unit,
                thresholds=thresholds,
                thresholdsStyleMode="line" if line else "off",
                drawStyle=draw,
                fillOpacity=30 if stack else 0,
                stacking={"mode": "normal", "group": "A"} if stack else {},
                legendDisplayMode="table",
                legendCalcs=["lastNotNull", "max"],
                tooltipMode="multi",
            )
        )

    def stat(
        self, title: str, queries: list[Query], unit: str, thresholds: list[dict[str, Any]], description: str,
        *, w: int = 6, h: int = 5, decimals: int | None = None,
    ) -> None:
        self.panels.append(
            g.Stat(
                **self._common(title, description, queries, w, h),
                format=unit,
                thresholds=thresholds,
                colorMode="value",
                reduceCalc="lastNotNull",
                decimals=decimals,
            )
        )

    def timeline(
        self, title: str, queries: list[Query], mappings: list[dict[str, Any]], thresholds: list[dict[str, Any]],
        description: str, *, unit: str = "none", w: int = 12, h: int = 8,
    ) -> None:
        self.panels.append(
            g.StateTimeline(
                **self._common(title, description, queries, w, h),
                mappings=mappings,
                thresholds=thresholds,
                extraJson={"fieldConfig": {"defaults": {"unit": unit}}},
            )
        )

    def table(
        self, title: str, queries: list[Query], unit: str, thresholds: list[dict[str, Any]], description: str,
        *, w: int = 12, h: int = 8,
    ) -> None:
        self.panels.append(
            g.Table(
                **self._common(title, description, queries, w, h),
                unit=unit,
                thresholds=thresholds,
                transformations=[{"id": "merge", "options": {}}],
            )
        )


def _query_var(name: str, label: str, query: str) -> g.Template:
    return g.Template(
        name=name,
        label=label,
        query={"query": query, "refId": f"{name}-values"},
        dataSource=DS,
        includeAll=True,
        multi=True,
        allValue=".*",
        default="All",
        refresh=2,
        sort=1,
    )


def variables(*extra: g.Template, model_metric: str) -> list[g.Template]:
    """The data source, namespace and model variables every dashboard starts with."""
    datasource = g.Template(
        name="datasource", label="Data source", query="prometheus", type="datasource", default="Prometheus"
    )
    return [
        datasource,
        _query_var("namespace", "Namespace", f"label_values({model_metric}, namespace)"),
        _query_var("model", "Model", f'label_values({model_metric}{{namespace=~"$namespace"}}, model_name)'),
        *extra,
    ]


def query_var(name: str, label: str, query: str) -> g.Template:
    return _query_var(name, label, query)


def dashboard(
    cfg: CodegenConfig, uid: str, title: str, description: str, layout: Layout, templates: list[g.Template],
    annotations: list[dict[str, Any]] | None = None,
) -> g.Dashboard:
    return g.Dashboard(
        title=title,
        uid=uid,
        description=description,
        tags=["llm-controlplane", "generated"],
        # A drop-down to the other generated dashboards, keeping the time range and variables.
        links=[{"type": "dashboards", "tags": ["llm-controlplane"], "asDropdown": True, "title": "LLM control plane",
                "includeVars": True, "keepTime": True}],
        panels=layout.panels,
        templating=g.Templating(list=templates),
        annotations=g.Annotations(list=annotations or []),
        refresh=cfg.dashboard_refresh,
        time=g.Time(cfg.dashboard_time_from, "now"),
        timezone="utc",
        graphTooltip=1,
        schemaVersion=37,
        editable=True,
    )


def render(dash: g.Dashboard) -> str:
    """JSON with sorted keys and a trailing newline: regenerating gives identical bytes."""
    return json.dumps(dash.to_json_data(), cls=DashboardEncoder, sort_keys=True, indent=2) + "\n"
