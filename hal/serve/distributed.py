"""``hal serve`` over many machines on Ray Serve (https://docs.ray.io/en/latest/serve/):
each hal device of each machine is a Ray Serve replica of the engine (engine.py), placed
by a Ray resource per device (``hal:cpu``, ``hal:opencl:0``, ...) that each node offers
for the devices it has; the OpenAI routes (app.py) are Ray Serve's HTTP ingress.

    ray start --head --resources "$(python -m hal.serve.distributed resources)"      # machine 1
    ray start --address HEAD:6379 --resources "$(python -m hal.serve.distributed resources)"  # others
    python -m hal.serve.distributed serve --address auto --devices cpu opencl:0 --port 8000

The ingress sends each request to the device with the most free sequence slots (its own
count of what it sent); Ray Serve picks among that device's replicas on the machines
that have it. ``POST /admin/drain?device=...`` moves that device's running sequences:
each leaves its replica between two steps as its KV rows, position and sampler state
(hal.migration), which travel through Ray's object store to a replica of another device,
where the sequence goes on with the tokens it would have produced; the client's stream
goes on unbroken. A device that raises during a step sends its sequences on the same
way (with their KV state where the device can still be read, else for a re-prefill), and
the ingress sends nothing more to it.

Ray is the optional extra ``distributed`` (pip install 'hal[distributed]').
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from starlette.responses import JSONResponse
from starlette.routing import Route

from .engine import Engine, EngineStopped, QueueFull, Request, SamplingParams, StopText
from .metrics import Metrics
from .protocol import APIError
from .replicas import detach, resume


log = logging.getLogger("hal.serve")


def require_ray():
    """Ray and Ray Serve, or an ImportError that says how to install them."""
    try:
        import ray
        from ray import serve
    except ImportError as e:
        raise ImportError(f"hal on Ray needs Ray Serve ({e}): pip install 'hal[distributed]' "
                          f"(or pip install 'ray[serve]')") from None
    return ray, serve


def resource(device: str) -> str:
    """The Ray resource a node offers for a hal device it has."""
    return f"hal:{device}"


def node_resources() -> dict:
    """This machine's hal devices as Ray resources (simulators left out)."""
    import hal
    return {resource(d.name): 1 for d in hal.devices() if d.info.kind != "simulator"}


# ---------------------------------------------------------------- a sequence in transit

def pack(request, state) -> dict:
    """What another replica needs to go on with ``request``: its prompt, parameters,
    tokens and sampler, and ``state`` (hal.migration.SequenceState) or None (prefill again)."""
    p = request.params
    return {"prompt_ids": list(request.prompt_ids), "token_ids": list(request.token_ids), "state": state,
            "sampler": request.sampler,
            "params": {"max_tokens": p.max_tokens, "temperature": p.temperature, "top_p": p.top_p,
                       "top_k": p.top_k, "seed": p.seed, "stop": list(p.stop)}}


def unpack(moved: dict, tokenizer, emit) -> Request:
    """The request of ``pack`` on this replica: its text and stop state rebuilt by
    reading its tokens again (nothing is emitted twice)."""
    from hal.tokenizer import TextStream
    p = moved["params"]
    request = Request(moved["prompt_ids"], SamplingParams(**{**p, "stop": tuple(p["stop"])}), emit=emit)
    if moved["token_ids"]:
        request.token_ids, request.prefilled = list(moved["token_ids"]), len(moved["prompt_ids"])
        request.sampler = moved["sampler"]
        request.text, request.stop = TextStream(tokenizer), StopText(p["stop"])
        for token in request.token_ids:
            request.stop.push(request.text.push(token))
    return request


# ---------------------------------------------------------------- a device's replica

