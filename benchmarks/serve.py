"""``hal serve`` under load, beside llama.cpp's ``llama-server`` on the same GGUF in the
same run: N concurrent streaming chat clients (1, 4, 16), fixed prompts, 64 greedy
tokens each; aggregate generated tok/s, time to first token (TTFT) and inter-token
latency (ITL) at p50 and p99.

    python benchmarks/serve.py [--devices cpu opencl:0 cpu,opencl:0] [--clients 1 4 16] [--tokens 64] [--rounds 3]
                               [--llama-server PATH | env LLAMA_SERVER=PATH] [--threads 2]
                               [--hal-args "..."] [--llama-server-args "--no-repack"]

A device list joined by commas (``cpu,opencl:0``) is one server with a replica per
device (``hal serve --devices``, hal/serve/replicas.py). Each server runs in its own
process on a free loopback port (hal: ``python -m hal serve``; llama.cpp: ``llama-server
-t THREADS --parallel MAX_CLIENTS -c 8192``) and is warmed up with one round of every
client count's requests before it is measured; then each client count runs ``--rounds``
rounds, in turns. Clients are thin ``httpx`` streams that parse the server-sent events
themselves (on 2 cores the official ``openai`` client's per-chunk objects took 0.55 s of
CPU from a 4.3 s round; the tests use the official client), with
``stream_options.include_usage``: tok/s is the completion tokens the servers report over
the wall time of a round (the median round is shown); TTFT is send to the first content chunk; ITL
the gaps between a stream's content chunks. Build llama-server from the llama.cpp that
the llama-cpp-python sdist vendors::

    pip download --no-binary :all: --no-deps llama-cpp-python && tar xzf llama_cpp_python-*.tar.gz
    cd llama_cpp_python-*/vendor/llama.cpp && cmake -B build -DGGML_NATIVE=ON -DLLAMA_BUILD_SERVER=ON \\
        -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF && cmake --build build --target llama-server -j
    export LLAMA_SERVER=$PWD/build/bin/llama-server
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time

import httpx
import numpy as np

PROMPTS = ["Write a story about a dragon who learns to bake bread.", "Explain how a steam engine works.",
           "Describe a walk through a forest in autumn.", "Write a letter to a friend about your holiday.",
           "Explain why the sky is blue, step by step.", "Tell me about the history of the bicycle.",
           "Write a poem about the sea at night.", "Describe how to plant a vegetable garden.",
           "Explain what a computer program is to a child.", "Write a short story about a lost cat.",
           "Describe the life cycle of a butterfly.", "Explain how bread rises.",
           "Write a dialogue between a teacher and a student.", "Describe a busy market in the morning.",
           "Explain how rain forms.", "Write a story about a robot who wants to paint."]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process; ``url`` once it answers."""

    def __init__(self, name: str, command: list, url: str | None = None):
        self.name, self.url = name, url
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        if self.url is None:  # hal serve prints its URL once it listens
            line = self.proc.stdout.readline()
            match = re.search(r"at (http://[\d.]+:\d+)/", line)
            if not match:
                raise RuntimeError(f"{self.name} did not start: {line!r}")
            self.url = match[1]
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not answer /health in {timeout} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def hal_server(model: str | None, device: str, max_clients: int, extra: str) -> Server:
    where = ["--devices", *device.split(",")] if "," in device else ["--device", device]
    command = [sys.executable, "-m", "hal", "serve", *where, "--port", "0",
               "--max-sequences", str(max_clients), "--context", "1024", *shlex.split(extra)]
    command += ["--model", model] if model else []
    return Server(f"hal {device}", command)


def llama_server(binary: str, model: str, max_clients: int, threads: int, extra: str) -> Server:
    port = free_port()
    command = [binary, "-m", model, "--host", "127.0.0.1", "--port", str(port), "-t", str(threads),
               "--parallel", str(max_clients), "-c", "8192", "--log-disable", *shlex.split(extra)]
    return Server("llama-server", command, url=f"http://127.0.0.1:{port}")


