"""Client construction and the classification of failures the actuator and elector act on."""

from __future__ import annotations

import pytest
import urllib3
from kubernetes import client

from controlplane.actuate.kubeclient import classify, make_api_client


def test_kubeconfig_context_reaches_the_server(kube, tmp_path):
    kube.add_deployment("chat", 3)
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: standin
  cluster: {{server: "{kube.url}"}}
users:
- name: tester
  user: {{token: not-a-secret}}
contexts:
- name: test
  context: {{cluster: standin, user: tester, namespace: default}}
current-context: test
"""
    )
    api = make_api_client(kubeconfig=str(cfg), context="test", in_cluster=False)
    try:
        assert client.AppsV1Api(api).read_namespaced_deployment_scale("chat", "default").spec.replicas == 3
        assert api.configuration.retries is False, "retries are ours, never urllib3's"
    finally:
        api.close()


def _api_exc(status: int, reason: str) -> client.ApiException:
    exc = client.ApiException(status=status, reason=reason)
    exc.body = f'{{"kind": "Status", "reason": "{reason}", "message": "m", "code": {status}}}'
    return exc


@pytest.mark.parametrize(
    "label, exc, kind, reason, code",
    [
        ("stale write", _api_exc(409, "Conflict"), "conflict", "Conflict", 409),
        ("create race", _api_exc(409, "AlreadyExists"), "fatal", "AlreadyExists", 409),
        ("overloaded", _api_exc(503, "ServiceUnavailable"), "transient", "ServiceUnavailable", 503),
        ("throttled", _api_exc(429, "TooManyRequests"), "transient", "TooManyRequests", 429),
        ("rbac", _api_exc(403, "Forbidden"), "fatal", "Forbidden", 403),
        ("invalid", _api_exc(422, "Invalid"), "fatal", "Invalid", 422),
        (
            "read timeout",
            urllib3.exceptions.ReadTimeoutError(None, "/x", "timed out"),
            "transient",
            "Timeout",
            0,
        ),
        (
            "refused",
            urllib3.exceptions.NewConnectionError(None, "refused"),
            "transient",
            "ConnectionError",
            0,
        ),
    ],
)
def test_classify(label, exc, kind, reason, code):
    f = classify(exc)
    assert (f.kind, f.reason, f.code) == (kind, reason, code), label


def test_classify_reraises_what_it_does_not_know():
    with pytest.raises(KeyError):
        classify(KeyError("x"))
