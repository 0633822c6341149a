"""``/v1/forecasts/{target}`` and ``/v1/anomalies``: what the loop last recorded.

Both answer an empty list (200) while no forecasting or anomaly advisor feeds
the loop, and after a restart until the loop has recorded again.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from controlplane.api.auth import Principal
from controlplane.api.context import ApiContext
from controlplane.api.deps import context, require
from controlplane.api.encode import finite
from controlplane.api.schemas import ERRORS, AnomalyOut, ForecastOut

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["insights"], responses=ERRORS)


@router.get(
    "/forecasts/{target:path}",
    response_model=list[ForecastOut],
    summary="A target's recent forecasts, newest first",
    # the path convertor matches no line break: such a target never reaches this route
    responses={404: {"description": "no such route: a target holding a line break"}},
)
def get_forecasts(
    target: str,
    limit: int = Query(20, ge=1, le=200),
    _: Principal = Depends(require("viewer")),
    ctx: ApiContext = Depends(context),
) -> list[dict[str, Any]]:
    return [finite(f) for f in ctx.insights.forecasts(target, limit)]


@router.get("/anomalies", response_model=list[AnomalyOut], summary="Recent anomalies, newest first")
def get_anomalies(
    target: str | None = Query(None, max_length=300),
    since: float | None = Query(None, allow_inf_nan=False, description="Unix seconds, inclusive"),
    limit: int = Query(100, ge=1, le=2000),
    _: Principal = Depends(require("viewer")),
    ctx: ApiContext = Depends(context),
) -> list[dict[str, Any]]:
    return ctx.insights.anomalies(target, since, limit)
