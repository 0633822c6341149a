"""Live replay: one trace through the whole single-machine loop, measured.

Owns: :func:`run_replay` and the :class:`ReplayResult` it returns. A run starts a
real Prometheus (1 s scrape), ``min_replicas`` emulator replicas through the
local actuator, and the controller (the real :class:`ControlLoop` scheduled by
:class:`Controller`, reading a :class:`PrometheusSource`); the trace is sent by
the load generator in a separate process, so the controller process's memory
is the controller's. Measured: TTFT p95 from the replicas' histograms in
Prometheus and client side, replica-seconds over a stated horizon, scale
events, replica start-up durations, per-tick start lateness and duration,
the controller process's RSS at every tick, step errors and logged errors.

Time zero is the moment the load generator starts sending, which is also the
controller's first scheduling instant, so tick k is due at ``k * tick_s`` as in
the simulator.

Used by ``controlplane bench fidelity`` and ``controlplane bench soak``. Must not
import: the simulator (comparisons live with the benchmarks).
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing as mp
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from controlplane.actuate.local import LocalActuator, emulator_command
from controlplane.clock import SystemClock
from controlplane.controller import Controller, local_config, wire_advisors
from controlplane.local.demo import _bootstrap
from controlplane.local.prometheus import PrometheusServer
from controlplane.loop import ControlLoop, StaticPolicies
from controlplane.policy.decision import Decision
from controlplane.policy.model import LocalTarget, ScalingPolicy
from controlplane.protocols import ScaleResult
from controlplane.store import Database
from controlplane.store.decisions import DecisionLog
from controlplane.telemetry import ControllerMetrics
from controlplane.traces.model import Trace

__all__ = ["ReplaySettings", "ReplayResult", "TickSample", "run_replay", "rss_bytes", "replica_seconds"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplaySettings:
    """How a live replay runs. ``latency_multiplier`` slows every emulated engine step
    (the emulator's ``--latency-multiplier``): fewer requests carry the same queueing,
    so a contended 2-core machine keeps up with the streams."""

    work_dir: Path
    policy: ScalingPolicy
    tick_s: float = 1.0
    scrape_interval_s: float = 1.0
    replica_startup_s: float = 3.0
    latency_multiplier: float = 1.0
    drain_grace_s: float = 10.0
    max_total_tokens: int = 512
    request_timeout_s: float = 120.0
    drain_s: float = 60.0  # after the last arrival, how long requests may still run
    tail_s: float = 0.0  # controller keeps ticking this long after the load finished
    progress_every_s: float = 0.0  # > 0: echo a status line this often

    def __post_init__(self) -> None:
        if not isinstance(self.policy.target, LocalTarget):
            raise ValueError("policy.target: a live replay needs a local replica group")
        for name in ("tick_s", "scrape_interval_s", "latency_multiplier"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class TickSample:
    t: float  # tick start, s since time zero
    lateness_s: float  # start minus the scheduled instant
    duration_s: float
    rss_bytes: int  # controller process RSS at the tick's end


@dataclass
class ReplayResult:
    requests: list[dict[str, Any]]  # sent_s, ok, ttft_s, e2e_s, error
    prom_ttft_p95_s: float | None  # histogram_quantile over the run, the replicas' own TTFT buckets
    replica_intervals: list[tuple[float, float]]  # (start, end), s since time zero, draining included
    scale_events: list[tuple[float, int, int]]  # (t, from, to) of applied decisions
    startup_durations_s: list[float]  # process start -> seen ready by the actuator
    ticks: list[TickSample]
    tick_s: float
    ended_s: float  # s since time zero when the controller stopped
    step_errors: float
    logged_errors: list[str]
    crashes: list[str]
    invalid_decisions: int = 0
    decisions: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    prom_prefix_hit_ratio: float | None = None  # prompt tokens found cached / looked up, over the run

    def client_ttft_p95_s(self) -> float | None:
        v = np.array([r["ttft_s"] for r in self.requests if r["ok"] and r["ttft_s"] is not None], dtype=float)
        return float(np.quantile(v, 0.95)) if len(v) else None

    def replica_seconds(self, horizon_s: float) -> float:
        return replica_seconds(self.replica_intervals, horizon_s)

    def missed_ticks(self) -> int:
        """Scheduled instants in (0, ended] that no tick started for."""
        due = int(math.floor(self.ended_s / self.tick_s))
        return max(0, due - len(self.ticks))


def replica_seconds(intervals: list[tuple[float, float]], horizon_s: float) -> float:
    """Sum of each replica's life clipped to ``[0, horizon_s]``."""
    return float(sum(max(0.0, min(end, horizon_s) - max(start, 0.0)) for start, end in intervals))


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass
class _TimedLoop(ControlLoop):
    """The control loop, with each tick's start, duration and the process RSS recorded."""

    anchor: float = 0.0
    tick_s: float = 1.0
    samples: list[TickSample] = field(default_factory=list)

    def tick(self) -> list[Decision]:
        start = time.time()
        try:
            return super().tick()
        finally:
            end = time.time()
            since = start - self.anchor
            due = max(1, round(since / self.tick_s)) * self.tick_s
            self.samples.append(TickSample(since, since - due, end - start, rss_bytes()))


class _ReplicaTracker:
    """Samples the actuator's replicas every 0.2 s: each one's start and last instant alive."""

    def __init__(self, actuator: LocalActuator, group: str) -> None:
        self.actuator, self.group = actuator, group
        self.lives: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replica-tracker", daemon=True)

    def start(self) -> _ReplicaTracker:
        self._thread.start()
        return self

    def sample(self) -> None:
        now = time.time()
        for r in self.actuator.replicas(self.group):
            life = self.lives.setdefault(r.name, [r.started_at, r.started_at])
            if r.proc.poll() is None:
                life[1] = now

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()


class _ErrorLog(logging.Handler):
    """Collects ERROR records (exceptions the loop or controller logged) during a run."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")


def _load_worker(
    trace: Trace, targets_file: str, out: str, model: str | None, kw: dict[str, Any], ready: Any, start: Any
) -> None:
    """In the load process: import, report ready, wait for the start instant, replay, write records."""
    from controlplane.loadgen.runner import run_load

    ready.put("ready")
    start_at = float(start.get(timeout=120))
    time.sleep(max(0.0, start_at - time.time()))
    records: list[dict[str, Any]] = []

    def keep(r: Any) -> None:
        records.append({"sent_s": r.scheduled_s, "ok": r.ok, "ttft_s": r.ttft_s, "e2e_s": r.e2e_s, "error": r.error})

    run_load(trace, targets_file=targets_file, model=model, on_record=keep, **kw)
    Path(out).write_text(json.dumps(records))


def _prom_ttft_p95(prom_url: str, group: str, range_s: float) -> float | None:
    """p95 TTFT over the run from the replicas' cumulative buckets (each replica's final counts)."""
    rng = f"{int(math.ceil(range_s))}s"
    query = (
        "histogram_quantile(0.95, sum by (le) (max_over_time("
        f'vllm:time_to_first_token_seconds_bucket{{group="{group}"}}[{rng}])))'
    )
    return _prom_scalar(prom_url, query)


def _prom_scalar(prom_url: str, query: str) -> float | None:
    """The one value of an instant query; None when it is empty or not finite."""
    r = httpx.get(f"{prom_url}/api/v1/query", params={"query": query}, timeout=10.0)
    r.raise_for_status()
    result = r.json()["data"]["result"]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return value if math.isfinite(value) else None


def _prom_prefix_hit_ratio(prom_url: str, group: str, range_s: float) -> float | None:
    """Prefix-cache hits over queries (tokens) over the run, from each replica's final counters."""
    rng = f"{int(math.ceil(range_s))}s"
    sel = f'{{group="{group}"}}[{rng}]'
    query = (f"sum(max_over_time(vllm:prefix_cache_hits_total{sel}))"
             f" / sum(max_over_time(vllm:prefix_cache_queries_total{sel}))")
    return _prom_scalar(prom_url, query)


