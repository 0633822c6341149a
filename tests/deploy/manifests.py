"""The rendered manifests as objects, for the deploy tests."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from serving.k8s.render import K8S, OVERLAYS

__all__ = ["OVERLAYS", "documents", "find", "container"]


@cache
def _load(overlay: str) -> tuple[dict[str, Any], ...]:
    text = (K8S / "rendered" / f"{overlay}.yaml").read_text()
    return tuple(d for d in yaml.safe_load_all(text) if d)


def documents(overlay: str) -> list[dict[str, Any]]:
    return list(_load(overlay))


def find(overlay: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    hits = [
        d
        for d in _load(overlay)
        if d["kind"] == kind
        and d["metadata"]["name"] == name
        and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]
    assert len(hits) == 1, f"{overlay}: expected one {kind} {name}, found {len(hits)}"
    return hits[0]


def container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name)
