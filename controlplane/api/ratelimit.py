"""Per-token rate limiting with a token bucket.

Owns: :class:`RateLimiter`. Each principal's bucket holds up to ``burst``
requests and refills at ``rate_per_s``; a request finding it empty is refused
with the seconds until one request's worth has refilled (the ``Retry-After``).
Time comes from the clock's monotonic reading, so tests move it by hand.
Must not import: the web framework.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from controlplane.clock import Clock

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, clock: Clock, rate_per_s: float, burst: int, max_keys: int = 10_000) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s: must be > 0, got {rate_per_s}")
        if burst < 1:
            raise ValueError(f"burst: must be >= 1, got {burst}")
        self.clock = clock
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """Spend one request; 0.0 when allowed, else the seconds to wait before retrying."""
        now = self.clock.monotonic()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.rate_per_s
            self._buckets[key] = (tokens, now)
            # Forget the least recently seen keys first: a full bucket is what a new key gets anyway.
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait
