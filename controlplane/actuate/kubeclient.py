"""Kubernetes client set-up and the translation of its failures into plain data.

Owns: :func:`make_api_client` (explicit host, in-cluster service account, or
kubeconfig) and :func:`classify`, which turns an ``ApiException`` or a transport
error into an :class:`ApiFailure` that says whether to retry.
Must not import: the pure core's internals; nothing here decides anything.

urllib3's own retries are switched off on every client made here: the actuator
retries by itself, after re-reading, so a write is never repeated behind its back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import urllib3
from kubernetes import client, config

__all__ = ["ApiFailure", "classify", "make_api_client"]

_TRANSIENT = {429, 500, 502, 503, 504}


def make_api_client(
    host: str | None = None,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    in_cluster: bool | None = None,
    user_agent: str | None = None,
) -> client.ApiClient:
    """A client for, in this order: ``host`` (plain HTTP, e.g. ``kubectl proxy``
    or a test server), the in-cluster service account (``in_cluster`` True, or None
    with KUBERNETES_SERVICE_HOST set), else ``kubeconfig`` (None: $KUBECONFIG or
    ~/.kube/config) with its ``context``."""
    cfg = client.Configuration()
    if host:
        cfg.host = host
    elif in_cluster or (in_cluster is None and os.environ.get("KUBERNETES_SERVICE_HOST")):
        config.load_incluster_config(client_configuration=cfg)
    else:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
    cfg.retries = False
    api = client.ApiClient(cfg)
    if user_agent:
        api.user_agent = user_agent
    return api


@dataclass(frozen=True, slots=True)
class ApiFailure:
    """One failed call. ``kind``: conflict (re-read, retry), transient (back off,
    retry) or fatal (report, never retry). ``code`` 0 means no answer arrived, so
    a write may or may not have been applied."""

    kind: str
    reason: str
    code: int
    message: str

    def __str__(self) -> str:
        where = f" ({self.code})" if self.code else ""
        return f"{self.reason}{where}: {self.message}"


def classify(exc: BaseException) -> ApiFailure:
    """Translate what the client raised; anything unknown is re-raised."""
    if isinstance(exc, client.ApiException):
        code = int(exc.status or 0)
        reason, message = str(exc.reason or ""), ""
        try:
            body = json.loads(exc.body or "")
            reason = str(body.get("reason") or reason)
            message = str(body.get("message") or "")
        except (ValueError, AttributeError):
            message = str(exc.body or "")[:200]
        if code == 409 and reason != "AlreadyExists":
            return ApiFailure("conflict", reason or "Conflict", code, message)
        if code in _TRANSIENT:
            return ApiFailure("transient", reason or "ServerError", code, message)
        return ApiFailure("fatal", reason or f"HTTP{code}", code, message)
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        # urllib3 files a refused connection under ConnectTimeoutError; nothing was sent
        return ApiFailure("transient", "ConnectionError", 0, str(exc)[:200])
    if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return ApiFailure("transient", "Timeout", 0, str(exc)[:200])
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        return ApiFailure("transient", "ConnectionError", 0, str(exc)[:200])
    raise exc
