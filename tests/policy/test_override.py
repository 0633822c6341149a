"""Override values: what a pin or pause must carry, and when it lapses."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.policy.override import Override, OverrideError

GOOD: dict[str, Any] = {"kind": "pin", "replicas": 4, "expires_at": 1000.0, "reason": "launch", "created_by": "ops"}


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"kind": "freeze"}, "kind"),
        ({"replicas": None}, "replicas"),
        ({"replicas": -1}, "replicas"),
        ({"replicas": 2.5}, "replicas"),
        ({"kind": "pause"}, "replicas"),
        ({"expires_at": float("inf")}, "expires_at"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"reason": "  "}, "reason"),
        ({"created_by": ""}, "created_by"),
        ({"colour": "red"}, "colour"),
    ],
    ids=[
        "unknown-kind",
        "pin-without-replicas",
        "pin-negative",
        "pin-fractional",
        "pause-with-replicas",
        "never-expires",
        "expires-not-a-time",
        "blank-reason",
        "anonymous",
        "unknown-field",
    ],
)
def test_bad_override_names_the_field(over: dict[str, Any], field: str) -> None:
    with pytest.raises(OverrideError) as info:
        Override.from_dict({**GOOD, **over})
    assert info.value.field == field


def test_missing_field_is_named() -> None:
    doc = dict(GOOD)
    del doc["expires_at"]
    with pytest.raises(OverrideError) as info:
        Override.from_dict(doc)
    assert info.value.field == "expires_at"


def test_round_trip_and_expiry_is_exclusive() -> None:
    o = Override.from_dict(GOOD)
    assert Override.from_dict(o.to_dict()) == o
    assert o.active(999.9) and not o.active(1000.0)
    pause = Override("pause", None, 50.0, "incident", "oncall")
    assert pause.active(0.0) and not pause.active(60.0)
