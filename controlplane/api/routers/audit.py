"""``/v1/audit``: every mutation, who made it and when, with the state before and after."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from controlplane.api.auth import Principal
from controlplane.api.context import ApiContext
from controlplane.api.deps import context, require
from controlplane.api.schemas import ERRORS, AuditOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=ERRORS)


@router.get("", response_model=list[AuditOut], summary="Audit entries, newest first")
def list_audit(
    kind: str | None = Query(None, max_length=50, description="policy or override"),
    name: str | None = Query(None, max_length=300),
    actor: str | None = Query(None, max_length=300),
    since: float | None = Query(None, allow_inf_nan=False),
    until: float | None = Query(None, allow_inf_nan=False),
    limit: int = Query(100, ge=1, le=1000),
    _: Principal = Depends(require("viewer")),
    ctx: ApiContext = Depends(context),
) -> list[dict[str, Any]]:
    entries = ctx.audit.list(kind=kind, name=name, actor=actor, since=since, until=until, limit=limit)
    return [e.to_dict() for e in entries]
