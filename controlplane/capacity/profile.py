"""Performance profiles: what one vLLM replica of a given model on given hardware can do.

Owns :class:`PerformanceProfile` (scheduler limits, KV-cache capacity and a
linear step-cost model) and the registry of shipped profiles. Pure: imports
only the standard library; no I/O, no clock.

The step-cost model (seconds)::

    step_time(batch, prefill_tokens, prefill_context) = decode_base_s
                                     + decode_per_seq_s * batch
                                     + prefill_s_per_token * prefill_tokens
                                     + prefill_s_per_context_token * prefill_context

``decode_base_s`` is the memory-bound cost of reading the weights once per
step, ``decode_per_seq_s`` the extra attention/KV reads per sequence in the
batch, ``prefill_s_per_token`` the compute-bound cost of one prompt token's
weight FLOPs, and ``prefill_s_per_context_token`` the attention cost per
earlier token a prompt token attends to: ``prefill_context`` is the sum, over
the step's prompt tokens, of their positions (a token at position ``s``, counted
from 0, attends to ``s`` earlier tokens). A whole prompt of ``P`` tokens thus
costs ``prefill_s_per_token * P + prefill_s_per_context_token * P (P - 1) / 2``
(:meth:`PerformanceProfile.prefill_s`): linear per token, quadratic per prompt.

Attention FLOPs per token at position ``s`` for a Llama-style model with
``L`` layers and hidden size ``h`` (query heads x head dim): ``q . k`` for
``s`` keys is ``2 h s`` FLOPs per layer (a multiply-add per element) and the
weighted sum of ``s`` values another ``2 h s``, so ``4 L h s`` (grouped-query
attention shares K/V heads, but every query head still attends). This is the
count of Hoffmann et al. 2022 ("Training Compute-Optimal Large Language
Models", Appendix F: attention logits and reduction, each
``2 x seq_len x key_size x num_heads`` per token per layer) with causal masking,
so ``seq_len`` becomes ``s``. The weights cost ``2 N`` FLOPs per token (``N``
parameters), so at the same achieved FLOP rate ``prefill_s_per_context_token =
prefill_s_per_token x 4 L h / (2 N)``.

Shipped profiles
----------------
``llama-3.1-8b-h100`` -- Llama-3.1-8B-Instruct (BF16) on one H100 80GB SXM:

* KV cache: a token costs 2 (K and V) x 32 layers x 8 KV heads x 128 dims x
  2 bytes = 131,072 bytes = 128 KiB (Llama-3.1-8B config: 32 layers, 8 KV
  heads, head dim 128). vLLM's default ``gpu_memory_utilization`` 0.9 of
  80 GiB is 72 GiB; the BF16 weights take ~15 GiB (8.03 B params x 2 bytes)
  and activations/CUDA graphs ~2 GiB, leaving ~55 GiB = 55 x 8,192 =
  450,560 tokens (28,160 blocks of 16).
* Scheduler limits: vLLM's defaults for the OpenAI server on GPUs with
  >= 70 GiB that are not A100s (H100 class) are ``max_num_seqs`` 1024 and
  ``max_num_batched_tokens`` 8192 (``get_batch_defaults`` in
  vllm/engine/arg_utils.py; other GPUs get 256 and 2048). We keep the 8192
  token budget but 256 sequences: the large-batch decode figure below was
  measured at that scale, and a linear step model extrapolated to 1024
  sequences would overstate throughput.
* Decode: a batch-1 step reads the 16 GB of BF16 weights once; on an A100
  40GB vLLM decodes Llama-3.1-8B at ~75 tokens/s at concurrency 1, ~77 % of
  that GPU's 1.56 TB/s bandwidth ceiling (johnmusgrave.com, "vLLM
  throughput-latency sweep on NVIDIA A100", vLLM 0.23). The same efficiency
  on the H100 SXM's 3.35 TB/s gives 16 GB / 3.35 TB/s / 0.77 = 6.2 ms; we
  use 6.5 ms. At large batch vLLM reaches ~12,500 output tokens/s for this
  model on one H100 (morphllm.com, "vLLM Benchmarks", FlashInfer, 0.8 GPU
  utilisation; its concurrency is not stated); read as batch 256 that is a
  20.5 ms step, so ``decode_per_seq_s`` = (20.5 - 6.5) ms / 256 = 0.055 ms.
* Prefill: 16 GFLOP per token (2 x 8 B params) at ~40% of the H100's
  989 TFLOP/s dense BF16 gives ~25,000 prompt tokens/s, i.e. 40 us/token: a
  1,024-token prompt alone has a TTFT of ~48 ms, in line with the tens of
  milliseconds published for this model and prompt size.
* Prefill attention: 4 x 32 layers x 4,096 hidden = 524,288 FLOPs per
  earlier token; at the same 40 us per 16 GFLOP that is
  40 us x 524,288 / 16.06e9 = 1.3 ns per (token, earlier token). At position
  32k a token's attention (17 GFLOP) equals its weights' 16 GFLOP; a
  100k-token prompt's prefill is 100k x 40 us + 1.3 ns x 100k^2 / 2 =
  4.0 s + 6.5 s = 10.5 s instead of 4 s.
* Startup: 60 s from process start to ``/health`` 200 (safetensors load of
  16 GB plus torch.compile and CUDA-graph capture, typically 40-90 s cold).
* ``max_model_len`` 131,072 (the model's context length, vLLM's default).

``cpu-tiny`` -- a 2 MB random-weight Llama (hidden 128, 2 layers) served by
vLLM 0.32 on 2 CPU cores (``--max-model-len 512 --enforce-eager``), measured
on this kind of machine (see ../shared/reference/vllm-cpu.md):

* 50 streaming requests at concurrency 8 with 64 output tokens ran at about
  24 req/s: each request held a slot for 8/24 = 0.33 s, i.e. 5.2 ms per token
  at batch 8. The reference /metrics agrees: mean inter-token latency
  154.57 s / 36,336 = 4.3 ms. Hence ``decode_base_s`` 3 ms and
  ``decode_per_seq_s`` 0.3 ms (step(8) = 5.4 ms, step(1) = 3.3 ms).
* Mean prefill time 2.346 s / 260 requests = 9 ms for 11.6-token prompts
  (3,027 / 260): 9 ms minus a ~3.3 ms step is ~0.5 ms per prompt token.
* Prefill attention 0: at most 4 x 2 layers x 128 hidden x 511 = 0.5 MFLOP
  per token within ``max_model_len`` 512, well under a microsecond on these
  cores against the 0.5 ms per token measured (per-token overhead, not FLOPs,
  dominates this model), so below what the reference run can resolve.
* ``max_num_batched_tokens`` 2048 (vLLM's CPU default for the OpenAI server,
  one socket); ``max_num_seqs`` 4 (the reference run saw 3-4 waiting requests at
  concurrency 8 with it), ``block_size`` 128 (from ``cache_config_info``),
  ``max_model_len`` 512, and a deliberately small KV cache of 1,024 tokens
  so KV pressure and preemptions show under modest load (the real run's
  1 GiB cache held 2 M tokens and stayed near 0 %).
* Startup: ~52 s to ``/health`` 200 with ``--enforce-eager``.
* KV bytes per token: 2 x 2 layers x 2 KV heads x 32 dims x 2 bytes = 512,
  as in the reference (1 GiB for 2,097,152 tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PerformanceProfile", "PROFILES", "get_profile", "DEFAULT_PROFILE", "context_pairs"]


def context_pairs(start: float, tokens: float) -> float:
    """Sum of the positions ``start, start + 1, ..., start + tokens - 1``: the (token, earlier
    token) pairs a prefill chunk of ``tokens`` starting at position ``start`` computes."""
    return tokens * start + tokens * (tokens - 1) / 2


@dataclass(frozen=True)
class PerformanceProfile:
    """One replica's limits and step-cost model. Times in seconds, sizes in tokens."""

    name: str
    model_name: str
    max_num_seqs: int  # sequences running at once (vLLM --max-num-seqs)
    max_num_batched_tokens: int  # token budget of one step, shared by decode and prefill chunks
    kv_cache_tokens: int  # KV-cache capacity
    block_size: int  # tokens per KV block (reported in cache_config_info)
    max_model_len: int  # prompt + output limit of one request
    prefill_s_per_token: float  # step time added per prompt token computed in the step (its weight FLOPs)
    decode_base_s: float  # step time with an empty batch (weights read once)
    decode_per_seq_s: float  # step time added per sequence in the batch
    startup_s: float  # process start to /health 200 (weight loading, compilation)
    gpu_memory_utilization: float = 0.9  # reported in cache_config_info
    kv_bytes_per_token: int = 0  # KV bytes one token takes (0: unknown); reported in cache_config_info
    prefill_s_per_context_token: float = 0.0  # step time added per earlier token a prompt token attends to

    def __post_init__(self) -> None:
        for field in ("max_num_seqs", "max_num_batched_tokens", "kv_cache_tokens", "block_size", "max_model_len"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{field}: must be an integer >= 1, got {value!r}")
        for field in ("prefill_s_per_token", "prefill_s_per_context_token", "decode_base_s", "decode_per_seq_s",
                      "startup_s"):
            value = getattr(self, field)
            if not value >= 0:  # also rejects NaN
                raise ValueError(f"{field}: must be >= 0 seconds, got {value!r}")
        if self.decode_base_s + self.decode_per_seq_s <= 0:
            raise ValueError("decode_base_s: a step must take time (decode_base_s + decode_per_seq_s > 0)")
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise ValueError("max_num_batched_tokens: must be >= max_num_seqs (one decode token per sequence)")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError("gpu_memory_utilization: must be in (0, 1]")

    def step_time(self, batch: int, prefill_tokens: int = 0, prefill_context: int = 0) -> float:
        """Seconds of one engine step with ``batch`` sequences and ``prefill_tokens`` prompt tokens
        whose positions sum to ``prefill_context`` (see :func:`context_pairs`)."""
        return (self.decode_base_s + self.decode_per_seq_s * batch + self.prefill_s_per_token * prefill_tokens
                + self.prefill_s_per_context_token * prefill_context)

    def prefill_s(self, prompt_tokens: float, cached_tokens: float = 0) -> float:
        """Prefill compute of one prompt whose first ``cached_tokens`` are already in the KV cache
        (outside any step's fixed cost)."""
        n = prompt_tokens - cached_tokens
        return self.prefill_s_per_token * n + self.prefill_s_per_context_token * context_pairs(cached_tokens, n)

    def decode_tokens_per_s(self, batch: int) -> float:
        """Output tokens/s of a replica decoding ``batch`` sequences with no prefill."""
        return batch / self.step_time(batch)

    @property
    def max_decode_tokens_per_s(self) -> float:
        """Output tokens/s at a full batch of ``max_num_seqs``."""
        return self.decode_tokens_per_s(self.max_num_seqs)

    @property
    def kv_cache_blocks(self) -> int:
        return self.kv_cache_tokens // self.block_size

    def max_batch(self, prompt_tokens: float, output_tokens: float) -> int:
        """Sequences that fit at once: ``max_num_seqs``, or fewer when the KV cache is the
        limit (a sequence holds on average prompt + half its output)."""
        per_seq = max(1.0, prompt_tokens + output_tokens / 2.0)
        return max(1, min(self.max_num_seqs, int(self.kv_cache_tokens // per_seq)))

    def max_requests_per_s(self, prompt_tokens: float, output_tokens: float) -> float:
        """Saturated request throughput for a steady stream of identical requests.

        With ``b = max_batch(...)`` sequences decoding, each request costs its share
        of ``output_tokens`` steps, ``output_tokens * step_time(b) / b``, plus the
        time its prompt adds to steps, :meth:`prefill_s`.
        """
        if prompt_tokens < 0 or output_tokens < 1:
            raise ValueError("output_tokens: must be >= 1 (and prompt_tokens >= 0)")
        b = self.max_batch(prompt_tokens, output_tokens)
        per_request = output_tokens * self.step_time(b) / b + self.prefill_s(prompt_tokens)
        return 1.0 / per_request


PROFILES: dict[str, PerformanceProfile] = {
    p.name: p
    for p in (
        PerformanceProfile(
            name="llama-3.1-8b-h100",
            model_name="meta-llama/Llama-3.1-8B-Instruct",
            max_num_seqs=256,
            max_num_batched_tokens=8192,
            kv_cache_tokens=450_560,
            block_size=16,
            max_model_len=131_072,
            prefill_s_per_token=40e-6,
            decode_base_s=6.5e-3,
            decode_per_seq_s=0.055e-3,
            startup_s=60.0,
            kv_bytes_per_token=131_072,
            prefill_s_per_context_token=1.3e-9,
        ),
        PerformanceProfile(
            name="cpu-tiny",
            model_name="tiny-llama",
            max_num_seqs=4,
            max_num_batched_tokens=2048,
            kv_cache_tokens=1024,
            block_size=128,
            max_model_len=512,
            prefill_s_per_token=0.5e-3,
            decode_base_s=3e-3,
            decode_per_seq_s=0.3e-3,
            startup_s=52.0,
            gpu_memory_utilization=0.92,
            kv_bytes_per_token=512,
        ),
    )
}

DEFAULT_PROFILE = "cpu-tiny"


def get_profile(name: str) -> PerformanceProfile:
    """The shipped profile called ``name``; ValueError listing the known names otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"profile: unknown {name!r}; known: {', '.join(sorted(PROFILES))}") from None
