"""``/v1/policies``: create, read, update, delete, history, diff, rollback, dry-run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response

from controlplane.api.auth import Principal
from controlplane.api.context import ApiContext
from controlplane.api.deps import actor_of, context, require
from controlplane.api.diff import diff_fields
from controlplane.api.dryrun import dry_run
from controlplane.api.preconditions import IF_MATCH_DESCRIPTION, etag, expected_version
from controlplane.api.schemas import (
    ERRORS,
    MAX_ID,
    DiffOut,
    DryRunOut,
    PolicyOut,
    PolicyVersionOut,
    Problem,
    RollbackIn,
    StaleOut,
)
from controlplane.policy.model import ScalingPolicy

__all__ = ["router"]

router = APIRouter(prefix="/v1/policies", tags=["policies"], responses=ERRORS)

_404: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "no such policy or version"}}
_409: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "exists already, or managed by a custom resource"}
}
_ETAG = {
    "ETag": {"description": "the version, quoted: send it back as If-Match", "schema": {"type": "string"}}
}
_CONDITIONAL: dict[int | str, dict[str, Any]] = {
    412: {
        "model": StaleOut,
        "description": "If-Match names a version that is no longer current",
        "headers": _ETAG,
    },
    428: {"model": Problem, "description": "If-Match is required by this server and was not sent"},
}


# OpenAPI links: how a client (and schemathesis' stateful mode) goes from one answer to the next call.
_NAME = {"name": "$response.body#/name"}
_CONDITIONED = {**_NAME, "header.If-Match": "$response.header.ETag"}
_OPS = {
    "GetPolicy": ("get_policy_v1_policies__name__get", _NAME),
    "UpdatePolicy": ("update_policy_v1_policies__name__put", _CONDITIONED),
    "DeletePolicy": ("delete_policy_v1_policies__name__delete", _CONDITIONED),
    "RollbackPolicy": ("rollback_policy_v1_policies__name__rollback_post", _CONDITIONED),
    "ListVersions": ("list_versions_v1_policies__name__versions_get", _NAME),
    "GetVersion": (
        "get_version_v1_policies__name__versions__version__get",
        {**_NAME, "path.version": "$response.body#/version"},
    ),
    "DiffFromVersion": (
        "diff_versions_v1_policies__name__diff_get",
        {**_NAME, "query.from": "$response.body#/version"},
    ),
}


def _links(*names: str) -> dict[str, Any]:
    links: dict[str, Any] = {n: {"operationId": _OPS[n][0], "parameters": _OPS[n][1]} for n in names}
    if "UpdatePolicy" in links:
        # the body just read, sent back unchanged: accepted, and no new version
        links["UpdatePolicy"]["requestBody"] = "$response.body#/policy"
    return links


_FROM_RECORD = _links(
    "GetPolicy",
    "UpdatePolicy",
    "DeletePolicy",
    "RollbackPolicy",
    "ListVersions",
    "GetVersion",
    "DiffFromVersion",
)


def _if_match(
    if_match: str | None = Header(None, alias="If-Match", description=IF_MATCH_DESCRIPTION),
) -> str | None:
    return if_match


def _expected(ctx: ApiContext, if_match: str | None) -> int | None:
    return expected_version(if_match, ctx.options.require_if_match)


def _tagged(response: Response, body: dict[str, Any]) -> dict[str, Any]:
    response.headers["ETag"] = etag(int(body["version"]))
    return body


@router.get("", response_model=list[PolicyOut], summary="List policies (current versions)")
def list_policies(
    _: Principal = Depends(require("viewer")), ctx: ApiContext = Depends(context)
) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ctx.policies.list()]


@router.post(
    "",
    response_model=PolicyOut,
    status_code=201,
    responses={
        **_409,
        201: {"description": "the version this request created", "headers": _ETAG, "links": _FROM_RECORD},
    },
    summary="Create a policy (version 1)",
)
def create_policy(
    policy: ScalingPolicy,
    response: Response,
    who: Principal = Depends(require("admin")),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    record = ctx.policies.create(policy, actor_of(who), ctx.clock.now())
    response.headers["Location"] = f"/v1/policies/{record.name}"
    return _tagged(response, record.to_dict())


@router.get(
    "/{name}",
    response_model=PolicyOut,
    responses={**_404, 200: {"description": "the current version", "headers": _ETAG, "links": _FROM_RECORD}},
    summary="Get a policy's current version",
)
def get_policy(
    name: str,
    response: Response,
    _: Principal = Depends(require("viewer")),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    return _tagged(response, ctx.policies.get(name).to_dict())


@router.put(
    "/{name}",
    response_model=PolicyOut,
    responses={
        **_404,
        **_409,
        **_CONDITIONAL,
        200: {"description": "the version now current", "headers": _ETAG, "links": _FROM_RECORD},
    },
    summary="Replace a policy (a new version)",
)
def update_policy(
    name: str,
    policy: ScalingPolicy,
    response: Response,
    if_match: str | None = Depends(_if_match),
    who: Principal = Depends(require("admin")),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    expected = _expected(ctx, if_match)
    record, _ = ctx.policies.update(name, policy, actor_of(who), ctx.clock.now(), expected_version=expected)
    return _tagged(response, record.to_dict())


@router.delete(
    "/{name}",
    status_code=204,
    responses={**_404, **_409, **_CONDITIONAL},
    summary="Delete a policy (history kept)",
)
def delete_policy(
    name: str,
    if_match: str | None = Depends(_if_match),
    who: Principal = Depends(require("admin")),
    ctx: ApiContext = Depends(context),
) -> Response:
    expected = _expected(ctx, if_match)
    ctx.policies.delete(name, actor_of(who), ctx.clock.now(), expected_version=expected)
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
    "/{name}/versions/{version}",
    response_model=PolicyVersionOut,
    responses={**_404, 200: {"description": "that version", "headers": _ETAG}},
    summary="One version",
)
def get_version(
    name: str,
    response: Response,
    version: int = Path(..., ge=1, le=MAX_ID),
    _: Principal = Depends(require("viewer")),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    return _tagged(response, ctx.policies.version(name, version).to_dict())


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
    responses={
        **_404,
        **_409,
        **_CONDITIONAL,
        200: {"description": "the version now current", "headers": _ETAG, "links": _FROM_RECORD},
    },
    summary="Make an earlier version's content the newest version",
)
def rollback_policy(
    name: str,
    body: RollbackIn,
    response: Response,
    if_match: str | None = Depends(_if_match),
    who: Principal = Depends(require("admin")),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    expected = _expected(ctx, if_match)
    record = ctx.policies.rollback(
        name, body.version, actor_of(who), ctx.clock.now(), expected_version=expected
    )
    return _tagged(response, record.to_dict())


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