def _step_errors(metrics: ControllerMetrics) -> float:
    return float(
        sum(s.value for fam in metrics.step_errors.collect() for s in fam.samples if s.name.endswith("_total"))
    )


def run_replay(settings: ReplaySettings, trace: Trace, echo: Callable[[str], None] = print) -> ReplayResult:
    """Run ``trace`` through the live loop; blocks until the load and the tail are done."""
    policy = settings.policy
    target = policy.target
    assert isinstance(target, LocalTarget)
    work = settings.work_dir
    work.mkdir(parents=True, exist_ok=True)
    flags = ["--startup-s", f"{settings.replica_startup_s:g}"]
    if settings.latency_multiplier != 1.0:
        flags += ["--latency-multiplier", f"{settings.latency_multiplier:g}"]
    actuator = LocalActuator(work / "local", command_for=emulator_command(flags), drain_grace_s=settings.drain_grace_s)
    prom = PrometheusServer(
        work / "prometheus",
        file_sd_globs=[str(actuator.targets_dir / "*.json")],
        scrape_interval_s=settings.scrape_interval_s,
    )
    db_path = work / "decisions.db"
    db_path.unlink(missing_ok=True)
    shutil.rmtree(work / "forecast-state", ignore_errors=True)  # a fresh run learns afresh
    db = Database(db_path)
    errors = _ErrorLog()
    logging.getLogger().addHandler(errors)
    tracker = _ReplicaTracker(actuator, target.group)
    metrics = ControllerMetrics()
    events: list[tuple[float, int, int]] = []
    counts = {"decisions": 0, "invalid": 0}
    anchor = [0.0]

    def on_decision(decision: Decision, result: ScaleResult | None) -> None:
        counts["decisions"] += 1
        counts["invalid"] += 0 if decision.valid else 1
        if result is not None and result.patched:
            events.append((decision.at - anchor[0], decision.current, decision.desired))

    ctx = mp.get_context("spawn")
    ready_q: Any = ctx.Queue()
    start_q: Any = ctx.Queue()
    out_file = work / "requests.json"
    out_file.unlink(missing_ok=True)
    load_kw = {
        "max_seconds": trace.duration_s + settings.drain_s,
        "max_total_tokens": settings.max_total_tokens,
        "request_timeout_s": settings.request_timeout_s,
    }
    worker = ctx.Process(
        target=_load_worker,
        args=(trace, str(actuator.targets_dir / f"{target.group}.json"), str(out_file), target.model_name, load_kw, ready_q, start_q),
        name="replay-load",
        daemon=True,
    )
    controller: Controller | None = None
    loop: _TimedLoop | None = None
    prom_p95: float | None = None
    prom_hits: float | None = None
    ended = 0.0
    try:
        prom.start()
        _bootstrap(actuator, policy)
        tracker.start()
        from controlplane.sources.prometheus import PrometheusSource

        store = StaticPolicies([policy])
        wiring = wire_advisors(
            local_config(settings.tick_s, db_path, work / "forecast-state"), source=PrometheusSource(prom.url, timeout_s=2.0),
            db=db, clock=SystemClock(), metrics=metrics, store=store, local=actuator,
        )
        loop = _TimedLoop(
            policies=store,
            source=wiring.source,
            actuator=actuator,
            log=DecisionLog(db),
            metrics=metrics,
            on_decision=on_decision,
            advisors=wiring.advisors,
            tick_s=settings.tick_s,
        )
        worker.start()
        if ready_q.get(timeout=120) != "ready":
            raise RuntimeError("load process did not start")
        # Load and controller share time zero, a moment ahead so both can meet it.
        anchor[0] = time.time() + 0.5
        loop.anchor = anchor[0]
        start_q.put(anchor[0])
        time.sleep(max(0.0, anchor[0] - time.time()))
        controller = Controller(
            loop=loop, tick_s=settings.tick_s, jobs=wiring.jobs, tick_triggers=wiring.tick_triggers,
            on_stop=wiring.on_stop,
        ).start()
        echo(f"replay: {len(trace)} requests over {trace.duration_s:.0f} s; prometheus {prom.url}; tick {settings.tick_s:g} s")
        _wait_for(worker, settings, anchor[0], actuator, target.group, echo)
        if settings.tail_s > 0:
            time.sleep(settings.tail_s)
        ended = time.time() - anchor[0]
        controller.stop()
        controller = None
        tracker.stop()
        try:
            prom_p95 = _prom_ttft_p95(prom.url, target.group, ended + 30.0)
            prom_hits = _prom_prefix_hit_ratio(prom.url, target.group, ended + 30.0)
        except httpx.HTTPError as exc:
            log.warning("could not read the TTFT histogram or prefix-cache counters from Prometheus: %s", exc)
    finally:
        if controller is not None:
            controller.stop()
        if worker.is_alive():
            worker.terminate()
        worker.join(timeout=10)
        tracker.stop()
        actuator.close()
        prom.stop()
        db.close()
        logging.getLogger().removeHandler(errors)
    if worker.exitcode != 0 or not out_file.exists():
        raise RuntimeError(f"load process failed (exit {worker.exitcode}); see {work}")
    requests = json.loads(out_file.read_text())
    return ReplayResult(
        requests=requests,
        prom_ttft_p95_s=prom_p95,
        prom_prefix_hit_ratio=prom_hits,
        replica_intervals=[(s - anchor[0], e - anchor[0]) for s, e in tracker.lives.values()],
        scale_events=events,
        startup_durations_s=list(actuator.startup_durations),
        ticks=list(loop.samples) if loop is not None else [],
        tick_s=settings.tick_s,
        ended_s=ended,
        step_errors=_step_errors(metrics),
        logged_errors=errors.messages,
        crashes=list(actuator.crashes),
        invalid_decisions=counts["invalid"],
        decisions=counts["decisions"],
    )


def _wait_for(
    worker: Any, settings: ReplaySettings, anchor: float, actuator: LocalActuator, group: str, echo: Callable[[str], None]
) -> None:
    """Wait for the load process; progress lines read the replica list only (a status call
    would mark replicas ready between ticks, which the loop alone should do)."""
    last = time.time()
    while worker.is_alive():
        worker.join(timeout=1.0)
        if settings.progress_every_s > 0 and time.time() - last >= settings.progress_every_s:
            last = time.time()
            live = [r for r in actuator.replicas(group) if not r.draining]
            ready = sum(1 for r in live if r.ready_at is not None)
            echo(f"  t={last - anchor:6.0f} s  replicas {len(live)} (ready {ready})  rss {rss_bytes() / 2**20:.1f} MiB")
