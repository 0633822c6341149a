"""Everything a request handler may reach, built once per app.

Owns: :class:`ApiContext` -- the stores, the clock, the optional running loop
(its source, actuator, advisors and leadership) and the auth and rate-limit
state. Routers receive it through a dependency, so tests build one with fakes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from controlplane.api.auth import Authenticator
from controlplane.api.ratelimit import RateLimiter
from controlplane.api.settings import ApiOptions
from controlplane.clock import Clock
from controlplane.store.audit import AuditLog
from controlplane.store.db import Database
from controlplane.store.decisions import DecisionLog
from controlplane.store.insights import Insights
from controlplane.store.overrides import OverrideStore
from controlplane.store.policies import PolicyRepository

__all__ = ["ApiContext"]


@dataclass
class ApiContext:
    options: ApiOptions
    db: Database
    clock: Clock
    auth: Authenticator
    limiter: RateLimiter
    policies: PolicyRepository
    overrides: OverrideStore
    audit: AuditLog
    decisions: DecisionLog
    insights: Insights
    loop: Any = None  # controlplane.loop.ControlLoop when the API runs inside the controller
    registry: Any = None  # prometheus_client registry served at /metrics
    whatif_slots: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(1))

    @property
    def source(self) -> Any:
        return getattr(self.loop, "source", None)

    @property
    def actuator(self) -> Any:
        return getattr(self.loop, "actuator", None)
