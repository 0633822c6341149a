"""``/v1/overrides``: pin a target's replicas or pause its scaling, until a time."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Response

from controlplane.api.auth import Principal
from controlplane.api.context import ApiContext
from controlplane.api.deps import actor_of, context, require
from controlplane.api.schemas import ERRORS, MAX_ID, OverrideIn, OverrideOut, Problem
from controlplane.policy.model import PolicyError
from controlplane.policy.override import Override

__all__ = ["router"]

router = APIRouter(prefix="/v1/overrides", tags=["overrides"], responses=ERRORS)


@router.get("", response_model=list[OverrideOut], summary="Overrides; only those in force unless all=true")
def list_overrides(
    all_: bool = Query(False, alias="all", description="include ended and lapsed overrides"),
    target: str | None = Query(None, max_length=300),
    _: Principal = Depends(require("viewer")),
    ctx: ApiContext = Depends(context),
) -> list[dict[str, Any]]:
    now = ctx.clock.now()
    return [r.to_dict(now) for r in ctx.overrides.list(now, include_inactive=all_, target=target)]


@router.post(
    "",
    response_model=OverrideOut,
    status_code=201,
    responses={409: {"model": Problem, "description": "the target already has an override in force"}},
    summary="Pin or pause a target until expires_at (or for ttl_s)",
)
def create_override(
    body: OverrideIn, who: Principal = Depends(require("operator")), ctx: ApiContext = Depends(context)
) -> dict[str, Any]:
    now = ctx.clock.now()
    if (body.expires_at is None) == (body.ttl_s is None):
        raise PolicyError("expires_at", "give exactly one of expires_at and ttl_s")
    expires_at = body.expires_at if body.expires_at is not None else now + float(body.ttl_s or 0)
    override = Override(body.kind, body.replicas, expires_at, body.reason, who.subject)
    return ctx.overrides.create(body.target, override, actor_of(who), now).to_dict(now)


@router.delete(
    "/{override_id}",
    status_code=204,
    responses={404: {"model": Problem, "description": "no such override in force"}},
    summary="End an override now",
)
def delete_override(
    override_id: int = Path(..., ge=1, le=MAX_ID),
    who: Principal = Depends(require("operator")),
    ctx: ApiContext = Depends(context),
) -> Response:
    ctx.overrides.end(override_id, actor_of(who), ctx.clock.now())
    return Response(status_code=204)
