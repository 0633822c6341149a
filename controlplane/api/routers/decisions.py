"""``/v1/decisions``: the decision log, each decision with its full explanation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from controlplane.api.auth import Principal
from controlplane.api.context import ApiContext
from controlplane.api.deps import context, require
from controlplane.api.encode import finite
from controlplane.api.schemas import ERRORS, DecisionOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/decisions", tags=["decisions"], responses=ERRORS)


@router.get("", response_model=list[DecisionOut], summary="Recorded decisions, newest first")
def list_decisions(
    target: str | None = Query(None, max_length=300, description="namespace/deployment or local/group"),
    since: float | None = Query(None, allow_inf_nan=False, description="Unix seconds, inclusive"),
    until: float | None = Query(None, allow_inf_nan=False, description="Unix seconds, inclusive"),
    limit: int = Query(100, ge=1, le=1000),
    changes: bool = Query(False, description="only decisions that changed the replica count"),
    _: Principal = Depends(require("viewer")),
    ctx: ApiContext = Depends(context),
) -> list[dict[str, Any]]:
    records = ctx.decisions.list(target=target, since=since, until=until, limit=limit, only_changes=changes)
    return [finite(r.to_dict()) for r in records]
