"""Every device of a node behind one endpoint: one engine (engine.py) per device, each
with the model on its device (or split over several: hal.placement), and a router.

- A request goes to the replica with the most free KV caches (less its queue), then the
  shortest queue.
- Sequences move between replicas between two steps (hal.migration): their KV rows,
  position and sampler state, so they go on with exactly the tokens they would have
  produced where they were (every hal device computes the same bits).
  ``drain(device)`` moves every sequence off a device and routes nothing more to it
  (``POST /admin/drain?device=...``); ``rebalance()`` evens out the running sequences
  (``POST /admin/rebalance``).
- A device that raises during a step is taken out of routing and its sequences resume
  on the other replicas: from their KV state where the device can still be read, else
  from a re-prefill of their prompt and the tokens generated so far (same bits: the
  products are row-independent). A request is never lost or answered twice: it is on
  exactly one engine, or travelling to one.
- ``/metrics`` has each replica's series with a ``device`` label.

    replicas = Replicas([("cpu", cpu_model), ("opencl:0", gpu_model)], "SmolLM2", max_sequences=16)
    app = create_app(cpu_model, options, engine=replicas, routes=replicas.routes())
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.metrics_core import Metric
from starlette.responses import JSONResponse
from starlette.routing import Route

from hal.migration import export_sequence, import_sequence

from .engine import Engine, EngineStopped, QueueFull
from .metrics import Metrics
from .protocol import APIError

log = logging.getLogger("hal.serve")


class Replica:
    """One engine over one model; ``name`` the device (or devices, joined by +)."""

    def __init__(self, name: str, model, model_id: str, **engine_options):
        self.name, self.model = name, model
        self.metrics = Metrics(model_id)
        self.engine = Engine(model, self.metrics, **engine_options)
        self.routable = True   # False once drained or failed
        self.failed = False
        self.incoming = 0      # sequences handed to it, not yet resumed there

    @property
    def free(self) -> int:
        """KV caches not spoken for by what it runs, queues and is being handed."""
        return self.engine.pool.free - len(self.engine.waiting) - self.incoming

    @property
    def queue(self) -> int:
        return len(self.engine.waiting) + self.incoming


class Replicas:
    """The router, with the engine's interface (start, stop, submit, wake, context) so
    that app.Server serves through it unchanged."""

    def __init__(self, models: list, model_id: str, **engine_options):
        if not models:
            raise ValueError("no replicas: name at least one device")
        names = [name for name, _ in models]
        if len(set(names)) != len(names):
            raise ValueError(f"devices {names} name a replica twice")
        self.replicas = [Replica(name, model, model_id, **engine_options) for name, model in models]
        for replica in self.replicas:
            replica.engine.on_device_error = self._device_failed
        self.context = min(r.engine.context for r in self.replicas)
        self.metrics = _LabelledMetrics(self.replicas)
        self._lock = threading.Lock()  # the routing decision and the incoming counts
        self._stopping = False

    # ------------------------------------------------------------ the engine's interface

    def start(self) -> None:
        for replica in self.replicas:
            replica.engine.start()

    def stop(self) -> None:
        self._stopping = True  # no more hand-overs: an engine that stops fails what it holds
        for replica in self.replicas:
            replica.engine.stop()

    def submit(self, request) -> None:
        """Queue ``request`` on the best replica that has room; QueueFull when none has."""
        with self._lock:
            ranked = sorted(self._routable(), key=lambda r: (-r.free, r.queue))
        if not ranked:
            raise EngineStopped("no device is serving (every replica is drained or failed)")
        for replica in ranked:
            try:
                return replica.engine.submit(request)
            except QueueFull:
                continue
        raise QueueFull(f"every replica's queue is full ({', '.join(r.name for r in ranked)})")

    def wake(self) -> None:
        for replica in self.replicas:
            replica.engine.wake()

    def replica(self, name: str) -> Replica:
        for replica in self.replicas:
            if replica.name == name:
                return replica
        raise KeyError(name)

    # ------------------------------------------------------------ moving sequences

    def drain(self, name: str) -> concurrent.futures.Future:
        """Route nothing more to replica ``name`` and move its sequences to the others
        (between two of its steps); the future's result is {"moved": n, "requeued": m}.
        KeyError for no such replica, ValueError when no other replica can take them."""
        source = self.replica(name)
        with self._lock:
            if not any(r is not source for r in self._routable()):
                raise ValueError(f"no other replica to move {name}'s sequences to")
            source.routable = False
        return source.engine.call_between_steps(lambda engine: self._evacuate(source, readable=True))

    def rebalance(self) -> concurrent.futures.Future:
        """Move running sequences from the replica that runs the most to the others until
        it runs at most one more than the least busy; the future's result is {"moved": n}."""
        with self._lock:
            ranked = sorted(self._routable(), key=lambda r: len(r.engine.running))
        surplus = (len(ranked[-1].engine.running) - len(ranked[0].engine.running)) // 2 if len(ranked) > 1 else 0
        if surplus <= 0:
            done = concurrent.futures.Future()
            done.set_result({"moved": 0})
            return done
        busiest = ranked[-1]
        return busiest.engine.call_between_steps(
            lambda engine: self._evacuate(busiest, readable=True, requests=engine.running[-surplus:]))

    def undrain(self, name: str) -> None:
        """Route to a drained replica again (not to a failed one: its device raised)."""
        replica = self.replica(name)
        if replica.failed:
            raise ValueError(f"{name} failed; restart the server to use it again")
        replica.routable = True

    def _evacuate(self, source: Replica, readable: bool, requests=None) -> dict:
        """On ``source``'s engine thread: hand ``requests`` (default: all it runs and
        queues) to the other replicas, running ones with their KV state where
        ``readable``, else for a re-prefill. Returns the counts."""
        engine, moved, requeued = source.engine, 0, 0
        running = list(engine.running) if requests is None else list(requests)
        for request in running:
            state = None
            if readable and request.token_ids:
                try:
                    state = export_sequence(request.cache)
                except Exception as e:  # the device cannot be read: the target prefills again
                    log.warning("the KV cache of a sequence on %s could not be read (%s): it is prefilled "
                                "again elsewhere", source.name, e)
                    readable = False
            detach(engine, request)
            self._hand_over(source, request, state)
            moved += 1
        if requests is not None:
            return {"moved": moved}
        while engine.waiting:
            self._hand_over(source, engine.waiting.popleft(), None)
            requeued += 1
        return {"moved": moved, "requeued": requeued}

    def _hand_over(self, source: Replica, request, state) -> None:
        with self._lock:
            targets = sorted((r for r in self._routable() if r is not source), key=lambda r: (-r.free, r.queue))
            target = targets[0] if targets and not self._stopping else None
            if target is not None:
                target.incoming += 1
        if target is None:
            return request.emit(("error", "the device failed and no other device can take this request"))
        how = "kv_cache" if state is not None else "prefill" if request.token_ids else "queued"
        log.info("a sequence moves from %s to %s (%s)", source.name, target.name, how)
        self.metrics.migrations.labels(source.name, target.name, how).inc()
        target.engine.between_steps(lambda engine: self._resume(target, request, state))

    def _resume(self, target: Replica, request, state) -> None:
        """On ``target``'s engine thread: the request goes on where it was (or once a
        cache is free there)."""
        if not resume(target.engine, request, state):
            return target.engine.between_steps(lambda e: self._resume(target, request, state))
        with self._lock:
            target.incoming -= 1

    def _device_failed(self, engine: Engine, requests: list, error: Exception) -> None:
        """Engine.on_device_error: the device of ``engine`` raised during a step for
        ``requests``; it leaves the routing, and all its sequences move."""
        source = next(r for r in self.replicas if r.engine is engine)
        log.error("%s failed (%s: %s): its sequences move to the other devices", source.name,
                  type(error).__name__, error)
        with self._lock:
            source.routable, source.failed = False, True
        self._evacuate(source, readable=True, requests=requests)
        engine.between_steps(lambda e: self._evacuate(source, readable=True))

    def _routable(self) -> list:
        return [r for r in self.replicas if r.routable]

    # ------------------------------------------------------------ HTTP

    def routes(self) -> list:
        return [Route("/admin/drain", self._drain_route, methods=["POST"]),
                Route("/admin/undrain", self._undrain_route, methods=["POST"]),
                Route("/admin/rebalance", self._rebalance_route, methods=["POST"]),
                Route("/admin/replicas", self._replicas_route)]

    async def _drain_route(self, request):
        name = self._device_param(request)
        try:
            done = self.drain(name)
        except ValueError as e:
            raise APIError(409, str(e), param="device", code="no_other_replica") from None
        counts = await asyncio.wrap_future(done)
        return JSONResponse({"device": name, "draining": True, **counts})

    async def _undrain_route(self, request):
        name = self._device_param(request)
        try:
            self.undrain(name)
        except ValueError as e:
            raise APIError(409, str(e), param="device", code="device_failed") from None
        return JSONResponse({"device": name, "draining": False})

    async def _rebalance_route(self, request):
        return JSONResponse(await asyncio.wrap_future(self.rebalance()))

    async def _replicas_route(self, request):
        return JSONResponse({"data": [{"device": r.name, "routable": r.routable, "failed": r.failed,
                                       "running": len(r.engine.running), "waiting": len(r.engine.waiting),
                                       "free_kv_caches": r.engine.pool.free} for r in self.replicas]})

    def _device_param(self, request) -> str:
        name = request.query_params.get("device")
        if not name:
            raise APIError(400, "device: name the replica's device (?device=opencl:0)", param="device",
                           code="invalid_value")
        if name not in [r.name for r in self.replicas]:
            raise APIError(404, f"device: no replica on '{name}'; replicas: "
                                f"{', '.join(r.name for r in self.replicas)}", param="device",
                           code="device_not_found")
        return name


