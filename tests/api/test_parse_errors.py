"""Bodies that cannot be read: each answer names ``body`` and what is wrong (line and column for
JSON), every body over the limit is 413 however it is sent, and docs/api.md lists the routes
openapi.json has."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.api import ApiOptions, create_app
from controlplane.clock import FakeClock
from controlplane.store import Database
from tests.api.conftest import POLICY, TestClient

ROOT = Path(__file__).resolve().parents[2]
JSON_TYPE = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "case,body,message",
    [
        ("truncated", b'{"name": "chat", "tar', "at line 1, column 18"),
        ("truncated on line 3", b'{\n  "name": "chat",\n  "target": {"kind"', "at line 3, column 20"),
        ("trailing comma", b'{"name": "chat",}', "at line 1, column 17"),
        ("depth 10,000", b"[" * 10_000 + b"]" * 10_000, "JSON nested too deeply to parse"),
        ("invalid UTF-8", b'{"name": "\xff\xfe"}', "not valid UTF-8 (byte 10)"),
    ],
    ids=["truncated", "truncated on line 3", "trailing comma", "depth 10,000", "invalid UTF-8"],
)
def test_unreadable_bodies_name_body_and_where(
    client: TestClient, admin: dict[str, str], case: str, body: bytes, message: str
) -> None:
    r = client.post("/v1/policies", content=body, headers={**admin, **JSON_TYPE})
    assert r.status_code == 422, (case, r.text)
    item = r.json()["detail"][0]
    assert item["field"] == "body" and item["loc"] == ["body"], case
    assert message in item["msg"], (case, item["msg"])


@pytest.fixture
def small(options: ApiOptions, db: Database, clock: FakeClock) -> Iterator[TestClient]:
    limited = ApiOptions(**{**options.__dict__, "max_body_bytes": 4096})
    with TestClient(create_app(limited, db, clock=clock)) as c:
        yield c


def _chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_every_body_over_the_limit_is_413(small: TestClient, admin: dict[str, str]) -> None:
    big = json.dumps(
        {**POLICY, "schedule": [{"name": "x" * 50, "start": "08:00", "end": "09:00"}] * 60}
    ).encode()
    assert len(big) > 4096
    sized = small.post("/v1/policies", content=big, headers={**admin, **JSON_TYPE})
    chunked = small.post("/v1/policies", content=_chunks(big), headers={**admin, **JSON_TYPE})
    whatif = small.post("/v1/whatif", content=_chunks(big), headers={**admin, **JSON_TYPE})
    for r in (sized, chunked, whatif):
        assert r.status_code == 413 and "4096 bytes" in r.json()["detail"], r.text
    assert "content-length" not in {k.lower() for k in chunked.request.headers}
    # under the limit a chunked body is read as usual
    ok = small.post(
        "/v1/policies", content=_chunks(json.dumps(POLICY).encode(), 7), headers={**admin, **JSON_TYPE}
    )
    assert ok.status_code == 201, ok.text


def _documented_routes() -> set[tuple[str, str]]:
    table = (ROOT / "docs" / "api.md").read_text().split("## Routes", 1)[1].split("\n## ", 1)[0]
    routes = set()
    for cell in re.findall(r"^\| `([A-Z]+ /[^`?]*)", table, flags=re.M):
        method, path = cell.split(" ", 1)
        routes.add((method, path.strip()))
    return routes


def test_docs_route_table_matches_openapi() -> None:
    doc: dict[str, Any] = json.loads((ROOT / "openapi.json").read_text())
    in_schema = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert _documented_routes() == in_schema
