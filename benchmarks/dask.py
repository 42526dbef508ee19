"""A chunked Dask workload on hal chunks against Dask with NumPy chunks, in one run:
standardize the columns of a float32 matrix, multiply it by its transpose (the
correlation matrix), reduce the columns. hal chunks on the cpu, on each OpenCL device
found (Oclgrind, a simulator, is left out), and spread across all of them
(hal.dask.spread); speed as the ratio to Dask+NumPy (above 1: faster).

    python benchmarks/dask.py [--n 4096] [--chunk 1024] [--repeat 5] [--scheduler threads] [--devices cpu ...]

Each figure is the best of ``--repeat`` runs after a warm-up run (which compiles the
kernels); the variants take turns run by run, so that a busy spell on a shared machine
slows them alike; the input chunks are in place on their devices before the clock
starts. Spread over several devices, blocks go by measured GEMM speed (``by="speed"``).
Two rounds, each with its own Dask+NumPy figure for the ratios: hal on the cpu first,
then the OpenCL devices and the spread (as in benchmarks/gemm.py: after OpenCL work
PoCL's worker threads stay busy for a while, competing with the cpu's BLAS threads).
On the cpu hal's chunks run the same NumPy and BLAS calls as NumPy's (no hal kernel
launches in this workload), so the cpu ratio is Dask's overhead plus the machine's noise.
"""
import argparse
import os
import sys
import time

# This file is named dask.py: its folder must not shadow the dask package.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402

import hal  # noqa: E402
import hal.dask  # noqa: E402


def workload(x):
    """Standardized columns, their correlation matrix (``dot``, which also joins blocks
    spread over devices), its column sums."""
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    return (z.T.dot(z) / x.shape[0]).sum(axis=0)


def timed(x):
    start = time.perf_counter()
    result = np.asarray(workload(x).compute())  # (n floats back: the same for every variant)
    return time.perf_counter() - start, result


def best_seconds(variants: dict, repeat: int) -> list:
    """(name, best seconds, result) per variant, the variants taking turns."""
    results = {name: timed(x)[1] for name, x in variants.items()}  # warm-up: compiles kernels, fills pools
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(repeat):
        for name, x in variants.items():
            best[name] = min(best[name], timed(x)[0])
    return [(name, best[name], results[name]) for name in variants]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scheduler", default="threads", help="Dask's local scheduler: threads or sync")
    parser.add_argument("--devices", nargs="*", help="the hal devices (default: every one but simulators)")
    args = parser.parse_args()
    a = np.random.default_rng(0).standard_normal((args.n, args.n)).astype(np.float32)
    devices = args.devices or [d.name for d in hal.devices() if d.info.kind != "simulator"]
    rounds = [[d for d in devices if d == "cpu"], [d for d in devices if d != "cpu"]]
    print(f"standardize + correlation + column sums, float32[{args.n}, {args.n}] in {args.chunk}^2 chunks, "
          f"{args.scheduler} scheduler, best of {args.repeat}")
    print(f"{'':36}{'seconds':>10}{'vs dask+numpy':>16}{'max rel err':>14}")
    for names in filter(None, rounds):
        variants = {"dask + numpy": da.from_array(a, chunks=args.chunk)}
        for name in names:
            variants[f"dask + hal {name}"] = da.from_array(hal.asarray(a, device=name), chunks=args.chunk)
        if len(devices) > 1 and names is rounds[-1]:
            on_cpu = da.from_array(hal.asarray(a, device="cpu"), chunks=args.chunk)
            variants[f"dask + hal {' & '.join(devices)}"] = hal.dask.spread(on_cpu, devices=devices, by="speed")
        with dask.config.set(scheduler=args.scheduler):
            variants = {name: x.persist() for name, x in variants.items()}  # chunks in place before timing
            rows = best_seconds(variants, args.repeat)
        reference = rows[0][2]
        for name, seconds, result in rows:
            error = np.max(np.abs(result - reference)) / np.max(np.abs(reference))
            print(f"{name:36}{seconds:10.3f}{rows[0][1] / seconds:15.2f}x{error:14.1e}", flush=True)
    if len(devices) > 1:
        speeds = hal.dask.device_speeds()
        print("GEMM speeds spread used (GFLOP/s): " + ", ".join(f"{d} {speeds[d] / 1e9:.0f}" for d in devices))


if __name__ == "__main__":
    main()
