"""Emulator settings and fault-injection state, validated with errors that name the field.

Owns :class:`EmulatorConfig` (fixed for a process) and :class:`Faults` (changed at
run time through ``PUT /admin/faults``). No I/O here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from controlplane.capacity.profile import PerformanceProfile

__all__ = ["EmulatorConfig", "Faults", "ERROR_CLASSES"]

#: Error classes a log line can carry (``error_class``); injected errors use one of them.
ERROR_CLASSES = ("oom", "cuda_error", "engine_dead", "request_timeout", "http_5xx")


@dataclass(frozen=True)
class Faults:
    """Injected faults. All off by default.

    latency_multiplier: every engine step takes this many times longer (>= 1 slows).
    error_ratio: fraction (0-1) of requests answered with HTTP 500 at arrival.
    error_class: the class injected errors are logged as (see ERROR_CLASSES).
    hang: the engine stops; requests never answer and ``/health`` never returns.
    crash: the process logs an ``engine_dead`` line and exits with status 1.
    kv_leak_tokens_per_s: KV-cache tokens lost per emulated second while set; lost
        capacity only comes back with a restart, as a real leak would.
    """

    latency_multiplier: float = 1.0
    error_ratio: float = 0.0
    error_class: str = "http_5xx"
    hang: bool = False
    crash: bool = False
    kv_leak_tokens_per_s: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.latency_multiplier, int | float) and self.latency_multiplier > 0):
            raise ValueError(f"latency_multiplier: must be a number > 0, got {self.latency_multiplier!r}")
        if not (isinstance(self.error_ratio, int | float) and 0 <= self.error_ratio <= 1):
            raise ValueError(f"error_ratio: must be a number in [0, 1], got {self.error_ratio!r}")
        if self.error_class not in ERROR_CLASSES:
            raise ValueError(f"error_class: must be one of {', '.join(ERROR_CLASSES)}, got {self.error_class!r}")
        for name in ("hang", "crash"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: must be true or false")
        rate = self.kv_leak_tokens_per_s
        if not (isinstance(rate, int | float) and math.isfinite(rate) and rate >= 0):
            raise ValueError(f"kv_leak_tokens_per_s: must be a number >= 0, got {rate!r}")

    def updated(self, changes: Any) -> Faults:
        """A copy with the keys of a JSON object applied; unknown keys are errors."""
        if not isinstance(changes, dict):
            raise ValueError("faults: body must be a JSON object")
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown fault (known: {', '.join(sorted(known))})")
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EmulatorConfig:
    """One replica's settings. Durations are emulated seconds unless named ``wall``."""

    profile: PerformanceProfile
    model_name: str
    host: str = "127.0.0.1"
    port: int = 8000
    time_scale: float = 1.0  # emulated seconds per wall second
    startup_s: float = 0.0  # emulated seconds before /health turns 200
    replica_name: str = "vllm-emulator-0"
    deployment: str = "vllm"
    namespace: str = "default"
    log_file: str | None = None  # JSON lines; None means stderr
    drain_grace_s: float = 30.0  # wall seconds in-flight requests get after SIGTERM
    eos_mean_tokens: float = 0.0  # 0: never stop early; else mean length before a sampled EOS
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    crash_after_s: float | None = None  # emulated seconds after start-up completes
    hang_after_s: float | None = None  # emulated seconds after start-up completes
    prefix_caching: bool = True  # vLLM V1's automatic prefix caching (on by default there too)

    def __post_init__(self) -> None:
        if not self.model_name:
            raise ValueError("model_name: must not be empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"port: must be in 1-65535, got {self.port}")
        if not (math.isfinite(self.time_scale) and self.time_scale > 0):
            raise ValueError(f"time_scale: must be > 0, got {self.time_scale}")
        for name in ("startup_s", "drain_grace_s", "eos_mean_tokens"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be >= 0, got {value}")
        for name in ("crash_after_s", "hang_after_s"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be >= 0, got {value}")