class DeviceEngine:
    """A Ray Serve replica: the model on one device and its engine thread. ``generate``
    streams a request's events; ("moved", packed, failed) ends the stream of a sequence
    that leaves (``drain``, or a device error: ``failed``), packed its ``pack``. The
    ingress, which then owns it, passes it on to the next replica's ``generate``: Ray
    carries an argument that large through its object store, and the object's owner (the
    ingress) outlives the move, as a reference owned by a replica that failed need not. After a device error the replica takes no more sequences."""

    def __init__(self, model_path: str, device: str, model_id: str, engine_options: dict):
        from hal.llama import Llama
        self.device = device
        self.model = Llama.load(model_path, device)
        self.engine = Engine(self.model, Metrics(model_id), **engine_options)
        self.engine.on_device_error = self._device_failed
        self.failed = False
        self.engine.start()

    async def generate(self, prompt_ids: list, params: dict, moved=None):
        loop, events = asyncio.get_running_loop(), asyncio.Queue()

        def emit(event):
            loop.call_soon_threadsafe(events.put_nowait, event)

        if self.failed:  # sent before the router heard: it goes elsewhere
            yield ("moved", moved or pack(Request(prompt_ids, SamplingParams(**params), emit), None), True)
            return
        if moved is None:
            request = Request(prompt_ids, SamplingParams(**params), emit=emit)
            self.engine.submit(request)
        else:
            payload = moved
            request = unpack(payload, self.model.tokenizer, emit)
            self.engine.between_steps(lambda engine: self._resume(engine, request, payload["state"]))
        finished = False
        try:
            while not finished:
                event = await events.get()
                finished = event[0] != "token"
                yield event
        finally:
            if not finished:
                request.cancel()
                self.engine.wake()

    def _resume(self, engine, request, state) -> None:
        if not resume(engine, request, state):
            engine.between_steps(lambda e: self._resume(e, request, state))

    async def drain(self) -> int:
        """Move every running and waiting sequence out (each stream ends with "moved");
        the number moved."""
        return await asyncio.wrap_future(self.engine.call_between_steps(self._evacuate))

    def _evacuate(self, engine, requests=None) -> int:
        """On the engine thread: ``requests`` (default: every running and waiting one)
        leave, each with its KV state where the device can be read (else it is prefilled
        again where it lands)."""
        from hal.migration import export_sequence
        readable, running = True, list(engine.running) if requests is None else list(requests)
        for request in running:
            state = None
            if readable and request.token_ids:
                try:
                    state = export_sequence(request.cache)
                except Exception as e:
                    log.warning("%s: a KV cache could not be read (%s): prefilled again elsewhere", self.device, e)
                    readable = False
            detach(engine, request)
            request.emit(("moved", pack(request, state), self.failed))
        waiting = []
        while requests is None and engine.waiting:
            waiting.append(engine.waiting.popleft())
            waiting[-1].emit(("moved", pack(waiting[-1], None), self.failed))
        return len(running) + len(waiting)

    def _device_failed(self, engine, requests, error) -> None:
        """Engine.on_device_error: this replica takes no more sequences, and all leave."""
        log.error("%s failed (%s: %s): its sequences move to other devices", self.device, type(error).__name__, error)
        self.failed = True
        self._evacuate(engine, requests)
        engine.between_steps(self._evacuate)

    def fail_transfers(self, count: int | None = 1) -> None:
        """A test hook: the driver's ``Device.fail_transfers`` on this replica's device."""
        import hal
        hal.device(self.device).fail_transfers(hal.DeviceError(f"injected: {self.device} was lost"), count)

    def __del__(self):
        self.engine.stop()


# ---------------------------------------------------------------- the ingress

class RayRouter:
    """app.Server's engine on the ingress: each request streamed from a device's
    deployment, re-sent to another device when its sequence moves."""

    def __init__(self, handles: dict, context: int, slots: int, max_waiting: int):
        self.handles, self.context, self.slots, self.max_waiting = handles, context, slots, max_waiting
        self.inflight = {name: 0 for name in handles}
        self.drained: set = set()
        self.failed: set = set()
        self.tasks: dict = {}  # request -> its forwarding task
        self.metrics = SimpleNamespace(registry=CollectorRegistry())
        self.metrics.exposition = lambda: generate_latest(self.metrics.registry)
        self._running = Gauge("hal:num_requests_running", "Requests sent to each device and not finished.",
                              ["device"], registry=self.metrics.registry)
        self._moves = Counter("hal:sequence_migrations", "Sequences moved through the object store.",
                              ["from_device", "to_device"], registry=self.metrics.registry)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()

    def wake(self) -> None:
        for request, task in list(self.tasks.items()):
            if request.cancelled:
                task.cancel()

    def _pick(self, exclude=()) -> str:
        choices = [n for n in self.handles if n not in self.drained | self.failed and n not in exclude]
        if not choices:
            raise EngineStopped("no device is serving (every device is drained)")
        return max(choices, key=lambda n: self.slots - self.inflight[n])

    def submit(self, request) -> None:
        name = self._pick()
        if self.inflight[name] >= self.slots + self.max_waiting:  # (as one engine's bound)
            raise QueueFull(f"{self.inflight[name]} requests on {name}, the least loaded device")
        self.tasks[request] = asyncio.get_running_loop().create_task(self._forward(request, name))

    async def _forward(self, request, name: str) -> None:
        p, moved = request.params, None
        params = {"max_tokens": p.max_tokens, "temperature": p.temperature, "top_p": p.top_p, "top_k": p.top_k,
                  "seed": p.seed, "stop": p.stop}
        try:
            while True:
                self._count(name, +1)
                try:
                    stream = self.handles[name].options(stream=True).generate.remote(request.prompt_ids, params,
                                                                                    moved)
                    moved = None
                    async for event in stream:
                        if event[0] == "moved":
                            moved = event[1]
                            if event[2]:  # its device failed: nothing more goes there
                                self.failed.add(name)
                            break
                        request.emit(event)
                finally:
                    self._count(name, -1)
                if moved is None:
                    return
                target = self._pick(exclude={name})
                self._moves.labels(name, target).inc()
                name = target
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a replica that failed, or no device left
            request.emit(("error", f"{type(e).__name__}: {e}"))
        finally:
            self.tasks.pop(request, None)

    def _count(self, name: str, delta: int) -> None:
        self.inflight[name] += delta
        self._running.labels(name).set(self.inflight[name])

    def routes(self) -> list:
        return [Route("/admin/drain", self._drain_route, methods=["POST"]),
                Route("/admin/undrain", self._undrain_route, methods=["POST"])]

    def _device(self, request) -> str:
        name = request.query_params.get("device")
        if name not in self.handles:
            raise APIError(404 if name else 400, f"device: no replicas on '{name}'; devices: "
                                                 f"{', '.join(self.handles)}", param="device",
                           code="device_not_found" if name else "invalid_value")
        return name

    async def _undrain_route(self, request):
        name = self._device(request)
        self.drained.discard(name)
        return JSONResponse({"device": name, "draining": False, "failed": name in self.failed})

    async def _drain_route(self, request):
        name = self._device(request)
        if not [n for n in self.handles if n != name and n not in self.drained | self.failed]:
            raise APIError(409, f"no other device to move {name}'s sequences to", param="device",
                           code="no_other_replica")
        self.drained.add(name)
        moved = await self.handles[name].drain.remote()
        return JSONResponse({"device": name, "draining": True, "moved": moved})


