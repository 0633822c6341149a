"""Prompt block ids kept by the loaders that have them, and carried by trace operations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from controlplane.traces.errors import TraceFormatError
from controlplane.traces.generic import ColumnMap
from controlplane.traces.load import load_trace
from controlplane.traces.model import Trace


def _mooncake(tmp_path: Path, rows: list[dict]) -> Path:
    p = tmp_path / "m.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return p


def test_mooncake_keeps_hash_ids_in_arrival_order(tmp_path: Path) -> None:
    p = _mooncake(tmp_path, [
        {"timestamp": 3000, "input_length": 1100, "output_length": 5, "hash_ids": [0, 1, 9]},
        {"timestamp": 1000, "input_length": 1024, "output_length": 5, "hash_ids": [0, 1]},
    ])
    tr = load_trace(p)
    assert tr.block_tokens == 512
    assert tr.blocks == ((0, 1), (0, 1, 9))
    # 5 blocks, of which 0 and 1 of the second request were seen before
    assert tr.shared_block_fraction() == pytest.approx(2 / 5)


def test_mooncake_without_hash_ids_has_no_blocks(tmp_path: Path) -> None:
    p = _mooncake(tmp_path, [{"timestamp": 0, "input_length": 10, "output_length": 5}])
    tr = load_trace(p)
    assert tr.blocks is None and tr.shared_block_fraction() is None


def test_mooncake_bad_hash_ids_name_the_column(tmp_path: Path) -> None:
    p = _mooncake(tmp_path, [{"timestamp": 0, "input_length": 10, "output_length": 5, "hash_ids": ["a"]}])
    with pytest.raises(TraceFormatError, match="hash_ids"):
        load_trace(p)


def test_generic_block_column(tmp_path: Path) -> None:
    p = tmp_path / "g.csv"
    p.write_text("t,in,out,ids\n2,40,5,a;b\n1,40,6,a c d\n3,10,1,\n")
    tr = load_trace(p, "generic", columns="time=t,prompt=in,output=out,blocks=ids,block_tokens=16")
    assert tr.block_tokens == 16
    assert tr.blocks == (("a", "c", "d"), ("a", "b"), ())


@pytest.mark.parametrize("spec, message", [
    ("time=t,prompt=p,output=o,block_tokens=0", "block_tokens"),
    ("time=t,prompt=p,output=o,block_tokens=x", "block_tokens"),
])
def test_generic_block_tokens_must_be_positive(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ColumnMap.parse(spec)


def test_window_and_scaling_carry_blocks() -> None:
    tr = Trace("t", np.array([0.0, 1.0, 2.0]), np.array([10, 20, 30]), np.array([1, 1, 1]),
               blocks=((1,), (1, 2), (1, 2, 3)), block_tokens=10)
    assert tr.window(0.5, 2.5).blocks == ((1, 2), (1, 2, 3))
    doubled = tr.scaled(rate_scale=2.0)
    assert len(doubled.blocks) == 6
    # each request's blocks stay with its sizes
    for p, ids in zip(doubled.prompt_tokens.tolist(), doubled.blocks, strict=True):
        assert len(ids) == p // 10
    with pytest.raises(ValueError, match="blocks"):
        Trace("t", np.array([0.0]), np.array([1]), np.array([1]), blocks=((), ()), block_tokens=10)
