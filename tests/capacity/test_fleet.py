"""The fleet model: size mixes from vLLM's histogram, pooled shares and the fleet size at the SLO."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controlplane.capacity.fleet import SizeHistogram, SizeMix, fleet_size_at_slo, idle_ttft_s, pooled_share
from controlplane.capacity.profile import get_profile

H100 = get_profile("llama-3.1-8b-h100")


def test_histogram_from_cumulative_counts_by_hand() -> None:
    h = SizeHistogram.from_cumulative([10.0, 100.0, math.inf], [2.0, 6.0, 10.0])
    assert h is not None
    assert h.bounds == (10.0, 100.0, math.inf) and h.shares == pytest.approx((0.2, 0.4, 0.4))
    assert h.upto(0.5) == "<= 100" and h.upto(0.95) == "> 100"
    # an empty bucket is kept (it bounds the next one), an empty histogram is none
    h = SizeHistogram.from_cumulative([10.0, 100.0, math.inf], [0.0, 5.0, 5.0])
    assert h is not None and h.bounds == (10.0, 100.0, math.inf) and h.shares == (0.0, 1.0, 0.0)
    assert np.min(h.sample(1000, np.random.default_rng(0), 1000)) > 10
    assert SizeHistogram.from_cumulative([10.0, math.inf], [0.0, 0.0]) is None
    with pytest.raises(ValueError, match="cumulative"):
        SizeHistogram.from_cumulative([10.0], [1.0, 2.0])


@pytest.mark.parametrize("kw, field", [
    ({"bounds": (), "shares": ()}, "bounds"),
    ({"bounds": (10.0, 5.0), "shares": (0.5, 0.5)}, "bounds"),
    ({"bounds": (10.0,), "shares": (0.5,)}, "shares"),
])
def test_a_bad_histogram_names_its_field(kw, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=field):
        SizeHistogram(**kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cached_share"):
        SizeMix(SizeHistogram.point(10.0), SizeHistogram.point(10.0), cached_share=1.0)


def test_sizes_are_drawn_inside_their_bucket_and_a_point_is_exact() -> None:
    rng = np.random.default_rng(0)
    mix = SizeMix(SizeHistogram((100.0, 1000.0, math.inf), (0.5, 0.25, 0.25)),
                  SizeHistogram((10.0, math.inf), (0.5, 0.5)))
    p, o = mix.sample(4000, rng, H100)
    assert p.min() >= 1 and (p + o).max() <= H100.max_model_len
    assert np.mean(p <= 100) == pytest.approx(0.5, abs=0.03)
    assert np.mean((p > 100) & (p <= 1000)) == pytest.approx(0.25, abs=0.03)
    assert np.mean(p > 1000) == pytest.approx(0.25, abs=0.03)  # the last bucket runs to the context
    assert np.mean(o <= 10) == pytest.approx(0.5, abs=0.03)
    p, o = SizeMix.point(1234.0, 10.0).sample(10, rng, H100)
    assert set(p.tolist()) == {1230} and set(o.tolist()) == {10}


def test_a_cached_share_costs_what_its_uncached_tokens_cost() -> None:
    # 40k tokens with half cached: 20k tokens prefilled at positions 20k-40k; the equivalent
    # whole prompt P' has a P' + b P'^2 / 2 = a 20k + b (40k^2 - 20k^2) / 2
    rng = np.random.default_rng(0)
    p = SizeMix.point(40000.0, 10.0, cached_share=0.5).sample(1, rng, H100)[0][0]
    a, b = H100.prefill_s_per_token, H100.prefill_s_per_context_token
    want = a * 20000 + b * (40000**2 - 20000**2) / 2
    assert a * p + b * p * p / 2 == pytest.approx(want, rel=1e-3)
    assert 20000 < p < 40000  # more than the uncached tokens alone, less than the whole prompt


def test_more_replicas_keep_more_of_the_slo() -> None:
    mix = SizeMix(SizeHistogram((2000.0, 20000.0, 60000.0), (0.6, 0.3, 0.1)), SizeHistogram.point(100.0))
    shares = [pooled_share(H100, mix, 3.0, n, 2.0, n_requests=800) for n in (1, 2, 4, 8)]
    assert shares == sorted(shares) and shares[-1] > shares[0]


def test_fleet_size_grows_with_demand_and_pools() -> None:
    mix = SizeMix(SizeHistogram((2000.0, 20000.0, 60000.0), (0.6, 0.3, 0.1)), SizeHistogram.point(100.0))
    small = fleet_size_at_slo(H100, mix, 1.0, 2.0, 0.99, 64, n_requests=1000)
    big = fleet_size_at_slo(H100, mix, 4.0, 2.0, 0.99, 64, n_requests=1000)
    assert small.replicas is not None and big.replicas is not None
    assert small.replicas < big.replicas < 4 * small.replicas  # pooling: 4x the demand, under 4x the fleet
    assert big.share >= big.target_share
    # one fewer replica misses the target (the smallest fleet is returned)
    assert pooled_share(H100, mix, 4.0, big.replicas - 1, 2.0, n_requests=1000) < big.target_share


def test_the_target_is_the_attainable_share_less_half_a_point() -> None:
    # a quarter of the prompts take longer than 2 s alone on an idle replica
    slow = 60000
    assert idle_ttft_s(H100, slow) > 2.0 and idle_ttft_s(H100, 5000) < 2.0
    mix = SizeMix(SizeHistogram((5000.0, float(slow)), (0.75, 0.25), exact=True), SizeHistogram.point(50.0))
    fleet = fleet_size_at_slo(H100, mix, 1.0, 2.0, 0.99, 64, n_requests=1000)
    assert fleet.attainable == pytest.approx(0.75, abs=0.05)
    assert fleet.target_share == pytest.approx(fleet.attainable - 0.005)
    assert fleet.replicas is not None and "attainable" in fleet.detail
    # nothing attainable: no fleet size, said so
    none = fleet_size_at_slo(H100, SizeMix.point(float(slow), 50.0), 1.0, 2.0, 0.99, 64, n_requests=200)
    assert none.replicas is None and "even alone" in none.detail


def test_a_demand_no_fleet_can_hold_says_so() -> None:
    fleet = fleet_size_at_slo(H100, SizeMix.point(8000.0, 500.0), 200.0, 0.5, 0.99, 2, n_requests=400)
    assert fleet.replicas is None and "2 replicas keep" in fleet.detail and fleet.share < fleet.target_share


@pytest.mark.parametrize("kw, field", [
    ({"demand": 0.0}, "demand"), ({"ttft_slo_s": 0.0}, "ttft_slo_s"), ({"objective": 1.5}, "objective"),
    ({"max_replicas": 0}, "max_replicas"),
])
def test_bad_arguments_name_their_field(kw, field) -> None:  # type: ignore[no-untyped-def]
    args = {"demand": 1.0, "ttft_slo_s": 2.0, "objective": 0.99, "max_replicas": 4, **kw}
    with pytest.raises(ValueError, match=field):
        fleet_size_at_slo(H100, SizeMix.point(1000.0, 10.0), args["demand"], args["ttft_slo_s"],
                          args["objective"], args["max_replicas"])


def test_a_steep_tail_keeps_a_wide_buckets_sizes_near_its_lower_bound() -> None:
    # a Pareto tail (density ~ x^-2.5) in 1-2-5 buckets: inside each wide bucket the sizes follow
    # the density's slope across the neighbours, so the tail is not spread log-uniformly
    rng = np.random.default_rng(0)
    sizes = 1000.0 * (1.0 + rng.pareto(1.5, 200000))
    bounds = [1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0, 100000.0, math.inf]
    h = SizeHistogram.from_cumulative(bounds, [float((sizes <= b).sum()) for b in bounds])
    assert h is not None
    drawn = h.sample(200000, np.random.default_rng(1), 131072)
    for q in (0.5, 0.9, 0.99):
        assert np.quantile(drawn, q) == pytest.approx(np.quantile(sizes, q), rel=0.08), q
    # the buckets keep their shares whatever the shape inside them
    for lo, hi in ((1000.0, 2000.0), (5000.0, 10000.0), (20000.0, 50000.0)):
        real = np.mean((sizes > lo) & (sizes <= hi))
        assert np.mean((drawn > lo) & (drawn <= hi)) == pytest.approx(real, abs=0.005)
    # with no neighbour to read a slope from, a bucket is log-uniform
    one = SizeHistogram((100.0, 1000.0, 10000.0), (0.0, 1.0, 0.0)).sample(20000, np.random.default_rng(2), 5000)
    assert one.min() > 100 and one.max() <= 1000
    assert np.median(one) == pytest.approx(math.sqrt(100 * 1000), rel=0.05)


def test_the_histograms_mean_sets_its_top_bucket() -> None:
    # prompts clipped at 32,768 tokens (a tail piled at the clip): the (20k, 50k] bucket drawn by
    # its neighbours' slope runs to 50k; with the histogram's own mean it stays near the clip
    rng = np.random.default_rng(0)
    sizes = np.minimum(1000.0 * (1.0 + rng.pareto(1.5, 200000)), 32768.0)
    bounds = [1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0, 100000.0, math.inf]
    cum = [float((sizes <= b).sum()) for b in bounds]
    loose = SizeHistogram.from_cumulative(bounds, cum)
    fitted = SizeHistogram.from_cumulative(bounds, cum, mean=float(sizes.mean()))
    assert loose is not None and fitted is not None and fitted.mean == pytest.approx(sizes.mean(), rel=1e-3)
    a = loose.sample(200000, np.random.default_rng(1), 131072)
    b = fitted.sample(200000, np.random.default_rng(1), 131072)
    assert b.mean() == pytest.approx(sizes.mean(), rel=0.02)
    top = sizes > 20000
    assert np.mean(b[b > 20000]) < np.mean(a[a > 20000])
    assert np.mean(b[b > 20000]) == pytest.approx(np.mean(sizes[top]), rel=0.1)
    with pytest.raises(ValueError, match="mean"):
        SizeHistogram((10.0,), (1.0,), mean=0.0)
