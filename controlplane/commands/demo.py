"""``controlplane demo``: the whole control loop on this machine in about four minutes.

Real Prometheus, emulator replicas started and drained by the local actuator, the
controller ticking every 2 s, and a time-compressed workload: by default a
synthetic day squeezed into 150 s (no data files needed), or ``--trace PATH``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="run Prometheus, emulator replicas, load and the controller; print a summary")
    p.add_argument("--out", default="demo-out", help="folder for the summary, chart and decision log")
    p.add_argument("--trace", help="replay this trace file (Azure LLM CSV, Mooncake, BurstGPT ...) instead")
    p.add_argument("--load-seconds", type=float, default=150.0, help="how long the workload runs")
    p.add_argument("--tail-seconds", type=float, default=45.0, help="how long to watch after the load (scale-down)")
    p.add_argument("--mean-rate", type=float, default=7.0, help="mean requests/s of the compressed workload")
    p.add_argument("--max-replicas", type=int, default=4)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=_run)


def demo_trace(load_seconds: float, mean_rate: float, seed: int, trace_path: str | None) -> Any:
    """The workload: one synthetic day compressed into ``load_seconds``, or a trace squeezed the same way.

    Token sizes are shrunk for the CPU-sized ``cpu-tiny`` profile (512-token
    context): a 120-token median prompt and 48-token median output.
    """
    from controlplane.traces.synthetic import SyntheticSpec, synthetic_trace

    if trace_path:
        from controlplane.traces.load import load_trace

        trace = load_trace(trace_path)
        if len(trace) == 0:
            raise ValueError(f"--trace: {trace_path} holds no requests")
        time_scale = max(trace.duration_s / load_seconds, 1e-9)
        native_rate = len(trace) / max(trace.duration_s, 1.0) * time_scale
        return trace.scaled(time_scale=time_scale, rate_scale=min(1.0, mean_rate / native_rate), seed=seed)
    spec = SyntheticSpec(
        name="demo-day",
        duration_s=load_seconds,
        period_s=load_seconds,
        peak_s=0.55 * load_seconds,
        mean_rate_rps=mean_rate,
        diurnal_amplitude=0.8,
        noise_sigma=0.15,
        noise_step_s=5.0,
        prompt_median=120.0,
        prompt_max=300,
        output_median=48.0,
        output_max=160,
    )
    return synthetic_trace(spec, seed=seed)


def _run(args: argparse.Namespace) -> int:
    import time

    from tqdm.contrib.logging import logging_redirect_tqdm

    from controlplane.console import echo
    from controlplane.loadgen.runner import run_load
    from controlplane.local.demo import DemoSettings, run_demo
    from controlplane.local.demo_report import format_summary

    settings = DemoSettings(
        out_dir=Path(args.out),
        load_seconds=args.load_seconds,
        tail_seconds=args.tail_seconds,
        max_replicas=args.max_replicas,
        seed=args.seed,
    )
    trace = demo_trace(args.load_seconds, args.mean_rate, args.seed, args.trace)
    print(f"workload: {len(trace)} requests over {trace.duration_s:.0f} s ({trace.name})")

    def drive(trace: Any, targets_file: Path, seconds: float) -> list[dict[str, Any]]:
        records: list[Any] = []
        start = time.time()
        run_load(
            trace,
            targets_file=targets_file,
            max_seconds=seconds + 30.0,
            max_requests=settings.max_requests,
            max_total_tokens=512,
            request_timeout_s=60.0,
            progress=True,
            on_record=records.append,
        )
        return [
            {"sent_at": start + r.scheduled_s, "ok": r.ok, "ttft_s": r.ttft_s, "e2e_s": r.e2e_s} for r in records
        ]

    # The controller logs and echoes from its own thread while the load's bar is drawn:
    # both go through tqdm so a line never lands on the bar's.
    with logging_redirect_tqdm():
        summary = run_demo(settings, trace, drive, echo=echo)
    print()
    print(format_summary(summary))
    for line in summary["events"]:
        print("  " + line)
    print(closing_hint(settings.out_dir))
    return 0


def closing_hint(out_dir: Path) -> str:
    """Where to look next: the chart, and the decisions that scaled, each with its reasons."""
    db = out_dir / "decisions.db"
    return (f"chart: {out_dir / 'demo.png'}\n"
            f"why each scale event happened: controlplane decisions --db {db} --changes")
