"""Prefill and decode speed of a GGUF LLaMA on every device (Oclgrind, a simulator, is
left out), with llama.cpp (llama-cpp-python) on the same file in the same run where it
is installed.

    python benchmarks/llama.py [--model PATH] [--device D] [--prompt-tokens 64] [--decode-tokens 32]

GB/s is the weight bytes one forward pass reads (every matrix once; the token
embedding one row) times passes per second: for decode the memory-bandwidth figure
that bounds a token's time; for prefill it shows how far a batch of tokens amortizes
the weights. Each figure is the best of --repeats runs after a warm-up run. The ratios
are against llama.cpp in the same run; the roofline is the decode speed memory allows:
the measured read bandwidth of the device's memory (for devices on the host's cores,
every core summing a 512 MiB array in a C kernel; for a GPU, hal.sum over one in its
own memory) over the weight bytes one token reads.
"""
import argparse
import os
import sys
import time

import numpy as np

import hal
import hal.gguf
from hal.llama import Llama

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
from llama import default_model, model_path  # noqa: E402  (examples/llama.py)

TEXT = "The quick brown fox jumps over the lazy dog while the band plays a song about rivers and stars. "


def prompt_ids(model: Llama, n: int) -> list[int]:
    ids = []
    while len(ids) < n:
        ids += model.tokenizer.encode(TEXT)
    return ids[:n]


def measure_hal(model: Llama, prompt: list, n: int, repeats: int) -> tuple[float, float]:
    """(prefill seconds, decode seconds per token): the best of ``repeats``."""
    model.generate(prompt, 2, stop_at_eos=False)  # warm-up: kernel builds, memory pools
    runs = [model.generate(prompt, n, stop_at_eos=False) for _ in range(repeats)]
    return min(r.prefill_s for r in runs), min(r.decode_s / (len(r.token_ids) - 1) for r in runs)


def measure_llama_cpp(path: str, prompt: list, n: int, repeats: int):
    try:
        import llama_cpp
    except ImportError:
        return None
    llm = llama_cpp.Llama(path, n_ctx=len(prompt) + n + 8, n_threads=os.cpu_count(), verbose=False)
    vocab = llm.n_vocab()
    last_logits = lambda: np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(vocab,))  # noqa: E731
    prefill, decode = [], []
    for _ in range(repeats + 1):
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)
        prefill.append(time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(n - 1):
            llm.eval([int(last_logits().argmax())])
        decode.append((time.perf_counter() - start) / (n - 1))
    return min(prefill[1:]), min(decode[1:])


def read_bandwidth(device, nbytes: int = 512 << 20) -> float:
    """Bytes per second a device reads from its memory (the best of 5)."""
    if device.info.kind != "cpu":
        x = hal.ones((nbytes // 4,), dtype=hal.float32, device=device)
        return nbytes / best_time(lambda: float(hal.sum(x)))
    return host_read_bandwidth(nbytes)


def memory_of(device) -> str:
    return "the host's cores" if device.info.kind == "cpu" else device.name


def best_time(run, repeats: int = 5) -> float:
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def host_read_bandwidth(nbytes: int) -> float:
    """Bytes per second the host's cores read: the cpu device's C kernel summing rows of
    a large array on its threads."""
    from hal.ops.launch import program
    cpu = hal.device("cpu")
    rows = nbytes // 4 // 4096
    x = np.ones((rows, 4096), np.float32)
    out = np.empty(rows, np.float32)
    source = r"""
KERNEL void row_sums(GLOBAL f32 *out, GLOBAL const f32 *x, i64 cols) {
    i64 r = GLOBAL_ID(0);
    f32 acc[16] = {0};
    for (i64 c = 0; c < cols; c += 16)
        for (int l = 0; l < 16; l++) acc[l] += x[r * cols + c + l];
    f32 s = 0;
    for (int l = 0; l < 16; l++) s += acc[l];
    out[r] = s;
}"""
    run = program(cpu, source, "row_sums", HAL_OMP_MIN_ITEMS=1)
    return x.nbytes / best_time(lambda: run((rows,), None, out, x, 4096))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", help="measure only this device (default: every device but simulators)")
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = model_path(args.model) if args.model else default_model()
    file = hal.gguf.read(path)
    rows = []
    devices = [hal.device(args.device)] if args.device else [d for d in hal.devices() if d.info.kind != "simulator"]
    for device in devices:
        model = Llama.load(file, device)
        prompt = prompt_ids(model, args.prompt_tokens)
        rows.append((f"hal {device.name}", device, *measure_hal(model, prompt, args.decode_tokens, args.repeats)))
    peer = measure_llama_cpp(path, prompt, args.decode_tokens, args.repeats)
    if peer is not None:
        rows.append(("llama.cpp (cpu)", hal.device("cpu"), *peer))
    memories = {memory_of(device): device for _, device, _, _ in rows}  # cpu, PoCL and llama.cpp share the host's
    gb = model.bytes_per_token / 1e9
    print(f"{os.path.basename(path)}: {model.bytes_per_token / 1e6:.1f} MB of weights per forward pass, "
          f"prompt {len(prompt)} tokens, {args.decode_tokens} decoded")
    bandwidths = {memory: read_bandwidth(device) for memory, device in memories.items()}
    for memory, bandwidth in bandwidths.items():
        print(f"roofline: {bandwidth / 1e9:.1f} GB/s read by {memory} -> at most {bandwidth / 1e9 / gb:.0f} decode tok/s")
    print(f"{'':18} {'prefill tok/s':>14} {'decode tok/s':>13} {'decode GB/s':>12} {'% roofline':>11} "
          f"{'x llama.cpp':>24}")
    for name, device, prefill_s, decode_s in rows:
        ratio = "" if peer is None else f"prefill {peer[0] / prefill_s:.2f} decode {peer[1] / decode_s:.2f}"
        print(f"{name:18} {len(prompt) / prefill_s:14.1f} {1 / decode_s:13.1f} {gb / decode_s:12.2f} "
              f"{100 * gb * 1e9 / decode_s / bandwidths[memory_of(device)]:11.0f} {ratio:>24}")


if __name__ == "__main__":
    main()
