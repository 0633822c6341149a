"""The shipped example policies: the full one equals the defaults, and bad input names its field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controlplane.policy.model import KubernetesTarget, PolicyError, ScalingPolicy, load_policy_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_full_example_spells_out_exactly_the_defaults() -> None:
    loaded = load_policy_yaml((EXAMPLES / "policy.yaml").read_text())
    built = ScalingPolicy(name="chat-llama", target=KubernetesTarget(deployment="vllm-chat"))
    assert loaded == built


def test_full_example_names_every_field() -> None:
    doc = yaml.safe_load((EXAMPLES / "policy.yaml").read_text())
    defaults = ScalingPolicy(name="chat-llama", target=KubernetesTarget(deployment="vllm-chat")).to_dict()

    def keys(d: dict, prefix: str = "") -> set[str]:
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict):
                out |= keys(v, f"{prefix}{k}.")
        return out

    assert keys(doc) == keys(defaults)


def test_business_hours_example_loads() -> None:
    pol = load_policy_yaml((EXAMPLES / "policy-business-hours.yaml").read_text())
    assert [w.name for w in pol.schedule] == ["office-hours", "overnight"]
    assert pol.schedule[0].timezone == "Europe/Berlin"


BASE = "name: chat\ntarget: {kind: kubernetes, deployment: vllm}\n"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("min_replicas: 5\nmax_replicas: 2\n", "min_replicas"),
        ("min_replicas: 0\n", "min_replicas"),
        ("windows: {stable_s: 60, panic_s: 60}\n", "windows.panic_s"),
        ("colour: blue\n", "colour"),
        ("signals: {waiting_request: 2}\n", "signals.waiting_request"),
        ("signals: {kv_cache_usage: 1.5}\n", "signals.kv_cache_usage"),
        ("windows: {panic_threshold: 1}\n", "windows.panic_threshold"),
        ("steps: {max_down_pods: 0}\n", "steps.max_down_pods"),
        ("mode: dry\n", "mode"),
        (
            "schedule: [{name: x, start: '08:00', end: '18:00', timezone: Mars/Olympus, min_replicas: 2}]\n",
            "schedule.0.timezone",
        ),
        ("schedule: [{name: x, start: '8am', end: '18:00', min_replicas: 2}]\n", "schedule.0.start"),
        ("schedule: [{name: x, start: '08:00', end: '18:00'}]\n", "schedule.0.min_replicas"),
        ("schedule: [{name: x, start: '08:00', end: '18:00', min_replicas: 5, max_replicas: 2}]\n", "schedule.0.min_replicas"),
    ],
    ids=[
        "min-above-max",
        "zero-min-without-scale-to-zero",
        "panic-not-shorter-than-stable",
        "unknown-key",
        "misspelt-signal",
        "kv-target-above-one",
        "panic-threshold-not-above-one",
        "zero-down-step",
        "unknown-mode",
        "bad-timezone",
        "bad-start-time",
        "window-without-bounds",
        "window-min-above-max",
    ],
)
def test_bad_policy_names_the_field(extra: str, field: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_yaml(BASE + extra)
    assert info.value.field == field


def test_bursty_example_loads_with_standing_capacity_and_a_long_hold() -> None:
    pol = load_policy_yaml((EXAMPLES / "policy-bursty.yaml").read_text())
    assert (pol.min_replicas, pol.windows.scale_down_stabilization_s) == (2, 900.0)
    defaults = ScalingPolicy(name="x", target=KubernetesTarget(deployment="y"))
    assert pol.signals == defaults.signals and pol.slo == defaults.slo
