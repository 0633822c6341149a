"""Trace replay: a fast model of vLLM replicas and the autoscalers driving them. Pure (no I/O, no clock).

:mod:`controlplane.sim.fleet` holds the replicas and the router, each replica an
engine model from :mod:`controlplane.capacity.engine`; :mod:`controlplane.sim.replay`
is the event loop.
"""
