"""An HTTP server that behaves like one vLLM 0.32 OpenAI-compatible replica.

Driven in real time by :class:`controlplane.sim.engine.ReplicaEngine` with a
:class:`~controlplane.capacity.profile.PerformanceProfile`; exposes the same
``vllm:*`` metric families as vLLM 0.32, injects faults, drains on SIGTERM and
writes structured JSON logs. Start one with ``controlplane emulator --port N``.

``--time-scale S`` runs the emulated engine S times faster than the wall clock
(start-up included) while every latency in ``/metrics`` and the logs stays in
emulated seconds, so a profile's figures read the same at any scale.

Modules: ``config`` (settings, faults), ``runtime`` (clock, engine driver,
faults, drain), ``openai`` (request/response shapes), ``metrics`` (vllm:*
families), ``logs`` (JSON lines), ``app`` (routes), ``server`` (process).
"""
