"""Per-call cost of a small elementwise op and a small reduction: NumPy, hal on the
cpu, hal on each OpenCL device found (Oclgrind, a simulator, is left out), in one run;
and ``numpy.add(a, b)`` on hal arrays (NEP 13, hal/numpy_protocols.py) against ``a + b``
(which is ``hal.add``): what NumPy's dispatch adds.

    python benchmarks/overhead.py [--n 16] [--calls 20000] [--clock thread]

On OpenCL devices a row "pyopencl" launches the same a + b kernel straight through
pyopencl (no hal in between), timed in turns with hal's a + b: the floor for hal's
dispatch there, and the last line their ratio.

Timings on a shared machine are noisy: each figure is the best of several repeats, and
what matters is the difference to NumPy measured in the same run. ``--clock thread``
counts the calling thread's CPU time instead of the wall clock: the dispatch cost itself,
whatever else runs on the machine (an OpenCL CPU device runs its kernels in threads of
its own, which that clock leaves out).
"""
import argparse
import time
import timeit

import numpy as np

import hal
from hal.ops import elementwise, launch


CLOCKS = {"wall": time.perf_counter, "thread": time.thread_time}
clock = CLOCKS["wall"]


def per_call_us(fn, calls: int, sync=lambda: None) -> float:
    def run():
        for _ in range(calls):
            fn()
        sync()
    run()  # warm-up: compiles kernels, fills caches and pools
    return min(timeit.Timer(run, timer=clock).repeat(number=1, repeat=7)) / calls * 1e6


def in_turns(fns, calls: int, sync, rounds: int = 4) -> list:
    """``per_call_us`` of each of ``fns``, timed in turns: the machine's speed drifts, and
    so each gets the same moments (for a ratio between them)."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        best = [min(b, per_call_us(fn, calls, sync)) for b, fn in zip(best, fns)]
    return best


def bare_add(device, a, b):
    """The kernel hal runs for ``a + b``, launched straight through pyopencl into an
    output allocated once: the floor under hal's dispatch on that device. (A kernel
    object of its own: hal's keeps the arguments it set last.)"""
    import pyopencl as cl
    expr, _, helpers = elementwise._specialize("add", a.dtype)
    f32 = (("c", a.dtype, a.dtype),) * 2
    hal_kernel = launch.program(device, launch.elementwise_source(expr, a.dtype, f32, False, 0, helpers), "ew")
    kernel = cl.Kernel(hal_kernel.kernel.program, "ew")
    kernel.set_scalar_arg_dtypes(hal_kernel.arg_dtypes)
    out = hal.empty_like(a)
    n, queue = a.size, device.queue
    handles = [p.buf.handle if hasattr(p, "buf") else p for p in
               (out._data, 0, a._data, 0, b._data, 0, n)]
    group = (min(256, device.info.max_work_group),)
    size = (-(-n // group[0]) * group[0],)
    return lambda: kernel(queue, size, group, *handles)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="elements per array")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--clock", choices=CLOCKS, default="wall")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    a_np = np.arange(args.n, dtype=np.float32)
    b_np = a_np[::-1].copy()
    rows = [("numpy", per_call_us(lambda: a_np + b_np, args.calls),
             per_call_us(lambda: np.sum(a_np), args.calls), per_call_us(lambda: np.add(a_np, b_np), args.calls))]
    devices = [d for d in hal.devices() if d.info.kind != "simulator"]
    for device in devices:
        a, b = hal.asarray(a_np, device=device), hal.asarray(b_np, device=device)
        calls = args.calls if device.family == "numpy" else args.calls // 10
        adds = [lambda: a + b, lambda: np.add(a, b)] + ([bare_add(device, a, b)] if device.backend_name == "opencl"
                                                        else [])
        add, np_add, *bare = in_turns(adds, calls, device.synchronize)
        rows.append((f"hal {device.name}", add, per_call_us(lambda: hal.sum(a), calls, device.synchronize), np_add))
        if bare:
            rows.append((f"pyopencl {device.name}", bare[0], float("nan"), float("nan")))
    print(f"per-call time in microseconds ({args.clock} clock), float32[{args.n}]")
    print(f"{'':16}{'a + b':>10}{'sum(a)':>10}{'add - numpy':>14}{'sum - numpy':>14}{'np.add':>10}"
          f"{'np.add - (a + b)':>18}")
    for name, add, total, np_add in rows:
        print(f"{name:16}{add:10.2f}{total:10.2f}{add - rows[0][1]:+14.2f}{total - rows[0][2]:+14.2f}{np_add:10.2f}"
              f"{np_add - add:+18.2f}")
    for hal_row, bare_row in zip(rows, rows[1:]):
        if bare_row[0].startswith("pyopencl"):
            print(f"{hal_row[0]} a + b / pyopencl a + b: {hal_row[1] / bare_row[1]:.2f}x")


if __name__ == "__main__":
    main()
