"""The log source: serving errors per class from Elasticsearch/OpenSearch, beside the metrics.

Owns: :class:`LogSource` (one aggregation query per target per tick, turned into
``Signals.log_error_rate`` and a per-class, per-pod :class:`LogErrors` kept for
the anomaly advisor) and :class:`LogEnrichedSource` (a :class:`Source` that adds
the log reading to another source's signals).
Must not import: a search client library (see :mod:`controlplane.sources.logclients`).

The log path never fails a tick and never touches the metrics path: the inner
source collects first, and whatever goes wrong with the logs -- refused, slow
(the client's timeout), an error answer, a partial answer, no log line at all
from the target in the window -- becomes ``log_error_rate = Reading.missing(reason)``.
After a failure the backend is left alone for ``backoff_s`` (doubling up to
``max_backoff_s``), so a down or slow cluster costs a tick at most one timeout
per backoff period rather than one per target per tick.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from controlplane.policy.model import KubernetesTarget, LocalTarget, ScalingPolicy
from controlplane.protocols import Source
from controlplane.signals import Reading, Signals
from controlplane.sources.logclients import LogQueryFailed, SearchClient
from controlplane.sources.logquery import (
    LogErrors,
    LogFields,
    LogResponseError,
    LogScope,
    error_count_query,
    parse_error_counts,
)

__all__ = ["LogSource", "LogEnrichedSource", "LogReading", "scope_for"]

log = logging.getLogger(__name__)


def scope_for(policy: ScalingPolicy) -> LogScope:
    """Kubernetes targets: their namespace and Deployment. Local targets: the group,
    which local replicas log as their deployment (``--deployment``)."""
    target = policy.target
    if isinstance(target, KubernetesTarget):
        return LogScope(target.deployment, target.namespace)
    assert isinstance(target, LocalTarget)
    return LogScope(target.group)


@dataclass(frozen=True)
class LogReading:
    """One tick's log result for a target: the rate reading and, when read, the counts."""

    reading: Reading
    errors: LogErrors | None = None


class LogSource:
    """Counts a target's serving errors over the last ``window_s`` seconds.

    ``lag_s`` shifts the window back to allow for log shipping and index refresh.
    ``bucket_s`` is the time-bucket width of the per-class series.
    """

    def __init__(
        self,
        client: SearchClient,
        index: str,
        *,
        window_s: float = 60.0,
        bucket_s: float = 10.0,
        lag_s: float = 0.0,
        fields: LogFields = LogFields(),
        backoff_s: float = 15.0,
        max_backoff_s: float = 120.0,
    ) -> None:
        if not index:
            raise ValueError("elasticsearch.index: must not be empty")
        if not window_s >= bucket_s:
            raise ValueError(f"window_s: must be >= bucket_s ({bucket_s}), got {window_s}")
        if lag_s < 0:
            raise ValueError(f"lag_s: must be >= 0, got {lag_s}")
        if not 0 <= backoff_s <= max_backoff_s:
            raise ValueError("backoff_s: must be >= 0 and <= max_backoff_s")
        self.client = client
        self.index = index
        self.window_s = float(window_s)
        self.bucket_s = float(bucket_s)
        self.lag_s = float(lag_s)
        self.fields = fields
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._lock = threading.Lock()
        self._latest: dict[str, LogReading] = {}
        self._down_until = 0.0
        self._down_reason: str | None = None
        self._failures = 0

    def read(self, policy: ScalingPolicy, now: float) -> LogReading:
        """The target's log error rate at ``now``; never raises."""
        key = policy.target_key
        result = self._read(policy, now)
        with self._lock:
            self._latest[key] = result
        return result

    def latest(self, target: str) -> LogReading | None:
        """The last :meth:`read` of ``target`` (the advisor's per-class evidence)."""
        with self._lock:
            return self._latest.get(target)

    def _read(self, policy: ScalingPolicy, now: float) -> LogReading:
        with self._lock:
            if now < self._down_until:
                return LogReading(
                    Reading.missing(f"{self._down_reason} (next try in {self._down_until - now:.0f} s)")
                )
        end = now - self.lag_s
        start = end - self.window_s
        try:
            body = error_count_query(scope_for(policy), start, end, bucket_s=self.bucket_s, fields=self.fields)
            errors = parse_error_counts(self.client.search(self.index, body), start, end)
        except (LogQueryFailed, LogResponseError) as exc:
            return LogReading(Reading.missing(self._failed(str(exc), now)))
        except Exception as exc:  # a client bug must not take the tick down either
            log.exception("log query failed for %s", policy.target_key)
            return LogReading(Reading.missing(self._failed(f"log query raised {type(exc).__name__}: {exc}", now)))
        with self._lock:
            self._failures = 0
            self._down_until = 0.0
        if errors.lines == 0:
            return LogReading(
                Reading.missing(f"no log lines from {policy.target_key} in the last {self.window_s:g} s", at=end),
                errors,
            )
        return LogReading(Reading.of(errors.rate, at=end), errors)

    def _failed(self, reason: str, now: float) -> str:
        with self._lock:
            self._failures += 1
            wait = min(self.max_backoff_s, self.backoff_s * 2 ** (self._failures - 1))
            self._down_until = now + wait
            self._down_reason = f"logs unavailable: {reason}"
            return self._down_reason


class LogEnrichedSource:
    """A :class:`Source`: ``inner``'s signals with ``log_error_rate`` from ``logs``.

    The inner source runs first and alone decides the metrics; a log failure only
    makes ``log_error_rate`` missing.
    """

    def __init__(self, inner: Source, logs: LogSource) -> None:
        self.inner = inner
        self.logs = logs

    def collect(self, policy: ScalingPolicy, now: float) -> Signals:
        signals = self.inner.collect(policy, now)
        return signals.with_readings(log_error_rate=self.logs.read(policy, now).reading)

    def __getattr__(self, name: str) -> object:
        # Health probes and settings of the metrics source (url, health()) stay reachable.
        return getattr(self.inner, name)
