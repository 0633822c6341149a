"""Errors to HTTP answers, in one place.

Owns: the exception handlers. A :class:`~controlplane.policy.model.PolicyError`
and a request that fails validation both answer 422 in FastAPI's documented
shape (``detail: [{loc, msg, type}]``) plus ``field``, the dotted name of the
offending key, so a client can point at it; a body that is not JSON (with the
line and column), not UTF-8 or nested too deeply to parse is one with ``field: body``. Store errors map to 404, 409 and 412
(a stale ``If-Match``, with the current version);
an unavailable dependency (no signal source, the database server unreachable) to 503.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from controlplane.api.preconditions import etag
from controlplane.policy.model import PolicyError
from controlplane.store.errors import Conflict, NotFound, StaleVersion, StoreUnavailable

__all__ = ["Unavailable", "install", "field_name"]

_TAGS = ("kubernetes", "local")


class Unavailable(Exception):
    """503: what the request needs is not there (no running loop, no signal source)."""


def field_name(loc: tuple[Any, ...] | list[Any], ctx_error: Any = None) -> str:
    """``('body', 'target', 'kubernetes', 'deployment')`` -> ``target.deployment``."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header") and p not in _TAGS]
    parts = [p for p in parts if not p.startswith("function-")]
    extra = getattr(ctx_error, "field", None)
    if extra:
        parts.append(str(extra))
    return ".".join(parts) or "body"


def _policy_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PolicyError)
    loc = ["body", *exc.field.split(".")]
    msg = exc.message.removeprefix("Value error, ")
    item = {"loc": loc, "msg": msg, "type": "value_error", "field": exc.field}
    return JSONResponse({"detail": [item]}, status_code=422)


def _body_error(msg: str, kind: str = "json_invalid") -> JSONResponse:
    item = {"loc": ["body"], "msg": msg, "type": kind, "field": "body"}
    return JSONResponse({"detail": [item]}, status_code=422)


def _where(doc: Any, pos: int) -> str:
    """``line L, column C`` (1-based) of character ``pos`` in ``doc``."""
    text = doc if isinstance(doc, str) else ""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if len(errors) == 1 and errors[0].get("type") == "json_invalid":
        err = errors[0]
        pos = err["loc"][1] if len(err["loc"]) > 1 and isinstance(err["loc"][1], int) else 0
        reason = (err.get("ctx") or {}).get("error") or err["msg"]
        return _body_error(f"not valid JSON: {reason} at {_where(exc.body, pos)}")
    items = []
    for err in errors:
        cause = (err.get("ctx") or {}).get("error")
        msg = str(cause) if cause is not None and getattr(cause, "field", None) else err["msg"]
        loc = [str(p) for p in err["loc"]]
        if cause is not None and getattr(cause, "field", None):
            loc.append(str(cause.field))
        items.append(
            {
                "loc": loc,
                "msg": msg,
                "type": err["type"],
                "field": field_name(err["loc"], cause),
            }
        )
    return JSONResponse({"detail": items}, status_code=422)


def _allowed(app: FastAPI, path: str) -> list[str]:
    """Every documented method of ``path`` (the router alone names only the first route it matched)."""
    methods: set[str] = set()
    for template, ops in app.openapi()["paths"].items():
        pattern = re.sub(r"\\{target\\}", ".+", re.escape(template))
        pattern = re.sub(r"\\{[a-z_]+\\}", "[^/]+", pattern)
        if re.fullmatch(pattern, path):
            methods.update(m.upper() for m in ops)
    return sorted(methods)


def _unreadable(cause: BaseException | None) -> str | None:
    """What made a body unreadable, for the causes FastAPI folds into one 400."""
    if isinstance(cause, UnicodeDecodeError):
        return f"not valid UTF-8 (byte {cause.start})"
    if isinstance(cause, RecursionError):
        return "JSON nested too deeply to parse"
    return None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    reason = _unreadable(exc.__cause__) if exc.status_code == 400 else None
    if reason is not None:
        return _body_error(reason)
    if exc.status_code == 405:
        allowed = _allowed(request.app, request.url.path)
        if allowed:
            exc = StarletteHTTPException(405, exc.detail, headers={"Allow": ", ".join(allowed)})
    response: JSONResponse = await http_exception_handler(request, exc)  # type: ignore[assignment]
    return response


def _stale(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StaleVersion)
    return JSONResponse(
        {"detail": exc.message, "current_version": exc.current},
        status_code=412,
        headers={"ETag": etag(exc.current)},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PolicyError, _policy_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NotFound, lambda r, e: JSONResponse({"detail": str(e)}, status_code=404))
    app.add_exception_handler(Conflict, lambda r, e: JSONResponse({"detail": str(e)}, status_code=409))
    app.add_exception_handler(StaleVersion, _stale)
    app.add_exception_handler(Unavailable, lambda r, e: JSONResponse({"detail": str(e)}, status_code=503))
    app.add_exception_handler(
        StoreUnavailable,
        lambda r, e: JSONResponse({"detail": str(e)}, status_code=503, headers={"Retry-After": "5"}),
    )
