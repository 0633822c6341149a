"""An HTTP server that behaves like one vLLM 0.32 OpenAI-compatible replica.

Driven in real time by :class:`controlplane.capacity.engine.ReplicaEngine` with a
:class:`~controlplane.capacity.profile.PerformanceProfile`; exposes the same
``vllm:*`` metric families as vLLM 0.32, injects faults, drains on SIGTERM and
writes structured JSON logs. Start one with ``controlplane emulator --port N``.

``--time-scale S`` runs the emulated engine S times faster than the wall clock
(start-up included) while every latency in ``/metrics`` and the logs stays in
emulated seconds, so a profile's figures read the same at any scale.

Counters: ``vllm:request_success_total`` counts ``length`` and ``stop`` (with
``--eos-mean-tokens``) finishes, ``abort`` when a streaming client goes away or
a drain's grace runs out (vLLM defines the label; vllm-project/vllm issue
#31503 reports 0.13 leaving it at 0), and ``error`` for injected engine
failures, which vLLM 0.32 reports as ``finished_reason="error"``; latency
histograms only observe ``length``/``stop`` finishes. Inter-token latency is
observed per token at the request's mean gap; ``iteration_tokens_total`` is
exposed but not observed (the engine runs whole segments of steps).

Modules: ``config`` (settings, faults), ``runtime`` (clock, engine driver,
faults, drain), ``openai`` (request/response shapes), ``metrics`` (vllm:*
families), ``logs`` (JSON lines), ``app`` (routes), ``server`` (process).
"""
