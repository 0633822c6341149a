"""Bearer-token authentication and the three roles.

Owns: turning an ``Authorization: Bearer`` token into a :class:`Principal`
(subject and role), from either

- a JWT signed HS256 (shared secret file) or RS256 (public key file). ``exp``
  and ``sub`` are required and ``exp`` is checked; the role is the ``role``
  claim. The algorithm must be one whose key is configured, so an RS256 public
  key can never verify an HS256 token (algorithm confusion);
- a static token from a mounted secret file, one per line::

      # token                      role      subject
      s3cr3t-token-for-grafana     viewer    grafana
      another-long-random-token    admin     alice

  blank lines and ``#`` comments are skipped. The file is re-read when its
  modification time, size or inode changes (a rotated Kubernetes Secret), at
  most once per ``reload_check_s``; a file that no longer parses keeps the
  previous tokens and logs the line at fault.

Roles are ordered: ``viewer`` reads; ``operator`` also sets overrides and runs
dry-runs and what-ifs; ``admin`` also changes policies.
Must not import: the web framework (the API's dependencies call in here).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import jwt

from controlplane.clock import Clock, SystemClock

__all__ = ["ROLES", "Principal", "AuthError", "Authenticator", "StaticTokens", "parse_tokens", "role_allows"]

log = logging.getLogger(__name__)

ROLES = ("viewer", "operator", "admin")


def role_allows(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: str
    key: str  # what the rate limiter counts against: one bucket per token, never the raw token


class AuthError(Exception):
    """401: no token, or one that does not verify; ``message`` says which without echoing it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_tokens(text: str, origin: str = "tokens_file") -> dict[str, tuple[str, str]]:
    """``{sha256(token): (role, subject)}``; ValueError naming the line on a bad one."""
    out: dict[str, tuple[str, str]] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3:
            raise ValueError(f"{origin} line {n}: expected 'token role subject', got {len(parts)} fields")
        token, role, subject = parts
        if role not in ROLES:
            raise ValueError(f"{origin} line {n}: role must be one of {', '.join(ROLES)}, not {role!r}")
        if len(token) < 16:
            raise ValueError(f"{origin} line {n}: token is shorter than 16 characters")
        out[_digest(token)] = (role, subject)
    return out


class StaticTokens:
    """The static tokens of one file, re-read when the file changes."""

    def __init__(self, path: str | Path, clock: Clock | None = None, reload_check_s: float = 1.0) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        self.reload_check_s = reload_check_s
        self._lock = threading.Lock()
        self._stamp: tuple[float, int, int] | None = None
        self._checked_at = float("-inf")
        self._tokens = parse_tokens(self.path.read_text(), str(self.path))
        self._stamp = self._stat()

    def _stat(self) -> tuple[float, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime, st.st_size, st.st_ino)

    def lookup(self, token: str) -> tuple[str, str] | None:
        self._maybe_reload()
        with self._lock:
            return self._tokens.get(_digest(token))

    def _maybe_reload(self) -> None:
        now = self.clock.monotonic()
        with self._lock:
            if now - self._checked_at < self.reload_check_s:
                return
            self._checked_at = now
            stamp = self._stat()
            if stamp is None or stamp == self._stamp:
                return
            try:
                tokens = parse_tokens(self.path.read_text(), str(self.path))
            except (OSError, ValueError) as exc:
                log.error("static tokens not reloaded, keeping the previous set: %s", exc)
                return
            self._tokens, self._stamp = tokens, stamp
            log.info("static tokens reloaded from %s (%d tokens)", self.path, len(tokens))


class Authenticator:
    """Verifies bearer tokens against whichever of the three sources are configured."""

    def __init__(
        self,
        *,
        static: StaticTokens | None = None,
        hs256_secret: bytes | None = None,
        rs256_public_key: str | None = None,
        leeway_s: float = 0.0,
        audience: str | None = None,
    ) -> None:
        self.static = static
        self._keys: dict[str, bytes | str] = {}
        if hs256_secret:
            self._keys["HS256"] = hs256_secret
        if rs256_public_key:
            self._keys["RS256"] = rs256_public_key
        self.leeway_s = leeway_s
        self.audience = audience

    @staticmethod
    def from_files(
        tokens_file: str | None,
        hs256_secret_file: str | None,
        rs256_public_key_file: str | None,
        *,
        clock: Clock | None = None,
        leeway_s: float = 0.0,
        audience: str | None = None,
    ) -> Authenticator:
        return Authenticator(
            static=StaticTokens(tokens_file, clock) if tokens_file else None,
            hs256_secret=Path(hs256_secret_file).read_bytes().strip() if hs256_secret_file else None,
            rs256_public_key=Path(rs256_public_key_file).read_text() if rs256_public_key_file else None,
            leeway_s=leeway_s,
            audience=audience,
        )

    @property
    def configured(self) -> bool:
        return self.static is not None or bool(self._keys)

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise AuthError("a bearer token is required")
        if token.count(".") == 2 and self._keys:
            return self._jwt(token)
        if self.static is not None:
            found = self.static.lookup(token)
            if found is not None:
                role, subject = found
                return Principal(subject, role, "static:" + _digest(token)[:16])
        raise AuthError("the bearer token is not valid")

    def _jwt(self, token: str) -> Principal:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError as exc:
            raise AuthError("the bearer token is not valid") from exc
        key = self._keys.get(str(alg))
        if key is None:
            raise AuthError(
                f"JWT algorithm {alg!r} is not accepted; accepted: {', '.join(sorted(self._keys))}"
            )
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[str(alg)],
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
                audience=self.audience,
                leeway=self.leeway_s,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("the bearer token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"the bearer token is not valid: {exc}") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise AuthError(f"the token's role claim must be one of {', '.join(ROLES)}")
        subject = str(claims["sub"])
        return Principal(subject, str(role), f"jwt:{alg}:{subject}")
