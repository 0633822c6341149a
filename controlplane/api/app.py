"""The admin API application: :func:`create_app`.

Owns: assembling the FastAPI app from its routers, exception handlers, body
limit and :class:`~controlplane.api.context.ApiContext`. Everything the app
touches is passed in (settings, database, optional loop, clock), so tests
build an app over an in-memory store and a fake clock.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import Depends, FastAPI

from controlplane.api import errors
from controlplane.api.auth import Authenticator
from controlplane.api.context import ApiContext
from controlplane.api.deps import known_query_only
from controlplane.api.limits import BodyLimit
from controlplane.api.ratelimit import RateLimiter
from controlplane.api.routers import audit as audit_routes
from controlplane.api.routers import decisions as decision_routes
from controlplane.api.routers import health as health_routes
from controlplane.api.routers import insights as insight_routes
from controlplane.api.routers import overrides as override_routes
from controlplane.api.routers import policies as policy_routes
from controlplane.api.routers import whatif as whatif_routes
from controlplane.api.settings import ApiOptions
from controlplane.clock import Clock, SystemClock
from controlplane.store.audit import AuditLog
from controlplane.store.db import Database
from controlplane.store.decisions import DecisionLog
from controlplane.store.insights import Insights
from controlplane.store.overrides import OverrideStore
from controlplane.store.policies import PolicyRepository

__all__ = ["create_app", "API_VERSION"]

API_VERSION = "1.0.0"

_DESCRIPTION = """\
Admin API of the LLM-serving control plane: scaling policies with versions, diff,
rollback and dry-run; the decision log with explanations; overrides with expiry;
forecasts and anomalies; what-if replay; the audit log.

Every `/v1` route needs `Authorization: Bearer <token>` (a JWT or a static token).
Roles: **viewer** reads; **operator** also sets overrides and runs dry-runs and
what-ifs; **admin** also changes policies. 401 without a valid token, 403 when
the role may not, 429 (with `Retry-After`) over the token's rate limit.
"""


def create_app(
    settings: ApiOptions,
    store: Database,
    loop: Any = None,
    *,
    clock: Clock | None = None,
    auth: Authenticator | None = None,
    insights: Insights | None = None,
    registry: Any = None,
    policies: PolicyRepository | None = None,
) -> FastAPI:
    """The app over ``store``; ``loop`` (a running ControlLoop) enables dry-run and readiness checks."""
    clock = clock or getattr(loop, "clock", None) or SystemClock()
    if auth is None:
        auth = Authenticator.from_files(
            settings.tokens_file,
            settings.jwt_hs256_secret_file,
            settings.jwt_rs256_public_key_file,
            clock=clock,
            leeway_s=settings.jwt_leeway_s,
            audience=settings.jwt_audience,
        )
    ctx = ApiContext(
        options=settings,
        db=store,
        clock=clock,
        auth=auth,
        limiter=RateLimiter(clock, settings.rate_per_s, settings.rate_burst),
        policies=policies or PolicyRepository(store),
        overrides=OverrideStore(store),
        audit=AuditLog(store),
        decisions=DecisionLog(store),
        insights=insights or Insights(),
        loop=loop,
        registry=registry
        if registry is not None
        else getattr(getattr(loop, "metrics", None), "registry", None),
        whatif_slots=threading.Semaphore(settings.whatif_concurrency),
    )
    app = FastAPI(
        title="llm-controlplane admin API",
        version=API_VERSION,
        description=_DESCRIPTION,
        dependencies=[Depends(known_query_only)],
    )
    app.state.ctx = ctx
    errors.install(app)
    for module in (
        health_routes,
        policy_routes,
        decision_routes,
        override_routes,
        insight_routes,
        whatif_routes,
        audit_routes,
    ):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return _require_target_kind(generate())

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _require_target_kind(doc: dict[str, Any]) -> dict[str, Any]:
    """``target.kind`` has a default in the model but picks the variant, so a request must send it."""
    for name in ("KubernetesTarget", "LocalTarget"):
        schema = doc.get("components", {}).get("schemas", {}).get(name)
        if schema is not None and "kind" not in schema.get("required", []):
            schema["required"] = ["kind", *schema.get("required", [])]
    return doc
