"""Replay a :class:`Trace` against OpenAI-compatible endpoints, open loop, time-compressed.

Owns: :func:`run_load`, the library entry point the CLI and the demo call. Each
request is sent at ``arrival_s / compress`` after the start whatever the answers
do (open loop: a slow server meets the same arrivals), routed to the target with
the fewest outstanding requests, and bounded by ``max_requests`` and
``max_seconds`` (requests still in flight at the deadline are cancelled and
counted as such). Returns the summary dict of :mod:`controlplane.loadgen.summary`.
Must not import: the decision core or any source/actuator; it only sends requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from controlplane.loadgen.request import RequestRecord, completion_body, send_completion
from controlplane.loadgen.summary import summarize
from controlplane.loadgen.targets import TargetPool
from controlplane.traces.model import Trace

__all__ = ["run_load", "fit_tokens"]


def fit_tokens(prompt: int, output: int, max_total: int | None) -> tuple[int, int]:
    """Shrink (prompt, output) so that prompt + output <= ``max_total`` (a model's length limit).

    Output is kept when it fits (it sets the decode work); the prompt gives way first.
    """
    prompt, output = max(1, int(prompt)), max(1, int(output))
    if max_total is None or prompt + output <= max_total:
        return prompt, output
    output = min(output, max_total - 1)
    return max(1, min(prompt, max_total - output)), output


def run_load(
    trace: Trace,
    targets: Sequence[str] = (),
    *,
    targets_file: str | Path | None = None,
    compress: float = 1.0,
    max_requests: int | None = None,
    max_seconds: float | None = None,
    model: str | None = None,
    allow_remote: bool = False,
    max_concurrency: int = 256,
    request_timeout_s: float = 120.0,
    max_total_tokens: int | None = None,
    progress: bool = False,
    on_record: Callable[[RequestRecord], None] | None = None,
    router: str = "least_outstanding",
) -> dict[str, Any]:
    """Send ``trace`` to ``targets`` (``host:port`` or URLs) or the targets in ``targets_file``.

    ``compress`` 10 replays ten times faster. ``model`` None asks the first
    target's ``/v1/models``. Non-loopback targets are refused unless
    ``allow_remote``. ``router``: ``least_outstanding`` or ``prefix_affinity`` (by
    the trace's prompt block ids). Blocks until done; safe to call from any thread
    without a running event loop.
    """
    if not compress > 0:
        raise ValueError(f"compress: must be > 0, got {compress}")
    if max_requests is not None and max_requests < 0:
        raise ValueError(f"max_requests: must be >= 0, got {max_requests}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds: must be > 0, got {max_seconds}")
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency: must be >= 1, got {max_concurrency}")
    if max_total_tokens is not None and max_total_tokens < 2:
        raise ValueError(f"max_total_tokens: must be >= 2, got {max_total_tokens}")
    pool = TargetPool(targets, targets_file=targets_file, allow_remote=allow_remote, clock=time.monotonic,
                      router=router)
    return asyncio.run(
        _run(
            trace,
            pool,
            compress=compress,
            max_requests=max_requests,
            max_seconds=max_seconds,
            model=model,
            max_concurrency=max_concurrency,
            request_timeout_s=request_timeout_s,
            max_total_tokens=max_total_tokens,
            progress=progress,
            on_record=on_record,
        )
    )


async def _served_model(client: httpx.AsyncClient, pool: TargetPool, wait_s: float) -> str:
    """The first model id of a target's ``/v1/models``, waiting up to ``wait_s`` for a target to answer
    (a targets file may still be empty while the first replica starts)."""
    deadline = time.monotonic() + wait_s
    last = "no target yet"
    while True:
        pool.refresh()
        for url in pool.urls:
            try:
                r = await client.get(f"{url}/v1/models", timeout=10)
                r.raise_for_status()
                return str(r.json()["data"][0]["id"])
            except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
                last = f"{url}/v1/models: {exc}"
        if time.monotonic() >= deadline:
            raise ValueError(f"model: could not learn the served model ({last}); pass --model")
        await asyncio.sleep(0.5)


async def _run(
    trace: Trace,
    pool: TargetPool,
    *,
    compress: float,
    max_requests: int | None,
    max_seconds: float | None,
    model: str | None,
    max_concurrency: int,
    request_timeout_s: float,
    max_total_tokens: int | None,
    progress: bool,
    on_record: Callable[[RequestRecord], None] | None,
) -> dict[str, Any]:
    from controlplane.console import progress_bar

    n = len(trace) if max_requests is None else min(len(trace), max_requests)
    limits = httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency)
    timeout = httpx.Timeout(request_timeout_s, connect=5.0)
    records: list[RequestRecord] = []
    tasks: list[asyncio.Task[RequestRecord]] = []
    gate = asyncio.Semaphore(max_concurrency)
    # trust_env=False: a proxy from the environment must not carry loopback load elsewhere.
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:
        wait_s = min(30.0, max_seconds) if max_seconds is not None else 30.0
        served = model or await _served_model(client, pool, wait_s)
        bar = progress_bar(n, unit="req", enabled=progress)
        clock = time.perf_counter
        t0 = clock()
        deadline = t0 + max_seconds if max_seconds is not None else None
        stop_reason = "max-requests" if n < len(trace) else "trace-end"

        async def one(record: RequestRecord, target: str, body: dict[str, Any]) -> RequestRecord:
            try:
                async with gate:
                    record.sent_s = clock() - t0
                    await send_completion(client, target, body, record, clock)
            except asyncio.CancelledError:
                record.error = "cancelled"
            finally:
                pool.release(target)
                bar.update(1)
                if on_record is not None:
                    on_record(record)
            return record

        for i in range(n):
            due = t0 + float(trace.arrival_s[i]) / compress
            if deadline is not None and due >= deadline:
                stop_reason = "max-seconds"
                break
            delay = due - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            prompt, output = fit_tokens(
                int(trace.prompt_tokens[i]), int(trace.output_tokens[i]), max_total_tokens
            )
            blocks = trace.blocks[i] if trace.blocks is not None else ()
            target = pool.acquire(blocks)
            record = RequestRecord(i, target, due - t0, prompt, output)
            records.append(record)
            if target is None:
                record.error = "no_target"
                bar.update(1)
                continue
            body = completion_body(served, i, prompt, output, blocks, trace.block_tokens)
            tasks.append(asyncio.create_task(one(record, target, body)))

        if tasks:
            remaining = None if deadline is None else max(0.0, deadline - clock())
            _, pending = await asyncio.wait(tasks, timeout=remaining)
            if pending:
                stop_reason = "max-seconds"
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        elapsed = clock() - t0
        bar.close()
    return summarize(
        records, planned=n, elapsed_s=elapsed, stop_reason=stop_reason, refused_targets=sorted(pool.refused)
    )
