"""Which signals the decider reads for load and for each SLO: names other stages share.

Owns: :data:`LOAD_FIELDS` and :data:`SLO_CHECKS`, read by
:mod:`controlplane.policy.decide` and by the anomaly rules
(:mod:`controlplane.advisors.anomaly_rules`), which judge latency against the
same SLO fields. Must not import: any I/O library.
"""

from __future__ import annotations

__all__ = ["LOAD_FIELDS", "SLO_CHECKS", "SIZING_SOURCE", "SIZING_FIELDS", "capacity_bound"]

# Load readings every decision needs: they tell the SLO check whether high
# latency is a capacity problem, and scale-to-zero whether the target is idle.
LOAD_FIELDS = ("waiting_requests", "running_requests")


def capacity_bound(waiting: float, running: float, ready: int) -> bool:
    """Latency can be a capacity problem only with a queue, or more than one request per
    ready replica in the batch: a batch of one does not contend. The decider's SLO check
    and the anomaly rules' "latency without load" both judge load by this."""
    return waiting > 0 or running > max(1, ready)

# proposal source -> (Signals field, SLO attribute, label)
SLO_CHECKS: dict[str, tuple[str, str, str]] = {
    "slo_ttft": ("ttft_p95", "ttft_p95_s", "ttft p95"),
    "slo_itl": ("itl_p95", "itl_p95_s", "itl p95"),
    "slo_e2e": ("e2e_p95", "e2e_p95_s", "e2e p95"),
}

# The model-based sizing's proposal (controlplane.advisors.sizing) and the rates it
# reads: with ``sizing.enabled`` they are needed inputs, so a gap in them makes the
# decision invalid instead of letting the thresholds alone size the fleet down.
SIZING_SOURCE = "sizing"
SIZING_FIELDS = ("request_rate", "prompt_tokens_rate", "generation_tokens_rate")
