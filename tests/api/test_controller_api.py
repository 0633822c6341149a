"""The controller serves the admin API on its own port, and the loop reads the policies it stores."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from controlplane.config import ControllerConfig
from controlplane.controller import build_controller
from controlplane.policy.model import parse_policy
from controlplane.ports import free_port
from controlplane.store.policies import PolicyRepository
from tests.api.conftest import POLICY, STATIC, bearer


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_controller_serves_the_api_and_the_loop_sees_its_changes(
    tmp_path: Path, secrets_dir: Path, store: str, request: pytest.FixtureRequest
) -> None:
    database = str(tmp_path / "cp.db") if store == "sqlite" else request.getfixturevalue("postgres_url")
    port = free_port()
    cfg = ControllerConfig.model_validate(
        {
            "prometheus": {"url": f"http://127.0.0.1:{free_port()}", "timeout_s": 0.5},
            "loop": {"database": database, "metrics_port": 0},
            "api": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": port,
                "tokens_file": str(secrets_dir / "tokens"),
            },
        }
    )
    ctl = build_controller(cfg, policies=[parse_policy(POLICY)])
    try:
        assert isinstance(ctl.loop.policies, PolicyRepository)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API did not come up"
                time.sleep(0.05)
        got = httpx.get(f"{url}/v1/policies/chat", headers=bearer(STATIC["viewer"]), timeout=5).json()
        assert got["version"] == 1 and got["policy"]["max_replicas"] == 8
        r = httpx.put(
            f"{url}/v1/policies/chat",
            json={**POLICY, "max_replicas": 3},
            headers=bearer(STATIC["admin"]),
            timeout=5,
        )
        assert r.status_code == 200
        assert ctl.loop.policies.get_policy("chat").max_replicas == 3  # type: ignore[union-attr]
        # Prometheus is not running: ready says so, the probe still answers
        ready = httpx.get(f"{url}/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["checks"]["prometheus"]["ok"] is False
        # the override advisor is wired into the loop
        assert "OverrideAdvisor" in [type(a).__name__ for a in ctl.loop.advisors]
    finally:
        ctl.stop()
