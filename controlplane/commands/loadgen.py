"""``controlplane loadgen``: replay a trace (or a synthetic workload) against vLLM-compatible servers.

Only builds the parser; the trace loaders and the async client are imported inside ``func``.
"""

from __future__ import annotations

import argparse

__all__ = ["register"]

_FORMATS = ("azure", "mooncake", "servegen", "burstgpt", "generic")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "loadgen",
        help="replay a request trace against OpenAI-compatible endpoints; prints TTFT/e2e percentiles",
        description=(
            "Send streaming /v1/completions open loop at the trace's arrival times (divided by --compress), "
            "prompt and output lengths from the trace (max_tokens = output, ignore_eos). Routes each request "
            "to the target with the fewest outstanding requests. Only loopback targets unless --allow-remote."
        ),
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", action="append", help="endpoint (host:port or URL); repeat for several")
    where.add_argument("--targets-file", help="Prometheus file_sd JSON file of targets, re-read every second")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--trace", help="trace file (or ServeGen directory) to replay")
    what.add_argument("--synthetic", action="store_true", help="generate a seeded synthetic workload instead")
    p.add_argument("--format", choices=_FORMATS, default=None, help="trace format (default: sniffed)")
    p.add_argument("--columns", default=None, help="generic format: time=..,prompt=..,output=..")
    p.add_argument(
        "--preset", default="cpu-tiny", help="synthetic preset: cpu-tiny or azure-code (default cpu-tiny)"
    )
    p.add_argument("--seed", type=int, default=0, help="synthetic seed (default 0)")
    p.add_argument("--duration-s", type=float, default=None, help="synthetic length in trace seconds")
    p.add_argument("--rate", type=float, default=None, help="synthetic mean arrival rate, requests/s")
    p.add_argument("--burst-cv", type=float, default=None, help="synthetic inter-arrival cv (1 = Poisson)")
    p.add_argument(
        "--compress", type=float, default=1.0, help="replay K times faster than the trace (default 1)"
    )
    p.add_argument("--max-requests", type=int, default=None, help="send at most N requests")
    p.add_argument(
        "--max-seconds", type=float, default=None, help="stop after T wall seconds (in-flight cancelled)"
    )
    p.add_argument("--model", default=None, help="model name to request (default: the first of /v1/models)")
    p.add_argument(
        "--max-total-tokens", type=int, default=None, help="shrink prompts so prompt+output fits this"
    )
    p.add_argument("--max-concurrency", type=int, default=256, help="most requests in flight (default 256)")
    p.add_argument("--request-timeout-s", type=float, default=120.0, help="per-request timeout (default 120)")
    p.add_argument("--allow-remote", action="store_true", help="allow targets that are not on this machine")
    p.add_argument("--router", choices=("least_outstanding", "prefix_affinity"), default="least_outstanding",
                   help="least_outstanding, or prefix_affinity by the trace's prompt block ids")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (there is none unless stderr is a terminal)")
    p.set_defaults(func=run)


def _trace(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    if args.synthetic:
        from controlplane.traces.synthetic import get_preset, synthetic_trace

        changes = {"duration_s": args.duration_s, "mean_rate_rps": args.rate, "burst_cv": args.burst_cv}
        spec = get_preset(args.preset).with_overrides(**{k: v for k, v in changes.items() if v is not None})
        return synthetic_trace(spec, seed=args.seed)
    from controlplane.traces import load_trace

    options = {"columns": args.columns} if args.columns else {}
    return load_trace(args.trace, args.format, **options)


def run(args: argparse.Namespace) -> int:
    import json

    from tqdm.contrib.logging import logging_redirect_tqdm

    from controlplane.loadgen import format_summary, run_load

    trace = _trace(args)
    with logging_redirect_tqdm():
        summary = run_load(
            trace,
            args.url or (),
            targets_file=args.targets_file,
            compress=args.compress,
            max_requests=args.max_requests,
            max_seconds=args.max_seconds,
            model=args.model,
            allow_remote=args.allow_remote,
            max_concurrency=args.max_concurrency,
            request_timeout_s=args.request_timeout_s,
            max_total_tokens=args.max_total_tokens,
            progress=not args.no_progress,
            router=args.router,
        )
    print(json.dumps(summary, indent=2, sort_keys=True) if args.json else format_summary(summary))
    return 0 if summary["ok"] > 0 else 1
