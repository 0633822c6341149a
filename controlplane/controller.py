"""The running controller: builds the loop's parts from settings and schedules it.

Owns: choosing the backends (Prometheus source, Kubernetes or local actuator,
leader election, policy store), wiring every advisor (:func:`wire_advisors`:
forecast floor, schedule pre-warm, anomaly guard, operator overrides; the same
set with the admin API on or off, and for the local demo and replay), the APScheduler jobs (the tick, forecast fitting
off the tick path, cron-fired pre-warm ticks for schedule windows), the controller's /metrics endpoint, and shutting all of it
down. The decisions themselves are made in :mod:`controlplane.loop`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from controlplane.actuate.routing import RoutingActuator
from controlplane.clock import Clock, SystemClock
from controlplane.config import ControllerConfig
from controlplane.health import TickHealth, serve_metrics_and_health
from controlplane.loop import ControlLoop, StaticPolicies
from controlplane.policy.model import ScalingPolicy, load_policy_yaml
from controlplane.protocols import Actuator, Advisor, PolicyStore, Source
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog
from controlplane.store.overrides import OverrideAdvisor, OverrideStore
from controlplane.telemetry import ControllerMetrics

__all__ = ["Controller", "AdvisorWiring", "build_controller", "wire_advisors", "local_config", "load_policies_file"]

log = logging.getLogger(__name__)


def load_policies_file(path: str | Path) -> list[ScalingPolicy]:
    """A YAML file holding one policy, or several as YAML documents separated by ``---``."""
    import yaml

    text = Path(path).read_text()
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    return [load_policy_yaml(yaml.safe_dump(d)) for d in docs]


@dataclass
class Controller:
    loop: ControlLoop
    tick_s: float
    metrics_port: int = 0
    metrics_addr: str = "127.0.0.1"
    jobs: Sequence[tuple[str, Callable[[], Any], float]] = ()
    # (job id, APScheduler trigger) pairs at which to run an extra tick (scheduled-scaling
    # pre-warm); re-read every minute so policies changed through the API get theirs.
    tick_triggers: Callable[[], Sequence[tuple[str, Any]]] | None = None
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    health: TickHealth | None = None
    _scheduler: BackgroundScheduler | None = None
    _stopped: threading.Event = field(default_factory=threading.Event)
    _trigger_jobs: dict[str, str] = field(default_factory=dict)

    def start(self) -> Controller:
        """Serve /metrics and /healthz on ``metrics_port`` (0: neither), then schedule the tick."""
        if self.health is None:
            self.health = TickHealth(self.tick_s)
        if self.metrics_port:
            stop_server = serve_metrics_and_health(
                self.loop.metrics.registry, self.health, self.metrics_port, self.metrics_addr
            )
            self.on_stop.append(stop_server)
        sched = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
        # misfire_grace_time: a late tick still runs once (coalesced), never a burst of catch-up ticks.
        sched.add_job(self._tick, "interval", seconds=self.tick_s, id="tick", misfire_grace_time=int(self.tick_s * 2) or 1)
        for name, fn, every_s in self.jobs:
            sched.add_job(fn, "interval", seconds=every_s, id=name, misfire_grace_time=int(every_s))
        if self.tick_triggers is not None:
            self._sync_triggers(sched)
            sched.add_job(self._sync_triggers, "interval", args=(sched,), seconds=60, id="tick-triggers",
                          misfire_grace_time=60)
        sched.start()
        self._scheduler = sched
        return self

    def _sync_triggers(self, sched: BackgroundScheduler) -> None:
        """Add, replace (when the trigger changed) and remove the extra-tick jobs."""
        assert self.tick_triggers is not None
        try:
            wanted = {name: trigger for name, trigger in self.tick_triggers()}
        except Exception:
            log.exception("could not build the tick triggers")
            return
        for name in set(self._trigger_jobs) - set(wanted):
            sched.remove_job(name)
            del self._trigger_jobs[name]
        for name, trigger in wanted.items():
            if self._trigger_jobs.get(name) != str(trigger):
                sched.add_job(self._tick, trigger, id=name, replace_existing=True, misfire_grace_time=int(self.tick_s))
                self._trigger_jobs[name] = str(trigger)

    def _tick(self) -> None:
        try:
            self.loop.tick()
        except Exception:
            log.exception("tick failed")
        if self.health is not None:
            self.health.ticked()

    def wait(self, timeout_s: float | None = None) -> None:
        self._stopped.wait(timeout_s)

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        for fn in self.on_stop:
            try:
                fn()
            except Exception:
                log.exception("shutdown step failed")
        self._stopped.set()


def build_controller(
    config: ControllerConfig,
    *,
    policies: Sequence[ScalingPolicy] | None = None,
    local: Actuator | None = None,
    clock: Clock | None = None,
    advisors: Sequence[Advisor] = (),
) -> Controller:
    """Wire a controller from settings; ``policies`` and ``local`` override the file and the defaults."""
    from controlplane.sources.prometheus import PrometheusSource

    clock = clock or SystemClock()
    owned_local = None
    if local is None and config.local.enabled:
        local = owned_local = _local_actuator(config)
    db = Database(config.loop.database, field="loop.database")
    if policies is None:
        policies = load_policies_file(config.loop.policies_file) if config.loop.policies_file else []
    actuator = RoutingActuator(local=local)
    on_stop: list[Callable[[], None]] = [db.close]
    if owned_local is not None:
        on_stop.insert(0, owned_local.close)
    leadership: Any = None
    kube_api: Any = None
    if config.kubernetes.enabled:
        from controlplane.actuate.kubeclient import make_api_client
        from controlplane.actuate.kubernetes import ActuatorSettings, KubernetesActuator

        api = make_api_client(
            config.kubernetes.host,
            kubeconfig=config.kubernetes.kubeconfig,
            in_cluster=None if config.kubernetes.host else config.kubernetes.in_cluster,
            user_agent="llm-controlplane",
        )
        on_stop.append(api.close)
        kube_api = api
        if config.leader.enabled:
            leadership = _leader_elector(api, config)
        actuator.kubernetes = KubernetesActuator(
            api, ActuatorSettings(field_manager=config.kubernetes.field_manager), leadership=leadership
        )
        if leadership is not None:
            leadership.start()
            # before api.close: a clean stop releases the lease through the client
            on_stop.insert(len(on_stop) - 1, leadership.stop)
    metrics = ControllerMetrics(identity=leadership.identity if leadership is not None else "local")
    store: PolicyStore = StaticPolicies(policies)
    if config.api.enabled:
        # The loop reads the database every tick, so API changes apply on the next one.
        from controlplane.api.serve import policy_repository

        store = policy_repository(db, policies, clock)
    source: Source = PrometheusSource(config.prometheus.url, timeout_s=config.prometheus.timeout_s)
    wiring = wire_advisors(config, source=source, db=db, clock=clock, metrics=metrics, store=store, local=local,
                           extra=advisors)
    on_stop[:0] = wiring.on_stop
    loop = ControlLoop(
        policies=store,
        source=wiring.source,
        actuator=actuator,
        log=DecisionLog(db),
        metrics=metrics,
        clock=clock,
        advisors=wiring.advisors,
    )
    if leadership is not None:
        loop.leadership = leadership
        # a shared database holds the leader's decisions only (a file per replica keeps both)
        loop.record_standby = db.dialect == "sqlite"
    if config.api.enabled:
        from controlplane.api.serve import serve_api

        # first to stop: the API server and the CRD syncer, before the clients and the database close
        on_stop[:0] = serve_api(config, db, loop, kube_api)
    return Controller(
        loop=loop,
        tick_s=config.loop.tick_s,
        metrics_port=config.loop.metrics_port,
        metrics_addr=config.loop.metrics_addr,
        jobs=[*wiring.jobs, *_retention_jobs(config, loop)],
        tick_triggers=wiring.tick_triggers,
        on_stop=on_stop,
    )


@dataclass
class AdvisorWiring:
    """The advisors in the order the tick asks them, and what they need from the controller."""

    source: Source  # the source, enriched with log errors when Elasticsearch is configured
    advisors: list[Advisor]
    jobs: list[tuple[str, Callable[[], Any], float]]
    tick_triggers: Callable[[], Sequence[tuple[str, Any]]]
    on_stop: list[Callable[[], None]]  # run first when the controller stops


def wire_advisors(
    config: ControllerConfig,
    *,
    source: Source,
    db: Database,
    clock: Clock,
    metrics: ControllerMetrics,
    store: PolicyStore,
    local: Actuator | None = None,
    extra: Sequence[Advisor] = (),
) -> AdvisorWiring:
    """Every advisor of the live tick, in order: forecast floor, schedule pre-warm, ``extra``,
    the anomaly guard (with Alertmanager or Elasticsearch configured: it alerts through the one
    and reads evidence from the other) and the operator's overrides from ``db``, which are
    read whether or not the admin API that sets them runs here."""
    from controlplane.advisors.wiring import advisor_state_dir, scaling_advisors

    scaling = scaling_advisors(config, clock, metrics, store, local)
    advisors: list[Advisor] = [*scaling.advisors, *extra]
    on_stop: list[Callable[[], None]] = [scaling.save]
    jobs = list(scaling.jobs)
    if config.alertmanager.url or config.elasticsearch.url:
        from controlplane.advisors.anomaly_wiring import wire_anomalies

        source, anomaly, stop_anomaly, anomaly_jobs = wire_anomalies(
            config, source, metrics, clock, state_dir=advisor_state_dir(config))
        advisors.append(anomaly)
        on_stop.append(stop_anomaly)
        jobs += anomaly_jobs
    advisors.append(OverrideAdvisor(OverrideStore(db), clock))
    return AdvisorWiring(source, advisors, jobs, scaling.tick_triggers, on_stop)


def local_config(tick_s: float, database: str | Path, state_dir: str | Path) -> ControllerConfig:
    """The settings of a controller on this machine without an API, alerting or log source
    (the local demo and replay): its tick, its database and where forecast state goes."""
    return ControllerConfig.model_validate({
        "loop": {"tick_s": tick_s, "database": str(database), "state_dir": str(state_dir), "metrics_port": 0},
        "api": {"enabled": False},
    })


def _retention_jobs(config: ControllerConfig, loop: ControlLoop) -> list[tuple[str, Callable[[], Any], float]]:
    """Hourly: delete decisions older than ``loop.decision_retention_days`` (none when 0)."""
    days = config.loop.decision_retention_days
    if not days > 0:
        return []

    def prune() -> None:
        try:
            deleted = loop.log.prune(loop.clock.now() - days * 86_400.0)
        except Exception:
            loop.metrics.step_errors.labels("retention").inc()
            log.exception("could not delete old decisions")
            return
        if deleted:
            log.info("deleted %d decisions older than %g days", deleted, days)

    return [("decision-retention", prune, 3600.0)]


def _leader_elector(api: Any, config: ControllerConfig) -> Any:
    """A (not yet started) elector on the configured Lease.

    The identity defaults to ``<hostname>_<pid>``: the pod name in a cluster, and
    still unique when two controllers share one host.
    """
    from controlplane.actuate.leader import LeaderElectionConfig, LeaderElector, default_identity

    s = config.leader
    return LeaderElector(
        api,
        LeaderElectionConfig(
            name=s.lease_name,
            namespace=s.namespace,
            identity=s.identity or default_identity(),
            lease_duration_s=s.lease_duration_s,
            renew_deadline_s=s.renew_deadline_s,
            retry_period_s=s.retry_period_s,
        ),
    )


def _local_actuator(config: ControllerConfig) -> Any:
    from controlplane.actuate.local import LocalActuator, emulator_command, vllm_command

    s = config.local
    if s.server == "vllm":
        command = vllm_command(str(s.model), s.extra_args, s.python)
    else:
        command = emulator_command(s.extra_args)
    return LocalActuator(s.workdir, command_for=command, drain_grace_s=s.drain_grace_s)
