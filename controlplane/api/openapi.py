"""The committed OpenAPI document: generated from the app, compared by a test.

Owns: :func:`openapi_document` and :func:`render` (sorted keys, two-space
indent, trailing newline, so a diff of ``openapi.json`` shows only real
changes). Regenerate with ``python3 -m controlplane api openapi -o openapi.json``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["openapi_document", "render"]


def openapi_document() -> dict[str, Any]:
    from controlplane.api.app import create_app
    from controlplane.api.auth import Authenticator
    from controlplane.api.settings import ApiOptions
    from controlplane.store.db import Database

    db = Database(":memory:")
    try:
        doc: dict[str, Any] = create_app(ApiOptions(), db, auth=Authenticator()).openapi()
        return doc
    finally:
        db.close()


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
