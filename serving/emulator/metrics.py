"""The ``vllm:*`` metric families of a vLLM 0.32 server, on a private CollectorRegistry.

Owns the names, types, label names and histogram buckets, which match the real
exposition of vLLM 0.32 (``../shared/reference/vllm-0.32-cpu-metrics.txt``):
every series carries ``engine`` and ``model_name`` (``admission_rejections``
only ``model_name``), token histograms use vLLM's 1-2-5 buckets up to
``max_model_len``, and latency histograms are in (emulated) seconds. Also the
``http_requests_total`` family of the API server's instrumentator. Knows
nothing about HTTP serving or the engine: the runtime calls the ``on_*`` hooks.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from controlplane.capacity.profile import PerformanceProfile
from controlplane.catalog import build_1_2_5_buckets

__all__ = ["VllmMetrics", "build_1_2_5_buckets", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_TTFT_BUCKETS = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
]
_ITL_BUCKETS = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
]
_REQUEST_LATENCY_BUCKETS = [
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0,
    60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
]
_ITERATION_TOKEN_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
_PREEMPTION_BUCKETS = [1, 2, 3, 4, 5, 10, 20]
_N_BUCKETS = [1, 2, 5, 10, 20]
_HTTP_BUCKETS = [0.1, 0.5, 1.0]
FINISHED_REASONS = ("stop", "length", "abort", "error", "repetition")


def _cache_config_labels(p: PerformanceProfile, prefix_caching: bool = True) -> dict[str, str]:
    blocks = p.kv_cache_tokens // p.block_size
    return {
        "_block_size_resolved": "True",
        "block_size": str(p.block_size),
        "cache_dtype": "auto",
        "cache_hit_alignment_tokens": "None",
        "effective_attention_block_size": str(p.block_size),
        "enable_mamba_shared_prefix_checkpoint": "False",
        "enable_prefix_caching": str(prefix_caching),
        "gpu_memory_utilization": str(p.gpu_memory_utilization),
        "hash_block_size": "None",
        "is_attention_free": "False",
        "kv_cache_dtype_skip_layers": "[]",
        "kv_cache_layout": "None",
        "kv_cache_max_concurrency": str(float(p.kv_cache_tokens / p.max_model_len)),
        "kv_cache_memory_bytes": str(p.kv_cache_tokens * p.kv_bytes_per_token),
        "kv_cache_size_tokens": str(p.kv_cache_tokens),
        "kv_offloading_backend": "native",
        "kv_offloading_size": "None",
        "kv_sharing_fast_prefill": "False",
        "mamba_block_size": "None",
        "mamba_cache_dtype": "auto",
        "mamba_cache_mode": "none",
        "mamba_page_size_padded": "None",
        "mamba_ssm_cache_dtype": "float32",
        "num_cpu_blocks": "None",
        "num_gpu_blocks": str(blocks),
        "num_gpu_blocks_override": "None",
        "prefix_cache_retention_interval": "0",
        "prefix_caching_hash_algo": "sha256",
        "prefix_match_unit": "None",
        "replayssm_buffer_len": "16",
        "skip_page_size_padded": "None",
        "sliding_window": "None",
        "swa_bounded_replay": "True",
        "use_kda_recoverssm": "False",
        "use_replayssm": "False",
        "user_specified_block_size": "False",
    }


class VllmMetrics:
    """All ``vllm:*`` families for one engine; ``render()`` gives the exposition text."""

    def __init__(self, profile: PerformanceProfile, model_name: str, engine: str = "0", *,
                 prefix_caching: bool = True) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        lab = ["engine", "model_name"]
        self._lv = {"engine": engine, "model_name": model_name}
        lv = self._lv

        def counter(name: str, doc: str, extra: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, [*lab, *extra], registry=r)

        def gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, [*lab, *extra], registry=r)

        def hist(name: str, doc: str, buckets: list[float] | list[int]) -> Histogram:
            return Histogram(name, doc, lab, buckets=[float(b) for b in buckets], registry=r)

        flops = "(for Model Flops Utilization calculations)."
        for name, doc in (
            ("vllm:estimated_flops_per_gpu", f"Estimated number of floating point operations per GPU {flops}"),
            ("vllm:estimated_read_bytes_per_gpu", f"Estimated number of bytes read from memory per GPU {flops}"),
            ("vllm:estimated_write_bytes_per_gpu", f"Estimated number of bytes written to memory per GPU {flops}"),
        ):
            counter(name, doc).labels(**lv)
        self.running = gauge("vllm:num_requests_running", "Number of requests in model execution batches.")
        self.waiting = gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.")
        self.waiting_by_reason = gauge(
            "vllm:num_requests_waiting_by_reason",
            "Number of waiting requests by reason. Reason labels: 'capacity' = waiting for scheduling "
            "capacity; 'deferred' = deferred by transient constraints (LoRA budget, KV transfer, blocked "
            "status). Sum of all reasons equals vllm:num_requests_waiting.",
            ("reason",),
        )
        self.waiting_by_reason.labels(**lv, reason="deferred").set(0)
        sleep = gauge(
            "vllm:engine_sleep_state",
            "Engine sleep state; awake = 0 means engine is sleeping; awake = 1 means engine is awake; "
            "weights_offloaded = 1 means sleep level 1; discard_all = 1 means sleep level 2.",
            ("sleep_state",),
        )
        for state, value in (("awake", 1), ("weights_offloaded", 0), ("discard_all", 0)):
            sleep.labels(**lv, sleep_state=state).set(value)
        self.kv_usage = gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.")
        self.prefix_queries = counter(
            "vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens."
        )
        self.prefix_hits = counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.")
        counter(
            "vllm:external_prefix_cache_queries",
            "External prefix cache queries from KV connector cross-instance cache sharing, in terms of "
            "number of queried tokens.",
        ).labels(**lv)
        counter(
            "vllm:external_prefix_cache_hits",
            "External prefix cache hits from KV connector cross-instance cache sharing, in terms of "
            "number of cached tokens.",
        ).labels(**lv)
        counter("vllm:mm_cache_queries", "Multi-modal cache queries, in terms of number of queried items.").labels(
            **lv
        )
        counter("vllm:mm_cache_hits", "Multi-modal cache hits, in terms of number of cached items.").labels(**lv)
        self.preemptions = counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.")
        self.prompt_tokens = counter("vllm:prompt_tokens", "Number of prefill tokens processed.")
        self.prompt_by_source = counter(
            "vllm:prompt_tokens_by_source", "Number of prompt tokens by source.", ("source",)
        )
        for source in ("local_compute", "local_cache_hit", "external_kv_transfer"):
            self.prompt_by_source.labels(**lv, source=source)
        self.prompt_cached = counter("vllm:prompt_tokens_cached", "Number of cached prompt tokens (local + external).")
        self.cached_by_source = cached = counter(
            "vllm:prompt_tokens_cached_by_source",
            "Prefix-cache hit tokens by the cache tier that supplied them: device (local HBM), host "
            "(offloaded to DRAM), disk, p2p (transferred from another vLLM instance) or "
            "external_unspecified. Counted at admission; sums to vllm:prefix_cache_hits + "
            "vllm:external_prefix_cache_hits.",
            ("source",),
        )
        for source in ("device", "host", "p2p", "disk", "external_unspecified"):
            cached.labels(**lv, source=source)
        self.generation_tokens = counter("vllm:generation_tokens", "Number of generation tokens processed.")
        self.success = counter(
            "vllm:request_success", "Count of successfully processed requests.", ("finished_reason",)
        )
        for reason in FINISHED_REASONS:
            self.success.labels(**lv, finished_reason=reason)
        rejections = Counter(
            "vllm:admission_rejections",
            "Number of admission attempts rejected by a queue limit, by reason.",
            ["model_name", "reason"],
            registry=r,
        )
        for reason in ("max_num_queued_reqs", "max_num_queued_tokens"):
            rejections.labels(model_name=model_name, reason=reason)
        tokens = build_1_2_5_buckets(profile.max_model_len)
        self.h_prompt = hist("vllm:request_prompt_tokens", "Number of prefill tokens processed.", tokens)
        self.h_generation = hist("vllm:request_generation_tokens", "Number of generation tokens processed.", tokens)
        self.h_iteration = hist(
            "vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.", _ITERATION_TOKEN_BUCKETS
        )
        self.h_max_gen = hist(
            "vllm:request_max_num_generation_tokens",
            "Histogram of maximum number of requested generation tokens.",
            tokens,
        )
        self.h_n = hist("vllm:request_params_n", "Histogram of the n request parameter.", _N_BUCKETS)
        self.h_max_tokens = hist(
            "vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.", tokens
        )
        self.h_ttft = hist(
            "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", _TTFT_BUCKETS
        )
        self.h_itl = hist(
            "vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", _ITL_BUCKETS
        )
        self.h_tpot = hist(
            "vllm:request_time_per_output_token_seconds",
            "Histogram of time_per_output_token_seconds per request.",
            _ITL_BUCKETS,
        )
        latency = _REQUEST_LATENCY_BUCKETS
        self.h_e2e = hist("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", latency)
        self.h_queue = hist(
            "vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", latency
        )
        self.h_inference = hist(
            "vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.", latency
        )
        self.h_prefill = hist(
            "vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.", latency
        )
        self.h_decode = hist(
            "vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", latency
        )
        self.h_preemptions = hist(
            "vllm:request_num_preemptions",
            "Histogram of the number of times a request was preempted.",
            _PREEMPTION_BUCKETS,
        )
        self.h_prefill_kv = hist(
            "vllm:request_prefill_kv_computed_tokens",
            "Histogram of new KV tokens computed during prefill (excluding cached tokens).",
            tokens,
        )
        info = Gauge(
            "vllm:cache_config_info",
            "Information of the LLMEngine CacheConfig",
            sorted([*_cache_config_labels(profile), "engine"]),
            registry=r,
        )
        info.labels(**_cache_config_labels(profile, prefix_caching), engine=engine).set(1)
        self.http_requests = Counter(
            "http_requests", "Total number of requests by method, status and handler.",
            ["handler", "method", "status"], registry=r,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Latency with only few buckets by handler. Made to be only used if aggregation by handler is important.",
            ["handler", "method"], buckets=_HTTP_BUCKETS, registry=r,
        )
        for g in (self.running, self.waiting, self.kv_usage, self.preemptions, self.prompt_tokens,
                  self.generation_tokens, self.prefix_queries, self.prefix_hits, self.prompt_cached):
            g.labels(**lv)
        for h in (self.h_prompt, self.h_generation, self.h_iteration, self.h_max_gen, self.h_n, self.h_max_tokens,
                  self.h_ttft, self.h_itl, self.h_tpot, self.h_e2e, self.h_queue, self.h_inference, self.h_prefill,
                  self.h_decode, self.h_preemptions, self.h_prefill_kv):
            h.labels(**lv)

    # ------------------------------------------------------------ hooks
    def set_gauges(self, running: int, waiting: int, kv_usage: float) -> None:
        lv = self._lv
        self.running.labels(**lv).set(running)
        self.waiting.labels(**lv).set(waiting)
        self.waiting_by_reason.labels(**lv, reason="capacity").set(waiting)
        self.kv_usage.labels(**lv).set(kv_usage)

    def on_generation_tokens(self, n: int) -> None:
        if n > 0:
            self.generation_tokens.labels(**self._lv).inc(n)

    def on_preemption(self) -> None:
        self.preemptions.labels(**self._lv).inc()

    def on_prefix_cache(self, queried_tokens: int, hit_tokens: int) -> None:
        """Prefix-cache lookups since the last call (counted by the engine at each admission)."""
        lv = self._lv
        if queried_tokens > 0:
            self.prefix_queries.labels(**lv).inc(queried_tokens)
        if hit_tokens > 0:
            self.prefix_hits.labels(**lv).inc(hit_tokens)

    def on_first_token(self, prompt_tokens: int, cached_tokens: int, ttft_s: float) -> None:
        """A request's prefill is done: ``cached_tokens`` of its prompt came from the prefix cache."""
        lv = self._lv
        self.prompt_tokens.labels(**lv).inc(prompt_tokens)
        self.prompt_by_source.labels(**lv, source="local_compute").inc(prompt_tokens - cached_tokens)
        if cached_tokens > 0:
            self.prompt_by_source.labels(**lv, source="local_cache_hit").inc(cached_tokens)
            self.prompt_cached.labels(**lv).inc(cached_tokens)
            self.cached_by_source.labels(**lv, source="device").inc(cached_tokens)
        self.h_ttft.labels(**lv).observe(ttft_s)

    def on_finished(
        self,
        reason: str,
        *,
        prompt_tokens: int,
        generation_tokens: int,
        max_tokens: int,
        preemptions: int,
        cached_tokens: int = 0,
        e2e_s: float,
        queue_s: float,
        prefill_s: float,
        decode_s: float,
        inference_s: float,
    ) -> None:
        """A request left the engine (stop, length or abort): the per-request histograms.

        Inter-token latency is observed ``generation_tokens - 1`` times at the request's
        mean (the engine tracks segments, not single tokens)."""
        lv = self._lv
        self.success.labels(**lv, finished_reason=reason).inc()
        self.h_prompt.labels(**lv).observe(prompt_tokens)
        self.h_generation.labels(**lv).observe(generation_tokens)
        self.h_max_gen.labels(**lv).observe(max_tokens)
        self.h_n.labels(**lv).observe(1)
        self.h_max_tokens.labels(**lv).observe(max_tokens)
        self.h_e2e.labels(**lv).observe(e2e_s)
        self.h_queue.labels(**lv).observe(queue_s)
        self.h_prefill.labels(**lv).observe(prefill_s)
        self.h_decode.labels(**lv).observe(decode_s)
        self.h_inference.labels(**lv).observe(inference_s)
        self.h_preemptions.labels(**lv).observe(preemptions)
        self.h_prefill_kv.labels(**lv).observe(prompt_tokens - cached_tokens)
        gaps = generation_tokens - 1
        tpot = decode_s / gaps if gaps > 0 else 0.0
        self.h_tpot.labels(**lv).observe(tpot)
        itl = self.h_itl.labels(**lv)
        for _ in range(max(0, gaps)):
            itl.observe(tpot)

    def on_abort(self) -> None:
        """The client went away: counted, but no latency is observed for it."""
        self.success.labels(**self._lv, finished_reason="abort").inc()

    def on_error(self) -> None:
        """An engine-side failure: vLLM counts it as finished_reason="error"."""
        self.success.labels(**self._lv, finished_reason="error").inc()

    def on_http(self, handler: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.labels(handler=handler, method=method, status=f"{status // 100}xx").inc()
        self.http_duration.labels(handler=handler, method=method).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
