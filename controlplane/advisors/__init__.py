"""Advisors: the stages beside the decider that add floors and context to a tick.

``history``, ``startup``, ``planner`` and ``prewarm`` are pure (no I/O, no
clock; the simulator reuses them); ``forecast`` and ``schedule`` wire them
into the live loop (metrics, saved state, APScheduler jobs).
This package file imports nothing so the pure modules stay importable alone.
"""
