"""One streaming completion against an OpenAI-compatible server, timed.

Owns: the request body (a token-id prompt of the trace's length, ``max_tokens``
= the trace's output length, ``ignore_eos`` so the length is exact), reading the
server-sent events, and the :class:`RequestRecord` with TTFT and end-to-end
latency. Errors become a record with ``error`` set, never an exception.
Must not import: the decision core or any source/actuator; it only sends requests.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

__all__ = ["RequestRecord", "completion_body", "send_completion"]


@dataclass
class RequestRecord:
    """What happened to one request. Times in seconds; ``scheduled_s`` is relative to the run start."""

    index: int
    target: str | None
    scheduled_s: float
    prompt_tokens: int
    max_tokens: int
    sent_s: float | None = None
    ttft_s: float | None = None
    e2e_s: float | None = None
    output_chunks: int = 0
    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _block_token(block: Hashable, k: int) -> int:
    seed = zlib.crc32(repr(block).encode())
    return 100 + (seed + k * 7919) % 1000


def completion_body(model: str, index: int, prompt_tokens: int, output_tokens: int,
                    blocks: Sequence[Hashable] = (), block_tokens: int = 0) -> dict[str, Any]:
    """A completion request of exactly ``prompt_tokens`` prompt tokens and ``output_tokens`` outputs.

    The prompt is a list of token ids (accepted by vLLM and the emulator alike), so its
    length needs no tokenizer. Ids start at a per-request offset so that requests do
    not share a prefix that a prefix cache would serve for free -- except where the
    trace says they do: with ``blocks`` (the trace's prompt block ids of
    ``block_tokens`` tokens), the tokens of block ``j`` are a function of its id, so
    equal leading ids give equal leading tokens and a real server's prefix cache
    finds the prefix the trace shares.
    """
    start = (index * 7919) % 1000
    prompt = [100 + (start + k) % 1000 for k in range(prompt_tokens)]
    if blocks and block_tokens > 0:
        covered = min(prompt_tokens, len(blocks) * block_tokens)
        prompt[:covered] = [_block_token(blocks[p // block_tokens], p % block_tokens) for p in range(covered)]
    return {
        "model": model,
        "prompt": prompt,
        "max_tokens": output_tokens,
        "min_tokens": output_tokens,
        "ignore_eos": True,
        "temperature": 0.0,
        "stream": True,
    }


async def send_completion(
    client: httpx.AsyncClient,
    base: str,
    body: dict[str, Any],
    record: RequestRecord,
    clock: Callable[[], float] = time.perf_counter,
) -> RequestRecord:
    """POST ``body`` to ``base``/v1/completions and stream the answer into ``record``."""
    t0 = clock()
    try:
        async with client.stream("POST", f"{base}/v1/completions", json=body) as response:
            record.status = response.status_code
            if response.status_code != 200:
                await response.aread()
                record.error = f"http_{response.status_code}"
                return record
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                kind = _classify(data)
                if kind == "error":
                    record.error = "stream_error"
                    break
                if kind == "token":
                    if record.ttft_s is None:
                        record.ttft_s = clock() - t0
                    record.output_chunks += 1
            if record.error is None and record.ttft_s is None:
                record.error = "no_tokens"
    except httpx.TimeoutException:
        record.error = "timeout"
    except httpx.HTTPError as exc:
        record.error = type(exc).__name__
    finally:
        record.e2e_s = clock() - t0
    return record


def _classify(data: str) -> str | None:
    """``token`` for a chunk with choices, ``error`` for an error event, None otherwise (usage, junk)."""
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    if event.get("error") or event.get("object") == "error":
        return "error"
    return "token" if event.get("choices") else None
