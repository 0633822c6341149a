"""Bearer tokens: static tokens file (format, reload on change), JWT HS256/RS256 claims, rate limits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from controlplane.api import ApiOptions, create_app
from controlplane.api.auth import Authenticator, AuthError, StaticTokens, parse_tokens
from controlplane.api.ratelimit import RateLimiter
from controlplane.clock import FakeClock
from controlplane.store import Database
from tests.api.conftest import STATIC, Keys, TestClient, bearer


@pytest.mark.parametrize(
    "case,text,error",
    [
        ("two fields", "abcdefghijklmnopq admin\n", "line 1: expected 'token role subject', got 2 fields"),
        (
            "unknown role",
            "# c\n\nabcdefghijklmnopq root alice\n",
            "line 3: role must be one of viewer, operator, admin",
        ),
        ("short token", "short admin alice\n", "line 1: token is shorter than 16 characters"),
    ],
)
def test_tokens_file_errors_name_the_line(case: str, text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_tokens(text)


def test_static_tokens_are_reread_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("first-token-0123456789 viewer grafana\n")
    clock = FakeClock(0.0)
    tokens = StaticTokens(path, clock, reload_check_s=1.0)
    assert tokens.lookup("first-token-0123456789") == ("viewer", "grafana")
    path.write_text("second-token-0123456789 admin alice\n# rotated\n")
    os.utime(path, (1.0e9, 1.0e9))
    # within reload_check_s the old set still answers
    assert tokens.lookup("second-token-0123456789") is None
    clock.advance(1.5)
    assert tokens.lookup("second-token-0123456789") == ("admin", "alice")
    assert tokens.lookup("first-token-0123456789") is None
    # a broken rewrite keeps the previous set
    path.write_text("broken\n")
    os.utime(path, (2.0e9, 2.0e9))
    clock.advance(1.5)
    assert tokens.lookup("second-token-0123456789") == ("admin", "alice")


@pytest.mark.parametrize(
    "case,claims,message",
    [
        ("expired", {"exp_in_s": -10}, "has expired"),
        ("no role", {"role": None}, "role claim"),
        ("unknown role", {"role": "superuser"}, "role claim"),
    ],
)
def test_jwt_claims(keys: Keys, case: str, claims: dict[str, Any], message: str) -> None:
    auth = Authenticator(hs256_secret=keys.hs256_secret, rs256_public_key=keys.rs256_public_pem.decode())
    token = keys.hs256(claims.pop("role", "viewer"), **claims)
    with pytest.raises(AuthError, match=message):
        auth.authenticate(token)


def test_jwt_without_exp_is_refused(keys: Keys) -> None:
    import jwt

    auth = Authenticator(hs256_secret=keys.hs256_secret)
    token = jwt.encode({"sub": "alice", "role": "admin"}, keys.hs256_secret, "HS256")
    with pytest.raises(AuthError, match="exp"):
        auth.authenticate(token)


def test_hs256_signed_with_the_rs256_public_key_is_refused(keys: Keys) -> None:
    """Algorithm confusion: only RS256 is configured, so an HS256 token is refused whatever its key."""
    import jwt

    auth = Authenticator(rs256_public_key=keys.rs256_public_pem.decode())
    forged = jwt.encode({"sub": "x", "role": "admin", "exp": 4_000_000_000}, b"x" * 32, "HS256")
    with pytest.raises(AuthError, match="'HS256' is not accepted"):
        auth.authenticate(forged)


def test_subjects_from_each_source(keys: Keys, secrets_dir: Path) -> None:
    auth = Authenticator.from_files(
        str(secrets_dir / "tokens"), str(secrets_dir / "hs256"), str(secrets_dir / "rs256.pub")
    )
    assert auth.authenticate(STATIC["operator"]).subject == "operator-static"
    assert auth.authenticate(keys.hs256("admin", sub="alice")).subject == "alice"
    p = auth.authenticate(keys.rs256("viewer", sub="ci"))
    assert (p.subject, p.role) == ("ci", "viewer")


def test_token_bucket_arithmetic() -> None:
    # 2 requests/s, burst 3: three pass at t=0, the fourth waits (1 - 0) / 2 = 0.5 s;
    # at t=0.25 half a request has refilled, so the wait is (1 - 0.5) / 2 = 0.25 s.
    clock = FakeClock(0.0)
    limiter = RateLimiter(clock, rate_per_s=2.0, burst=3)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # each token has its own bucket
    clock.advance(0.25)
    assert limiter.take("a") == pytest.approx(0.25)
    clock.advance(0.5)
    assert limiter.take("a") == 0.0


def test_429_with_retry_after_per_token(secrets_dir: Path) -> None:
    clock = FakeClock(0.0)
    opts = ApiOptions(tokens_file=str(secrets_dir / "tokens"), rate_per_s=0.5, rate_burst=2)
    with TestClient(create_app(opts, Database(), clock=clock)) as c:
        v, a = bearer(STATIC["viewer"]), bearer(STATIC["admin"])
        assert [c.get("/v1/policies", headers=v).status_code for _ in range(2)] == [200, 200]
        r = c.get("/v1/policies", headers=v)
        # empty bucket at 0.5 requests/s: one request refills in 2 s
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"
        assert c.get("/v1/policies", headers=a).status_code == 200
        # a bad token is refused before it could spend anyone's budget
        assert c.get("/v1/policies", headers=bearer("nobody-has-this-token")).status_code == 401
        clock.advance(2.0)
        assert c.get("/v1/policies", headers=v).status_code == 200
