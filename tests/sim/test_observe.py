"""The simulated Prometheus view: histogram_quantile maths, scrape delay, windows, missing data."""

from __future__ import annotations

import math

import pytest

from controlplane.sim.observe import TTFT_BUCKETS, PromView, Scrape, ScrapeConfig, histogram_quantile


@pytest.mark.parametrize(
    "case,q,counts,expected",
    [
        # rank 0.5 x 20 = 10 falls at the top of bucket (0, 1]: 0 + 1 x 10/10 = 1.0
        ("median at a bucket edge", 0.5, [10, 10, 0, 0], 1.0),
        # rank 15: 5 into bucket (1, 2] of 10: 1 + 1 x 5/10 = 1.5
        ("interpolated", 0.75, [10, 10, 0, 0], 1.5),
        # everything above the last finite bound: Prometheus answers that bound, 4
        ("all in +Inf", 0.95, [0, 0, 0, 5], 4.0),
    ],
)
def test_histogram_quantile(case: str, q: float, counts: list[int], expected: float) -> None:
    assert histogram_quantile(q, (1.0, 2.0, 4.0), counts) == pytest.approx(expected), case


def test_histogram_quantile_empty_is_nan() -> None:
    assert math.isnan(histogram_quantile(0.95, (1.0,), [0, 0]))


def _scrape(t: float, finished: int, ttft_in_bucket_11: int, waiting: float = 0.0) -> Scrape:
    ttft = [0] * (len(TTFT_BUCKETS) + 1)
    ttft[11] = ttft_in_bucket_11  # (0.75, 1.0]
    return Scrape(t, finished, 0, finished * 100, finished * 10, 0, tuple(ttft), (0,) * 20, (0,) * 22,
                  waiting, 1.0, 0.5, 0.5, 0.4, 2)


def test_rates_gauges_and_delay() -> None:
    view = PromView(ScrapeConfig(scrape_interval_s=15.0, eval_delay_s=0.0), 60.0, epoch=1000.0, target="x")
    for k in range(6):  # scrapes at 0..75 s, 3 requests finished per scrape interval
        view.record(_scrape(15.0 * k, 3 * k, 3 * k, waiting=float(k)))
    sig = view.signals(80.0)
    # newest scrape 75; window [15, 75]: (15 - 3) finished over 60 s = 0.2 req/s
    assert sig.request_rate.value == pytest.approx(0.2)
    assert sig.prompt_tokens_rate.value == pytest.approx(20.0)
    assert sig.waiting_requests.value == 5.0 and sig.waiting_requests.at == 1075.0
    # all 12 TTFTs in (0.75, 1.0]: p95 = 0.75 + 0.25 x 11.4/12
    assert sig.ttft_p95.value == pytest.approx(0.75 + 0.25 * 11.4 / 12)
    assert sig.ready_replicas.value == 2 and sig.gpu_utilization.value == 0.4
    assert sig.collected_at == 1080.0
    # with a 20 s evaluation delay the newest visible scrape at t=80 is the one at 60
    late = PromView(ScrapeConfig(eval_delay_s=20.0), 60.0, epoch=0.0, target="x")
    for k in range(6):
        late.record(_scrape(15.0 * k, 3 * k, 3 * k, waiting=float(k)))
    assert late.signals(80.0).waiting_requests.value == 4.0


def test_no_traffic_in_window_is_missing_not_zero() -> None:
    view = PromView(ScrapeConfig(), 60.0, epoch=0.0, target="x")
    for k in range(5):
        view.record(_scrape(15.0 * k, 7, 7))  # counters flat: nothing finished in the window
    sig = view.signals(60.0)
    assert sig.request_rate.value == 0.0  # a rate of 0 is a measurement
    assert not sig.ttft_p95.ok and not sig.error_ratio.ok  # quantile / ratio over nothing: NaN
    assert sig.waiting_requests.ok


def test_single_scrape_gives_missing_rates() -> None:
    view = PromView(ScrapeConfig(), 60.0, epoch=0.0, target="x")
    assert not view.signals(5.0).waiting_requests.ok  # nothing scraped yet
    view.record(_scrape(0.0, 0, 0))
    sig = view.signals(5.0)
    assert sig.waiting_requests.ok and not sig.request_rate.ok


def test_prompt_size_histogram_is_a_cumulative_rate_per_bound() -> None:
    view = PromView(ScrapeConfig(scrape_interval_s=15.0), 60.0, epoch=0.0, target="x")
    for k in range(5):  # per 15 s: 2 prompts up to 10 tokens, 1 in (10, 100], 1 over 100
        base = _scrape(15.0 * k, 4 * k, 0)
        view.record(Scrape(**{**{f: getattr(base, f) for f in base.__slots__},
                              "prompt": (2 * k, k, k), "output": (4 * k, 0, 0), "token_bounds": (10.0, 100.0)}))
    sig = view.signals(60.0)
    sizes = sig.prompt_size_buckets
    assert [v for _, v in sig.output_size_buckets] == pytest.approx([16 / 60] * 3)
    # window [0, 60]: 8, 4 and 4 requests over 60 s, cumulative by bound
    assert [b for b, _ in sizes] == [10.0, 100.0, math.inf]
    assert [v for _, v in sizes] == pytest.approx([8 / 60, 12 / 60, 16 / 60])
    # scrapes without the histogram give none (not zeros)
    bare = PromView(ScrapeConfig(), 60.0, epoch=0.0, target="x")
    for k in range(5):
        bare.record(_scrape(15.0 * k, 4 * k, 0))
    assert bare.signals(60.0).prompt_size_buckets == () == bare.signals(60.0).output_size_buckets


def test_signals_round_trip_keeps_the_prompt_histogram_and_names_a_bad_one() -> None:
    import json

    from controlplane.signals import Reading, Signals

    sig = Signals(target="x", collected_at=5.0, request_rate=Reading.of(2.0, 5.0),
                  prompt_size_buckets=((10.0, 1.0), (math.inf, 2.0)), output_size_buckets=((math.inf, 2.0),))
    again = Signals.from_dict(json.loads(json.dumps(sig.to_dict())))  # JSON: +Inf as a string
    assert again == sig
    with pytest.raises(ValueError, match="prompt_size_buckets"):
        Signals.from_dict({**sig.to_dict(), "prompt_size_buckets": [["ten", 1.0]]})
