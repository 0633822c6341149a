"""``controlplane emulator``: run one emulated vLLM replica (OpenAI API, vllm:* metrics, faults).

Only builds the parser here; the server (FastAPI, uvicorn) is imported inside ``func``.
See :mod:`serving.emulator` for the HTTP surface, time scaling and fault injection.
"""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "emulator",
        help="run one emulated vLLM replica (OpenAI-compatible API, vllm:* metrics, fault injection)",
        description=(
            "Serve /v1/completions, /v1/chat/completions, /v1/models, /health, /metrics and "
            "/admin/faults, /admin/drain like a vLLM 0.32 server, driven by the replica engine model. "
            "Prompt size: a 'prompt_tokens' integer in the request body if given, else the length of a "
            "token-id list prompt, else ceil(characters / 4). SIGTERM drains: new requests get 503, "
            "in-flight ones finish within --drain-grace-s, then exit 0."
        ),
    )
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--profile", default="cpu-tiny", help="performance profile (default cpu-tiny)")
    p.add_argument("--model-name", default=None, help="served model name (default: the profile's)")
    p.add_argument(
        "--time-scale", type=float, default=1.0,
        help="run the emulated engine S times faster than the wall clock; latencies in /metrics "
        "and logs stay in emulated seconds (default 1)",
    )
    p.add_argument(
        "--startup-s", type=float, default=None,
        help="emulated seconds of cold start with /health 503 (default: the profile's startup_s)",
    )
    p.add_argument("--replica-name", default="vllm-emulator-0", help="pod name written in logs")
    p.add_argument("--deployment", default="vllm", help="deployment name written in logs")
    p.add_argument("--namespace", default="default", help="namespace written in logs")
    p.add_argument("--log-file", default=None, help="JSON-lines log file (default stderr)")
    p.add_argument("--drain-grace-s", type=float, default=30.0, help="wall seconds to finish in-flight requests")
    p.add_argument(
        "--eos-mean-tokens", type=float, default=0.0,
        help="when > 0, requests without ignore_eos stop early at a sampled EOS with this mean length",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for error injection and EOS sampling")
    p.add_argument("--no-prefix-caching", action="store_true",
                   help="serve without automatic prefix caching (vLLM's --no-enable-prefix-caching)")
    f = p.add_argument_group("faults (also settable at run time with PUT /admin/faults)")
    f.add_argument("--latency-multiplier", type=float, default=1.0, help="every engine step takes N times longer")
    f.add_argument("--error-ratio", type=float, default=0.0, help="fraction of requests answered with HTTP 500")
    f.add_argument(
        "--error-class", default="http_5xx",
        help="class injected errors are logged as: oom, cuda_error, engine_dead, request_timeout, http_5xx",
    )
    f.add_argument("--hang", action="store_true", help="start hung: requests and /health never answer")
    f.add_argument("--hang-after-s", type=float, default=None, help="hang this many emulated s after ready")
    f.add_argument("--crash-after-s", type=float, default=None, help="exit 1 this many emulated s after ready")
    f.add_argument("--kv-leak-tokens-per-s", type=float, default=0.0, help="KV capacity lost per emulated second")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from controlplane.capacity.profile import get_profile
    from serving.emulator.config import EmulatorConfig, Faults
    from serving.emulator.server import serve

    profile = get_profile(args.profile)
    config = EmulatorConfig(
        profile=profile,
        model_name=args.model_name or profile.model_name,
        host=args.host,
        port=args.port,
        time_scale=args.time_scale,
        startup_s=profile.startup_s if args.startup_s is None else args.startup_s,
        replica_name=args.replica_name,
        deployment=args.deployment,
        namespace=args.namespace,
        log_file=args.log_file,
        drain_grace_s=args.drain_grace_s,
        eos_mean_tokens=args.eos_mean_tokens,
        seed=args.seed,
        faults=Faults(
            latency_multiplier=args.latency_multiplier,
            error_ratio=args.error_ratio,
            error_class=args.error_class,
            hang=args.hang,
            kv_leak_tokens_per_s=args.kv_leak_tokens_per_s,
        ),
        crash_after_s=args.crash_after_s,
        hang_after_s=args.hang_after_s,
        prefix_caching=not args.no_prefix_caching,
    )
    return serve(config)
