"""The Prometheus source: every signal of a serving deployment from the HTTP API.

Owns: running the catalog's PromQL (:mod:`controlplane.promql`) through
``prometheus_api_client.PrometheusConnect`` at the tick's evaluation time, and
turning every odd answer into an explicit ``Reading.missing(reason)``:

- empty result (no series), several series where one is expected,
- NaN (0/0, or a quantile over an empty window) and +Inf/-Inf,
- stale data: the newest sample behind the signal (``timestamp()``) is older
  than the policy's ``max_signal_age_s``,
- a non-2xx status or an error document, a malformed answer,
- a timeout or a refused connection. A transport failure ends the tick's
  collection at once: the remaining signals get the same reason instead of
  each waiting for its own timeout.

Must not import: the decision core's internals; it returns plain :class:`Signals`.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import Any

from controlplane import promql
from controlplane.catalog import Selector
from controlplane.policy.model import ScalingPolicy
from controlplane.signals import SIZE_HISTOGRAMS, Reading, Signals
from controlplane.traces.recorded import RecordedDemand

__all__ = ["PrometheusSource", "QueryError", "Unreachable", "Health"]


class QueryError(Exception):
    """Prometheus answered, but not with a usable result (status, error document, bad JSON)."""


class Unreachable(QueryError):
    """No answer at all: connection refused, DNS, TLS, or timeout."""


@dataclass(frozen=True, slots=True)
class Health:
    """Reachability for a readiness probe: ``ok`` and a one-line ``detail``."""

    ok: bool
    detail: str


class PrometheusSource:
    """Reads :class:`Signals` for a policy's target from one Prometheus.

    ``window_s`` is the rate and quantile window; None uses the policy's
    ``windows.stable_s``. ``timeout_s`` bounds each HTTP request. ``retries``
    re-sends a request after a connection error or a 502/503/504 (0 by default:
    the next tick is the retry, and a slow retry would delay every signal).
    Collection is sequential; one instance may serve several threads.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        window_s: float | None = None,
        retries: int = 0,
        headers: dict[str, str] | None = None,
    ) -> None:
        import requests
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url: expected an http(s) URL, got {url!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s: must be > 0, got {timeout_s}")
        if window_s is not None and not window_s > 0:
            raise ValueError(f"window_s: must be > 0, got {window_s}")
        if retries < 0:
            raise ValueError(f"retries: must be >= 0, got {retries}")
        self.url = url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self.window_s = window_s
        # read=False: a read timeout is raised as such (not retried, not wrapped as a connection error).
        retry = Retry(
            total=retries,
            read=False,
            backoff_factor=0.1,
            status_forcelist=(502, 503, 504),
            raise_on_status=False,
        )
        self._last = threading.local()
        session = requests.Session()
        session.hooks["response"].append(self._remember)
        self._prom = PrometheusConnect(
            url=self.url, headers=headers, retry=retry, session=session, timeout=self.timeout_s
        )

    # -- protocol ------------------------------------------------------------------

    def collect(self, policy: ScalingPolicy, now: float) -> Signals:
        """Every Prometheus-backed signal of ``policy``'s target at ``now``; never raises for no data."""
        sel = Selector.for_target(policy.target)
        window = self.window_s if self.window_s is not None else policy.windows.stable_s
        queries = promql.signal_queries(sel, window)
        newest: dict[str, Reading] = {}
        readings: dict[str, Reading] = {}
        down: str | None = None
        for name, q in queries.items():
            if down is not None:
                readings[name] = Reading.missing(down)
                continue
            try:
                readings[name] = self._read(q, sel, now, policy.max_signal_age_s, window, newest)
            except Unreachable as exc:
                down = str(exc)
                readings[name] = Reading.missing(down)
        sizes: dict[str, tuple[tuple[float, float], ...]] = {}
        for name, fam in SIZE_HISTOGRAMS.items():
            try:
                sizes[name] = () if down else _buckets_from(self._query(promql.size_buckets(fam, sel, window), now))
            except Unreachable as exc:
                down, sizes[name] = str(exc), ()
            except QueryError:
                sizes[name] = ()  # sizing then replays the mean size; the scalar readings stand
        return Signals(target=policy.target_key, collected_at=now, prompt_size_buckets=sizes["prompt_size_buckets"],
                       output_size_buckets=sizes["output_size_buckets"]).with_readings(**readings)

    def check(self) -> Health:
        """Can we query? Runs ``vector(1)`` (a real API round trip, no data needed)."""
        try:
            result = self._query("vector(1)", None)
        except QueryError as exc:
            return Health(False, str(exc))
        if _one_value(result) != 1.0:
            return Health(False, f"prometheus at {self.url}: unexpected answer to vector(1): {result!r}")
        return Health(True, f"prometheus at {self.url} answers queries")

    def query_value(self, expr: str, now: float | None = None) -> Reading:
        """One instant query expected to give one series, as a :class:`Reading`; for tools and tests."""
        try:
            return _reading_from(self._query(expr, now), at=now, window_s=None)
        except QueryError as exc:
            return Reading.missing(str(exc))

    # -- internals -----------------------------------------------------------------

    def _read(
        self,
        q: promql.SignalQuery,
        sel: Selector,
        now: float,
        max_age_s: float,
        window_s: float,
        newest: dict[str, Reading],
    ) -> Reading:
        fam = q.freshness_family
        if fam not in newest:
            newest[fam] = self._newest(fam, sel, now)
        fresh = newest[fam]
        if not fresh.ok:
            return fresh
        assert fresh.value is not None
        age = now - fresh.value
        if age > max_age_s:
            return Reading.missing(
                f"stale: newest sample {age:.0f} s old (max {max_age_s:g} s)", at=fresh.value
            )
        try:
            result = self._query(q.expr, now)
        except Unreachable:
            raise
        except QueryError as exc:
            return Reading.missing(str(exc), at=fresh.value)
        return _reading_from(result, at=fresh.value, window_s=window_s)

    def _newest(self, family: str, sel: Selector, now: float) -> Reading:
        """Unix time of the newest sample of ``family`` as a reading (missing when no series)."""
        try:
            result = self._query(promql.newest_sample(family, sel), now)
        except Unreachable:
            raise
        except QueryError as exc:
            return Reading.missing(str(exc))
        if not result:
            return Reading.missing(f"no series: {family} has no recent sample for this target")
        return _reading_from(result, at=None, window_s=None)

    def _remember(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        # The client raises KeyError on a 200 error document; keep the body to say why.
        self._last.response = response
        return response

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[tuple[float, float]]:
        """A range query expected to give at most one series: its finite (time, value) points.

        Steps with no sample, or a NaN or infinite one, are left out (the caller
        sees the gap); several series are an error, as for an instant query."""
        from datetime import UTC, datetime

        result = self._guarded(
            lambda: self._prom.custom_query_range(
                expr,
                start_time=datetime.fromtimestamp(start, UTC),
                end_time=datetime.fromtimestamp(end, UTC),
                step=f"{step_s:g}",
                timeout=self.timeout_s,
            )
        )
        if not isinstance(result, list):
            raise QueryError(f"prometheus at {self.url}: malformed range answer")
        if len(result) > 1:
            raise QueryError(f"{expr}: {len(result)} series where one was expected ({_labels(result[0])}, ...)")
        points: list[tuple[float, float]] = []
        for t, v in result[0].get("values", []) if result else []:
            value = float(v)
            if math.isfinite(value):
                points.append((float(t), value))
        return points

    def recorded_demand(
        self, target: Any, start: float, end: float, step_s: int, window_s: float
    ) -> RecordedDemand:
        """What ``target`` served over ``[start, end]``: request and token rates every ``step_s``
        (whole seconds, as the range API rounds the ends), each a ``rate()`` over ``window_s``."""
        sel = Selector.for_target(target)
        start, end = float(round(start)), float(round(end))

        def series(expr: str) -> dict[float, float]:
            return {round(t, 3): v for t, v in self.query_range(expr, start, end, step_s)}

        return RecordedDemand(
            start=start,
            end=end,
            step_s=float(step_s),
            request_rate=series(promql.request_rate(sel, window_s)),
            prompt_tokens_rate=series(promql.prompt_tokens_rate(sel, window_s)),
            output_tokens_rate=series(promql.generation_tokens_rate(sel, window_s)),
        )

    def _query(self, expr: str, now: float | None) -> Any:
        params = {"time": f"{now:.3f}"} if now is not None else None
        return self._guarded(lambda: self._prom.custom_query(expr, params=params, timeout=self.timeout_s))

    def _guarded(self, call: Any) -> Any:
        """Run one API call, turning every failure into :class:`Unreachable` or :class:`QueryError`."""
        import requests
        from prometheus_api_client.exceptions import PrometheusApiClientException

        self._last.response = None
        try:
            return call()
        except requests.exceptions.InvalidJSONError as exc:
            raise QueryError(self._describe_error("malformed answer (not JSON)")) from exc
        except requests.exceptions.Timeout as exc:
            raise Unreachable(f"prometheus at {self.url}: timeout after {self.timeout_s:g} s") from exc
        except requests.exceptions.ConnectionError as exc:
            raise Unreachable(f"prometheus at {self.url} unreachable: {_short(exc)}") from exc
        except requests.exceptions.RequestException as exc:
            raise Unreachable(f"prometheus at {self.url}: {_short(exc)}") from exc
        except PrometheusApiClientException as exc:
            raise QueryError(self._describe_error(str(exc))) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise QueryError(self._describe_error(f"malformed answer ({type(exc).__name__})")) from exc

    def _describe_error(self, fallback: str) -> str:
        response = getattr(self._last, "response", None)
        if response is None:
            return f"prometheus at {self.url}: {fallback}"
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "error":
            kind = body.get("errorType", "error")
            return f"prometheus error (HTTP {status}, {kind}): {str(body.get('error', ''))[:200]}"
        if not 200 <= status < 300:
            text = response.text.strip().replace("\n", " ")[:200]
            return f"prometheus answered HTTP {status}: {text or '(empty body)'}"
        return f"prometheus at {self.url}: {fallback}"


def _short(exc: BaseException) -> str:
    text = str(exc)
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused"
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return m.group(1).strip() if m else text[:200]


def _one_value(result: Any) -> float | None:
    if isinstance(result, list) and len(result) == 1 and isinstance(result[0], dict):
        try:
            return float(result[0]["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return None


def _buckets_from(result: Any) -> tuple[tuple[float, float], ...]:
    """A ``sum by (le)`` answer as (bound, value) pairs in bound order; empty unless every sample
    parses, the values are finite and +Inf is among the bounds (a partial histogram is no mix)."""
    if not isinstance(result, list):
        return ()
    pairs: list[tuple[float, float]] = []
    for sample in result:
        try:
            le = float(sample["metric"]["le"])
            value = float(sample["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            return ()
        if math.isnan(le) or not math.isfinite(value):
            return ()
        pairs.append((le, value))
    pairs.sort()
    if not pairs or not math.isinf(pairs[-1][0]):
        return ()
    return tuple(pairs)


def _labels(series: Any) -> str:
    metric = series.get("metric", {}) if isinstance(series, dict) else {}
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"


def _reading_from(result: Any, *, at: float | None, window_s: float | None) -> Reading:
    """One vector (or scalar) answer as a reading: exactly one finite value, or why not."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        samples: list[Any] = [{"metric": {}, "value": result}]  # a scalar answer: [time, "value"]
    elif isinstance(result, list):
        samples = result
    else:
        return Reading.missing(f"unexpected result type {type(result).__name__}", at=at)
    if not samples:
        return Reading.missing("no data: the query returned no series", at=at)
    if len(samples) > 1:
        shown = ", ".join(_labels(s) for s in samples[:3])
        return Reading.missing(f"several series ({len(samples)}) where one was expected: {shown}", at=at)
    try:
        raw = samples[0]["value"][1]
        value = float(raw)
    except (KeyError, IndexError, TypeError, ValueError):
        return Reading.missing(f"malformed sample {samples[0]!r}", at=at)
    if math.isnan(value):
        within = f" in the {promql.duration(window_s)} window" if window_s else ""
        return Reading.missing(f"NaN: no observations{within} (0/0 or an empty histogram)", at=at)
    if math.isinf(value):
        return Reading.missing(f"value is {'+' if value > 0 else '-'}Inf", at=at)
    return Reading.of(value, at=at)
