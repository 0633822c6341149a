"""Advisors: the stages beside the decider that add floors, guards and context to a tick.

For predictive and scheduled scaling, ``history``, ``startup``, ``planner``
and ``prewarm`` are pure (no I/O, no clock; the simulator reuses them), and
``forecast``, ``schedule`` and ``wiring`` put them into the live controller
(metrics, saved state, APScheduler jobs). The ``anomaly*`` modules hold the
anomaly advisor. This package file imports nothing, so each module loads alone.
"""
