"""``controlplane run``: the long-running controller (in a cluster, or on one machine)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the controller: scrape, decide, scale, serve /metrics")
    p.add_argument("--config", help="controller settings YAML (defaults when omitted)")
    p.add_argument("--policies", help="policies YAML (overrides loop.policies_file)")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from controlplane.config import load_config
    from controlplane.controller import build_controller, load_policies_file

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = load_config(args.config)
    policies = load_policies_file(args.policies) if args.policies else None
    controller = build_controller(config, policies=policies).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    controller.stop()
    return 0
