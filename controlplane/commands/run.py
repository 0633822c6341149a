"""``controlplane run``: the long-running controller (in a cluster, or on one machine).

It needs ``--config``: run on defaults it would listen on every interface, create a
database in the working directory and tick with no policy, silently. At start it logs
what it loaded, where it writes, what it listens on and how many policies it has.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

log = logging.getLogger("controlplane.run")

NEEDS_CONFIG = (
    "run: pass --config FILE, the controller settings (examples/single-machine.yaml on one machine, "
    "examples/controller.yaml lists every key); 'controlplane demo' runs the whole loop without one"
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the controller: scrape, decide, scale, serve /metrics")
    p.add_argument("--config", help="controller settings YAML (required; see examples/)")
    p.add_argument("--policies", help="policies YAML (overrides loop.policies_file)")
    p.add_argument("--log-level", default="INFO",
                   help="this service's log level (default INFO); libraries log warnings and above")
    p.set_defaults(func=_run)


def startup_line(config_path: str, config: Any, policies: list[Any], policies_from: str | None) -> str:
    """One line: what was loaded, where decisions go, what listens where, which policies."""
    api = f"admin API on {config.api.host}:{config.api.port}" if config.api.enabled else "admin API off"
    metrics = (f"/metrics on {config.loop.metrics_addr}:{config.loop.metrics_port}"
               if config.loop.metrics_port else "/metrics off")
    names = ", ".join(p.name for p in policies)
    if policies:
        source = f" from {policies_from}" if policies_from else ""
        loaded = f"{len(policies)} polic{'y' if len(policies) == 1 else 'ies'}{source}: {names}"
    elif config.api.enabled:
        loaded = "no policy loaded: add one with 'controlplane policy apply' (each tick decides nothing until then)"
    else:
        loaded = "no policy loaded and the admin API is off: every tick decides nothing"
    return (f"loaded {config_path}; decisions in {config.loop.database}; {api}; {metrics}; "
            f"tick every {config.loop.tick_s:g} s; {loaded}")


def _run(args: argparse.Namespace) -> int:
    if not args.config:
        raise ValueError(NEEDS_CONFIG)
    from controlplane.config import load_config
    from controlplane.controller import build_controller, load_policies_file

    config = load_config(args.config)
    policies = load_policies_file(args.policies) if args.policies else None
    controller = build_controller(config, policies=policies)
    active = controller.loop.policies.list_policies()
    log.info("%s", startup_line(args.config, config, active, args.policies or config.loop.policies_file))
    controller.start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    controller.stop()
    return 0
