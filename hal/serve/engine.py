"""Continuous batching for ``hal.llama``: one engine thread owns the model and steps
every running sequence by one token per step.

- Requests join the running set between steps (when the KV blocks they need are free) and leave it
  as soon as they finish, fail or are cancelled, so a disconnected client's sequence is
  freed at the start of the next step.
- Each step decodes one token for every sequence whose prompt is read, in one batched
  step whose quantized products take all their rows at once (``Llama.decode_batch``), and reads
  prompt chunks of the sequences still prefilling, oldest first, until
  ``prefill_per_step`` tokens (vLLM's token budget per step), so running streams keep
  flowing while long prompts are read; the chunks too are read in one pass
  (``Llama.prefill_batch``). Chunks start at fixed multiples of
  ``prefill_chunk`` in each prompt, whatever else runs: a sequence's arithmetic does
  not depend on its neighbours (batch invariance; chunked prefill gives the same bits
  as a whole one, tests/test_serve.py).
- A prompt that begins as one read before (a chat template's system prompt, a
  conversation's earlier turns) reads only the rest: the keys and values of the shared
  prefix are shared with the cache that holds them (``KVPool.acquire``).
- Each sequence's KV cache is the blocks it may fill, lent by one set of block pools
  (``KVPool``); a batched step reads the block tables on the device, so it is replayed
  from one captured step of B sequences, whichever sequences they are.
  Its rows have the same bits as the single-sequence path of ``hal.llama`` where the
  model is ``decode_invariant`` (its K-quant products sum each row as it alone would be
  summed), so a request's tokens equal ``Llama.generate``'s, alone or not (models with
  float weights decode their sequences one by one; prompts are read together only where
  the model is ``row_independent``).
- A device error fails only the requests of the step it happened in.

The design follows vLLM's scheduler (waiting queue, running set, chunked prefill:
https://docs.vllm.ai/en/latest/design/arch_overview.html) on a smaller scale.
"""
from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass, field

from hal import nn
from hal.tokenizer import TextStream

from .kvpool import KVPool

log = logging.getLogger("hal.serve")


class QueueFull(Exception):
    """The waiting queue is at its bound: the client should retry later (HTTP 503)."""


class EngineStopped(Exception):
    """The engine no longer takes requests (the server is stopping)."""


@dataclass(frozen=True)
class SamplingParams:
    """What a request asks of generation (OpenAI's names; ``top_k`` 0 keeps every id)."""
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: tuple = ()


class StopText:
    """Text as it is generated, held back while its end could be the start of a stop
    string, cut before the first stop string found (OpenAI's ``stop``: not returned)."""

    def __init__(self, stops):
        self.stops, self.pending = tuple(s for s in stops if s), ""

    def push(self, text: str) -> tuple[str, bool]:
        """(the text safe to send now, whether a stop string was reached)."""
        self.pending += text
        found = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if found:
            out, self.pending = self.pending[:min(found)], ""
            return out, True
        hold = max((n for s in self.stops for n in range(1, len(s)) if self.pending.endswith(s[:n])), default=0)
        cut = len(self.pending) - hold
        out, self.pending = self.pending[:cut], self.pending[cut:]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