class Ingress:
    """The OpenAI routes of app.py as Ray Serve's ingress (built on the replica)."""

    def __init__(self, handles: dict, model_path: str, options_json: str):
        from hal import gguf
        from hal.llama import Config
        from hal.tokenizer import Tokenizer

        from .app import Options
        self.options = Options(**json.loads(options_json))
        file = gguf.read(model_path)  # the tokenizer and the shapes: the weights stay on the devices
        self.model = SimpleNamespace(tokenizer=Tokenizer(file.metadata), config=Config.from_gguf(file))
        self.router = RayRouter(handles, self.options.context, self.options.max_sequences, self.options.max_waiting)

    def __serve_build_asgi_app__(self):
        from .app import create_app
        return create_app(self.model, self.options, engine=self.router, routes=self.router.routes())


def build(model_path: str, devices: list, options, replicas: dict | None = None):
    """The Ray Serve application: a deployment per device (``replicas[device]`` replicas,
    default 1, each needing that device's Ray resource), and the ingress."""
    from dataclasses import asdict
    _, serve = require_ray()
    engine_options = options.engine_options()
    handles = {}
    for device in devices:
        deployment = serve.deployment(DeviceEngine, name=f"hal-{device.replace(':', '-')}",
                                      num_replicas=(replicas or {}).get(device, 1),
                                      max_ongoing_requests=options.max_sequences + options.max_waiting,
                                      ray_actor_options={"num_cpus": 0, "resources": {resource(device): 1}})
        handles[device] = deployment.bind(model_path, device, options.model_id, engine_options)
    ingress = serve.deployment(serve.ingress()(Ingress), name="hal-ingress", ray_actor_options={"num_cpus": 0})
    return ingress.bind(handles, model_path, json.dumps(asdict(options)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m hal.serve.distributed", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("resources", help="print this machine's hal devices as Ray resources (for ray start)")
    run = sub.add_parser("serve", help="serve a model on the Ray cluster's devices")
    run.add_argument("--address", default="auto", help="the Ray cluster (default: %(default)s)")
    run.add_argument("--model", help="a GGUF file, or smollm2 / gemma3 (default: smollm2)")
    run.add_argument("--devices", nargs="+", required=True, help="the hal devices to serve on (cpu opencl:0 ...)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--max-sequences", type=int, default=16)
    run.add_argument("--context", type=int, default=2048)
    args = p.parse_args(argv)
    if args.command == "resources":
        print(json.dumps(node_resources()))
        return 0
    try:
        ray, serve = require_ray()
    except ImportError as e:
        raise SystemExit(f"error: {e}") from None
    from .app import Options
    from .cli import model_id, model_path
    path = model_path(args.model)
    ray.init(address=args.address)
    serve.start(http_options={"host": args.host, "port": args.port})
    options = Options(model_id=model_id(path), max_sequences=args.max_sequences, context=args.context)
    nodes = [n["Resources"] for n in ray.nodes() if n["Alive"]]
    replicas = {d: sum(1 for r in nodes if resource(d) in r) for d in args.devices}
    missing = [d for d, n in replicas.items() if n == 0]
    if missing:
        raise SystemExit(f"error: no node offers {', '.join(map(resource, missing))}: start each node with "
                         f"ray start --resources \"$(python -m hal.serve.distributed resources)\"")
    serve.run(build(path, args.devices, options, replicas), name="hal", route_prefix="/", blocking=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
