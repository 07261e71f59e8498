"""Client input of a completion request: strict JSON, bounded numbers, the prompt the model sees and the text
the prompt check reads.

Every mistake is a ``ClientError`` (a 400-class answer with an OpenAI-style error body, the connection
kept alive), never a 500: non-finite numbers (``NaN``, ``Infinity``, ``1e999``), integers too long to
convert, lone surrogates (which cannot be encoded as UTF-8 further down), out-of-range sampling
parameters and message roles the policy does not know.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from server.backends import GenRequest
from server.config import ServeConfig

__all__ = ["ROLES", "ClientError", "ParsedRequest", "chat_transcript", "parse_json_body", "parse_request"]

ROLES = ("system", "developer", "user", "assistant")  # the roles the prompt format knows
_MAX_INT_DIGITS = 32  # no OpenAI field needs more; Python refuses > 4300 digits with a ValueError
_SEED_RANGE = (-(2**63), 2**63 - 1)


class ClientError(Exception):
    """A request the client must fix: the status and message are sent as they are."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


@dataclass
class ParsedRequest:
    """A validated request: what to generate, the text the prompt check must see, how to answer."""

    gen: GenRequest
    check_text: str
    stream: bool
    include_usage: bool


def _reject_constant(name: str) -> Any:
    raise ClientError(400, f"{name} is not a JSON number; send a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ClientError(400, f"number {text[:40]} is out of range; send a finite number")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ClientError(400, f"an integer has more than {_MAX_INT_DIGITS} digits; send a smaller number")
    return int(text)


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object whose numbers are finite and whose strings are valid Unicode."""
    try:
        body = json.loads(
            raw, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int
        )
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ClientError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ClientError(400, "request body must be a JSON object")
    _reject_lone_surrogates(body)
    return body


def _reject_lone_surrogates(body: dict[str, Any]) -> None:
    """Walk every string (keys too) of the already size-bounded body; iterative, so depth is no issue."""
    stack: list[Any] = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ClientError(
                    400, "a string contains a lone surrogate (\\ud800-\\udfff); send valid UTF-16 pairs"
                ) from None


def _number(body: dict[str, Any], name: str, lo: float, hi: float) -> float | None:
    """The field as a float in [lo, hi], or None when it is absent or null."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ClientError(400, f"'{name}' must be a number in [{lo:g}, {hi:g}]")
    return float(value)


def _integer(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ClientError(400, f"'{name}' must be an integer in [{lo}, {hi}]")
    return value


def chat_transcript(messages: list[dict[str, str]]) -> str:
    """The prompt the checkpoint backend decodes from: every message as `role: content` on its own line,
    then `assistant:`."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"


def _chat_prompt(body: dict[str, Any]) -> tuple[str, str, list[dict[str, str]]]:
    """(the prompt the checkpoint backend decodes from, the text the prompt check judges, the messages
    sent upstream: role and content only).

    The check judges every message's content, each on its own line, without the role labels: the labels
    are the server's own words, and read as text they count as words for the harm classifier, which
    abstains on one or two words, so everyday two-word prompts were refused (BENCHMARKS.md, thirteenth
    session). Every character a client sent is still checked."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ClientError(400, "'messages' must be a non-empty list")
    clean = []
    for m in messages:
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("content"), str)
            or not isinstance(m.get("role"), str)
        ):
            raise ClientError(400, "each message needs string 'role' and 'content'")
        if m["role"] not in ROLES:
            raise ClientError(400, f"message role {m['role'][:40]!r} is not one of {', '.join(ROLES)}")
        clean.append({"role": m["role"], "content": m["content"]})
    return chat_transcript(clean), "\n".join(m["content"] for m in clean), clean


def _completion_prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ClientError(400, "'prompt' must be a string")
    return prompt


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
        raise ClientError(400, "'stream_options' must be an object with a boolean 'include_usage'")
    return bool(options.get("include_usage", False))


def parse_request(cfg: ServeConfig, body: dict[str, Any], kind: str) -> ParsedRequest:
    """Validate a chat or completion body. The prompt check gets every message's content (a chat) or
    the prompt as sent (a completion); the upstream gets the same roles and contents, nothing else."""
    messages = None
    if kind == "chat":
        prompt, check_text, messages = _chat_prompt(body)
    else:
        prompt = check_text = _completion_prompt(body)
    if len(prompt) > cfg.max_prompt_chars:
        raise ClientError(413, f"prompt longer than {cfg.max_prompt_chars} characters")
    raw_max = body.get("max_tokens", body.get("max_completion_tokens"))
    max_tokens = _integer(
        "max_tokens", cfg.default_max_tokens if raw_max is None else raw_max, 1, cfg.max_tokens_limit
    )
    seed = _integer("seed", body.get("seed", 0), *_SEED_RANGE)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ClientError(400, "'stream' must be true or false")
    temperature = _number(body, "temperature", 0.0, 2.0)
    model = body.get("model") if isinstance(body.get("model"), str) else cfg.model_name
    gen = GenRequest(
        kind=kind,
        prompt=prompt,
        messages=messages,
        max_tokens=max_tokens,
        temperature=1.0 if temperature is None else temperature,
        top_p=_number(body, "top_p", 0.0, 1.0),
        seed=seed,
        model=model,
    )
    return ParsedRequest(gen, check_text, stream, _include_usage(body))
