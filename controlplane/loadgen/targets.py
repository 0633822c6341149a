"""Where the load goes: a fixed list of endpoints, or a Prometheus file_sd targets file.

Owns: parsing endpoints into base URLs, refusing non-loopback hosts unless
allowed, re-reading a file_sd JSON file (the local actuator's routing table) at
most once a second, and the router: least outstanding requests, or prefix
affinity (the target it sent the most of a request's leading prompt blocks to,
among those with at most ``affinity_slack`` more requests in flight than the
least loaded; least-outstanding when none). The router cannot see a server's
cache, so it remembers the blocks it sent each target, the last
``remember_blocks`` of them, as routers in front of vLLM without KV-cache events
do.
Must not import: the decision core; it only moves requests.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["TargetPool", "base_url", "is_loopback", "read_file_sd", "RemoteTargetError", "ROUTERS"]

ROUTERS = ("least_outstanding", "prefix_affinity")


class RemoteTargetError(ValueError):
    """A target outside this machine, without ``allow_remote``."""


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url(endpoint: str) -> str:
    """``host:port`` or a URL (with or without ``/v1``) -> ``http://host:port`` (no trailing path)."""
    text = endpoint.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"url: {endpoint!r} is not an http(s) endpoint")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{path}"


def _check_host(url: str, allow_remote: bool) -> None:
    host = urlsplit(url).hostname or ""
    if not allow_remote and not is_loopback(host):
        raise RemoteTargetError(f"url: {url} is not on this machine; pass --allow-remote to send load there")


def read_file_sd(path: str | Path) -> list[str]:
    """Every ``host:port`` of a Prometheus file_sd JSON file, in file order, without repeats."""
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc, list):
        raise ValueError(f"targets-file: {path} must hold a JSON list of target groups")
    out: list[str] = []
    for group in doc:
        if not isinstance(group, dict) or not isinstance(group.get("targets", []), list):
            raise ValueError(f"targets-file: {path}: each group needs a 'targets' list")
        for t in group.get("targets", []):
            if isinstance(t, str) and t not in out:
                out.append(t)
    return out


class TargetPool:
    """The current targets and their outstanding requests; choose with :meth:`acquire`.

    Either ``endpoints`` (fixed) or ``targets_file`` (re-read when its mtime
    changes, checked at most every ``reread_s`` of the injected ``clock``). A
    file that is missing or half-written keeps the last good set. Remote
    targets in a file are skipped (counted in ``refused``) unless allowed.
    """

    def __init__(
        self,
        endpoints: Sequence[str] = (),
        *,
        targets_file: str | Path | None = None,
        allow_remote: bool = False,
        reread_s: float = 1.0,
        clock: Callable[[], float],
        router: str = "least_outstanding",
        affinity_slack: int = 8,
        remember_blocks: int = 100_000,
    ) -> None:
        if bool(endpoints) == (targets_file is not None):
            raise ValueError("targets: give either endpoints (--url) or a targets file (--targets-file)")
        if router not in ROUTERS:
            raise ValueError(f"router: expected one of {', '.join(ROUTERS)}, got {router!r}")
        if affinity_slack < 0 or remember_blocks < 1:
            raise ValueError("affinity_slack: must be >= 0 (and remember_blocks >= 1)")
        self.router = router
        self.affinity_slack = affinity_slack
        self.remember_blocks = remember_blocks
        self._sent_blocks: dict[str, OrderedDict[Hashable, None]] = {}
        self.allow_remote = allow_remote
        self.targets_file = Path(targets_file) if targets_file is not None else None
        self.reread_s = reread_s
        self._clock = clock
        self._checked_at = -float("inf")
        self._mtime: float | None = None
        self.refused: set[str] = set()
        self.outstanding: dict[str, int] = {}
        self.sent: dict[str, int] = {}
        self._rr = 0
        urls = [base_url(e) for e in endpoints]
        for u in urls:
            _check_host(u, allow_remote)
        self._urls: list[str] = urls
        if self.targets_file is not None:
            self.refresh(force=True)

    @property
    def urls(self) -> list[str]:
        return list(self._urls)

    def refresh(self, force: bool = False) -> None:
        """Re-read the targets file if it changed (at most every ``reread_s``)."""
        if self.targets_file is None:
            return
        now = self._clock()
        if not force and now - self._checked_at < self.reread_s:
            return
        self._checked_at = now
        try:
            mtime = os.stat(self.targets_file).st_mtime
            if not force and mtime == self._mtime:
                return
            found = read_file_sd(self.targets_file)
        except (OSError, ValueError):
            return
        self._mtime = mtime
        urls: list[str] = []
        for t in found:
            try:
                u = base_url(t)
                _check_host(u, self.allow_remote)
            except ValueError:
                self.refused.add(t)
                continue
            urls.append(u)
        self._urls = urls

    def acquire(self, blocks: Sequence[Hashable] = ()) -> str | None:
        """The target for a request whose prompt has leading block ids ``blocks``: fewest
        outstanding requests (ties rotate), or by prefix affinity; None when there is none."""
        self.refresh()
        if not self._urls:
            return None
        n = len(self._urls)
        order = [self._urls[(self._rr + i) % n] for i in range(n)]
        self._rr = (self._rr + 1) % n
        chosen = min(order, key=lambda u: self.outstanding.get(u, 0))
        if self.router == "prefix_affinity" and blocks:
            chosen = self._by_affinity(order, chosen, blocks)
            self._remember(chosen, blocks)
        self.outstanding[chosen] = self.outstanding.get(chosen, 0) + 1
        self.sent[chosen] = self.sent.get(chosen, 0) + 1
        return chosen

    def _by_affinity(self, order: list[str], least: str, blocks: Sequence[Hashable]) -> str:
        bound = self.outstanding.get(least, 0) + self.affinity_slack
        best, best_key = least, (0, 0)
        for url in order:
            load = self.outstanding.get(url, 0)
            sent = self._sent_blocks.get(url)
            if load > bound or not sent:
                continue
            k = 0
            while k < len(blocks) and blocks[k] in sent:
                k += 1
            if k and (k, -load) > best_key:
                best, best_key = url, (k, -load)
        return best

    def _remember(self, url: str, blocks: Sequence[Hashable]) -> None:
        sent = self._sent_blocks.setdefault(url, OrderedDict())
        for b in blocks:
            sent[b] = None
            sent.move_to_end(b)
        while len(sent) > self.remember_blocks:
            sent.popitem(last=False)

    def release(self, url: str) -> None:
        self.outstanding[url] = max(0, self.outstanding.get(url, 0) - 1)
