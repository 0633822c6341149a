"""Request dependencies: the context, and the role a route needs.

Owns: :func:`require`, which authenticates the bearer token (401 with
``WWW-Authenticate: Bearer``), checks the role (403) and spends one request
from the token's bucket (429 with ``Retry-After``), in that order, so a bad
token never costs a good token's budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controlplane.api.auth import AuthError, Principal, role_allows
from controlplane.api.context import ApiContext
from controlplane.store.audit import Actor

__all__ = ["context", "require", "actor_of", "known_query_only"]

_bearer = HTTPBearer(auto_error=False, description="JWT (HS256/RS256) or a static token")


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def require(role: str) -> Callable[..., Principal]:
    def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
        ctx: ApiContext = Depends(context),
    ) -> Principal:
        token = credentials.credentials if credentials is not None else None
        try:
            principal = ctx.auth.authenticate(token)
        except AuthError as exc:
            error = ', error="invalid_token"' if token else ""
            raise HTTPException(401, exc.message, headers={"WWW-Authenticate": f"Bearer{error}"}) from exc
        if not role_allows(principal.role, role):
            raise HTTPException(403, f"role {principal.role!r} may not do this; it needs {role!r} or above")
        wait = ctx.limiter.take(principal.key)
        if wait > 0:
            raise HTTPException(
                429,
                f"rate limit of {ctx.limiter.rate_per_s:g} requests/s for this token",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.subject, principal.role)


def known_query_only(request: Request) -> None:
    """422 for a query parameter the route does not document (a typo such as ``?targte=`` must not
    silently widen a listing) and for a single-valued one given more than once."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None)
    if path is None or not request.query_params:
        return
    op = request.app.openapi().get("paths", {}).get(path, {}).get(request.method.lower(), {})
    known = {p["name"]: p.get("schema", {}) for p in op.get("parameters", []) if p.get("in") == "query"}
    errors = []
    for key in dict.fromkeys(request.query_params):
        if key not in known:
            errors.append(
                {"type": "extra_forbidden", "loc": ("query", key), "msg": "unknown query parameter"}
            )
        elif known[key].get("type") != "array" and len(request.query_params.getlist(key)) > 1:
            errors.append({"type": "too_long", "loc": ("query", key), "msg": "given more than once"})
    if errors:
        raise RequestValidationError(errors)
