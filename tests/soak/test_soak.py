"""Soak (opt-in: ``@pytest.mark.slow``, runs only with CONTROLPLANE_SLOW=1): the live loop
on the 14-day ServeGen m-large rate series compressed into CONTROLPLANE_SOAK_MINUTES
(default 30) against emulator replicas and a real Prometheus.

Asserts: controller RSS grows < 10% after warm-up (first 20% of the run), no step
error and nothing logged at ERROR, every tick on time (started less than one interval
late, none missed, each shorter than the interval). Failed requests are reported, not
asserted: a request sent in the ~1 s between a replica's drain and the load generator
re-reading the targets file can be refused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from controlplane.bench.soak import run_soak

MINUTES = float(os.environ.get("CONTROLPLANE_SOAK_MINUTES", "30"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the Debian prometheus binary"),
]


@pytest.mark.timeout(int(MINUTES * 60) + 600)
def test_soak_memory_errors_and_tick_timing(shared_data: Path, tmp_path: Path) -> None:
    figures, result = run_soak(tmp_path / "soak", MINUTES, shared_data / "servegen" / "m-large", echo=lambda _: None)
    assert figures["rss_growth_after_warmup"] < 0.10, figures
    assert result.step_errors == 0
    assert result.logged_errors == [], result.logged_errors[:5]
    assert figures["missed_ticks"] == 0, figures
    assert figures["ticks_late_over_interval"] == 0, figures
    assert figures["ticks_longer_than_interval"] == 0, figures
    assert all(figures["checks"].values()), figures["checks"]
