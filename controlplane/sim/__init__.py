"""Trace replay: a fast model of vLLM replicas and the autoscalers driving them. Pure (no I/O, no clock).

:mod:`controlplane.sim.engine` models one replica's continuous batching.
"""
