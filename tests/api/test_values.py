"""Numbers that cannot round-trip are refused: non-finite, out of range, booleans as integers,
strings as numbers, in policies, overrides and what-ifs, each with 422 naming the field. And the
round trip itself: whatever PUT accepts, GET returns as a body PUT accepts unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.api import ApiOptions, create_app
from controlplane.clock import FakeClock
from controlplane.policy.model import MAX_REPLICAS
from controlplane.store import Database
from controlplane.store.overrides import MAX_OVERRIDE_S
from tests.api.conftest import POLICY, STATIC, TestClient, bearer

NOW = 1_795_521_600.0
ADMIN = bearer(STATIC["admin"])


def _raw(client: TestClient, method: str, path: str, text: str, headers: dict[str, str]) -> Any:
    """Send JSON text as written: Python's json (and FastAPI's parser) reads Infinity and NaN."""
    return client.request(method, path, content=text, headers={**headers, "Content-Type": "application/json"})


def _policy_text(**fields: str) -> str:
    """POLICY with each dotted field set to the given JSON text (``"slo.ttft_p95_s": "1e400"``)."""
    body: dict[str, Any] = json.loads(json.dumps(POLICY))
    marks = {}
    for i, (dotted, _) in enumerate(fields.items()):
        *parents, leaf = dotted.split(".")
        node = body
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = f"@{i}@"
        marks[f'"@{i}@"'] = fields[dotted]
    text = json.dumps(body)
    for mark, value in marks.items():
        text = text.replace(mark, value)
    return text


POLICY_CASES = [
    ("infinite signal age", {"max_signal_age_s": "Infinity"}, "max_signal_age_s"),
    ("overflowing SLO", {"slo.ttft_p95_s": "1e400"}, "slo.ttft_p95_s"),
    ("NaN start-up", {"startup_s": "NaN"}, "startup_s"),
    ("negative infinity stabilization", {"windows.scale_down_stabilization_s": "-Infinity"},
     "windows.scale_down_stabilization_s"),
    ("boolean replicas", {"max_replicas": "true"}, "max_replicas"),
    ("boolean step", {"steps.max_up_pods": "false"}, "steps.max_up_pods"),
    ("boolean as a number", {"signals.waiting_requests": "true"}, "signals.waiting_requests"),
    ("huge replicas", {"max_replicas": str(10**30)}, "max_replicas"),
    ("replicas just over the bound", {"max_replicas": str(MAX_REPLICAS + 1)}, "max_replicas"),
    ("fractional replicas", {"max_replicas": "8.0"}, "max_replicas"),
    ("number as text", {"startup_s": '"180"'}, "startup_s"),
    ("integer as a boolean", {"scale_to_zero.enabled": "1"}, "scale_to_zero.enabled"),
    ("day-long signal age is the most", {"max_signal_age_s": "86400.5"}, "max_signal_age_s"),
]  # fmt: skip


@pytest.mark.parametrize("case,fields,field", POLICY_CASES, ids=[c[0] for c in POLICY_CASES])
def test_policy_numbers_that_cannot_round_trip_are_422(
    client: TestClient, admin: dict[str, str], case: str, fields: dict[str, str], field: str
) -> None:
    r = _raw(client, "POST", "/v1/policies", _policy_text(**fields), admin)
    assert r.status_code == 422, (case, r.text)
    assert r.json()["detail"][0]["field"] == field, case
    assert client.post("/v1/policies", json=POLICY, headers=admin).status_code == 201
    r = _raw(client, "PUT", "/v1/policies/chat", _policy_text(**fields), admin)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == field, case
    assert client.get("/v1/policies/chat", headers=admin).json()["version"] == 1


def test_bounds_are_inclusive_and_in_the_schema(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/v1/policies", json={**POLICY, "max_replicas": MAX_REPLICAS}, headers=admin)
    assert r.status_code == 201 and r.json()["policy"]["max_replicas"] == MAX_REPLICAS
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ScalingPolicy"]
    assert schema["properties"]["max_replicas"]["maximum"] == MAX_REPLICAS


OVERRIDE = {"target": "ml/vllm", "kind": "pin", "replicas": 3, "reason": "load test"}
OVERRIDE_CASES = [
    ("expiry beyond the cap", {"expires_at": repr(1e18)}, "expires_at"),
    ("expiry a day past the cap", {"expires_at": repr(NOW + MAX_OVERRIDE_S + 86_400)}, "expires_at"),
    ("infinite expiry", {"expires_at": "Infinity"}, "expires_at"),
    ("boolean expiry", {"expires_at": "true"}, "expires_at"),
    ("infinite ttl", {"ttl_s": "Infinity"}, "ttl_s"),
    ("ttl over the cap", {"ttl_s": repr(MAX_OVERRIDE_S + 1)}, "ttl_s"),
    ("boolean replicas", {"ttl_s": "60", "replicas": "true"}, "replicas"),
    ("replicas over the bound", {"ttl_s": "60", "replicas": str(MAX_REPLICAS + 1)}, "replicas"),
]


@pytest.mark.parametrize("case,fields,field", OVERRIDE_CASES, ids=[c[0] for c in OVERRIDE_CASES])
def test_override_numbers_out_of_range_are_422(
    client: TestClient, operator: dict[str, str], case: str, fields: dict[str, str], field: str
) -> None:
    body = {**OVERRIDE, **{k: f"@{k}@" for k in fields}}
    text = json.dumps(body)
    for k, v in fields.items():
        text = text.replace(f'"@{k}@"', v)
    r = _raw(client, "POST", "/v1/overrides", text, operator)
    assert r.status_code == 422, (case, r.text)
    assert r.json()["detail"][0]["field"] == field, case
    assert client.get("/v1/overrides", headers=operator).json() == []


def test_override_expiry_obeys_the_same_cap_as_ttl(client: TestClient, operator: dict[str, str]) -> None:
    r = client.post("/v1/overrides", json={**OVERRIDE, "expires_at": NOW + MAX_OVERRIDE_S}, headers=operator)
    assert r.status_code == 201 and r.json()["expires_at"] == NOW + MAX_OVERRIDE_S


def test_whatif_refuses_a_non_finite_candidate(client: TestClient, operator: dict[str, str]) -> None:
    text = json.dumps({"policy": "@p@", "trace": {"content": "x"}}).replace(
        '"@p@"', _policy_text(startup_s="1e400")
    )
    r = _raw(client, "POST", "/v1/whatif", text, operator)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "policy.startup_s"
    text = json.dumps({"policy": POLICY, "trace": {"content": "x"}, "start_s": "@s@"}).replace(
        '"@s@"', "Infinity"
    )
    r = _raw(client, "POST", "/v1/whatif", text, operator)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "start_s"


# the round trip

NUMBER_FIELDS = [
    "min_replicas", "max_replicas", "startup_s", "max_signal_age_s",
    "slo.ttft_p95_s", "slo.itl_p95_s", "slo.e2e_p95_s", "slo.objective",
    "signals.waiting_requests", "signals.kv_cache_usage", "signals.generation_tokens_per_s",
    "signals.running_requests", "windows.stable_s", "windows.panic_s", "windows.panic_threshold",
    "windows.scale_up_stabilization_s", "windows.scale_down_stabilization_s",
    "steps.max_up_pods", "steps.max_up_percent", "steps.max_down_pods", "steps.max_down_percent",
    "scale_to_zero.enabled", "scale_to_zero.activation_requests", "scale_to_zero.idle_period_s",
    "predictive.enabled", "predictive.quantile", "predictive.max_error_mape", "predictive.target_utilization",
]  # fmt: skip

VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-9, max_value=1e6),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=0, max_value=64),
    st.booleans(),
    st.none(),
    st.sampled_from(["5", "", "1e400"]),
)


def _forbid_constants(name: str) -> Any:
    raise AssertionError(f"the API answered {name}, which is not JSON")


@pytest.fixture(scope="module")
def roundtrip_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for every example (hypothesis runs them all inside one test call)."""
    tokens = tmp_path_factory.mktemp("roundtrip") / "tokens"
    tokens.write_text(f"{STATIC['admin']} admin roundtrip\n")
    db = Database(":memory:")
    opts = ApiOptions(tokens_file=str(tokens), rate_per_s=1e6, rate_burst=10**6)
    with TestClient(create_app(opts, db, clock=FakeClock(NOW))) as c:
        yield c
    db.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(st.sampled_from(NUMBER_FIELDS), VALUES, max_size=6))
