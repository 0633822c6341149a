"""The local router's prefix affinity and the prompts it builds from a trace's block ids."""

from __future__ import annotations

import pytest

from controlplane.loadgen.request import completion_body
from controlplane.loadgen.targets import TargetPool

A, B = "http://127.0.0.1:1", "http://127.0.0.1:2"


def pool(router: str, slack: int = 8) -> TargetPool:
    return TargetPool(["127.0.0.1:1", "127.0.0.1:2"], clock=lambda: 0.0, router=router, affinity_slack=slack)


def test_affinity_follows_the_prefix_it_sent():
    p = pool("prefix_affinity")
    assert p.acquire([1, 2]) == A  # nothing sent yet: least outstanding (ties rotate, A first)
    assert p.acquire([7, 8]) == B  # A has one in flight
    # [1, 2, 3] shares 2 blocks with what went to A; A has 1 in flight, B 1: A
    assert p.acquire([1, 2, 3]) == A
    p.release(A)
    p.release(A)
    # B's prefix 7, 8 wins although A is idle now (B has 1 in flight, within the slack)
    assert p.acquire([7, 8, 9]) == B


def test_affinity_is_bounded_by_load():
    p = pool("prefix_affinity", slack=0)
    assert p.acquire([1, 2]) == A
    # A holds the prefix but has 1 in flight against B's 0: beyond a slack of 0
    assert p.acquire([1, 2, 3]) == B


def test_least_outstanding_ignores_blocks():
    p = pool("least_outstanding")
    assert p.acquire([1, 2]) == A
    assert p.acquire([1, 2, 3]) == B


def test_unknown_router_is_named():
    with pytest.raises(ValueError, match="router"):
        pool("random")


def test_prompts_share_tokens_where_the_trace_shares_blocks():
    a = completion_body("m", 0, 10, 1, ["x", "y"], 4)["prompt"]
    b = completion_body("m", 1, 10, 1, ["x", "z", "w"], 4)["prompt"]
    c = completion_body("m", 2, 10, 1)["prompt"]
    assert len(a) == len(b) == len(c) == 10
    assert a[:4] == b[:4]  # block x
    assert a[4:8] != b[4:8]  # y against z
    assert completion_body("m", 5, 10, 1, ["x", "y"], 4)["prompt"] == a[:8] + completion_body("m", 5, 10, 1)["prompt"][8:]
