"""The HTTP side of ``hal serve``: OpenAI's routes (https://platform.openai.com/docs/api-reference)
on Starlette, answering from the engine thread (engine.py) through one asyncio queue
per request.

    POST /v1/chat/completions, POST /v1/completions   streamed (server-sent events) or not
    GET /v1/models, /v1/models/{id}, /health, /metrics (Prometheus), / (a chat page)

Every error is OpenAI's error object with its status (protocol.APIError). With an API
key, every route but /health and the chat page itself (static HTML that asks for the
key) needs ``Authorization: Bearer KEY``.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from importlib import resources

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request as HTTPRequest
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .engine import Engine, EngineStopped, QueueFull, Request, SamplingParams
from .metrics import Metrics
from .protocol import APIError, ChatBody, CompletionBody, parse, render_chat

log = logging.getLogger("hal.serve")

OPEN_PATHS = ("/health", "/")  # no API key needed


@dataclass(frozen=True)
class Options:
    model_id: str
    max_sequences: int = 16
    context: int = 2048
    max_waiting: int = 64
    prefill_chunk: int = 64
    prefill_per_step: int = 256
    kv_blocks: int = 0  # KV blocks in all (0: max_sequences whole contexts)
    api_key: str | None = None
    max_body_bytes: int = 1 << 20
    log_requests: bool = False
    retry_after_s: int = 1

    def engine_options(self) -> dict:
        """The keyword arguments of an ``Engine``."""
        return {"max_sequences": self.max_sequences, "context": self.context, "max_waiting": self.max_waiting,
                "prefill_chunk": self.prefill_chunk, "prefill_per_step": self.prefill_per_step,
                "kv_blocks": self.kv_blocks}


def create_app(model, options: Options, engine=None, routes=()) -> Starlette:
    """The ASGI app serving ``model`` (a hal.llama.Llama); its lifespan runs the engine
    (or ``engine``: replicas.Replicas, whose ``routes`` are added)."""
    server = Server(model, options, engine)
    routes = [Route("/", server.page), Route("/health", server.health), Route("/metrics", server.metrics_text),
              Route("/v1/models", server.models), Route("/v1/models/{model_id:path}", server.one_model),
              Route("/v1/completions", server.completions, methods=["POST"]),
              Route("/v1/chat/completions", server.chat, methods=["POST"]), *routes]
    handlers = {APIError: _error_response, HTTPException: _http_error, Exception: _internal_error}
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=server.lifespan)
    if options.api_key:
        app.add_middleware(APIKeyCheck, key=options.api_key)
    app.state.server = server
    return app


class Server:
    """The routes, over one engine."""

    def __init__(self, model, options: Options, engine=None):
        self.model, self.options = model, options
        self.metrics = Metrics(options.model_id) if engine is None else engine.metrics  # engine: replicas.py's
        self.engine = engine or Engine(model, self.metrics, **options.engine_options())
        self.created = int(time.time())

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        self.engine.start()
        try:
            yield
        finally:
            await asyncio.to_thread(self.engine.stop)

    # ------------------------------------------------------------ plain routes

    async def page(self, request):
        return HTMLResponse(resources.files(__package__).joinpath("static/index.html").read_text())

    async def health(self, request):
        return JSONResponse({"status": "ok"})

    async def metrics_text(self, request):
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    def _model_card(self) -> dict:
        return {"id": self.options.model_id, "object": "model", "created": self.created, "owned_by": "hal",
                "max_model_len": self.engine.context}

    async def models(self, request):
        return JSONResponse({"object": "list", "data": [self._model_card()]})

    async def one_model(self, request):
        self._check_model(request.path_params["model_id"], param=None)
        return JSONResponse(self._model_card())

    def _check_model(self, name: str, param: str | None = "model") -> None:
        if name != self.options.model_id:
            raise APIError(404, f"The model '{name}' does not exist; this server serves "
                                f"'{self.options.model_id}'", param=param, code="model_not_found")

    # ------------------------------------------------------------ generation

    async def completions(self, request):
        body = parse(CompletionBody, await self._read_json(request))
        self._check_model(body.model)
        prompt = body.prompt[0] if isinstance(body.prompt, list) and isinstance(body.prompt[0], str) else body.prompt
        if isinstance(prompt, str):
            ids = self.model.tokenizer.encode(prompt)
        else:
            ids = prompt
            if max(ids) >= self.model.config.vocab_size:
                raise APIError(400, f"prompt: token id {max(ids)} is past the vocabulary "
                                    f"({self.model.config.vocab_size} ids)", param="prompt", code="invalid_value")
        return await self._generate(request, body, ids, "prompt", Completion(body, self.options.model_id))

    async def chat(self, request):
        body = parse(ChatBody, await self._read_json(request))
        self._check_model(body.model)
        ids = self.model.tokenizer.encode(render_chat(self.model.tokenizer, body.messages))
        return await self._generate(request, body, ids, "messages", ChatCompletion(body, self.options.model_id))

    async def _read_json(self, request):
        """The JSON body, read up to max_body_bytes (413 past it; 400 if it is not JSON)."""
        limit = self.options.max_body_bytes
        too_large = APIError(413, f"the request body is over {limit} bytes", code="request_too_large")
        if int(request.headers.get("content-length") or 0) > limit:
            raise too_large
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise APIError(400, f"the request body is not valid JSON: {e}", code="invalid_json") from None

    def _params(self, body, prompt_ids: list, param: str) -> SamplingParams:
        context, n = self.engine.context, len(prompt_ids)
        if n == 0:
            raise APIError(400, f"{param}: the prompt is empty", param=param, code="invalid_value")
        limit = body.token_limit()
        if n >= context or (limit is not None and n + limit > context):
            asked = f"{n} prompt tokens" + (f" and {limit} to generate" if limit is not None else "")
            raise APIError(400, f"This model's maximum context length is {context} tokens; the request asks for "
                                f"{asked}", param=param, code="context_length_exceeded")
        top_k = body.top_k if body.top_k is not None and body.top_k > 0 else 0
        return SamplingParams(max_tokens=limit if limit is not None else context - n,
                              temperature=1.0 if body.temperature is None else body.temperature,
                              top_p=1.0 if body.top_p is None else body.top_p, top_k=top_k, seed=body.seed,
                              stop=body.stops())

    async def _generate(self, http_request, body, prompt_ids: list, param: str, shape):
        loop, events = asyncio.get_running_loop(), asyncio.Queue()
        request = Request(prompt_ids, self._params(body, prompt_ids, param),
                          emit=lambda event: loop.call_soon_threadsafe(events.put_nowait, event))
        try:
            self.engine.submit(request)
        except QueueFull as e:
            raise APIError(503, f"the server is busy ({e}); retry later", code="server_overloaded",
                           headers={"Retry-After": str(self.options.retry_after_s)}) from None
        except EngineStopped as e:
            raise APIError(503, str(e), code="server_shutting_down") from None
        if self.options.log_requests:
            log.info("request %s: %r", shape.id, self.model.tokenizer.decode(prompt_ids, skip_special=False))
        stream = self._events(http_request, request, events, shape.id)
        if body.stream:
            return StreamingResponse(shape.sse(stream), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        text, last = [], None
        async for event in stream:
            if event[0] == "token":
                text.append(event[1])
            else:
                last = event
        if last is None:  # the client went away: nobody reads this answer
            return Response(status_code=499)
        if last[0] == "error":
            raise APIError(500, last[1], code="device_error")
        return JSONResponse(shape.whole("".join(text), *last[1:]))

    async def _events(self, http_request, request: Request, events: asyncio.Queue, name: str):
        """The request's events until its last; a client that goes away cancels it."""
        gone = asyncio.ensure_future(_disconnected(http_request))
        finished, text = False, []
        try:
            while not finished:
                get = asyncio.ensure_future(events.get())
                await asyncio.wait({get, gone}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    return
                event = get.result()
                finished = event[0] != "token"
                if self.options.log_requests:
                    text.append(event[1] if event[0] == "token" else "")
                yield event
        finally:
            gone.cancel()
            if self.options.log_requests:
                log.info("answer %s (%s): %r", name, event[0] if finished else "cancelled", "".join(text))
            if not finished:
                request.cancel()
                self.engine.wake()


async def _disconnected(http_request: HTTPRequest) -> None:
    while (await http_request.receive())["type"] != "http.disconnect":
        pass


# ---------------------------------------------------------------- response shapes

class Completion:
    """/v1/completions' objects (text_completion)."""
    object = chunk_object = "text_completion"
    prefix = "cmpl"

    def __init__(self, body, model_id: str):
        self.id, self.created, self.model = f"{self.prefix}-{uuid.uuid4().hex}", int(time.time()), model_id
        self.include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def _object(self, choices: list, **extra) -> dict:
        return {"id": self.id, "object": self.object, "created": self.created, "model": self.model,
                "choices": choices, **extra}

    def choice(self, text: str, finish_reason, whole: bool = False) -> dict:
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}

    def whole(self, text: str, finish_reason: str, usage: dict) -> dict:
        return self._object([self.choice(text, finish_reason, whole=True)], usage=usage)

    def chunk(self, choices: list, usage=None) -> str:
        chunk = self._object(choices, **({"usage": usage} if self.include_usage else {}))
        return _sse({**chunk, "object": self.chunk_object})

    def first_chunks(self) -> list:
        return []

    async def sse(self, events):
        """Server-sent events in OpenAI's chunk format, ending with ``data: [DONE]``."""
        for chunk in self.first_chunks():
            yield chunk
        async for kind, *rest in events:
            if kind == "token":
                yield self.chunk([self.choice(rest[0], None)])
            elif kind == "done":
                reason, usage = rest
                yield self.chunk([self.choice("", reason)])
                if self.include_usage:
                    yield self.chunk([], usage)
            else:
                yield _sse(APIError(500, rest[0], code="device_error").body())
                return
        yield "data: [DONE]\n\n"


class ChatCompletion(Completion):
    """/v1/chat/completions' objects (chat.completion, chat.completion.chunk)."""
    object, chunk_object = "chat.completion", "chat.completion.chunk"
    prefix = "chatcmpl"

    def choice(self, text: str, finish_reason, whole: bool = False) -> dict:
        if whole:
            return {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                    "finish_reason": finish_reason}
        return {"index": 0, "delta": {"content": text} if text or finish_reason is None else {},
                "logprobs": None, "finish_reason": finish_reason}

    def first_chunks(self) -> list:
        return [self.chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                             "finish_reason": None}])]


def _sse(obj: dict) -> str:
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n"


# ---------------------------------------------------------------- errors and access

async def _error_response(request, error: APIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _http_error(request, error: HTTPException) -> JSONResponse:
    """Starlette's own 404/405 (unknown route, wrong method) as OpenAI error objects."""
    return await _error_response(request, APIError(error.status_code, f"{request.method} {request.url.path}: "
                                                                      f"{error.detail}", code=None))


async def _internal_error(request, error: Exception) -> JSONResponse:
    log.exception("internal error")
    return await _error_response(request, APIError(500, f"internal error: {type(error).__name__}"))


class APIKeyCheck:
    """ASGI middleware: 401 with OpenAI's error object unless ``Authorization: Bearer KEY``."""

    def __init__(self, app, key: str):
        self.app, self.expected = app, f"Bearer {key}".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            given = Headers(scope=scope).get("authorization", "").encode()
            if not hmac.compare_digest(given, self.expected):
                error = APIError(401, "Incorrect or missing API key: send Authorization: Bearer KEY",
                                 code="invalid_api_key")
                return await JSONResponse(error.body(), status_code=401)(scope, receive, send)
        await self.app(scope, receive, send)