def detach(engine: Engine, request) -> None:
    """On ``engine``'s thread: take running ``request`` off it without an event (it goes
    on elsewhere), its KV cache given back."""
    engine.running.remove(request)
    try:
        engine.pool.release(request.cache)
    finally:
        request.cache = None


def resume(engine: Engine, request, state) -> bool:
    """On ``engine``'s thread between steps: ``request``, moved from another engine, goes
    on here — from ``state`` (hal.migration) where given, else from a re-prefill of its
    prompt and tokens; a request whose prompt was not read starts again in the queue.
    False when no cache can be lent now (the caller tries again after a step)."""
    if request.cancelled:
        return True
    if not request.token_ids:
        request.prefilled, request.cache = 0, None
        engine.waiting.appendleft(request)  # (engine thread; deque ends are atomic)
        return True
    lent = engine.pool.free and engine.pool.acquire((), engine.prefill_chunk, engine.positions(request))
    if not lent:
        return False
    request.cache = lent[0]
    engine.running.append(request)
    try:
        if state is not None:
            import_sequence(engine.model, state, request.cache)
        else:  # its cache as it was before its last token (that token is the next step's input),
            # read as the engine read it: the prompt in its chunks, then each token as a decode
            # step's row, so that the keys and values, and the tokens to come, have the same bits
            prompt, chunk = request.prompt_ids, engine.prefill_chunk
            for start in range(0, len(prompt), chunk):
                engine.model.forward(prompt[start:start + chunk], request.cache)
            for token in request.token_ids[:-1]:
                engine.model.forward([token], request.cache)
    except Exception as e:
        if engine.on_device_error is None:
            raise
        engine.on_device_error(engine, [request], e)
    return True


