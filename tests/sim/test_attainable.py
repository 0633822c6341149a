"""The attainable share: TTFT alone on an idle replica, worked by hand on round-numbered profiles."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from controlplane.capacity.profile import get_profile
from controlplane.sim.attainable import attainable_mask, attainable_share, idle_ttft
from controlplane.traces.model import Trace
from tests.sim.helpers import TOY


def _trace(prompts: list[int]) -> Trace:
    n = len(prompts)
    return Trace("sizes", np.arange(n, dtype=float), np.asarray(prompts, dtype=np.int64), np.ones(n, dtype=np.int64))


@pytest.mark.parametrize(
    "prompt,expected",
    [
        # TOY: a step is 10 ms + 1 ms per prompt token in it; chunks of at most 1,024 tokens.
        pytest.param(100, 0.010 + 0.100, id="one-chunk"),
        pytest.param(1024, 0.010 + 1.024, id="exactly-one-budget"),
        pytest.param(1025, (0.010 + 1.024) + (0.010 + 0.001), id="one-token-spills-into-a-second-step"),
        pytest.param(3000, 3 * 0.010 + 3.000, id="three-chunks"),
        # max_model_len 4,096: the replay clips a prompt to 4,095 (room for one output token)
        pytest.param(5000, 4 * 0.010 + 4.095, id="clipped-to-max-model-len"),
    ],
)
def test_idle_ttft_worked(prompt: int, expected: float) -> None:
    assert idle_ttft(TOY, np.array([prompt]))[0] == pytest.approx(expected, rel=1e-9)


def test_the_prefilling_sequence_counts_in_the_batch() -> None:
    # 1 ms per sequence in the step: a lone 100-token prompt's step is 10 + 1 + 100 ms.
    profile = replace(TOY, decode_per_seq_s=1e-3)
    assert idle_ttft(profile, np.array([100]))[0] == pytest.approx(0.111, rel=1e-9)


def test_a_prompt_larger_than_the_kv_cache_never_starts() -> None:
    profile = replace(TOY, kv_cache_tokens=500)
    # 499 + 1 output token fits in 500 KV tokens; 600 + 1 never does
    times = idle_ttft(profile, np.array([499, 600]))
    assert times[0] == pytest.approx(0.010 + 0.499)
    assert times[1] == np.inf


def test_share_worked() -> None:
    # idle TTFTs 0.11, 1.034, 1.045, 3.03 s (see above)
    trace = _trace([100, 1024, 1025, 3000])
    assert attainable_mask(trace, TOY, 1.04).tolist() == [True, True, False, False]
    assert attainable_share(trace, TOY, 1.04) == 0.5
    assert attainable_share(trace, TOY, 1.05) == 0.75
    assert attainable_share(trace, TOY, 10.0) == 1.0
    assert attainable_share(trace, TOY, 0.1) == 0.0


def test_h100_long_prompts() -> None:
    # llama-3.1-8b-h100: 8,192-token chunks, each step 6.5 ms + 0.055 ms + 40 us/token, plus
    # attention over earlier tokens at 1.3 ns per (token, earlier token) pair: n(n-1)/2 pairs.
    # 40,000 tokens: 5 chunks, 5 x 6.555 ms + 1.6 s + 1.3e-9 x 799,980,000 = 2.672749 s;
    # 60,000 tokens: 8 chunks, 8 x 6.555 ms + 2.4 s + 1.3e-9 x 1,799,970,000 = 4.792401 s.
    # Neither is within 2 s on an idle replica.
    profile = get_profile("llama-3.1-8b-h100")
    assert profile.prefill_s_per_context_token == pytest.approx(1.3e-9)
    times = idle_ttft(profile, np.array([40_000, 60_000]))
    assert times.tolist() == pytest.approx([2.672749, 4.792401], rel=1e-6)
    assert attainable_share(_trace([40_000, 60_000, 1_000, 1_000]), profile, 2.0) == 0.5
    assert attainable_share(_trace([40_000, 60_000, 1_000, 1_000]), profile, 3.0) == 0.75


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="ttft_slo_s"):
        attainable_share(_trace([100]), TOY, 0.0)
    with pytest.raises(ValueError, match="prompt_tokens"):
        idle_ttft(TOY, np.array([0]))
    assert attainable_share(_trace([]), TOY, 1.0) == 1.0
