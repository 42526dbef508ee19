"""The OpenAI API's request bodies and error objects
(https://platform.openai.com/docs/api-reference/chat/create, /completions/create):
what hal accepts, checked with pydantic, and the 4xx/5xx answers for what it does not.

Types are strict (``"max_tokens": "8"`` is a 400, as OpenAI answers it). Parameters
hal cannot honour are accepted only at the value that changes nothing (``n`` 1,
penalties 0, no logprobs, ...) and any other value is a 400 naming the parameter.
Unknown fields are ignored, as OpenAI-compatible servers do. ``top_k`` is an extension
(vLLM's and llama.cpp's name; 0 or -1 keeps every id).
"""
from __future__ import annotations

from typing import Annotated, Literal

import jinja2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..gguf import GGUFError

__all__ = ["APIError", "ChatBody", "CompletionBody", "parse", "render_chat"]


class APIError(Exception):
    """An answer in OpenAI's error format: {"error": {"message", "type", "param", "code"}}."""
    TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
             405: "invalid_request_error", 413: "invalid_request_error", 500: "server_error", 503: "server_error"}

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}


def _only(value, name: str):
    """A validator that accepts ``value`` (or null) only: a parameter hal does not implement."""
    def check(cls, v):
        if v is not None and v != value:
            raise ValueError(f"hal supports only {name}={value!r}")
        return v
    return field_validator(name)(classmethod(check))


class StreamOptions(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    include_usage: bool = False


Stop = Annotated[list[str], Field(max_length=4)] | str | None


class _Sampling(BaseModel):
    """The parameters both endpoints share."""
    model_config = ConfigDict(strict=True, extra="ignore")
    model: str
    max_tokens: Annotated[int, Field(gt=0)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=-1)] | None = None
    seed: int | None = None
    stop: Stop = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict | None = None
    user: str | None = None
    only_n = _only(1, "n")
    only_presence = _only(0, "presence_penalty")
    only_frequency = _only(0, "frequency_penalty")
    only_bias = _only({}, "logit_bias")

    def stops(self) -> tuple:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())


class TextPart(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class ChatBody(_Sampling):
    messages: Annotated[list[Message], Field(min_length=1)]
    max_completion_tokens: Annotated[int, Field(gt=0)] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list | None = None
    response_format: dict | None = None
    only_logprobs = _only(False, "logprobs")
    only_top_logprobs = _only(0, "top_logprobs")
    only_tools = _only([], "tools")

    @field_validator("response_format")
    @classmethod
    def _text_only(cls, v):
        if v is not None and v.get("type") != "text":
            raise ValueError("hal supports only response_format {'type': 'text'}")
        return v

    def token_limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


class CompletionBody(_Sampling):
    prompt: str | Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)] \
        | Annotated[list[str], Field(min_length=1, max_length=1)]
    logprobs: int | None = None
    echo: bool | None = None
    best_of: int | None = None
    suffix: str | None = None
    only_logprobs = _only(0, "logprobs")
    only_echo = _only(False, "echo")
    only_best_of = _only(1, "best_of")
    only_suffix = _only("", "suffix")

    def token_limit(self) -> int:
        return 16 if self.max_tokens is None else self.max_tokens  # OpenAI's default for completions


def parse(body_type, data):
    """``data`` (parsed JSON) as ``body_type``, else a 400 naming the first bad parameter."""
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_type")
    try:
        return body_type.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(part) for part in first["loc"])  # e.g. messages.0.role
        message = first["msg"].removeprefix("Value error, ")
        unsupported = first["type"] == "value_error"
        raise APIError(400, f"{where}: {message}", param=str(first["loc"][0]) if first["loc"] else None,
                       code="unsupported_value" if unsupported else "invalid_value") from None


def render_chat(tokenizer, messages: list[Message]) -> str:
    """The conversation in the model's chat template, ready for the assistant's reply."""
    turns = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in messages]
    try:
        return tokenizer.render_chat(turns)
    except GGUFError:
        raise APIError(400, "this model has no chat template: use /v1/completions", param="messages") from None
    except jinja2.TemplateError as e:  # templates may reject a conversation (e.g. roles out of order)
        raise APIError(400, f"the chat template rejected these messages: {e}", param="messages") from e