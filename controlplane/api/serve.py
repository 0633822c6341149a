"""The admin API inside the controller process: its policy store, loop hooks and server thread.

Owns: :func:`policy_repository` (the database-backed PolicyStore the loop reads
every tick, seeded from the policies file) and :func:`serve_api` (overrides
and recorded insights wired into the loop, the ScalingPolicy custom-resource
syncer when Kubernetes is enabled, and uvicorn on ``api.host:api.port`` in a
daemon thread). :mod:`controlplane.controller` calls both; this module keeps
that file's edit to a few lines.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from controlplane.clock import Clock
from controlplane.policy.model import ScalingPolicy
from controlplane.store.audit import Actor
from controlplane.store.db import Database
from controlplane.store.errors import ManagedElsewhere
from controlplane.store.policies import PolicyRepository

__all__ = ["policy_repository", "serve_api", "ApiServer"]

log = logging.getLogger(__name__)

_FILE = Actor("policies-file", "system")


def policy_repository(db: Database, policies: Sequence[ScalingPolicy], clock: Clock) -> PolicyRepository:
    """The store the loop reads; each file policy is applied at start (created, or a new version
    when it differs from the stored one). Later API changes hold until a restart with a file that
    differs from them."""
    repo = PolicyRepository(db)
    now = clock.now()
    for policy in policies:
        try:
            if repo.get_policy(policy.name) is None:
                repo.create(policy, _FILE, now, comment="from the policies file")
            else:
                repo.update(policy.name, policy, _FILE, now, comment="from the policies file")
        except ManagedElsewhere as exc:
            log.warning("policies file entry %s not applied: %s", policy.name, exc)
    return repo


class ApiServer:
    """uvicorn serving one app in a daemon thread; ``stop()`` asks it to exit and waits."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn

        self.where = f"{host}:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self.thread = threading.Thread(target=self._run, name="admin-api", daemon=True)

    def _run(self) -> None:
        # uvicorn exits (SystemExit) when it cannot bind; the controller keeps deciding without its API.
        try:
            self.server.run()
        except BaseException as exc:  # noqa: BLE001
            log.error("admin API on %s stopped: %r", self.where, exc)

    def start(self) -> ApiServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_api(config: Any, db: Database, loop: Any, kube_api: Any = None) -> list[Callable[[], None]]:
    """Wire the API into ``loop`` and start serving; returns the stop steps, in order."""
    from controlplane.api.app import create_app
    from controlplane.api.settings import ApiOptions
    from controlplane.store.insights import Insights

    insights = Insights()
    previous = loop.on_decision

    def on_decision(decision: Any, result: Any) -> None:
        insights.record_decision(decision, result)
        if previous is not None:
            previous(decision, result)

    loop.on_decision = on_decision
    repo = loop.policies if isinstance(loop.policies, PolicyRepository) else None
    app = create_app(ApiOptions.from_config(config.api), db, loop, insights=insights, policies=repo)
    stops: list[Callable[[], None]] = []
    if kube_api is not None and repo is not None:
        from controlplane.sources.crd import CrdSyncer

        syncer = CrdSyncer(kube_api, repo, loop.clock).start()
        stops.append(syncer.stop)
    server = ApiServer(app, config.api.host, config.api.port).start()
    stops.insert(0, server.stop)
    log.info("admin API on %s:%d", config.api.host, config.api.port)
    return stops