@dataclass(eq=False)  # a request is itself: compared by identity
class Request:
    """One generation. ``emit(event)`` is called from the engine thread with
    ("token", text) as text becomes final, then exactly one of ("done", finish_reason,
    usage) or ("error", message)."""
    prompt_ids: list
    params: SamplingParams
    emit: object
    arrival: float = field(default_factory=time.perf_counter)
    cancelled: bool = False
    # engine state
    cache: object = None
    prefilled: int = 0
    token_ids: list = field(default_factory=list)
    last_token_at: float = 0.0
    sampler: object = None
    text: object = None
    stop: object = None

    def cancel(self) -> None:
        """Called from any thread: the engine drops the request at its next step."""
        self.cancelled = True

    @property
    def usage(self) -> dict:
        prompt, completion = len(self.prompt_ids), len(self.token_ids)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class Engine:
    def __init__(self, model, metrics, *, max_sequences: int = 16, context: int = 2048,
                 max_waiting: int = 64, prefill_chunk: int = 64, prefill_per_step: int = 256, kv_blocks: int = 0):
        if prefill_chunk <= 0 or prefill_per_step <= 0 or max_waiting < 0:
            raise ValueError(f"prefill_chunk > 0, prefill_per_step > 0 and max_waiting >= 0 needed, got "
                             f"{prefill_chunk}, {prefill_per_step}, {max_waiting}")
        self.model, self.metrics = model, metrics
        self.pool = KVPool(model, max_sequences, context, kv_blocks)
        # A request's tokens are what it gets alone: sequences decode together where each
        # row's products are computed alike at any batch size, and prompts are read together
        # where they are computed alike at any number of rows (not K-quants' llama.cpp order).
        self.decode_together, self.prefill_together = model.decode_invariant, model.row_independent
        if not self.decode_together:
            log.warning("this model's products depend on how many rows they take (float weights): "
                        "its sequences decode one by one, to keep each request's tokens what it gets alone")
        self.context, self.max_waiting = self.pool.context, max_waiting
        self.prefill_chunk, self.prefill_per_step = prefill_chunk, prefill_per_step
        self.waiting: collections.deque[Request] = collections.deque()
        self.running: list[Request] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._calls: list = []  # between_steps' functions, run on the engine thread
        # None: a device error fails the step's requests; replicas.py sets fn(engine, requests,
        # error) to resume them on another device instead
        self.on_device_error = None
        self._thread = threading.Thread(target=self._loop, name="hal-serve-engine", daemon=True)

    # ------------------------------------------------------------ other threads

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Fail what is still queued or running, then end the engine thread."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()

    def submit(self, request: Request) -> None:
        """Queue ``request``; QueueFull past max_sequences running + max_waiting queued."""
        with self._wake:
            if self._stopping:
                raise EngineStopped("the server is stopping")
            if len(self.waiting) + len(self.running) >= self.pool.max_sequences + self.max_waiting:
                raise QueueFull(f"{len(self.running)} requests running and {len(self.waiting)} waiting")
            self.waiting.append(request)
            self.metrics.waiting.set(len(self.waiting))
            self._wake.notify()

    def between_steps(self, fn) -> None:
        """Run ``fn(engine)`` on the engine thread before its next step (replicas.py
        moves sequences in and out there)."""
        with self._wake:
            self._calls.append(fn)
            self._wake.notify()

    def call_between_steps(self, fn) -> concurrent.futures.Future:
        """``between_steps``, with a future of what ``fn(engine)`` returns; should it
        raise (a bug), the future fails too, rather than leave its caller waiting forever."""
        done = concurrent.futures.Future()

        def call(engine):
            try:
                done.set_result(fn(engine))
            except Exception as e:
                done.set_exception(e)
                raise
        self.between_steps(call)
        return done

    def wake(self) -> None:
        """Let the engine see a cancellation now, even while it is idle."""
        with self._wake:
            self._wake.notify()

    # ------------------------------------------------------------ the engine thread

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not (self._stopping or self.waiting or self.running or self._calls):
                    self._wake.wait()
                if self._stopping:
                    break
                self._admit()
                calls, self._calls = self._calls, []
            try:
                for call in calls:
                    call(self)
                self._drop_cancelled()
                self._step()
            except Exception:  # a bug here must not leave every client waiting forever
                log.exception("the engine failed a step")
                for request in list(self.running):
                    self._fail(request, "internal error in the engine")
            self._report()
        for call in self._calls:  # sequences moving in: failed below with the rest
            try:
                call(self)
            except Exception:
                log.exception("a call between steps failed as the engine stopped")
        for request in list(self.running) + list(self.waiting):
            self._fail(request, "the server stopped before this request finished")
        self.waiting.clear()
        self._report()

    def positions(self, request: Request) -> int:
        """The KV positions ``request`` may fill: its prompt and answer, up to the context."""
        return min(len(request.prompt_ids) + request.params.max_tokens, self.context)

    def _admit(self) -> None:
        """Move waiting requests into the running set, first come first served, while
        the pool can lend each the blocks it may fill."""
        while self.waiting and self.pool.free:
            request = self.waiting[0]
            if not request.cancelled:
                lent = self.pool.acquire(request.prompt_ids, self.prefill_chunk, self.positions(request))
                if lent is None:
                    return  # until sequences end and give their blocks back
            self.waiting.popleft()
            if request.cancelled:
                continue
            p = request.params
            request.cache, reused = lent
            request.prefilled = reused
            self.metrics.prefix_queries.inc(len(request.prompt_ids))
            self.metrics.prefix_hits.inc(reused)
            request.sampler = nn.Sampler(p.seed, temperature=p.temperature, top_k=p.top_k, top_p=p.top_p)
            request.text, request.stop = TextStream(self.model.tokenizer), StopText(p.stop)
            self.running.append(request)
            self.metrics.queue_time.observe(time.perf_counter() - request.arrival)
            self.metrics.prompt_tokens.inc(len(request.prompt_ids))

    def _drop_cancelled(self) -> None:
        for request in [r for r in self.running if r.cancelled]:
            self._release(request)
        with self._wake:
            self.waiting = collections.deque(r for r in self.waiting if not r.cancelled)

    def _step(self) -> None:
        """One token for every decoding sequence, then prefill chunks up to the budget."""
        prefilling = [r for r in self.running if r.prefilled < len(r.prompt_ids)]
        decoding = [r for r in self.running if r.prefilled == len(r.prompt_ids)]
        for group in [decoding] if self.decode_together and decoding else [[r] for r in decoding]:
            self._decode_together(group)
        budget, chunks = self.prefill_per_step, []
        for request in prefilling:
            if budget <= 0:
                break
            start = request.prefilled
            chunks.append(request.prompt_ids[start:min(len(request.prompt_ids), start - start % self.prefill_chunk
                                                       + self.prefill_chunk)])
            budget -= len(chunks[-1])
        # one pass for the chunks of two tokens or more (a one-token chunk is a decode step's row,
        # of other bits: read alone, as by Llama.forward)
        together = [self.prefill_together and len(ids) > 1 for ids in chunks]
        if any(together):
            self._prefill(*zip(*[(r, ids) for r, ids, t in zip(prefilling, chunks, together) if t]))
        for request, ids, t in zip(prefilling, chunks, together):
            if not t:
                self._prefill([request], [ids])

    def _decode_together(self, requests: list) -> None:
        """One token for each of ``requests`` from one batched step; a device error fails
        the requests of this step only."""
        try:
            logits = self.model.decode_batch([r.token_ids[-1] for r in requests], [r.cache for r in requests])
            tokens = [r.sampler(logits[i]) for i, r in enumerate(requests)]
        except Exception as e:  # its captured steps may hold the fault: they are captured again
            log.error("a batched step failed for %d requests: %s: %s", len(requests), type(e).__name__, e)
            requests[0].cache.pool.steps.clear()
            return self._device_failed(requests, e)
        for request, token in zip(requests, tokens):
            self._accept(request, token)

    def _prefill(self, requests: list, chunks: list) -> None:
        """Read a prompt chunk of each request, together (``Llama.prefill_batch``) or one
        request's alone; sample the first token of each whose prompt is now read. A
        device error fails these requests only."""
        try:
            if len(requests) == 1:
                logits = [self.model.forward(chunks[0], requests[0].cache)]
            else:
                logits = self.model.prefill_batch(list(chunks), [r.cache for r in requests])
            first = {i: r.sampler(logits[i]) for i, (r, ids) in enumerate(zip(requests, chunks))  # reading the
                     if r.prefilled + len(ids) == len(r.prompt_ids)}  # ids back waits for the device
        except Exception as e:  # a device error fails these sequences only
            log.error("a prefill failed for %d requests: %s: %s", len(requests), type(e).__name__, e)
            return self._device_failed(list(requests), e)
        for request, ids in zip(requests, chunks):
            request.prefilled += len(ids)
            self.pool.read(request.cache, request.prompt_ids, request.prefilled, len(ids))
        for i, token in first.items():
            self._accept(requests[i], token)

    def _device_failed(self, requests: list, error: Exception) -> None:
        """The requests of a step the device failed in: ``on_device_error``'s to resume
        elsewhere, else failed."""
        if self.on_device_error is not None:
            return self.on_device_error(self, requests, error)
        for request in requests:
            self._fail(request, f"the device failed while generating: {type(error).__name__}: {error}")

    def _accept(self, request: Request, token: int) -> None:
        now = time.perf_counter()
        if request.token_ids:
            self.metrics.inter_token.observe(now - request.last_token_at)
        else:
            self.metrics.first_token.observe(now - request.arrival)
        request.last_token_at = now
        if token in self.model.tokenizer.stop_ids:
            return self._finish(request, "stop")
        request.token_ids.append(token)
        self.metrics.generation_tokens.inc()
        text, stopped = request.stop.push(request.text.push(token))
        if text:
            self._emit(request, ("token", text))
        if stopped:
            return self._finish(request, "stop", flush=False)
        if len(request.token_ids) >= request.params.max_tokens or request.cache.length >= self.positions(request):
            self._finish(request, "length")

    def _finish(self, request: Request, reason: str, flush: bool = True) -> None:
        rest = request.stop.flush() if flush else ""
        if rest:
            self._emit(request, ("token", rest))
        self.metrics.e2e.observe(time.perf_counter() - request.arrival)
        self.metrics.finished(reason)
        self._release(request)
        self._emit(request, ("done", reason, request.usage))

    def _fail(self, request: Request, message: str) -> None:
        self._release(request)
        self._emit(request, ("error", message))

    def _release(self, request: Request) -> None:
        if request in self.running:
            self.running.remove(request)
        if request.cache is not None:
            self.pool.release(request.cache)
            request.cache = None

    def _emit(self, request: Request, event: tuple) -> None:
        try:
            request.emit(event)
        except Exception as e:  # a client gone with its event loop must not stop the others
            log.warning("could not deliver an event: %s", e)
            request.cancel()

    def _report(self) -> None:
        self.metrics.running.set(len(self.running))
        self.metrics.waiting.set(len(self.waiting))
        self.metrics.kv_usage.set(self.pool.usage)
