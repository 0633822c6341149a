"""Helpers for the codegen tests that run against live components: rule files with
fast groups, a bounded request burst, free ports."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml

__all__ = ["fast_rule_files", "burst", "free_port"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fast_rule_files(generated: dict[str, str], root: Path) -> list[Path]:
    """The generated rule files with every group evaluated each second."""
    paths = []
    for rel, text in sorted(generated.items()):
        if rel.startswith("alert_rules/") and rel.count("/") == 1 and not rel.endswith("alertmanager.yaml"):
            doc = yaml.safe_load(text)
            for group in doc["groups"]:
                group["interval"] = "1s"
            path = root / Path(rel).name
            path.write_text(yaml.safe_dump(doc))
            paths.append(path)
    return paths


def burst(
    urls: list[str],
    requests: int = 48,
    deadline_s: float = 20.0,
    workers: int = 4,
    model: str = "tiny-llama",
    max_tokens: int | None = None,
) -> int:
    """A bounded burst of completions spread over the replicas; returns how many succeeded.

    At most ``requests`` requests, none started after ``deadline_s``; each is bounded by it too.
    """
    stop_at = time.monotonic() + deadline_s

    def one(i: int) -> bool:
        if time.monotonic() > stop_at:
            return False
        tokens = max_tokens if max_tokens is not None else 8 + i % 16
        body = {"model": model, "prompt": "tell me about autoscaling " * (1 + i % 4), "max_tokens": tokens}
        r = httpx.post(f"{urls[i % len(urls)]}/v1/completions", json=body, timeout=deadline_s)
        return r.status_code == 200

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(one, range(requests)))
