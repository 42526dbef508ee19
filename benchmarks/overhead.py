"""Per-call cost of a small elementwise op and a small reduction: NumPy, hal on the
cpu, hal on each OpenCL device found (Oclgrind, a simulator, is left out), in one run;
and ``numpy.add(a, b)`` on hal arrays (NEP 13, hal/numpy_protocols.py) against ``a + b``
(which is ``hal.add``): what NumPy's dispatch adds.

    python benchmarks/overhead.py [--n 16] [--calls 20000]

On OpenCL devices a row "pyopencl" launches the same a + b kernel straight through
pyopencl (no hal in between): the floor for hal's dispatch there.

Timings on a shared machine are noisy: each figure is the best of several repeats, and
what matters is the difference to NumPy measured in the same run.
"""
import argparse
import timeit

import numpy as np

import hal
from hal.ops import elementwise, launch


def per_call_us(fn, calls: int, sync=lambda: None) -> float:
    def run():
        for _ in range(calls):
            fn()
        sync()
    run()  # warm-up: compiles kernels, fills caches and pools
    return min(timeit.repeat(run, number=1, repeat=7)) / calls * 1e6


def bare_add(device, a, b):
    """The kernel hal runs for ``a + b``, launched straight through pyopencl into an
    output allocated once: the floor under hal's dispatch on that device."""
    expr, helpers = elementwise._specialize("add", a.dtype)
    f32 = (("c", a.dtype, a.dtype),) * 2
    kernel = launch.program(device, launch.elementwise_source(expr, a.dtype, f32, False, 0, helpers), "ew").kernel
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
        if device.backend_name == "opencl":
            rows.append((f"pyopencl {device.name}", per_call_us(bare_add(device, a, b), calls, device.synchronize),
                         float("nan"), float("nan")))
    print(f"per-call time in microseconds, float32[{args.n}]")
    print(f"{'':16}{'a + b':>10}{'sum(a)':>10}{'add - numpy':>14}{'sum - numpy':>14}{'np.add':>10}"
          f"{'np.add - (a + b)':>18}")
    for name, add, total, np_add in rows:
        print(f"{name:16}{add:10.2f}{total:10.2f}{add - rows[0][1]:+14.2f}{total - rows[0][2]:+14.2f}{np_add:10.2f}"
              f"{np_add - add:+18.2f}")


if __name__ == "__main__":
    main()
