"""Synthetic rate series with known structure for the forecaster tests."""

from __future__ import annotations

import numpy as np

STEP = 600.0  # 10-minute slots
M = 144  # slots per day


def periodic(days: int, noise: float = 0.0, seed: int = 0, level: float = 200.0, amp: float = 100.0,
             drift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """level + amp*sin(day phase) (+ noise, + drift per slot); stamps end each 10-min slot."""
    n = days * M
    i = np.arange(n)
    y = level + amp * np.sin(2 * np.pi * i / M) + drift * i
    if noise:
        y = y + np.random.default_rng(seed).normal(0.0, noise, n)
    return (i + 1) * STEP, y
