"""Dashboard structure: fixed ids, a unit and thresholds on every panel, the template
variables, SLO lines, and runbooks behind every alert."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from controlplane.codegen.config import CodegenConfig
from controlplane.codegen.rules import all_alerts

BOARDS = ["serving-overview.json", "autoscaler.json", "controlplane-health.json"]
REPO = Path(__file__).resolve().parents[2]


def _board(generated: dict[str, str], name: str) -> dict[str, Any]:
    return json.loads(generated[f"dashboards/{name}"])


def _data_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


@pytest.mark.parametrize("name", BOARDS)
def test_ids_are_fixed_and_unique(generated: dict[str, str], name: str) -> None:
    ids = [p["id"] for p in _board(generated, name)["panels"]]
    assert ids == list(range(1, len(ids) + 1))


@pytest.mark.parametrize("name", BOARDS)
def test_every_panel_has_unit_thresholds_and_queries(generated: dict[str, str], name: str) -> None:
    for p in _data_panels(_board(generated, name)):
        defaults = p["fieldConfig"]["defaults"]
        assert defaults.get("unit"), p["title"]
        steps = defaults["thresholds"]["steps"]
        assert steps and steps[0]["value"] is None, p["title"]
        assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert p["description"], p["title"]


@pytest.mark.parametrize("name", BOARDS)
def test_panels_do_not_overlap(generated: dict[str, str], name: str) -> None:
    cells: set[tuple[int, int]] = set()
    for p in _board(generated, name)["panels"]:
        pos = p["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & mine, p["title"]
        cells |= mine


@pytest.mark.parametrize("name", BOARDS)
def test_namespace_and_model_variables(generated: dict[str, str], name: str) -> None:
    variables = {v["name"]: v for v in _board(generated, name)["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["namespace"]["query"]["query"].startswith("label_values(")
    assert variables["model"]["query"]["query"].startswith("label_values(")
    used = set(re.findall(r"\$([a-z_]+)", generated[f"dashboards/{name}"])) - {"__rate_interval", "labels", "value"}
    assert used <= set(variables) | {"1"}, used - set(variables)


def test_latency_panels_draw_the_slo_as_a_line(generated: dict[str, str]) -> None:
    slo = CodegenConfig().slo
    panels = {p["title"]: p for p in _data_panels(_board(generated, "serving-overview.json"))}
    for title, target in (("Time to first token", slo.ttft_p95_s), ("Inter-token latency", slo.itl_p95_s),
                          ("End-to-end latency", slo.e2e_p95_s)):
        defaults = panels[title]["fieldConfig"]["defaults"]
        assert defaults["custom"]["thresholdsStyle"]["mode"] == "line"
        assert defaults["thresholds"]["steps"][-1] == {"color": "red", "value": target}
        assert [t["legendFormat"].split()[0] for t in panels[title]["targets"]] == ["p50", "p95", "p99"]


def test_dashboard_json_is_sorted_and_stable(generated: dict[str, str]) -> None:
    for name in BOARDS:
        text = generated[f"dashboards/{name}"]
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"


def test_every_alert_has_its_runbook() -> None:
    for alert in all_alerts(CodegenConfig()):
        path = REPO / "runbooks" / f"{alert.name}.md"
        assert path.is_file(), path
        text = path.read_text()
        for section in ("## What it means", "## How to check", "## What to do"):
            assert section in text, (alert.name, section)
        assert alert.runbook_url.endswith(f"/runbooks/{alert.name}.md")


def test_codegen_takes_metric_names_from_the_catalog() -> None:
    # Only names.py spells catalog names; everything else refers to names.X.
    from controlplane import catalog

    spelled = {*catalog.ALL_FAMILIES, *catalog.VLLM_ALIASES} - {"up"}
    codegen = REPO / "controlplane" / "codegen"
    for path in sorted(codegen.rglob("*.py")):
        if path.name == "names.py":
            continue
        text = path.read_text()
        # A name followed by _bucket, _count or _sum still counts as spelling it.
        found = sorted(n for n in spelled if re.search(rf"(?<![\w:]){re.escape(n)}(?![A-Za-z0-9:])", text))
        assert not found, f"{path.relative_to(REPO)} spells {found}; use controlplane.codegen.names"
