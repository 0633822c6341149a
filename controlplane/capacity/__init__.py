"""Capacity: what one replica can serve. Pure (no I/O, no clock).

:mod:`controlplane.capacity.profile` holds the per-model/hardware performance
profiles the engine model, the simulator and the capacity-at-SLO model share.
"""
