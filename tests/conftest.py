"""Shared test fixtures and the opt-in switches for slow and real-vLLM tests.

``@pytest.mark.slow`` runs only with CONTROLPLANE_SLOW=1; ``@pytest.mark.vllm``
only with CONTROLPLANE_VLLM=1; ``@pytest.mark.debian`` only with CONTROLPLANE_DEBIAN=1.
Fixtures that start real components live in ``tests/harness/`` and are imported here so
every test module can use them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

_OPT_IN = {"slow": "CONTROLPLANE_SLOW", "vllm": "CONTROLPLANE_VLLM", "debian": "CONTROLPLANE_DEBIAN"}

# Fixtures that start real components: prometheus, prometheus_factory, emulator, emulator_factory,
# alertmanager (with its webhook receiver, webhook), postgres_server and postgres_url.
pytest_plugins = ["harness.prometheus", "harness.emulator", "harness.alertmanager", "harness.postgres"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker, env in _OPT_IN.items():
            if marker in item.keywords and os.environ.get(env) != "1":
                item.add_marker(pytest.mark.skip(reason=f"opt-in: set {env}=1"))




@pytest.fixture
def shared_data() -> Path:
    """../shared/data, present beside the checkout in CI; tests needing it skip elsewhere."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA
