"""The committed openapi.json is exactly what the app generates."""

from __future__ import annotations

from pathlib import Path

from controlplane.api.openapi import openapi_document, render

REPO = Path(__file__).resolve().parents[2]


def test_committed_openapi_matches_the_app() -> None:
    committed = (REPO / "openapi.json").read_text()
    assert committed == render(openapi_document()), (
        "openapi.json is stale: python3 -m controlplane api openapi -o openapi.json"
    )


def test_every_v1_operation_declares_bearer_auth_and_its_errors() -> None:
    doc = openapi_document()
    for path, ops in doc["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in ops.items():
            assert op.get("security") == [{"HTTPBearer": []}], (method, path)
            assert {"401", "403", "429"} <= set(op["responses"]), (method, path)