def test_every_accepted_policy_comes_back_as_a_body_put_accepts_unchanged(
    roundtrip_client: TestClient, fields: dict[str, Any]
) -> None:
    client = roundtrip_client
    body: dict[str, Any] = json.loads(json.dumps(POLICY))
    for dotted, value in fields.items():
        *parents, leaf = dotted.split(".")
        node = body
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    client.delete("/v1/policies/chat", headers=ADMIN)
    r = _raw(client, "POST", "/v1/policies", json.dumps(body), ADMIN)  # json.dumps writes Infinity, NaN
    assert r.status_code in (201, 422), r.text
    if r.status_code == 422:
        named = r.json()["detail"][0]["field"]
        assert any(named == f or named.startswith(f.split(".")[0]) for f in fields) or named == "min_replicas"
        return
    created = json.loads(r.text, parse_constant=_forbid_constants)
    got = client.get("/v1/policies/chat", headers=ADMIN)
    read = json.loads(got.text, parse_constant=_forbid_constants)
    assert read["policy"] == created["policy"]
    again = client.put(
        "/v1/policies/chat", json=read["policy"], headers={**ADMIN, "If-Match": got.headers["ETag"]}
    )
    assert again.status_code == 200, again.text
    assert again.json()["version"] == read["version"] and again.json()["policy"] == read["policy"]


def _bounds(
    schema: dict[str, Any], defs: dict[str, Any], prefix: str = ""
) -> dict[str, tuple[str, str, str]]:
    out: dict[str, tuple[str, str, str]] = {}
    for name, prop in schema["properties"].items():
        if "$ref" in prop:
            out.update(_bounds(defs[prop["$ref"].split("/")[-1]], defs, f"{prefix}{name}."))
        elif name == "schedule":
            out.update(_bounds(defs["ScheduleWindow"], defs, "schedule[]."))
        else:
            v = next((x for x in prop.get("anyOf", [prop]) if x.get("type") in ("integer", "number")), None)
            if v is not None:
                lo = f"> {v['exclusiveMinimum']:g}" if "exclusiveMinimum" in v else f">= {v['minimum']:g}"
                hi = f"< {v['exclusiveMaximum']:g}" if "exclusiveMaximum" in v else f"<= {v['maximum']:.0f}"
                out[prefix + name] = (v["type"], lo, hi)
    return out


def test_docs_bounds_table_is_the_models() -> None:
    import re
    from pathlib import Path

    from controlplane.policy.model import ScalingPolicy

    doc = ScalingPolicy.model_json_schema()
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    section = text.split("## Numbers and bounds", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9_.\[\]]+)` \| (\w+) \| ([^|]+) \| ([^|]+) \|$", section, flags=re.M)
    documented = {f: (t, lo.strip(), hi.strip()) for f, t, lo, hi in rows}
    assert documented == _bounds(doc, doc["$defs"])
