"""Fixtures for the admin API tests: tokens of every role, an app over an empty store, a client.

Tokens: static ones from a tokens file, and HS256 and RS256 JWTs minted here
with keys generated per session. Time: a :class:`FakeClock` drives the API
(override expiry, rate-limit refill); JWT ``exp`` is checked by PyJWT against
the real time, so the JWTs minted here expire an hour from now (or an hour ago).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from controlplane.api import ApiOptions, create_app
from controlplane.clock import FakeClock
from controlplane.store import Database

with warnings.catch_warnings():
    # starlette.testclient warns on import that it wants httpx2, which is not installed here.
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

__all__ = ["TestClient", "Keys", "POLICY", "bearer"]

STATIC = {
    "viewer": "viewer-static-token-0001",
    "operator": "operator-static-token-0001",
    "admin": "admin-static-token-0001",
}

POLICY: dict[str, Any] = {
    "name": "chat",
    "target": {"kind": "kubernetes", "namespace": "ml", "deployment": "vllm"},
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Keys:
    hs256_secret: bytes
    rs256_private_pem: bytes
    rs256_public_pem: bytes

    def hs256(self, role: str, sub: str = "hs-user", exp_in_s: float = 3600, **claims: Any) -> str:
        return jwt.encode(
            {"sub": sub, "role": role, "exp": int(time.time() + exp_in_s), **claims},
            self.hs256_secret,
            "HS256",
        )

    def rs256(self, role: str, sub: str = "rs-user", exp_in_s: float = 3600, **claims: Any) -> str:
        return jwt.encode(
            {"sub": sub, "role": role, "exp": int(time.time() + exp_in_s), **claims},
            self.rs256_private_pem,
            "RS256",
        )


@pytest.fixture(scope="session")
def keys() -> Keys:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Keys(
        hs256_secret=b"a-shared-hs256-secret-of-32-bytes!",
        rs256_private_pem=private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        rs256_public_pem=private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


@pytest.fixture
def secrets_dir(tmp_path: Path, keys: Keys) -> Path:
    d = tmp_path / "secrets"
    d.mkdir()
    lines = ["# token role subject"] + [f"{tok} {role} {role}-static" for role, tok in STATIC.items()]
    (d / "tokens").write_text("\n".join(lines) + "\n")
    (d / "hs256").write_bytes(keys.hs256_secret + b"\n")
    (d / "rs256.pub").write_bytes(keys.rs256_public_pem)
    return d


@pytest.fixture
def options(secrets_dir: Path) -> ApiOptions:
    return ApiOptions(
        tokens_file=str(secrets_dir / "tokens"),
        jwt_hs256_secret_file=str(secrets_dir / "hs256"),
        jwt_rs256_public_key_file=str(secrets_dir / "rs256.pub"),
        rate_per_s=1000.0,
        rate_burst=1000,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_795_521_600.0)  # 2026-11-24 12:00:00 UTC


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module with ``BOTH_STORES = True`` runs each test using ``db`` on SQLite and on PostgreSQL."""
    if "db" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_STORES", False):
        metafunc.parametrize("db", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty store: in-memory SQLite, or a fresh database on the session's PostgreSQL server."""
    backend = getattr(request, "param", "sqlite")
    d = Database(request.getfixturevalue("postgres_url") if backend == "postgresql" else ":memory:")
    yield d
    d.close()


@pytest.fixture
def app(options: ApiOptions, db: Database, clock: FakeClock) -> Any:
    return create_app(options, db, clock=clock)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def admin() -> dict[str, str]:
    return bearer(STATIC["admin"])


@pytest.fixture
def operator() -> dict[str, str]:
    return bearer(STATIC["operator"])


@pytest.fixture
def viewer() -> dict[str, str]:
    return bearer(STATIC["viewer"])
