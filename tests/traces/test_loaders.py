"""Trace loaders: small inline files per format, bad input naming file/row/column,
and the real traces under ../shared/data (skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from controlplane.traces import ColumnMap, TraceFormatError, load_servegen_rates, load_trace, sniff_format
from controlplane.traces.servegen import TokenSizes, load_servegen

AZURE = """TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:17:04.0319600,3180,8
2023-11-16 18:17:03.9799600,4808,10
2023-11-16 18:17:05.9799600,110,0
"""

BURST = """Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
5,ChatGPT,472,18,490,Conversation log
45,GPT-4,1087,230,1317,Conversation log
118,ChatGPT,417,0,417,Conversation log
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_azure_sorts_shifts_and_clamps(tmp_path: Path) -> None:
    tr = load_trace(_write(tmp_path, "a.csv", AZURE))
    # 18:17:03.97996 is first after sorting; 04.03196 is 0.052 s later; 05.97996 is 2 s later.
    np.testing.assert_allclose(tr.arrival_s, [0.0, 0.052, 2.0])
    assert tr.prompt_tokens.tolist() == [4808, 3180, 110]
    assert tr.output_tokens.tolist() == [10, 8, 1]  # 0 generated tokens kept as 1


def test_mooncake_ms_to_seconds(tmp_path: Path) -> None:
    lines = [
        {"timestamp": 0, "input_length": 6955, "output_length": 52, "hash_ids": [1, 2]},
        {"timestamp": 1500, "input_length": 100, "output_length": 7},
    ]
    p = _write(tmp_path, "m.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    tr = load_trace(p)
    assert tr.arrival_s.tolist() == [0.0, 1.5]
    assert tr.prompt_tokens.tolist() == [6955, 100]


def test_burstgpt_model_filter(tmp_path: Path) -> None:
    p = _write(tmp_path, "b.csv", BURST)
    assert len(load_trace(p)) == 3
    chat = load_trace(p, model="ChatGPT")
    assert chat.arrival_s.tolist() == [0.0, 113.0]
    assert chat.output_tokens.tolist() == [18, 1]


def test_generic_with_column_map(tmp_path: Path) -> None:
    p = _write(tmp_path, "g.csv", "t_ms,in,out\n2000,10,5\n500,20,6\n")
    tr = load_trace(p, "generic", columns="time=t_ms,prompt=in,output=out,unit=ms")
    assert tr.arrival_s.tolist() == [0.0, 1.5]
    assert tr.prompt_tokens.tolist() == [20, 10]


@pytest.mark.parametrize(
    "case,name,text,fmt,row,column",
    [
        ("azure bad timestamp", "a.csv", AZURE.replace("18:17:05.9799600", "18:17:xx"), None, 4, "TIMESTAMP"),
        ("azure negative tokens", "a.csv", AZURE.replace("3180", "-3"), None, 2, "ContextTokens"),
        ("azure fractional tokens", "a.csv", AZURE.replace(",8\n", ",8.5\n"), None, 2, "GeneratedTokens"),
        ("azure missing column", "a.csv", AZURE.replace("GeneratedTokens", "Gen"), "azure", 1, "GeneratedTokens"),
        ("burstgpt text in number", "b.csv", BURST.replace("1087", "many"), None, 3, "Request tokens"),
        ("mooncake missing key", "m.jsonl", '{"timestamp": 1, "input_length": 3}\n', None, 1, "output_length"),
        ("mooncake not json", "m.jsonl", '{"timestamp": 1,\n', None, 1, None),
        ("servegen bad distribution", "s.csv", "0,1.0,1.0,Poisson,1,1\n", "servegen", 1, "arrival_distribution"),
        ("servegen short row", "s.csv", "0,1.0,1.0,Gamma,1\n", "servegen", 1, None),
        ("servegen negative rate", "s.csv", "0,1,1,,0,0\n600,-2,1,Gamma,1,1\n", "servegen", 2, "rate_req_per_s"),
    ],
)
def test_bad_input_names_file_row_column(
    tmp_path: Path, case: str, name: str, text: str, fmt: str | None, row: int, column: str | None
) -> None:
    p = _write(tmp_path, name, text)
    with pytest.raises(TraceFormatError) as info:
        load_trace(p, fmt)
    err = info.value
    assert err.path == str(p), case
    assert err.row == row, case
    assert err.column == column, case
    assert str(p) in str(err)


def test_unknown_format_is_named(tmp_path: Path) -> None:
    p = _write(tmp_path, "x.csv", "a,b\n1,2\n")
    with pytest.raises(TraceFormatError, match="cannot tell the trace format"):
        load_trace(p)
    with pytest.raises(ValueError, match="columns: prompt=COLUMN is required"):
        load_trace(p, "generic", columns="time=a,output=b")


@pytest.mark.parametrize(
    "case,text,expected",
    [
        ("azure header", AZURE, "azure"),
        ("burstgpt header", BURST, "burstgpt"),
        ("jsonl", '{"timestamp": 0}\n', "mooncake"),
        ("servegen row", "0,0,0,,0,0\n", "servegen"),
    ],
)
def test_sniff(tmp_path: Path, case: str, text: str, expected: str) -> None:
    assert sniff_format(_write(tmp_path, "f.txt", text)) == expected, case


def _servegen_dir(tmp_path: Path) -> Path:
    d = tmp_path / "sg"
    d.mkdir()
    # Client A: 2 req/s Poisson-like Gamma(shape 1) in window 0, idle in window 1.
    (d / "chunk-0-trace.csv").write_text("0,2.0,1.0,Gamma,1.0,0.5\n600,0,0,,0,0\n")
    # Client B: 1 req/s in both windows, bursty Weibull shape 0.5 (CV ~2.2).
    (d / "chunk-1-trace.csv").write_text("0,1.0,2.2,Weibull,0.5,0.5\n600,1.0,2.2,Weibull,0.5,0.5\n")
    return d


def test_servegen_directory_is_summed_and_seeded(tmp_path: Path) -> None:
    d = _servegen_dir(tmp_path)
    a = load_trace(d, seed=7)
    b = load_trace(d, seed=7)
    np.testing.assert_array_equal(a.arrival_s, b.arrival_s)
    # Expected 600*(2+1) = 1800 in window 0 and 600 in window 1; bursty B spreads widely,
    # so the bounds are loose (a few standard deviations).
    first = int(np.sum(a.arrival_s < 600))
    assert 1500 < first < 2100
    assert 300 < len(a) - first < 950
    assert a.arrival_s.max() < 1200
    rates = load_servegen_rates(d)
    assert rates.t_s.tolist() == [0.0, 600.0]
    assert rates.rate.tolist() == [3.0, 1.0]


def test_servegen_rate_scale_and_range(tmp_path: Path) -> None:
    d = _servegen_dir(tmp_path)
    half = load_servegen(d, rate_scale=0.5, start_s=600)
    # Only window 600 (client B, 1 req/s) at half rate: ~300 arrivals, re-based to t=0.
    assert 150 < len(half) < 500
    assert half.arrival_s.min() >= 0 and half.arrival_s.max() < 600


def test_token_sizes_default_shape() -> None:
    p, o = TokenSizes().draw(20_000, np.random.default_rng(1))
    # Log-normal body median 1000; 5% Pareto tail from 4000 barely moves the median.
    assert 900 < np.median(p) < 1150
    # Exponential mean 250 (clipped at 4096, which removes almost nothing).
    assert 235 < o.mean() < 265
    assert p.min() >= 1 and o.min() >= 1


def test_real_azure_code(shared_data: Path) -> None:
    tr = load_trace(shared_data / "traces" / "azure_llm_2023_code.csv")
    assert len(tr) == 8819
    assert np.median(tr.prompt_tokens) == 1469  # README: median prompt 1,469
    assert np.median(tr.output_tokens) == 13
    assert 3300 < tr.duration_s < 3500  # "57 minutes"


def test_real_servegen_rates(shared_data: Path) -> None:
    rates = load_servegen_rates(shared_data / "servegen" / "m-large")
    assert len(rates.t_s) == 14 * 144
    # README: summed over clients, 48 to 583 requests/s.
    assert 48 <= rates.rate.min() < 49
    assert 582 < rates.rate.max() <= 583


def test_column_map_parse_errors() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        ColumnMap.parse("time=a,prompt=b,output=c,color=d")


def test_real_servegen_day_matches_its_rates(shared_data: Path) -> None:
    path = shared_data / "servegen" / "m-large"
    rates = load_servegen_rates(path)
    day = load_servegen(path, rate_scale=0.001, end_s=86_400.0, seed=1)
    expected = float(rates.rate[:144].sum() * 600.0 * 0.001)  # ~240 requests/s x 86,400 s x 0.001
    assert abs(len(day) - expected) < 0.05 * expected
    assert day.arrival_s.max() < 86_400.0
