"""What-if: replay a trace through the simulator under a candidate policy.

Owns: :func:`run_whatif` -- resolving the trace (a path inside the configured
what-if directory, never outside it, text uploaded in the request, or a window
of what Prometheus recorded of the candidate's target, rebuilt by
:func:`controlplane.traces.recorded.trace_from_recorded`),
bounding the replay (requests and span, from :class:`ApiOptions`), and running
:func:`controlplane.sim.compare.simulate_policy` (the controller's tick and
advisors) for the candidate and, when asked, the stored policy of the same
name. The replay's clock starts at ``replay_at``, by default the trace's own
time, so schedule windows and pre-warm apply at the hours the requests came. Only ``whatif_concurrency`` replays
run at once; another gets 429 rather than queue behind a long one.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from controlplane.api.context import ApiContext
from controlplane.api.encode import finite
from controlplane.api.errors import Unavailable
from controlplane.api.schemas import RecordedIn, TraceIn, WhatIfIn
from controlplane.policy.model import PolicyError, ScalingPolicy
from controlplane.store.errors import NotFound
from controlplane.traces.errors import TraceFormatError, token_limit

__all__ = ["run_whatif", "Busy"]

_SUFFIX = {"azure": ".csv", "burstgpt": ".csv", "mooncake": ".jsonl", None: ".txt"}
MAX_POINTS = 11_000  # Prometheus refuses a range query of more points per series


class Busy(Exception):
    """429: the what-if slots are taken."""


def run_whatif(ctx: ApiContext, req: WhatIfIn) -> dict[str, Any]:
    if not ctx.whatif_slots.acquire(blocking=False):
        raise Busy(f"{ctx.options.whatif_concurrency} what-if replay(s) already running; retry shortly")
    try:
        return _run(ctx, req)
    finally:
        ctx.whatif_slots.release()


def _run(ctx: ApiContext, req: WhatIfIn) -> dict[str, Any]:
    from controlplane.capacity.profile import DEFAULT_PROFILE, get_profile
    from controlplane.sim.compare import simulate_policy
    from controlplane.sim.results import SloTargets

    profile_name = req.profile or DEFAULT_PROFILE
    try:
        profile = get_profile(profile_name)
    except ValueError as exc:
        raise PolicyError("profile", str(exc).removeprefix("profile: ")) from exc
    opts = ctx.options
    if req.policy.max_replicas > opts.whatif_max_replicas:
        raise PolicyError(
            "policy.max_replicas", f"a what-if simulates at most {opts.whatif_max_replicas} replicas"
        )
    with token_limit(profile.max_model_len, f"max_model_len {profile.max_model_len} of profile {profile_name}"):
        trace, origin = _load(ctx, req)
    end = req.start_s + req.duration_s if req.duration_s is not None else trace.duration_s + 1.0
    trace = trace.window(req.start_s, end)
    # the replay's clock: schedule windows and pre-warm read the hour and weekday the requests came
    replay_at = req.replay_at if req.replay_at is not None else trace.start_unix or 0.0
    if len(trace) == 0:
        raise PolicyError("start_s", "the chosen window of the trace holds no requests")
    if trace.duration_s > opts.whatif_max_duration_s:
        raise PolicyError(
            "duration_s",
            f"the replay spans {trace.duration_s:.0f} s, over the limit of {opts.whatif_max_duration_s:.0f} s",
        )
    if len(trace) > opts.whatif_max_requests:
        raise PolicyError(
            "duration_s",
            f"the window holds {len(trace)} requests, over the limit of {opts.whatif_max_requests}; replay a shorter span",
        )

    def figures(policy: ScalingPolicy) -> dict[str, Any]:
        slo = SloTargets(
            ttft_s=policy.slo.ttft_p95_s,
            itl_s=policy.slo.itl_p95_s,
            e2e_s=policy.slo.e2e_p95_s,
            objective=policy.slo.objective,
        )
        result = simulate_policy(trace, policy, profile, epoch=replay_at)
        return dict(finite(result.summary(slo)))

    current = None
    if req.compare_current:
        stored = ctx.policies.get_policy(req.policy.name)
        current = figures(stored) if stored is not None else None
    return {
        "trace": {
            "name": trace.name,
            "requests": len(trace),
            "duration_s": float(trace.duration_s),
            "start_s": req.start_s,
            "replay_at": replay_at,
            **origin,
        },
        "profile": profile_name,
        "candidate": figures(req.policy),
        "current": current,
    }


def _load(ctx: ApiContext, req: WhatIfIn) -> tuple[Any, dict[str, Any]]:
    spec = req.trace
    given = [name for name in ("path", "content", "recorded") if getattr(spec, name) is not None]
    if len(given) != 1:
        raise PolicyError("trace", "give exactly one of trace.path, trace.content and trace.recorded")
    if spec.recorded is not None:
        return _recorded(ctx, req.policy, spec.recorded)
    return _file(ctx, spec), {"source": "path" if spec.path is not None else "upload"}


def _recorded(ctx: ApiContext, policy: ScalingPolicy, rec: RecordedIn) -> tuple[Any, dict[str, Any]]:
    from controlplane.sources.prometheus import QueryError
    from controlplane.traces.recorded import trace_from_recorded

    now = ctx.clock.now()
    if not rec.end > rec.start:
        raise PolicyError("trace.recorded.end", "must be after start")
    if rec.end > now + 1.0:
        raise PolicyError("trace.recorded.end", f"is in the future (now is {now:.0f})")
    if rec.end - rec.start > ctx.options.whatif_max_duration_s:
        raise PolicyError(
            "trace.recorded.end",
            f"the window spans {rec.end - rec.start:.0f} s, over the limit of {ctx.options.whatif_max_duration_s:.0f} s",
        )
    if (rec.end - rec.start) / rec.step_s > MAX_POINTS:
        raise PolicyError("trace.recorded.step_s", f"the window needs more than {MAX_POINTS} steps; take longer steps")
    source = ctx.source
    if source is None or not hasattr(source, "recorded_demand"):
        raise Unavailable("a recorded window needs the controller's Prometheus source; none is wired here")
    try:
        demand = source.recorded_demand(policy.target, rec.start, rec.end, rec.step_s, rec.rate_window_s)
    except QueryError as exc:  # Unreachable is one
        raise Unavailable(f"recorded window: {exc}") from exc
    trace, missing = trace_from_recorded(demand, name=f"recorded {policy.target_key}")
    steps = len(demand.steps) - 1
    if len(trace) == 0:
        raise PolicyError(
            "trace.recorded",
            f"Prometheus recorded no requests for {policy.target_key} in this window"
            f" ({missing} of {steps} steps had no data)",
        )
    return trace, {"source": "prometheus", "steps": steps, "missing_steps": missing}


def _file(ctx: ApiContext, spec: TraceIn) -> Any:
    from controlplane.traces.load import load_trace

    try:
        if spec.path is not None:
            return load_trace(_resolve(ctx, spec.path), spec.format)
        if spec.format == "servegen":
            raise PolicyError("trace.format", "servegen traces are directories: name one by trace.path")
        with tempfile.TemporaryDirectory(prefix="whatif-") as tmp:
            path = Path(tmp) / f"upload{_SUFFIX[spec.format]}"
            path.write_text(spec.content or "")
            return load_trace(path, spec.format)
    except (PolicyError, NotFound):
        raise
    except TraceFormatError as exc:
        # named as the client knows the trace: the path it gave, or its upload; never a server path
        where = "trace.path" if spec.path is not None else "trace.content"
        shown = spec.path if spec.path is not None else "the upload"
        at = "".join(
            [f", row {exc.row}" if exc.row is not None else "", f", column {exc.column!r}" if exc.column else ""]
        )
        raise PolicyError(where, f"{shown}{at}: {_scrub(ctx, exc.message)}") from exc
    except Exception as exc:
        # a loader meeting a malformed row may raise more than ValueError; the client sent it
        where = "trace.path" if spec.path is not None else "trace.content"
        raise PolicyError(where, _scrub(ctx, str(exc))) from exc


def _scrub(ctx: ApiContext, message: str) -> str:
    """``message`` without the server's directories (the what-if root, temporary folders)."""
    roots = [tempfile.gettempdir()]
    if ctx.options.whatif_dir is not None:
        roots += [str(Path(ctx.options.whatif_dir).resolve()), str(ctx.options.whatif_dir)]
    for root in sorted(roots, key=len, reverse=True):
        message = re.sub(re.escape(root.rstrip("/")) + r"/?[^\s'\",:]*", "<file>", message)
    return message


def _resolve(ctx: ApiContext, relative: str) -> Path:
    base = ctx.options.whatif_dir
    if base is None:
        raise PolicyError(
            "trace.path", "this server has no what-if directory; upload the trace as trace.content"
        )
    root = Path(base).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or Path(relative).is_absolute():
        raise PolicyError("trace.path", "must name a file inside the what-if directory")
    if not path.exists():
        raise NotFound(f"trace {relative!r} is not in the what-if directory")
    return path
