"""Fakes for the advisor tests: a source with settable rates and an actuator that obeys."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.policy.model import ScalingPolicy
from controlplane.signals import Reading, Signals
from tests.fakes import ObeyingActuator as ObeyingActuator


def policy(**kw: object) -> ScalingPolicy:
    base: dict[str, object] = {
        "name": "chat", "target": {"kind": "kubernetes", "namespace": "ml", "deployment": "vllm"},
        "max_replicas": 16, "startup_s": 60.0, "predictive": {"enabled": True},
    }
    base.update(kw)
    return ScalingPolicy.model_validate(base)


def signals(now: float, rate: float | None, *, prompt: float = 1000.0, output: float = 200.0,
            waiting: float = 0.0, running: float = 4.0, ttft: float = 0.3) -> Signals:
    def r(v: float | None) -> Reading:
        return Reading.missing("no series") if v is None else Reading.of(v, at=now)

    return Signals(
        target="ml/vllm", collected_at=now,
        request_rate=r(rate),
        prompt_tokens_rate=r(None if rate is None else rate * prompt),
        generation_tokens_rate=r(None if rate is None else rate * output),
        waiting_requests=r(waiting), running_requests=r(running), kv_cache_usage_mean=r(0.1),
        ttft_p95=r(ttft), itl_p95=r(0.02), e2e_p95=r(2.0),
    )


@dataclass
class RateSource:
    rate: float | None = 30.0
    waiting: float = 0.0

    def collect(self, policy: ScalingPolicy, now: float) -> Signals:
        return signals(now, self.rate, waiting=self.waiting)


