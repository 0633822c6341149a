"""Process lifecycle of one emulated replica: uvicorn, signals, drain and exit status.

SIGTERM (or SIGINT, or ``POST /admin/drain``) starts a drain: ``/health`` and new
requests get 503, in-flight requests run to completion for up to
``drain_grace_s`` wall seconds (the rest are aborted), then the server stops
and :func:`serve` returns 0. The ``crash`` fault exits with status 1 instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Generator

import uvicorn

from serving.emulator.app import build_app
from serving.emulator.config import EmulatorConfig
from serving.emulator.logs import JsonLog
from serving.emulator.runtime import Runtime

__all__ = ["serve"]


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: signals start our drain instead of
    shutting down at once (and re-raising the signal, which would end the process with it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _main(config: EmulatorConfig) -> int:
    log = JsonLog(
        config.log_file, replica=config.replica_name, deployment=config.deployment,
        namespace=config.namespace, model=config.model_name,
    )
    server: _Server | None = None

    def on_exit(_code: int) -> None:
        if server is not None:
            server.should_exit = True

    runtime = Runtime(config, log, on_exit)
    server = _Server(uvicorn.Config(
        build_app(runtime), host=config.host, port=config.port, log_level="warning",
        access_log=False, lifespan="off", timeout_graceful_shutdown=2,
    ))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runtime.start_drain)
    log.write(
        "server_starting",
        f"Starting emulated vLLM 0.32.0 for {config.model_name} (profile {config.profile.name}, "
        f"time scale {config.time_scale:g}, start-up {config.startup_s:g} s).",
        port=config.port,
    )
    driver = asyncio.create_task(runtime.run())
    try:
        await server.serve()
    finally:
        driver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await driver
        log.write("server_stopped", "Shutdown complete.")
        log.close()
    return 0


def serve(config: EmulatorConfig) -> int:
    """Run one replica until drained; returns the process exit status."""
    return asyncio.run(_main(config))
