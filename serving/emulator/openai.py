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

Output text is made of placeholder words, one word (with a leading space) per token.
"""

from __future__ import annotations

import json
import math
import time
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


def _int_field(body: dict, name: str, minimum: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(f"{name}: must be an integer >= {minimum}, got {value!r}", name)
    return value


def parse_request(raw: bytes, chat: bool, model_name: str, max_model_len: int) -> ParsedRequest:
    """Validate a completions/chat body; ApiError(400/404) naming the field otherwise."""
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