async def one_client(client: httpx.AsyncClient, model_id: str, prompt: str, tokens: int) -> dict:
    """One streamed chat request; each server-sent event parsed here, as a thin client
    does (the official client's per-chunk objects cost the 2 cores a tenth of a round)."""
    start = time.perf_counter()
    stamps, usage = [], None
    body = {"model": model_id, "messages": [{"role": "user", "content": prompt}], "max_tokens": tokens,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                stamps.append(time.perf_counter())
            if chunk.get("usage"):
                usage = chunk["usage"]
    return {"ttft": stamps[0] - start if stamps else float("nan"), "itl": list(np.diff(stamps)),
            "tokens": usage["completion_tokens"] if usage else len(stamps)}


async def round_of(url: str, clients: int, tokens: int, label: str) -> dict:
    """``clients`` concurrent requests; each prompt starts with ``label`` and its client's
    number, so no server answers it from a cache of an earlier round's prompts (the
    chat template's shared system prompt stays reusable, as in real traffic)."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        model_id = (await client.get("/v1/models")).json()["data"][0]["id"]
        start = time.perf_counter()
        prompts = [f"{label}, client {i}: {PROMPTS[i % len(PROMPTS)]}" for i in range(clients)]
        results = await asyncio.gather(*(one_client(client, model_id, prompt, tokens) for prompt in prompts))
        wall = time.perf_counter() - start
    return {"tok_s": sum(r["tokens"] for r in results) / wall, "ttft": [r["ttft"] for r in results],
            "itl": [gap for r in results for gap in r["itl"]]}


def _pct(values, q) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def measure(server: Server, clients: list, tokens: int, rounds: int) -> dict:
    """Each client count's figures over ``rounds`` rounds taken in turns (the machine's
    speed drifts): the median round's tok/s, TTFT and ITL percentiles over all rounds."""
    server.wait_ready()
    for n in clients:  # warm-up: kernel builds, each KV cache's captured step
        asyncio.run(round_of(server.url, n, 4, f"Warm-up {n}"))
    taken = {n: [] for n in clients}
    for r in range(rounds):
        for n in clients:
            taken[n].append(asyncio.run(round_of(server.url, n, tokens, f"Round {r} of {n}")))
    return {n: {"tok_s": float(np.median([t["tok_s"] for t in ts])),
                **{f"{name}{q}": _pct([x for t in ts for x in t[name]], q)
                   for name in ("ttft", "itl") for q in (50, 99)}}
            for n, ts in taken.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="a GGUF file, or smollm2 / gemma3 (default: smollm2)")
    p.add_argument("--devices", nargs="+", default=["cpu", "opencl:0"],
                   help="one server each; cpu,opencl:0 is one server with a replica per device")
    p.add_argument("--clients", nargs="+", type=int, default=[1, 4, 16])
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3, help="measured rounds per client count (the median is shown)")
    p.add_argument("--llama-server", default=os.environ.get("LLAMA_SERVER"),
                   help="a llama-server binary (default: env LLAMA_SERVER)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="llama-server's -t (default: all cores)")
    p.add_argument("--hal-args", default="", help="more hal serve options, e.g. --prefill-per-step 512")
    p.add_argument("--llama-server-args", default="",
                   help="more llama-server options, e.g. --no-repack where its AMX kernels crash (in some VMs)")
    args = p.parse_args()
    from hal.serve.cli import model_path
    model = model_path(args.model)
    results = {}
    runs = [(f"hal {d}", lambda d=d: hal_server(args.model, d, max(args.clients), args.hal_args)) for d in args.devices]
    if args.llama_server and os.access(args.llama_server, os.X_OK):
        runs.append(("llama-server", lambda: llama_server(args.llama_server, model, max(args.clients), args.threads,
                                                             args.llama_server_args)))
    else:
        why = f"{args.llama_server} is not an executable" if args.llama_server else \
            "no --llama-server and no LLAMA_SERVER (build it: see this file's docstring)"
        print(f"llama-server: skipped ({why})", file=sys.stderr)
    for name, start in runs:
        server = start()
        try:
            results[name] = measure(server, args.clients, args.tokens, args.rounds)
        except RuntimeError as e:
            print(f"{name}: skipped ({e})", file=sys.stderr)
        finally:
            server.stop()
    print(f"{os.path.basename(model)}, streaming chat, {args.tokens} greedy tokens per client, "
          f"{os.cpu_count()} cores")
    print(f"{'server':<16}{'clients':>8}{'tok/s':>9}{'TTFT p50':>10}{'p99':>8}{'ITL p50':>9}{'p99':>8}"
          f"{'x llama-server':>16}{'x 1 client':>12}")
    peer = results.get("llama-server", {})
    for name, rows in results.items():
        for n, r in rows.items():
            vs_peer = f"{r['tok_s'] / peer[n]['tok_s']:.2f}x" if n in peer and name != "llama-server" else ""
            vs_one = f"{r['tok_s'] / rows[args.clients[0]]['tok_s']:.2f}x"
            print(f"{name:<16}{n:>8}{r['tok_s']:>9.1f}{r['ttft50'] * 1e3:>8.0f}ms{r['ttft99'] * 1e3:>6.0f}ms"
                  f"{r['itl50'] * 1e3:>7.0f}ms{r['itl99'] * 1e3:>6.0f}ms{vs_peer:>16}{vs_one:>12}")


if __name__ == "__main__":
    main()
