"""Per-call cost of a small elementwise op and a small reduction: NumPy, hal on the
cpu, hal on each OpenCL device found (Oclgrind, a simulator, is left out), in one run;
and ``numpy.add(a, b)`` on hal arrays (NEP 13, hal/numpy_protocols.py) against ``a + b``
(which is ``hal.add``): what NumPy's dispatch adds.

    python benchmarks/overhead.py [--n 16] [--calls 20000]

Timings on a shared machine are noisy: each figure is the best of several repeats, and
what matters is the difference to NumPy measured in the same run.
"""
import argparse
import timeit

import numpy as np

import hal


def per_call_us(fn, calls: int, sync=lambda: None) -> float:
    def run():
        for _ in range(calls):
            fn()
        sync()
    run()  # warm-up: compiles kernels, fills caches and pools
    return min(timeit.repeat(run, number=1, repeat=7)) / calls * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="elements per array")
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    a_np = np.arange(args.n, dtype=np.float32)
    b_np = a_np[::-1].copy()
    rows = [("numpy", per_call_us(lambda: a_np + b_np, args.calls),
             per_call_us(lambda: np.sum(a_np), args.calls), per_call_us(lambda: np.add(a_np, b_np), args.calls))]
    devices = [d for d in hal.devices() if d.info.kind != "simulator"]
    for device in devices:
        a, b = hal.asarray(a_np, device=device), hal.asarray(b_np, device=device)
        calls = args.calls if device.family == "numpy" else args.calls // 10
        rows.append((f"hal {device.name}", per_call_us(lambda: a + b, calls, device.synchronize),
                     per_call_us(lambda: hal.sum(a), calls, device.synchronize),
                     per_call_us(lambda: np.add(a, b), calls, device.synchronize)))
    print(f"per-call time in microseconds, float32[{args.n}]")
    print(f"{'':16}{'a + b':>10}{'sum(a)':>10}{'add - numpy':>14}{'sum - numpy':>14}{'np.add':>10}"
          f"{'np.add - (a + b)':>18}")
    for name, add, total, np_add in rows:
        print(f"{name:16}{add:10.2f}{total:10.2f}{add - rows[0][1]:+14.2f}{total - rows[0][2]:+14.2f}{np_add:10.2f}"
              f"{np_add - add:+18.2f}")


if __name__ == "__main__":
    main()
