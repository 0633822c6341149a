"""Fixtures for the Kubernetes actuation tests: the API server stand-in and a client for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from controlplane.actuate.kubeclient import make_api_client
from controlplane.clock import FakeClock
from tests.actuate.cases import T0
from tests.harness.kube_standin import KubeStandIn


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def kube(clock: FakeClock) -> Iterator[KubeStandIn]:
    with KubeStandIn(clock=clock) as server:
        yield server


@pytest.fixture
def api(kube: KubeStandIn) -> Iterator[client.ApiClient]:
    c = make_api_client(kube.url, user_agent="llm-controlplane-test/1")
    yield c
    c.close()
