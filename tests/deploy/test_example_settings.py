"""examples/controller.yaml equals the ControllerConfig defaults, except the
values an in-cluster install needs; each of those is marked "deployment-specific"
on its line, and this table is the list."""

from __future__ import annotations

from typing import Any

import yaml

from controlplane.config import ControllerConfig, load_config
from serving.k8s.render import REPO

EXAMPLE = REPO / "examples" / "controller.yaml"

# dotted key -> the in-cluster value (the default is in controlplane/config.py).
DEPLOYMENT_SPECIFIC = {
    "prometheus.url": "http://prometheus-operated.monitoring.svc:9090",
    "kubernetes.enabled": True,
    "leader.enabled": True,
    "loop.database": "/data/controlplane.db",
    "loop.policies_file": "/etc/controlplane/config/policies.yaml",
    "api.tokens_file": "/etc/controlplane/secrets/tokens",
    "alertmanager.url": "http://alertmanager-operated.monitoring.svc:9093",
}


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_example_differs_from_defaults_only_where_documented() -> None:
    example = _flat(load_config(EXAMPLE).model_dump())
    defaults = _flat(ControllerConfig().model_dump())
    differ = {k: example[k] for k in defaults if example[k] != defaults[k]}
    assert differ == DEPLOYMENT_SPECIFIC


def test_example_lists_every_key() -> None:
    """Every setting appears in the file, so it reads as the full reference."""
    written = _flat(yaml.safe_load(EXAMPLE.read_text()))
    assert set(written) == set(_flat(ControllerConfig().model_dump()))


def test_marked_lines_are_the_documented_ones() -> None:
    marked = []
    section = ""
    for line in EXAMPLE.read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            section = line.split(":", 1)[0]
        elif "# deployment-specific" in line:
            marked.append(f"{section}.{line.strip().split(':', 1)[0]}")
    assert sorted(marked) == sorted(DEPLOYMENT_SPECIFIC)
