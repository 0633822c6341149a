"""Fake loop parts for API tests: a source with fixed readings and an actuator with a fixed spec."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.policy.model import ScalingPolicy
from controlplane.signals import Reading, Signals
from controlplane.sources.prometheus import Health
from tests.fakes import ObeyingActuator


@dataclass
class FakeSource:
    """``waiting`` queued requests in total; everything else quiet and inside the SLOs."""

    waiting: float = 0.0
    healthy: bool = True
    collected: int = 0

    def collect(self, policy: ScalingPolicy, now: float) -> Signals:
        self.collected += 1
        return Signals(
            target=policy.target_key,
            collected_at=now,
            waiting_requests=Reading.of(self.waiting, at=now),
            running_requests=Reading.of(4.0, at=now),
            kv_cache_usage_mean=Reading.of(0.1, at=now),
            ttft_p95=Reading.of(0.2, at=now),
            itl_p95=Reading.of(0.02, at=now),
            e2e_p95=Reading.of(2.0, at=now),
            ready_replicas=Reading.of(2.0, at=now),
        )

    def check(self) -> Health:
        return Health(self.healthy, "fake prometheus " + ("answers" if self.healthy else "is down"))


FakeActuator = ObeyingActuator
