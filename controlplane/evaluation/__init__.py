"""Offline evaluation of detectors against labelled benchmarks.

Owns: scoring maths only (see :mod:`controlplane.evaluation.nab`). Must not
read files or import any I/O library: callers parse the benchmark's files and
hand in plain values.
"""
