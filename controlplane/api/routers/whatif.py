"""``/v1/whatif``: replay a trace through the simulator with a candidate policy."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from controlplane.api.auth import Principal
from controlplane.api.context import ApiContext
from controlplane.api.deps import context, require
from controlplane.api.schemas import ERRORS, Problem, WhatIfIn, WhatIfOut
from controlplane.api.whatif import Busy, run_whatif

__all__ = ["router"]

router = APIRouter(prefix="/v1/whatif", tags=["whatif"], responses=ERRORS)


@router.post(
    "",
    response_model=WhatIfOut,
    responses={
        404: {"model": Problem, "description": "the named trace is not in the what-if directory"},
        413: {"model": Problem, "description": "the request body is over the size limit"},
        503: {"model": Problem, "description": "a recorded window, but no Prometheus is wired or it cannot answer"},
    },
    summary="Benchmark figures of a candidate policy (and the stored one) on a trace",
)
def whatif(
    body: WhatIfIn, _: Principal = Depends(require("operator")), ctx: ApiContext = Depends(context)
) -> dict[str, Any]:
    try:
        return run_whatif(ctx, body)
    except Busy as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": "5"}) from exc
