"""The quantized products of a LLaMA decode and prefill step (ops/qdot.py: 8-bit
activations times Q4_1 / Q8_0 blocks; ops/qdot_k.py: activations per 256 times the
K-quants; llama.cpp's arithmetic) on each device, with the cpu's C kernels as the
yardstick, in one run:

    python benchmarks/qdot.py [--device cpu opencl:0] [--repeats 5]

The shapes are SmolLM2-135M's launches (rows x cols of the weights; q, k and v share a
launch, gate and up another; the output projection is Q8_0; a Q4_K_M file's ffn_down is
Q4_K or Q6_K, and Q5_K in a Q5_K_M) for 1 token (decode) and 64 (prefill). Each device
runs its tuned or default configuration (HAL_TUNE=cached). Each figure is the best of
``--repeats`` rounds in which the devices take turns, a round timing a batch of calls
(>= 50 ms: wall clock and a synchronize, so a launch's overhead counts); GB/s is weight
bytes read per second; "x cpu" is the cpu's time over the device's. The machine may be
shared: compare ratios, and read the load printed with them.
"""
import argparse
import os
import time

import numpy as np

import hal
from hal import autotune
from hal.ops import qdot, qdot_k, quant

LAUNCHES = [("Q4_1", (576, 192, 192), 576), ("Q4_1", (576,), 576), ("Q4_1", (1536, 1536), 576),
            ("Q4_1", (576,), 1536), ("Q8_0", (49152,), 576),
            ("Q4_K", (576,), 1536), ("Q5_K", (576,), 1536), ("Q6_K", (576,), 1536)]


def product(device, ggml_type: str, rows: tuple, cols: int, n: int, rng):
    """A call of one launch's products on ``device`` (random x and weights)."""
    x = device.from_host(rng.standard_normal((n, cols)).astype(np.float32))
    raws = [device.from_host(quant.random_raw(quant.TYPES[ggml_type], r, cols, rng)) for r in rows]
    if qdot_k.supports(ggml_type):  # one weight to a launch, x quantized per 256
        config = qdot_k.default_config(device, n)
        out, a = device.empty((n, rows[0]), np.dtype(np.float32)), qdot_k.quantize(device, x, config.get("TOKENS", 0))
        return lambda: qdot_k.dot_into(device, config, out, a, raws[0], ggml_type)
    config = autotune.choose(device, f"quant_linear_q8_{ggml_type}", qdot.tuning_key(ggml_type, n, sum(rows), cols))
    flat = device.empty((n * sum(rows),), np.dtype(np.float32))
    a = qdot.quantize(device, x)
    return lambda: qdot.dots_into(device, config, flat, a, raws, list(rows), ggml_type)


def seconds(device, call, batch: int) -> float:
    device.synchronize()
    start = time.perf_counter()
    for _ in range(batch):
        call()
    device.synchronize()
    return (time.perf_counter() - start) / batch


def best_seconds(devices, calls: dict, repeats: int) -> dict:
    """Seconds per call on each device: the best of ``repeats`` rounds, the devices in
    turn in each, so a burst of load from other processes slows them alike."""
    batches = {}
    for d in devices:  # the first call compiles; then a batch of about 50 ms
        calls[d.name]()
        batches[d.name] = max(1, int(0.05 / max(seconds(d, calls[d.name], 1), 1e-6)))
    best = dict.fromkeys(batches, float("inf"))
    for _ in range(repeats):
        for d in devices:
            best[d.name] = min(best[d.name], seconds(d, calls[d.name], batches[d.name]))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", nargs="+", default=["cpu", "opencl:0"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    devices = [hal.device(d) for d in args.device]
    rng = np.random.default_rng(0)
    print(f"load {os.getloadavg()[0]:.1f}; us per call (GB/s of weights, x cpu)")
    print(f"{'launch':<28}" + "".join(f"{d.name:>30}" for d in devices))
    for n in (1, 64):
        for ggml_type, rows, cols in LAUNCHES:
            best = best_seconds(devices, {d.name: product(d, ggml_type, rows, cols, n, rng) for d in devices},
                                args.repeats)
            nbytes = sum(quant.row_bytes(quant.TYPES[ggml_type], cols) * r for r in rows)
            cells = []
            for d in devices:
                ratio = f", x{best['cpu'] / best[d.name]:.2f}" if "cpu" in best and d.name != "cpu" else ""
                cells.append(f"{best[d.name] * 1e6:9.1f} ({nbytes / best[d.name] / 1e9:5.1f} GB/s{ratio})")
            label = f"n={n} {ggml_type} {'+'.join(map(str, rows))}x{cols}"
            print(f"{label:<28}" + "".join(f"{c:>30}" for c in cells))


if __name__ == "__main__":
    main()
