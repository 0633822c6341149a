"""Benchmark commands: each module registers one ``controlplane bench KIND`` parser.

A module's ``register`` only builds its parser; heavy imports happen inside its
``func`` so that ``controlplane --help`` stays fast.
"""
