"""Leader election on a ``coordination.k8s.io/v1`` Lease, so one controller replica actuates.

Owns: :class:`LeaderElectionConfig` and :class:`LeaderElector` (``is_leader``, one
:meth:`~LeaderElector.step` for tests with a fake clock, and a background runner
with ``start()``/``stop()`` for production). Talks to the API server only through
the official client's ``CoordinationV1Api``.
Must not import: the decision logic or the actuator (the wiring hands the elector
to ``KubernetesActuator(leadership=...)``, which acts only while ``is_leader``).

The algorithm is client-go's ``leaderelection`` package, with the same defaults
(lease 15 s, renew deadline 10 s, retry period 2 s):

- Every retry period each candidate reads the Lease. Absent: create it holding it
  (a 409 AlreadyExists means another candidate won the race). Held by someone
  else: it is expired only when the record has not changed for
  ``leaseDurationSeconds`` as measured on *our* monotonic clock since we first saw
  that record, so clock skew between nodes does not matter. Expired, released
  (empty holder) or ours: replace it with our identity and ``renewTime`` = now,
  conditional on the resourceVersion just read (409 Conflict = lost the race).
  ``leaseTransitions`` counts changes of holder; ``acquireTime`` is when the
  current holder took it.
- The leader steps down as soon as it sees another valid holder, and when it
  has not renewed for ``renew_deadline_s``. ``is_leader`` checks that deadline on
  every read, so a leader whose renew call hangs stops acting on time, before
  the lease can expire for the others (renew deadline < lease duration).
- After the leader stops renewing, another candidate takes over within
  lease duration + retry period of the last renewal (15 + 2 = 17 s by default);
  with ``release_on_stop`` a clean ``stop()`` empties the holder so the next
  candidate takes over at its next retry.

Unlike client-go the retry period carries no jitter; time comes from an injectable
:class:`controlplane.clock.Clock` (wall time for the timestamps written, monotonic
time for every duration).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from controlplane.actuate.kubeclient import classify
from controlplane.clock import Clock, SystemClock

__all__ = ["LeaderElectionConfig", "LeaderElector", "default_identity"]

log = logging.getLogger(__name__)


def default_identity() -> str:
    """``<hostname>_<pid>``: the pod name in a cluster, unique per process on one box."""
    return f"{socket.gethostname()}_{os.getpid()}"


@dataclass(frozen=True, slots=True)
class LeaderElectionConfig:
    name: str = "llm-controlplane-leader"
    """Lease object name, shared by every replica of one control plane."""
    namespace: str = "default"
    identity: str = field(default_factory=default_identity)
    """This candidate's holderIdentity; must differ between replicas."""
    lease_duration_s: float = 15.0
    """How long followers wait (s) after the last observed change before taking over (client-go default)."""
    renew_deadline_s: float = 10.0
    """How long (s) the leader keeps acting without a successful renewal (client-go default)."""
    retry_period_s: float = 2.0
    """Seconds between attempts to acquire or renew (client-go default)."""
    request_timeout_s: float | None = None
    """Per call (s); None uses retry_period_s so one slow call cannot eat the renew deadline."""
    release_on_stop: bool = True
    """On stop(), empty the holder so a successor need not wait out the lease."""

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("identity: must not be empty")
        for name in ("lease_duration_s", "renew_deadline_s", "retry_period_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0")
        if self.lease_duration_s <= self.renew_deadline_s:
            raise ValueError("lease_duration_s: must be greater than renew_deadline_s")
        if self.renew_deadline_s <= self.retry_period_s:
            raise ValueError("renew_deadline_s: must be greater than retry_period_s")

    @property
    def timeout_s(self) -> float:
        return self.request_timeout_s if self.request_timeout_s is not None else self.retry_period_s


@dataclass(frozen=True, slots=True)
class _Record:
    holder: str
    duration_s: int
    renew_time: str
    transitions: int
    resource_version: str


def _record(lease: Any) -> _Record:
    spec = lease.spec or client.V1LeaseSpec()
    return _Record(
        holder=spec.holder_identity or "",
        duration_s=int(spec.lease_duration_seconds or 0),
        renew_time=str(spec.renew_time),
        transitions=int(spec.lease_transitions or 0),
        resource_version=str(lease.metadata.resource_version),
    )


