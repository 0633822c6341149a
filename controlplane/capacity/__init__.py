"""Capacity: what one replica can serve. Pure (no I/O, no clock).

:mod:`controlplane.capacity.profile` holds the per-model/hardware performance
profiles; :mod:`controlplane.capacity.engine` models one replica's continuous
batching on a profile; :mod:`controlplane.capacity.model` finds the load a
replica sustains at the SLO with it. The simulator and the emulator build on
these; nothing here imports them.
"""
