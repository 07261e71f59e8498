"""Server configuration: one validated object, built from CLI flags (or a YAML file) and fixed at start."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from filters.policy import default_policy_path
from kit.yaml_file import read_yaml_mapping

__all__ = ["CRISIS_SUPPORT_MESSAGE", "ServeConfig", "ServeConfigError"]

# The default answer to a text blocked while self_harm fired: someone who writes about suicide or self-harm should
# meet support and a way to reach a person, not a bare refusal. The services named are free and confidential; an
# operator serving one country should list its own (`category_messages` in the serve config).
CRISIS_SUPPORT_MESSAGE = (
    "It sounds like you may be going through something really painful, and you don't have to face it alone. "
    "If you are thinking about suicide or about hurting yourself, please talk to someone you trust, or reach a "
    "free, confidential crisis line: in the US call or text 988; in the UK and Ireland call Samaritans on "
    "116 123; findahelpline.com lists services in other countries. If you are in danger right now, call your "
    "local emergency number."
)


class ServeConfigError(ValueError):
    """A serve config that contradicts the policy it serves (e.g. a message for a category it lacks)."""


class ServeConfig(BaseModel):
    """Everything `winnow serve` needs; unknown keys are errors (fail closed on typos)."""

    model_config = ConfigDict(extra="forbid")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    backend: Literal["checkpoint", "upstream"] = "checkpoint"
    checkpoint: str | None = None  # a trainer out dir / checkpoints dir / step dir
    device: str | None = None
    upstream_url: str | None = None  # base URL of an OpenAI-compatible server, e.g. http://host:8001/v1
    upstream_api_key: str | None = None
    upstream_model: str | None = None  # model name sent upstream (default: the client's)
    model_name: str = "winnow"
    policy: str = Field(default_factory=lambda: str(default_policy_path()))  # the shipped policy
    filter_enabled: bool = True  # False serves unfiltered (benchmark baseline only)
    prompt_checks: bool = True  # check the prompt with the runtime policy; blocked -> refusal, no model call
    fail_closed: bool = True  # a detector error blocks the answer (False: answer passes, error is logged)
    strict: bool = True
    max_holdback: int = Field(default=2048, ge=64)
    classify_lines: bool = True
    # A line stops the answer only this many log-odds above its category's threshold (and at 0.9 or more):
    # judged alone, short lines of clean prose and news score high (docs/SERVING.md, "Lines").
    line_margin: float = Field(default=0.0, ge=0.0, le=20.0)
    # Scan the stream at most once per this many new characters (0: every piece); delays release only.
    scan_every: int = Field(default=0, ge=0, le=4096)
    api_keys: list[str] = Field(default_factory=list)  # Bearer keys; empty = no auth
    max_request_bytes: int = Field(default=1_000_000, ge=1024)
    max_prompt_chars: int = Field(default=200_000, ge=1)
    max_tokens_limit: int = Field(default=4096, ge=1)
    default_max_tokens: int = Field(default=256, ge=1)
    request_timeout_s: float = Field(default=120.0, gt=0)  # total deadline of one generation
    upstream_timeout_s: float = Field(default=60.0, gt=0)
    header_timeout_s: float = Field(default=10.0, gt=0)  # first byte of a request -> end of its headers
    body_timeout_s: float = Field(default=30.0, gt=0)  # end of headers -> end of the body
    write_stall_timeout_s: float = Field(default=30.0, gt=0)  # a client that stops reading the answer
    keep_alive_s: float = Field(default=5.0, gt=0)  # idle keep-alive connection is closed after this
    max_connections: int = Field(default=512, ge=1)  # concurrent connections + requests; beyond: 503
    audit_log: str | None = None  # JSONL of every intervention
    audit_key_file: str | None = None  # HMAC key of the audit log (default: <audit_log>.key, created 0600)
    safe_message: str = "I can't help with that."
    refusal_message: str = "I can't help with that request."
    # The answer to a prompt or output blocked while one of these categories fired, in place of refusal_message /
    # safe_message; the first listed category that fired decides. Setting it replaces the default (list self_harm too
    # to keep the support answer).
    category_messages: dict[str, str] = Field(default_factory=lambda: {"self_harm": CRISIS_SUPPORT_MESSAGE})

    @field_validator("safe_message", "refusal_message")
    @classmethod
    def _non_blank(cls, message: str) -> str:
        if not message.strip():
            raise ValueError("is blank; write the answer to give")
        return message

    @field_validator("category_messages")
    @classmethod
    def _non_empty_messages(cls, messages: dict[str, str]) -> dict[str, str]:
        empty = [c for c, m in messages.items() if not m.strip()]
        if empty:
            raise ValueError(
                f"the message for {empty[0]!r} is empty; write the answer to give, or remove the key"
            )
        return messages

    def check_categories(self, categories: list[str]) -> None:
        """Fail on a `category_messages` key the policy does not have: a typo would never answer. (The default
        self_harm message is not checked: a policy without self_harm never fires it.)"""
        unknown = [c for c in self.category_messages if c not in categories]
        if not unknown or "category_messages" not in self.model_fields_set:
            return
        raise ServeConfigError(
            f"category_messages: {unknown[0]!r} is not a category of the policy {self.policy}; "
            f"use one of: {', '.join(categories)}"
        )

    def blocked_message(self, fired: list[str], default: str) -> str:
        """What to answer for a blocked text: the message of the first listed category that fired, else `default`."""
        return next((m for c, m in self.category_messages.items() if c in fired), default)

    @field_validator("upstream_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.lower().startswith(("http://", "https://")):
            raise ValueError(
                f"{url!r} is not an http:// or https:// URL; give one such as http://host:8001/v1"
            )
        return url

    @model_validator(mode="after")
    def _backend_args(self) -> ServeConfig:
        if self.backend == "checkpoint" and not self.checkpoint:
            raise ValueError(
                "backend 'checkpoint' needs 'checkpoint': set it to a `winnow train` output directory "
                "(--checkpoint DIR), or set backend: upstream and upstream_url (--upstream URL)"
            )
        if self.backend == "upstream" and not self.upstream_url:
            raise ValueError("backend 'upstream' needs 'upstream_url': set it (--upstream URL)")
        return self

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: object) -> ServeConfig:
        data = read_yaml_mapping(path, "serve config")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(data)
