"""Local actuator: replicas as processes on this machine (the emulator, or real vLLM).

Owns: starting replica processes on free loopback ports, knowing which are ready,
publishing the ready ones as Prometheus file_sd targets (which is also the routing
table the load generator reads), and draining on scale-down: a replica leaves the
targets file first (no new requests are routed to it), in-flight requests finish
up to a grace period, then it gets SIGTERM (SIGKILL if it will not go).

Only processes this actuator started are ever signalled, by PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from controlplane.policy.decision import Decision
from controlplane.policy.model import LocalTarget, ScalingPolicy
from controlplane.ports import free_port
from controlplane.protocols import ReplicaStatus, ScaleResult

__all__ = ["LocalActuator", "LocalReplica", "emulator_command", "vllm_command"]

CommandFor = Callable[[LocalTarget, str, int], Sequence[str]]


def emulator_command(extra: Sequence[str] = ()) -> CommandFor:
    """Start the bundled emulator with the target's profile."""

    def build(target: LocalTarget, name: str, port: int) -> Sequence[str]:
        cmd = [sys.executable, "-m", "controlplane", "emulator", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--profile", target.profile, "--replica-name", name]
        if target.model_name:
            cmd += ["--model-name", target.model_name]
        return [*cmd, *extra]

    return build


def vllm_command(model: str, extra: Sequence[str] = (), python: str | None = None) -> CommandFor:
    """Start real vLLM's OpenAI-compatible server (the module entry point works on every build).

    ``python`` is the interpreter that has vLLM installed (a separate virtualenv keeps
    vLLM's pinned dependencies away from the controller's); default: this one.
    """

    def build(target: LocalTarget, name: str, port: int) -> Sequence[str]:
        cmd = [python or sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--model", model]
        if target.model_name:
            cmd += ["--served-model-name", target.model_name]
        return [*cmd, *extra]

    return build




@dataclass
class LocalReplica:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    started_at: float
    ready_at: float | None = None
    draining: bool = False
    exit_code: int | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class _Group:
    replicas: list[LocalReplica] = field(default_factory=list)
    serial: int = 0
    last_patched: int | None = None


class LocalActuator:
    """Scale local replica groups; thread-safe (drains run in background threads)."""

    def __init__(
        self,
        workdir: str | Path,
        *,
        command_for: CommandFor | None = None,
        drain_grace_s: float = 30.0,
        deregister_s: float = 2.0,
        health_timeout_s: float = 1.0,
        env: dict[str, str] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.targets_dir = self.workdir / "targets"
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir = self.workdir / "replica-logs"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.command_for = command_for or emulator_command()
        self.drain_grace_s = drain_grace_s
        # Routers re-read the targets file about once a second: until they have, a replica
        # just taken out of it can still be sent a request, so it is not stopped before this.
        self.deregister_s = deregister_s
        self.health_timeout_s = health_timeout_s
        self.env = env
        self._wall = wall
        self._groups: dict[str, _Group] = {}
        self._lock = threading.RLock()
        self._drains: list[threading.Thread] = []
        self.startup_durations: list[float] = []
        self.crashes: list[str] = []

    # -- Actuator protocol -------------------------------------------------

    def status(self, policy: ScalingPolicy, now: float) -> ReplicaStatus:
        target = self._target(policy)
        with self._lock:
            group = self._groups.setdefault(target.group, _Group())
            self._refresh(target, group)
            live = [r for r in group.replicas if not r.draining]
            ready = sum(1 for r in live if r.ready_at is not None)
            return ReplicaStatus(spec=len(live), ready=ready, pending=len(live) - ready, observed_at=now)

    def scale(self, policy: ScalingPolicy, decision: Decision, now: float) -> ScaleResult:
        target = self._target(policy)
        if not decision.valid:
            return ScaleResult(False, decision.current, "decision invalid: nothing changed")
        if decision.shadow or policy.mode == "shadow":
            return ScaleResult(False, decision.current, "shadow mode: recorded, not applied")
        with self._lock:
            group = self._groups.setdefault(target.group, _Group())
            live = [r for r in group.replicas if not r.draining]
            want = decision.desired
            if want == len(live):
                return ScaleResult(False, want, f"already {want} replicas")
            if want > len(live):
                names = [self._start(target, group).name for _ in range(want - len(live))]
                detail = f"started {', '.join(names)}"
            else:
                # Newest first: they are the least likely to hold long-running streams.
                victims = sorted(live, key=lambda r: r.started_at, reverse=True)[: len(live) - want]
                for r in victims:
                    r.draining = True
                self._write_targets(target, group)
                for r in victims:
                    t = threading.Thread(target=self._drain, args=(r,), name=f"drain-{r.name}", daemon=True)
                    t.start()
                    self._drains.append(t)
                detail = f"draining {', '.join(r.name for r in victims)}"
            group.last_patched = want
            return ScaleResult(True, want, detail)

    # -- lifecycle -----------------------------------------------------------

    def replicas(self, group: str) -> list[LocalReplica]:
        with self._lock:
            return list(self._groups.get(group, _Group()).replicas)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop every replica this actuator started (SIGTERM, then SIGKILL)."""
        with self._lock:
            everyone = [r for g in self._groups.values() for r in g.replicas]
            for g in self._groups.values():
                g.replicas.clear()
        for r in everyone:
            _terminate(r.proc, timeout_s)
        for t in self._drains:
            t.join(timeout=timeout_s)
        for f in self.targets_dir.glob("*.json"):
            f.write_text("[]")

    # -- internals -----------------------------------------------------------

    @staticmethod
    def _target(policy: ScalingPolicy) -> LocalTarget:
        if not isinstance(policy.target, LocalTarget):
            raise ValueError(f"target: policy {policy.name!r} does not name a local replica group")
        return policy.target

    def _start(self, target: LocalTarget, group: _Group) -> LocalReplica:
        group.serial += 1
        name = f"{target.group}-{group.serial}"
        port = free_port()
        log_path = self.logs_dir / f"{name}.log"
        cmd = list(self.command_for(target, name, port))
        env = {**os.environ, **(self.env or {})}
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        replica = LocalReplica(name, port, proc, started_at=self._wall(), log_path=log_path)
        group.replicas.append(replica)
        return replica

    def _refresh(self, target: LocalTarget, group: _Group) -> None:
        changed = False
        for r in list(group.replicas):
            code = r.proc.poll()
            if code is not None and not r.draining:
                r.exit_code = code
                group.replicas.remove(r)
                self.crashes.append(f"{r.name} exited with {code}")
                changed = True
                continue
            if r.ready_at is None and not r.draining and self._healthy(r):
                r.ready_at = self._wall()
                self.startup_durations.append(r.ready_at - r.started_at)
                changed = True
        if changed:
            self._write_targets(target, group)

    def _healthy(self, r: LocalReplica) -> bool:
        try:
            return httpx.get(f"{r.url}/health", timeout=self.health_timeout_s).status_code == 200
        except httpx.HTTPError:
            return False

    def _write_targets(self, target: LocalTarget, group: _Group) -> None:
        entries = [
            {
                "targets": [f"127.0.0.1:{r.port}"],
                "labels": {
                    "group": target.group,
                    "replica": r.name,
                    **({"model": target.model_name} if target.model_name else {}),
                },
            }
            for r in group.replicas
            if r.ready_at is not None and not r.draining
        ]
        path = self.targets_dir / f"{target.group}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1))
        tmp.replace(path)

    def _in_flight(self, r: LocalReplica) -> float | None:
        try:
            text = httpx.get(f"{r.url}/metrics", timeout=self.health_timeout_s).text
        except httpx.HTTPError:
            return None
        total = 0.0
        for line in text.splitlines():
            if line.startswith(
                ("vllm:num_requests_running", "vllm:num_requests_waiting{", "vllm:num_requests_waiting ")
            ):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def _drain(self, r: LocalReplica) -> None:
        deadline = time.monotonic() + self.drain_grace_s
        time.sleep(min(self.deregister_s, self.drain_grace_s))
        while time.monotonic() < deadline and r.proc.poll() is None:
            n = self._in_flight(r)
            if n is None or n <= 0:
                break
            time.sleep(0.2)
        _terminate(r.proc, 10.0)
        with self._lock:
            for g in self._groups.values():
                if r in g.replicas:
                    g.replicas.remove(r)


def _terminate(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
