"""HTTP routes of the emulated vLLM server (FastAPI); no business logic beyond I/O shaping.

Routes: ``POST /v1/completions``, ``POST /v1/chat/completions`` (SSE streaming or
not), ``GET /v1/models``, ``GET /health``, ``GET /version``, ``GET /metrics``,
``GET``/``PUT /admin/faults`` and ``POST /admin/drain``. The engine, faults and
drain live in :class:`~serving.emulator.runtime.Runtime`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from serving.emulator.metrics import CONTENT_TYPE
from serving.emulator.openai import ParsedRequest, chunk_body, completion_body, parse_request, token_text
from serving.emulator.runtime import ApiError, LiveRequest, Runtime

__all__ = ["build_app"]

_HANDLERS = {
    "/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics", "/version",
    "/admin/faults", "/admin/drain",
}


class _HttpMetrics:
    """ASGI middleware counting requests by handler, method and status class (like vLLM's instrumentator)."""

    def __init__(self, app: Any, runtime: Runtime) -> None:
        self.app, self.runtime = app, runtime

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in _HANDLERS or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        start = time.monotonic()
        status = 500

        async def capture(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self.runtime.metrics.on_http(scope["path"], scope["method"], status, time.monotonic() - start)


def _sse(obj: dict) -> str:
    return "data: " + json.dumps(obj, separators=(",", ":")) + "\n\n"


def build_app(runtime: Runtime) -> FastAPI:
    config = runtime.config
    model = config.model_name
    app = FastAPI(title="vLLM emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(_HttpMetrics, runtime=runtime)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        if exc.status != 500:  # 500s were logged with their error class where they were raised
            runtime.log.write(
                "request_rejected", exc.message, level="WARNING", status=exc.status,
                request_id=request.headers.get("x-request-id"), path=request.url.path,
            )
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.get("/health")
    async def health() -> Response:
        await runtime.wait_unhung()
        if runtime.draining or not runtime.ready:
            return Response(status_code=503)
        return Response(status_code=200)

    @app.get("/version")
    async def version() -> dict:
        return {"version": "0.32.0"}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/v1/models")
    async def models() -> dict:
        return {
            "object": "list",
            "data": [{
                "id": model, "object": "model", "created": int(time.time()), "owned_by": "vllm",
                "root": model, "parent": None, "max_model_len": config.profile.max_model_len,
                "permission": [],
            }],
        }

    @app.get("/admin/faults")
    async def get_faults() -> dict:
        return runtime.faults.to_json()

    @app.put("/admin/faults")
    async def put_faults(request: Request) -> dict:
        try:
            faults = runtime.faults.updated(json.loads(await request.body() or b"{}"))
        except (ValueError, TypeError) as exc:
            raise ApiError(400, "BadRequestError", str(exc)) from None
        runtime.set_faults(faults)
        return faults.to_json()

    @app.post("/admin/drain")
    async def drain() -> dict:
        runtime.start_drain()
        return {"draining": True, "in_flight": runtime.in_flight}

    async def generate(request: Request, chat: bool) -> Response:
        rid = request.headers.get("x-request-id") or f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        runtime.check_accepting()
        req = parse_request(await request.body(), chat, model, config.profile.max_model_len,
                            config.profile.block_size)
        live = runtime.submit(rid, req.prompt_tokens, req.max_tokens, req.ignore_eos, req.blocks)
        headers = {"X-Request-Id": rid}
        if req.stream:
            return StreamingResponse(_stream(runtime, live, req, model), media_type="text/event-stream",
                                     headers=headers)
        try:
            await live.done.wait()
        finally:
            runtime.abort(live)  # no-op once done; frees the engine if this handler was cancelled
        if live.finish_reason == "abort":
            raise ApiError(503, "ServiceUnavailableError", "The request was aborted: the server is shutting down.")
        n = runtime.generated(live)
        body = completion_body(req, rid, model, token_text(0, n), live.finish_reason or "length", n)
        return JSONResponse(body, headers=headers)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await generate(request, chat=False)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await generate(request, chat=True)

    return app


async def _stream(runtime: Runtime, live: LiveRequest, req: ParsedRequest, model: str) -> AsyncIterator[str]:
    """One SSE chunk per token as the engine produces them; finish_reason on the last one."""
    rid = live.request_id
    sent = 0
    try:
        while True:
            done = live.done.is_set()
            n = runtime.generated(live)
            if n > sent:
                parts = []
                if sent == 0 and req.chat:
                    parts.append(_sse(chunk_body(req, rid, model, None, role=True)))
                for i in range(sent, n):
                    last = done and i == n - 1 and live.finish_reason != "abort"
                    reason = live.finish_reason if last else None
                    parts.append(_sse(chunk_body(req, rid, model, token_text(i, i + 1), reason)))
                sent = n
                yield "".join(parts)
            if done:
                break
            await runtime.wait_tick()
        if req.include_usage:
            yield _sse(chunk_body(req, rid, model, None, usage_of=(req.prompt_tokens, sent)))
        if live.finish_reason == "abort":
            yield _sse(ApiError(503, "ServiceUnavailableError", "The request was aborted.").body())
        yield "data: [DONE]\n\n"
    finally:
        runtime.abort(live)
