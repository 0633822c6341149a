"""The admin API's own settings: where the credentials are, and the limits it enforces.

Owns: :class:`ApiOptions`, each field with its unit and why its default. The
controller builds it from its ``api`` config section (:meth:`ApiOptions.from_config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ApiOptions"]


@dataclass(frozen=True)
class ApiOptions:
    tokens_file: str | None = None
    """Static bearer tokens, one ``token role subject`` per line (a mounted Secret); re-read on change."""
    jwt_hs256_secret_file: str | None = None
    """Shared secret for HS256 JWTs."""
    jwt_rs256_public_key_file: str | None = None
    """PEM public key for RS256 JWTs (tokens minted by an identity provider)."""
    jwt_leeway_s: float = 0.0
    """Clock skew allowed on ``exp`` (s); 0 because the issuer and this process share NTP time."""
    jwt_audience: str | None = None
    """Required ``aud`` claim when set."""
    rate_per_s: float = 10.0
    """Sustained requests per second per token: a CLI or dashboard needs far fewer."""
    rate_burst: int = 40
    """Requests a token may send at once: one page of a UI fans out to about a dozen."""
    max_body_bytes: int = 8 * 1024 * 1024
    """Largest request body (bytes): an uploaded what-if trace of ~100k CSV rows fits."""
    whatif_dir: str | None = None
    """Directory whose traces a what-if may name by relative path; None allows uploads only."""
    whatif_max_requests: int = 50_000
    """Most requests replayed by one what-if: about 10 s of simulation on one core."""
    whatif_max_duration_s: float = 86_400.0
    """Longest replayed span (s): one day covers a daily peak."""
    whatif_max_replicas: int = 256
    """Largest replica budget a what-if simulates: each replica is modelled request by request."""
    whatif_concurrency: int = 1
    """What-ifs replayed at once; further ones get 429 rather than starving the control loop's CPU."""
    require_if_match: bool = False
    """Refuse (428) a policy PUT, DELETE or rollback without ``If-Match``; off so scripts that
    predate ETags keep working, on where several operators edit the same policies."""

    @staticmethod
    def from_config(api: Any) -> ApiOptions:
        """From :class:`controlplane.config.ApiSettings` (credential file paths)."""
        return ApiOptions(
            tokens_file=api.tokens_file,
            jwt_hs256_secret_file=api.jwt_hs256_secret_file,
            jwt_rs256_public_key_file=api.jwt_rs256_public_key_file,
        )
