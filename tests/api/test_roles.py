"""Every route x every kind of caller: 401 without or with a bad token, 403 below the route's role.

The route table below must list every route in the app's OpenAPI document (checked first), so
a new route cannot ship without its role being stated and tested here.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from controlplane.api.auth import ROLES
from tests.api.conftest import POLICY, STATIC, Keys, TestClient, bearer

# (method, path template, request path, role needed or None for open probes, json body)
ROUTES: list[tuple[str, str, str, str | None, Any]] = [
    ("GET", "/healthz", "/healthz", None, None),
    ("GET", "/readyz", "/readyz", None, None),
    ("GET", "/metrics", "/metrics", None, None),
    ("GET", "/v1/policies", "/v1/policies", "viewer", None),
    ("POST", "/v1/policies", "/v1/policies", "admin", POLICY),
    ("GET", "/v1/policies/{name}", "/v1/policies/chat", "viewer", None),
    ("PUT", "/v1/policies/{name}", "/v1/policies/chat", "admin", POLICY),
    ("DELETE", "/v1/policies/{name}", "/v1/policies/chat", "admin", None),
    ("GET", "/v1/policies/{name}/versions", "/v1/policies/chat/versions", "viewer", None),
    ("GET", "/v1/policies/{name}/versions/{version}", "/v1/policies/chat/versions/1", "viewer", None),
    ("GET", "/v1/policies/{name}/diff", "/v1/policies/chat/diff?from=1", "viewer", None),
    ("POST", "/v1/policies/{name}/rollback", "/v1/policies/chat/rollback", "admin", {"version": 1}),
    ("POST", "/v1/policies/{name}/dry-run", "/v1/policies/chat/dry-run", "operator", None),
    ("GET", "/v1/decisions", "/v1/decisions", "viewer", None),
    ("GET", "/v1/overrides", "/v1/overrides", "viewer", None),
    (
        "POST",
        "/v1/overrides",
        "/v1/overrides",
        "operator",
        {"target": "ml/vllm", "kind": "pause", "ttl_s": 60, "reason": "maintenance"},
    ),
    ("DELETE", "/v1/overrides/{override_id}", "/v1/overrides/1", "operator", None),
    ("GET", "/v1/forecasts/{target}", "/v1/forecasts/ml/vllm", "viewer", None),
    ("GET", "/v1/anomalies", "/v1/anomalies", "viewer", None),
    ("POST", "/v1/whatif", "/v1/whatif", "operator", {"policy": POLICY, "trace": {"content": ""}}),
    ("GET", "/v1/audit", "/v1/audit", "viewer", None),
]

# Callers: None means no Authorization header; the role is what the token grants (None: not valid).
CALLERS = ["none", "garbage", "expired-hs256", "unsigned", "wrong-key-rs256", "bad-role"] + [
    f"{kind}-{role}" for kind in ("static", "hs256", "rs256") for role in ROLES
]


@functools.cache
def _other_key() -> bytes:
    """An RSA key the server does not trust."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _headers(caller: str, keys: Keys) -> tuple[dict[str, str], str | None]:
    import jwt

    if caller == "none":
        return {}, None
    if caller == "garbage":
        return bearer("not-a-token-anyone-issued"), None
    if caller == "expired-hs256":
        return bearer(keys.hs256("admin", exp_in_s=-3600)), None
    if caller == "unsigned":
        return bearer(jwt.encode({"sub": "x", "role": "admin", "exp": 4_000_000_000}, None, "none")), None
    if caller == "wrong-key-rs256":
        return bearer(
            jwt.encode({"sub": "x", "role": "admin", "exp": 4_000_000_000}, _other_key(), "RS256")
        ), None
    if caller == "bad-role":
        return bearer(keys.hs256("root")), None
    kind, role = caller.split("-")
    token = {
        "static": lambda: STATIC[role],
        "hs256": lambda: keys.hs256(role),
        "rs256": lambda: keys.rs256(role),
    }
    return bearer(token[kind]()), role


def test_route_table_covers_every_route(app: Any) -> None:
    served = {(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops}
    listed = {(m, tpl) for m, tpl, *_ in ROUTES}
    assert served == listed, (served - listed, listed - served)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("method,template,path,needed,body", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_route_by_caller(
    client: TestClient,
    keys: Keys,
    caller: str,
    method: str,
    template: str,
    path: str,
    needed: str | None,
    body: Any,
) -> None:
    headers, role = _headers(caller, keys)
    r = client.request(method, path, headers=headers, json=body)
    if needed is None:
        assert r.status_code not in (401, 403), r.text
    elif role is None:
        assert r.status_code == 401, r.text
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    elif ROLES.index(role) < ROLES.index(needed):
        assert r.status_code == 403, r.text
        assert needed in r.json()["detail"]
    else:
        assert r.status_code not in (401, 403, 405), r.text
