"""``/v1/policies``: create, read, update, delete, history, diff, rollback, dry-run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Response

from controlplane.api.auth import Principal
from controlplane.api.context import ApiContext
from controlplane.api.deps import actor_of, context, require
from controlplane.api.diff import diff_fields
from controlplane.api.dryrun import dry_run
from controlplane.api.schemas import (
    ERRORS,
    MAX_ID,
    DiffOut,
    DryRunOut,
    PolicyOut,
    PolicyVersionOut,
    Problem,
    RollbackIn,
)
from controlplane.policy.model import ScalingPolicy

__all__ = ["router"]

router = APIRouter(prefix="/v1/policies", tags=["policies"], responses=ERRORS)

_404: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "no such policy or version"}}
_409: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "exists already, or managed by a custom resource"}
}


@router.get("", response_model=list[PolicyOut], summary="List policies (current versions)")
def list_policies(
    _: Principal = Depends(require("viewer")), ctx: ApiContext = Depends(context)
) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ctx.policies.list()]


@router.post(
    "", response_model=PolicyOut, status_code=201, responses=_409, summary="Create a policy (version 1)"
)
def create_policy(
    policy: ScalingPolicy,
    response: Response,
    who: Principal = Depends(require("admin")),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    record = ctx.policies.create(policy, actor_of(who), ctx.clock.now())
    response.headers["Location"] = f"/v1/policies/{record.name}"
    return record.to_dict()


@router.get("/{name}", response_model=PolicyOut, responses=_404, summary="Get a policy's current version")
def get_policy(
    name: str, _: Principal = Depends(require("viewer")), ctx: ApiContext = Depends(context)
) -> dict[str, Any]:
    return ctx.policies.get(name).to_dict()


@router.put(
    "/{name}",
    response_model=PolicyOut,
    responses={**_404, **_409},
    summary="Replace a policy (a new version)",
)
def update_policy(
    name: str,
    policy: ScalingPolicy,
    who: Principal = Depends(require("admin")),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    record, _ = ctx.policies.update(name, policy, actor_of(who), ctx.clock.now())
    return record.to_dict()


@router.delete(
    "/{name}", status_code=204, responses={**_404, **_409}, summary="Delete a policy (history kept)"
)
def delete_policy(
    name: str, who: Principal = Depends(require("admin")), ctx: ApiContext = Depends(context)
) -> Response:
    ctx.policies.delete(name, actor_of(who), ctx.clock.now())
    return Response(status_code=204)


@router.get(
    "/{name}/versions",
    response_model=list[PolicyVersionOut],
    responses=_404,
    summary="Every version, oldest first",
)
def list_versions(
    name: str, _: Principal = Depends(require("viewer")), ctx: ApiContext = Depends(context)
) -> list[dict[str, Any]]:
    return [v.to_dict() for v in ctx.policies.versions(name)]


@router.get(
    "/{name}/versions/{version}", response_model=PolicyVersionOut, responses=_404, summary="One version"
)
def get_version(
    name: str,
    version: int = Path(..., ge=1, le=MAX_ID),
    _: Principal = Depends(require("viewer")),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    return ctx.policies.version(name, version).to_dict()


@router.get(
    "/{name}/diff", response_model=DiffOut, responses=_404, summary="Field-level diff of two versions"
)
def diff_versions(
    name: str,
    from_: int = Query(..., alias="from", ge=1, le=MAX_ID, description="the older version"),
    to: int | None = Query(
        None, ge=1, le=MAX_ID, description="the newer version; the current one when unset"
    ),
    _: Principal = Depends(require("viewer")),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    before = ctx.policies.version(name, from_)
    after = ctx.policies.version(name, to) if to is not None else ctx.policies.versions(name)[-1]
    return {
        "name": name,
        "from_version": before.version,
        "to_version": after.version,
        "changes": diff_fields(before.body, after.body),
    }


@router.post(
    "/{name}/rollback",
    response_model=PolicyOut,
    responses={**_404, **_409},
    summary="Make an earlier version's content the newest version",
)
def rollback_policy(
    name: str,
    body: RollbackIn,
    who: Principal = Depends(require("admin")),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    return ctx.policies.rollback(name, body.version, actor_of(who), ctx.clock.now()).to_dict()


@router.post(
    "/{name}/dry-run",
    response_model=DryRunOut,
    responses={**_404, 503: {"model": Problem, "description": "no signal source or actuator to ask"}},
    summary="What the decider would do now with current signals, without patching",
)
def dry_run_policy(
    name: str, _: Principal = Depends(require("operator")), ctx: ApiContext = Depends(context)
) -> dict[str, Any]:
    return dry_run(ctx, name)