class _LabelledMetrics:
    """Every replica's metrics in one exposition, each series with its ``device``."""

    def __init__(self, replicas: list):
        self.replicas = replicas
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self.migrations = Counter("hal:sequence_migrations", "Sequences moved from one device to another, by "
                                  "how they resumed (kv_cache, prefill, queued).", ["from_device", "to_device", "how"],
                                  registry=self.registry)

    def collect(self):
        families = {}
        for replica in self.replicas:
            for family in replica.metrics.registry.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(family.name, family.documentation, family.type,
                                                            family.unit)
                for s in family.samples:
                    merged.add_sample(s.name, {**s.labels, "device": replica.name}, s.value, s.timestamp,
                                      s.exemplar)
        yield from families.values()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def replica_devices(specs: list) -> list:
    """``--devices``' replicas, each a list of device names: ``all`` is every device but
    simulators (Oclgrind is ~100x slower than the rest), ``opencl:0+cpu`` one replica
    split over both (hal.placement)."""
    import hal
    if list(specs) == ["all"]:
        return [[d.name] for d in hal.devices() if d.info.kind != "simulator"]
    if "all" in specs:
        raise ValueError("--devices all stands alone")
    return [[hal.device(name).name for name in spec.split("+")] for spec in specs]  # DeviceError: no such device


def load_replicas(path: str, specs: list) -> list:
    """[(name, model)] for ``--devices``: the model loaded once per replica."""
    from hal.llama import Llama
    models = []
    for devices in replica_devices(specs):
        model = Llama.load(path, devices[0]) if len(devices) == 1 else Llama.load(path, devices=devices)
        models.append(("+".join(devices), model))
    return models


def replicated_app(models: list, options):
    """app.create_app over one engine per model, behind a ``Replicas`` router."""
    from .app import create_app
    replicas = Replicas(models, options.model_id, **options.engine_options())
    return create_app(models[0][1], options, engine=replicas, routes=replicas.routes())
