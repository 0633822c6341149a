"""OpenAI-compatible request parsing and response bodies, shaped like vLLM's.

Owns how a request becomes (prompt tokens, max_tokens, stream, ignore_eos) and
how output tokens become ``text_completion`` / ``chat.completion`` bodies and
SSE chunks. No engine, no HTTP server here.

Prompt size, in order of precedence:

1. ``"prompt_tokens": N`` in the request body (an emulator extension, so a load
   generator can replay a trace's exact sizes; vLLM ignores unknown fields);
2. the length of a token-id list (``"prompt": [1, 2, 3]``, as the OpenAI
   completions API allows);
3. otherwise ``ceil(characters / 4)`` of the text (about 4 characters per token
   for English with Llama-3's tokenizer); chat adds 4 tokens per message for the
   role markers and 3 for the assistant header of the chat template.

Prompt blocks, for the prefix cache (ids of the prompt's consecutive KV blocks,
each standing for its block and everything before it, as vLLM's chained block
hashes do), in order of precedence:

1. ``"prompt_block_ids": [id, ...]`` (an emulator extension; ids are integers
   or strings), each id covering ``"prompt_block_tokens"`` tokens (default: the
   profile's ``block_size``; it must be a multiple of it, and each id then
   stands for that many engine blocks). A load generator replays a trace's
   ``hash_ids`` so (Mooncake: ``prompt_block_tokens`` 512);
2. a token-id list, cut into ``block_size``-token blocks;
3. the text (a completion's prompt, or the chat messages' roles and contents),
   cut into blocks of ``4 x block_size`` characters (the same 4 characters per
   token as above).

Cases 2 and 3 hash each block with the one before it (BLAKE2b, 8 bytes), so
equal leading blocks give equal ids and nothing after a difference matches.

Output text is made of placeholder words, one word (with a leading space) per token.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from serving.emulator.runtime import ApiError

__all__ = ["ParsedRequest", "parse_request", "token_text", "completion_body", "chunk_body", "usage"]

_WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do")


@dataclass(frozen=True)
class ParsedRequest:
    chat: bool
    prompt_tokens: int
    max_tokens: int
    stream: bool
    include_usage: bool
    ignore_eos: bool
    blocks: tuple[Hashable, ...] = ()  # prompt block ids in the profile's block size


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "BadRequestError", message, param)


def _text_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _chat_tokens(messages: Any) -> int:
    if not isinstance(messages, list) or not messages:
        raise _bad("messages: must be a non-empty list", "messages")
    total = 3
    for m in messages:
        if not isinstance(m, dict) or "role" not in m:
            raise _bad("messages: each message must be an object with a role", "messages")
        content = m.get("content") or ""
        if isinstance(content, list):  # content parts: count the text ones
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        total += 4 + (math.ceil(len(str(content)) / 4))
    return total


def _completion_tokens(prompt: Any) -> int:
    if isinstance(prompt, str):
        return _text_tokens(prompt)
    if isinstance(prompt, list) and prompt:
        if all(isinstance(t, int) for t in prompt):
            return len(prompt)
        if len(prompt) == 1 and isinstance(prompt[0], str):
            return _text_tokens(prompt[0])
        if len(prompt) == 1 and isinstance(prompt[0], list) and all(isinstance(t, int) for t in prompt[0]):
            return len(prompt[0])
        raise _bad("prompt: batched prompts are not supported by the emulator; send one", "prompt")
    raise _bad("prompt: must be a string or a list of token ids", "prompt")


def _chained(chunks: Sequence[bytes]) -> tuple[int, ...]:
    out: list[int] = []
    parent = b""
    for chunk in chunks:
        parent = hashlib.blake2b(parent + chunk, digest_size=8).digest()
        out.append(int.from_bytes(parent, "big"))
    return tuple(out)


def _prompt_text(body: dict, chat: bool) -> str | list[int] | None:
    """The prompt as text, or as token ids when given so; None when there is nothing to hash."""
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list):
            return None
        parts = []
        for m in messages:
            if isinstance(m, dict):
                content = m.get("content") or ""
                if isinstance(content, list):
                    content = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
                parts.append(f"<{m.get('role')}>{content}")
        return "".join(parts)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if isinstance(prompt, str) or (isinstance(prompt, list) and all(isinstance(t, int) for t in prompt)):
        return prompt
    return None


def _blocks(body: dict, chat: bool, block_size: int) -> tuple[Hashable, ...]:
    ids = body.get("prompt_block_ids")
    if ids is not None:
        if not isinstance(ids, list) or not all(
            isinstance(b, str) or (isinstance(b, int) and not isinstance(b, bool)) for b in ids
        ):
            raise _bad("prompt_block_ids: must be a list of integers or strings", "prompt_block_ids")
        per = _int_field(body, "prompt_block_tokens", 1) or block_size
        if per % block_size:
            raise _bad(f"prompt_block_tokens: must be a multiple of the block size {block_size}, got {per}",
                       "prompt_block_tokens")
        k = per // block_size
        return tuple(ids) if k == 1 else tuple((b, j) for b in ids for j in range(k))
    prompt = _prompt_text(body, chat)
    if isinstance(prompt, str):
        data, width = prompt.encode(), 4 * block_size
        return _chained([data[i:i + width] for i in range(0, len(data) - width + 1, width)])
    if isinstance(prompt, list):
        return _chained([
            json.dumps(prompt[i:i + block_size]).encode() for i in range(0, len(prompt) - block_size + 1, block_size)
        ])
    return ()


def _int_field(body: dict, name: str, minimum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(f"{name}: must be an integer >= {minimum}, got {value!r}", name)
    return value


def parse_request(raw: bytes, chat: bool, model_name: str, max_model_len: int, block_size: int = 16) -> ParsedRequest:
    """Validate a completions/chat body; ApiError(400/404) naming the field otherwise.
    ``block_size``: tokens per KV block, the unit of the returned prompt block ids."""
    try:
        body = json.loads(raw or b"{}")
    except json.JSONDecodeError as exc:
        raise _bad(f"body: invalid JSON ({exc.msg})") from None
    if not isinstance(body, dict):
        raise _bad("body: must be a JSON object")
    model = body.get("model")
    if model is not None and model != model_name:
        raise ApiError(404, "NotFoundError", f"The model `{model}` does not exist.", "model")
    if (_int_field(body, "n", 1) or 1) != 1:
        raise _bad("n: only n=1 is supported by the emulator", "n")
    hint = _int_field(body, "prompt_tokens", 1)
    if hint is not None:
        prompt_tokens = hint
    elif chat:
        prompt_tokens = _chat_tokens(body.get("messages"))
    else:
        prompt_tokens = _completion_tokens(body.get("prompt"))
    max_tokens = _int_field(body, "max_completion_tokens" if chat else "max_tokens", 1)
    if max_tokens is None and chat:
        max_tokens = _int_field(body, "max_tokens", 1)
    if max_tokens is None:
        # vLLM: 16 for completions; for chat, whatever the context leaves
        max_tokens = 16 if not chat else max(1, max_model_len - prompt_tokens)
    if prompt_tokens + max_tokens > max_model_len:
        kind = "messages" if chat else "prompt"
        raise _bad(
            f"This model's maximum context length is {max_model_len} tokens. However, you requested "
            f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the {kind}, {max_tokens} in the "
            "completion). Please reduce the length of the messages or completion.",
            "max_tokens",
        )
    options = body.get("stream_options") or {}
    return ParsedRequest(
        chat=chat,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        stream=bool(body.get("stream", False)),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        ignore_eos=bool(body.get("ignore_eos", False)),
        blocks=_blocks(body, chat, block_size),
    )


def token_text(start: int, end: int) -> str:
    return "".join(" " + _WORDS[i % len(_WORDS)] for i in range(start, end))


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }


def completion_body(
    req: ParsedRequest, request_id: str, model: str, text: str, finish_reason: str, completion_tokens: int
) -> dict[str, Any]:
    if req.chat:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text, "tool_calls": []},
            "logprobs": None,
            "finish_reason": finish_reason,
            "stop_reason": None,
        }
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason, "stop_reason": None}
    return {
        "id": request_id,
        "object": "chat.completion" if req.chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": usage(req.prompt_tokens, completion_tokens),
    }


def chunk_body(
    req: ParsedRequest,
    request_id: str,
    model: str,
    text: str | None,
    finish_reason: str | None = None,
    *,
    role: bool = False,
    usage_of: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """One SSE chunk; ``usage_of=(prompt, completion)`` makes the usage-only last chunk."""
    created = int(time.time())
    kind = "chat.completion.chunk" if req.chat else "text_completion"
    if usage_of is not None:
        return {"id": request_id, "object": kind, "created": created, "model": model, "choices": [],
                "usage": usage(*usage_of)}
    if req.chat:
        delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {"content": text or ""}
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    else:
        choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason,
                  "stop_reason": None}
    return {"id": request_id, "object": kind, "created": created, "model": model, "choices": [choice]}