class LeaderElector:
    def __init__(
        self,
        api_client: client.ApiClient,
        config: LeaderElectionConfig | None = None,
        *,
        clock: Clock | None = None,
        on_started_leading: Callable[[], None] | None = None,
        on_stopped_leading: Callable[[], None] | None = None,
    ) -> None:
        self.config = config or LeaderElectionConfig()
        self._coord = client.CoordinationV1Api(api_client)
        self._clock: Clock = clock or SystemClock()
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._lock = threading.Lock()
        self._leader = False
        self._last_renew = -math.inf
        self._observed: _Record | None = None
        self._observed_at = -math.inf
        self._other_holds = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def is_leader(self) -> bool:
        """True only while the last successful renewal is younger than the renew deadline."""
        with self._lock:
            return self._leader and self._clock.monotonic() - self._last_renew < self.config.renew_deadline_s

    @property
    def holder(self) -> str | None:
        """The holder in the last Lease record seen, "" when released, None before any read."""
        with self._lock:
            return self._observed.holder if self._observed else None

    def step(self) -> bool:
        """One attempt to acquire or renew, then step up or down; returns ``is_leader``."""
        ok = self._try_acquire_or_renew()
        started = stopped = False
        with self._lock:
            mono = self._clock.monotonic()
            if ok:
                self._last_renew = mono
                started, self._leader = not self._leader, True
            elif self._leader and (
                self._other_holds or mono - self._last_renew >= self.config.renew_deadline_s
            ):
                self._leader, stopped = False, True
        if started:
            log.info(
                "%s became leader of lease %s/%s", self.identity, self.config.namespace, self.config.name
            )
            if self._on_started:
                self._on_started()
        if stopped:
            self._stepped_down(
                "could not renew before the deadline" if not self._other_holds else "lost the lease"
            )
        return self.is_leader

    def start(self) -> None:
        """Run :meth:`step` every retry period on a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            raise RuntimeError("the elector is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"leader-{self.identity}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the runner; release the lease when leading and ``release_on_stop``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None
        with self._lock:
            was_leader, self._leader = self._leader, False
        if was_leader:
            if self.config.release_on_stop:
                self._release()
            self._stepped_down("stopped")

    # internals

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # noqa: BLE001 - the runner outlives any one failed attempt
                log.exception("leader election step failed")
            self._stop.wait(self.config.retry_period_s)

    def _stepped_down(self, why: str) -> None:
        log.warning("%s stopped leading lease %s: %s", self.identity, self.config.name, why)
        if self._on_stopped:
            self._on_stopped()

    def _spec(
        self, acquire: dt.datetime, transitions: int, duration_s: int | None = None
    ) -> client.V1LeaseSpec:
        return client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=duration_s or max(1, math.ceil(self.config.lease_duration_s)),
            acquire_time=acquire,
            renew_time=self._wall(),
            lease_transitions=transitions,
        )

    def _wall(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock.now(), dt.UTC)

    def _observe(self, lease: Any) -> _Record:
        rec = _record(lease)
        with self._lock:
            if rec != self._observed:
                self._observed, self._observed_at = rec, self._clock.monotonic()
        return rec

    def _try_acquire_or_renew(self) -> bool:
        cfg = self.config
        self._other_holds = False
        try:
            lease = self._coord.read_namespaced_lease(cfg.name, cfg.namespace, _request_timeout=cfg.timeout_s)
        except Exception as exc:  # noqa: BLE001 - classified, unknown ones re-raised
            failure = classify(exc)
            if failure.code != 404:
                log.info("%s could not read lease %s: %s", self.identity, cfg.name, failure)
                return False
            return self._create()
        rec = self._observe(lease)
        with self._lock:
            expired = self._observed_at + rec.duration_s <= self._clock.monotonic()
        if rec.holder and rec.holder != self.identity and not expired:
            self._other_holds = True
            return False
        if rec.holder == self.identity:
            spec = self._spec((lease.spec and lease.spec.acquire_time) or self._wall(), rec.transitions)
        else:
            spec = self._spec(self._wall(), rec.transitions + 1)
        lease.spec = spec
        try:
            new = self._coord.replace_namespaced_lease(
                cfg.name, cfg.namespace, lease, _request_timeout=cfg.timeout_s
            )
        except Exception as exc:  # noqa: BLE001 - classified, unknown ones re-raised
            log.info("%s could not write lease %s: %s", self.identity, cfg.name, classify(exc))
            return False
        self._observe(new)
        return True

    def _create(self) -> bool:
        cfg = self.config
        lease = client.V1Lease(
            metadata=client.V1ObjectMeta(name=cfg.name, namespace=cfg.namespace),
            spec=self._spec(self._wall(), 0),
        )
        try:
            new = self._coord.create_namespaced_lease(cfg.namespace, lease, _request_timeout=cfg.timeout_s)
        except Exception as exc:  # noqa: BLE001 - classified, unknown ones re-raised
            log.info("%s could not create lease %s: %s", self.identity, cfg.name, classify(exc))
            return False
        self._observe(new)
        return True

    def _release(self) -> None:
        """Empty the holder (lease 1 s) if we still hold it, so a successor need not wait."""
        cfg = self.config
        try:
            lease = self._coord.read_namespaced_lease(cfg.name, cfg.namespace, _request_timeout=cfg.timeout_s)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec = client.V1LeaseSpec(
                holder_identity="",
                lease_duration_seconds=1,
                acquire_time=self._wall(),
                renew_time=self._wall(),
                lease_transitions=lease.spec.lease_transitions,
            )
            self._coord.replace_namespaced_lease(
                cfg.name, cfg.namespace, lease, _request_timeout=cfg.timeout_s
            )
        except Exception as exc:  # noqa: BLE001 - best effort: the lease expires anyway
            log.warning("%s could not release lease %s: %s", self.identity, cfg.name, exc)
