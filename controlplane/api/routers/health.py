"""``/healthz``, ``/readyz`` and ``/metrics``: probes and the controller's own metrics, without auth.

``/readyz`` is ready when the store answers, Prometheus answers a query (when a
source is wired) and a leader is known (when leader election runs).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from controlplane.api.context import ApiContext
from controlplane.api.deps import context
from controlplane.api.schemas import Health, Readiness

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a check failed"}},
    summary="Store usable, Prometheus reachable, leader known",
)
def readyz(ctx: ApiContext = Depends(context)) -> Any:
    checks: dict[str, dict[str, Any]] = {}
    try:
        checks["store"] = {"ok": True, "detail": f"schema version {ctx.db.schema_version}"}
    except Exception as exc:
        checks["store"] = {"ok": False, "detail": f"store unusable: {exc}"}
    source = ctx.source
    if source is None or not hasattr(source, "check"):
        checks["prometheus"] = {"ok": True, "detail": "no signal source wired"}
    else:
        try:
            health = source.check()
            checks["prometheus"] = {"ok": bool(health.ok), "detail": str(health.detail)}
        except Exception as exc:
            checks["prometheus"] = {"ok": False, "detail": f"check raised: {exc}"}
    leadership = getattr(ctx.loop, "leadership", None)
    if leadership is None:
        checks["leader"] = {"ok": True, "detail": "no control loop in this process"}
    elif hasattr(leadership, "holder"):
        holder = leadership.holder
        checks["leader"] = {
            "ok": holder is not None,
            "detail": f"leader: {holder}" if holder else "no leader known",
        }
    else:
        checks["leader"] = {"ok": True, "detail": "single instance: always the leader"}
    ready = all(c["ok"] for c in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition"}},
    summary="The controller's metrics",
)
def metrics(ctx: ApiContext = Depends(context)) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    registry = ctx.registry or REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
