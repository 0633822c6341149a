"""Unusable input makes the decision invalid: desired stays current, never a scale-down.

Every row starts from a warmed state at 4 replicas under QUIET load, which on
good data would step down to 3 (QUIET asks 1; -1 step). An invalid row must
hold 4 and name the signal in its binding.
"""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.signals import Reading

from .build import QUIET, T0, Tick, policy, run, warm

NAN = float("nan")
STALE_AT = T0 - 61  # max_signal_age_s is 60

# short name in build.signals -> Signals field, for every reading the default policy needs
REQUIRED = {
    "waiting": "waiting_requests",
    "running": "running_requests",
    "kv": "kv_cache_usage_mean",
    "ttft": "ttft_p95",
    "itl": "itl_p95",
    "e2e": "e2e_p95",
}

# (id, reading overrides at T0, policy overrides, expected binding)
ROWS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    row
    for short, fld in REQUIRED.items()
    for row in (
        (f"missing-{short}", {short: Reading.missing("empty result")}, {}, f"invalid:{fld}"),
        # Reading.of turns NaN into missing("value is nan")
        (f"nan-{short}", {short: NAN}, {}, f"invalid:{fld}"),
        # sample 61 s old > max_signal_age_s 60
        (f"stale-{short}", {short: Reading(QUIET[short], at=STALE_AT)}, {}, f"invalid:{fld}"),
    )
] + [
    # a NaN or infinity smuggled past Reading.of is caught as well
    ("nan-kv-direct", {"kv": Reading(NAN)}, {}, "invalid:kv_cache_usage_mean"),
    ("inf-ttft-direct", {"ttft": Reading(float("inf"))}, {}, "invalid:ttft_p95"),
    ("negative-running", {"running": Reading(-3.0)}, {}, "invalid:running_requests"),
    # an enabled signal with no reading, fresh or stale
    (
        "missing-generation-tokens-when-enabled",
        {},
        {"signals": {"generation_tokens_per_s": 1000}},
        "invalid:generation_tokens_rate",
    ),
    (
        "stale-generation-tokens-when-enabled",
        {"tokens": Reading(900.0, at=STALE_AT)},
        {"signals": {"generation_tokens_per_s": 1000}},
        "invalid:generation_tokens_rate",
    ),
    # waiting/running are needed even with their targets disabled: the SLO check reads the load
    (
        "missing-running-with-signal-disabled",
        {"running": Reading.missing("empty result")},
        {"signals": {"running_requests": None}},
        "invalid:running_requests",
    ),
]


@pytest.mark.parametrize(("readings", "pol", "binding"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_invalid_input_holds_current(readings: dict[str, Any], pol: dict[str, Any], binding: str) -> None:
    decision = run(policy(**pol), warm(QUIET, 4), Tick(0, {**QUIET, **readings}, 4))
    assert not decision.valid
    assert decision.desired == decision.current == 4
    assert decision.change == 0
    assert decision.binding == binding
    signal = binding.split(":", 1)[1]
    assert any(r.startswith(signal) for r in decision.reasons), decision.reasons


def test_every_problem_is_named() -> None:
    bad = {"waiting": Reading.missing("empty result"), "kv": Reading(0.1, at=STALE_AT)}
    decision = run(policy(), warm(QUIET, 4), Tick(0, {**QUIET, **bad}, 4))
    assert "waiting_requests missing: empty result" in decision.reasons
    assert any(r.startswith("kv_cache_usage_mean stale: sample 61 s old") for r in decision.reasons)


def test_owner_conflict_is_invalid() -> None:
    final = Tick(0, QUIET, 4, conflict="HorizontalPodAutoscaler default/vllm also scales this Deployment")
    decision = run(policy(), warm(QUIET, 4), final)
    assert not decision.valid
    assert (decision.desired, decision.binding) == (4, "invalid:owner_conflict")
    assert "HorizontalPodAutoscaler" in decision.reasons[0]


VALID_ROWS: list[tuple[str, dict[str, Any], Tick]] = [
    # a p95 over zero requests is undefined, not high: verified zero load skips the SLO check
    (
        "latency-missing-at-zero-load",
        {},
        Tick(0, {"waiting": 0, "running": 0, "kv": 0.0, "ttft": Reading.missing("value is nan")}, 2),
    ),
    # long generations run but none completed in the rate window: e2e p95 has no samples
    (
        "e2e-missing-with-zero-completion-rate",
        {},
        Tick(0, {**QUIET, "running": 6, "rate": 0.0, "e2e": Reading.missing("value is nan")}, 2),
    ),
    # all replicas still starting: no replica can report KV usage or latency
    (
        "kv-and-latency-missing-with-none-ready",
        {},
        Tick(0, {"waiting": 6, "running": 0}, 2, ready=0, pending=2),
    ),
    # a disabled signal's reading is not needed
    ("generation-tokens-missing-when-disabled", {}, Tick(0, QUIET, 2)),
]


@pytest.mark.parametrize(("pol", "final"), [r[1:] for r in VALID_ROWS], ids=[r[0] for r in VALID_ROWS])
def test_explainable_gaps_stay_valid(pol: dict[str, Any], final: Tick) -> None:
    decision = run(policy(**pol), warm(QUIET, 2), final)
    assert decision.valid, decision.reasons


def test_latency_missing_with_completions_is_invalid() -> None:
    # 0.5 requests/s completed, yet no e2e p95: the latency series is broken
    final = Tick(0, {**QUIET, "rate": 0.5, "e2e": Reading.missing("series absent")}, 2)
    decision = run(policy(), warm(QUIET, 2), final)
    assert not decision.valid and decision.binding == "invalid:e2e_p95"


def test_latency_missing_under_load_is_invalid() -> None:
    # same gap as latency-missing-at-zero-load, but with 3 queued: the p95 should exist
    final = Tick(0, {"waiting": 3, "running": 0, "kv": 0.0, "ttft": Reading.missing("value is nan")}, 2)
    decision = run(policy(), warm(QUIET, 2), final)
    assert not decision.valid and decision.binding == "invalid:ttft_p95"


def test_no_data_below_the_floor_raises_to_it_only() -> None:
    # A new local group (0 replicas, so no series at all) with min_replicas 2: blind, but
    # raising to the floor is safe and is how the first data arrives. Nothing beyond it.
    blind = {k: Reading.missing("no series") for k in ("waiting", "running", "kv", "ttft", "itl", "e2e")}
    decision = run(policy(min_replicas=2), [], Tick(0, {**QUIET, **blind}, 0, ready=0))
    assert decision.valid
    assert (decision.current, decision.desired, decision.binding) == (0, 2, "min_replicas")
    assert any("no usable data" in r for r in decision.reasons)


def test_no_data_at_the_floor_holds() -> None:
    blind = {k: Reading.missing("no series") for k in ("waiting", "running")}
    decision = run(policy(min_replicas=2), warm(QUIET, 2), Tick(0, {**QUIET, **blind}, 2))
    assert not decision.valid and decision.desired == 2
