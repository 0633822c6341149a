"""A controller-like process for the two-process leader test.

It elects on a Lease and, while leading, makes the Deployment's replica count the
number in ``--desired-file`` through the Kubernetes actuator, one decision per
tick. SIGTERM stops it cleanly (releasing the lease); the test also kills it
with SIGKILL, by PID, to play a crashed leader.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from controlplane.actuate.kubeclient import make_api_client
from controlplane.actuate.kubernetes import ActuatorSettings, KubernetesActuator
from controlplane.actuate.leader import LeaderElectionConfig, LeaderElector
from controlplane.clock import SystemClock
from controlplane.policy.decision import Decision
from controlplane.policy.model import KubernetesTarget, ScalingPolicy


def _desired(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _tick(actuator: KubernetesActuator, policy: ScalingPolicy, desired: int, now: float) -> None:
    current = actuator.status(policy, now).spec
    decision = Decision(
        target=policy.target_key,
        policy=policy.name,
        at=now,
        valid=True,
        current=current,
        desired=desired,
        binding="desired-file",
        reasons=(f"desired file says {desired}",),
    )
    result = actuator.scale(policy, decision, now)
    if result.patched or result.error:
        print(f"scale {result}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--identity", required=True)
    ap.add_argument("--desired-file", type=Path, required=True)
    ap.add_argument("--deployment", default="chat")
    ap.add_argument("--lease-s", type=float, default=2.0)
    ap.add_argument("--deadline-s", type=float, default=1.5)
    ap.add_argument("--retry-s", type=float, default=0.3)
    ap.add_argument("--tick-s", type=float, default=0.2)
    args = ap.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    clock = SystemClock()
    api = make_api_client(args.host, user_agent=f"llm-controlplane/{args.identity}")
    config = LeaderElectionConfig(
        identity=args.identity,
        lease_duration_s=args.lease_s,
        renew_deadline_s=args.deadline_s,
        retry_period_s=args.retry_s,
    )
    elector = LeaderElector(api, config, clock=clock, on_started_leading=lambda: print("leading", flush=True))
    actuator = KubernetesActuator(api, ActuatorSettings(request_timeout_s=1.0), leadership=elector)
    policy = ScalingPolicy(name=args.deployment, target=KubernetesTarget(deployment=args.deployment))
    elector.start()
    while not stop.is_set():
        desired = _desired(args.desired_file)
        if desired is not None:
            try:
                _tick(actuator, policy, desired, clock.now())
            except Exception as exc:  # noqa: BLE001 - a failed tick is reported, the process goes on
                print(f"tick failed: {exc}", flush=True)
        stop.wait(args.tick_s)
    elector.stop()
    api.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
