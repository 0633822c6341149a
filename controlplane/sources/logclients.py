"""Search clients for the log source: one small protocol, an Elasticsearch and an OpenSearch backend.

Owns: :class:`SearchClient` (``search(index, body) -> dict``), the two backends
over the official clients (``elasticsearch`` and ``opensearch-py``, each imported
only when its backend is built), :func:`make_search_client`, and translating
every client failure into :class:`LogUnavailable` (no answer: refused, timeout)
or :class:`LogQueryFailed` (an answer that is an error).
Must not import: the decision core; the query body is built in
:mod:`controlplane.sources.logquery`.

Both backends run with no client-side retries: a failed query makes the log
reading missing for the tick, and the next tick is the retry.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

__all__ = [
    "SearchClient",
    "LogUnavailable",
    "LogQueryFailed",
    "ElasticsearchSearch",
    "OpenSearchSearch",
    "make_search_client",
]


class LogQueryFailed(Exception):
    """The search backend answered with an error (bad query, missing field, 4xx/5xx)."""


class LogUnavailable(LogQueryFailed):
    """No answer at all: connection refused, DNS, TLS, or a timeout."""


class SearchClient(Protocol):
    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        """Run one search; raise LogUnavailable or LogQueryFailed, never a client type."""
        ...

    def close(self) -> None: ...


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "meta", None), "status", None)
    error = getattr(exc, "error", None) or getattr(exc, "message", None) or type(exc).__name__
    info = getattr(exc, "info", None) or getattr(exc, "body", None)
    reason = ""
    if isinstance(info, dict):
        err = info.get("error")
        if isinstance(err, dict):
            reason = str(err.get("reason") or "")
    text = f"HTTP {status}: {error}" if status else str(error)
    return f"{text} ({reason})" if reason else text


class ElasticsearchSearch:
    """The official ``elasticsearch`` client. Its major version must match the server's:
    it asks for ``compatible-with=<major>`` and accepts only answers carrying
    ``X-Elastic-Product: Elasticsearch``."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, headers: dict[str, str] | None = None) -> None:
        from elasticsearch import Elasticsearch

        extra: dict[str, Any] = {"headers": headers} if headers else {}
        self._client = Elasticsearch(url, request_timeout=timeout_s, max_retries=0, retry_on_timeout=False, **extra)

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        from elastic_transport import ConnectionError as TransportConnectionError
        from elastic_transport import ConnectionTimeout
        from elasticsearch import ApiError, UnsupportedProductError

        try:
            return dict(self._client.search(index=index, body=body).body)
        except (ConnectionTimeout, TransportConnectionError) as exc:
            raise LogUnavailable(f"elasticsearch unreachable: {exc}") from exc
        except UnsupportedProductError as exc:
            raise LogQueryFailed(f"elasticsearch: the server is not Elasticsearch ({exc.message})") from exc
        except ApiError as exc:
            raise LogQueryFailed(f"elasticsearch: {_describe(exc)}") from exc

    def close(self) -> None:
        self._client.close()


class OpenSearchSearch:
    """The ``opensearch-py`` client."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, headers: dict[str, str] | None = None) -> None:
        from opensearchpy import OpenSearch

        self._timeout_s = timeout_s
        self._client = OpenSearch(
            hosts=[url], timeout=timeout_s, max_retries=0, retry_on_timeout=False, headers=headers
        )

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        from opensearchpy.exceptions import ConnectionError as OsConnectionError
        from opensearchpy.exceptions import TransportError

        try:
            return dict(self._client.search(index=index, body=body, request_timeout=self._timeout_s))
        except OsConnectionError as exc:  # ConnectionTimeout is a subclass
            raise LogUnavailable(f"opensearch unreachable: {exc.error}") from exc
        except TransportError as exc:
            raise LogQueryFailed(f"opensearch: {_describe(exc)}") from exc

    def close(self) -> None:
        self._client.close()


def make_search_client(
    flavour: Literal["elasticsearch", "opensearch"], url: str, *, timeout_s: float = 5.0
) -> SearchClient:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"elasticsearch.url: expected an http(s) URL, got {url!r}")
    if not timeout_s > 0:
        raise ValueError(f"elasticsearch.timeout_s: must be > 0, got {timeout_s}")
    if flavour == "elasticsearch":
        return ElasticsearchSearch(url, timeout_s=timeout_s)
    if flavour == "opensearch":
        return OpenSearchSearch(url, timeout_s=timeout_s)
    raise ValueError(f"elasticsearch.flavour: must be elasticsearch or opensearch, got {flavour!r}")
