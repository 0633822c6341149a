"""The load run's summary: counts, latency percentiles, per-target split, as a dict and as text.

Owns: :func:`summarize` (records -> dict, pure) and :func:`format_summary`.
Percentiles are over successful requests only, nearest-rank (no interpolation,
so every figure is a latency some request really had).
Must not import: any I/O library (pure arithmetic over records).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from controlplane.loadgen.request import RequestRecord

__all__ = ["summarize", "format_summary", "percentile"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank ``q``-th percentile (0-100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(
    records: Sequence[RequestRecord],
    *,
    planned: int,
    elapsed_s: float,
    stop_reason: str,
    refused_targets: Sequence[str] = (),
) -> dict[str, Any]:
    ok = [r for r in records if r.ok]
    ttft = [r.ttft_s for r in ok if r.ttft_s is not None]
    e2e = [r.e2e_s for r in ok if r.e2e_s is not None]
    errors = Counter(r.error or f"http_{r.status}" for r in records if not r.ok and r.error != "cancelled")
    per_target = Counter(r.target for r in records if r.target is not None)
    return {
        "planned": planned,
        "sent": sum(1 for r in records if r.sent_s is not None),
        "ok": len(ok),
        "errors": sum(errors.values()),
        "cancelled": sum(1 for r in records if r.error == "cancelled"),
        "error_kinds": dict(sorted(errors.items())),
        "elapsed_s": round(elapsed_s, 3),
        "achieved_rps": round(len(records) / elapsed_s, 3) if elapsed_s > 0 else None,
        "ttft_p50_s": percentile(ttft, 50),
        "ttft_p95_s": percentile(ttft, 95),
        "ttft_p99_s": percentile(ttft, 99),
        "e2e_p50_s": percentile(e2e, 50),
        "e2e_p95_s": percentile(e2e, 95),
        "per_target": dict(sorted(per_target.items())),
        "refused_targets": sorted(refused_targets),
        "stop_reason": stop_reason,
    }


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.1f} ms"


def format_summary(s: dict[str, Any]) -> str:
    lines = [
        f"requests: planned {s['planned']}, sent {s['sent']}, ok {s['ok']}, errors {s['errors']}, "
        f"cancelled {s['cancelled']} in {s['elapsed_s']:.1f} s ({s['stop_reason']})",
        f"TTFT p50 {_ms(s['ttft_p50_s'])}, p95 {_ms(s['ttft_p95_s'])}, p99 {_ms(s['ttft_p99_s'])}",
        f"e2e  p50 {_ms(s['e2e_p50_s'])}, p95 {_ms(s['e2e_p95_s'])}",
    ]
    if s["error_kinds"]:
        lines.append("errors: " + ", ".join(f"{k} {v}" for k, v in s["error_kinds"].items()))
    if s["per_target"]:
        lines.append("per target: " + ", ".join(f"{k} {v}" for k, v in s["per_target"].items()))
    if s["refused_targets"]:
        lines.append("refused (not loopback): " + ", ".join(s["refused_targets"]))
    return "\n".join(lines)
