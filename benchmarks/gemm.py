"""float32 and float16-storage GEMM in one run: on PoCL (OpenCL on the CPU) hal tuned vs
hal untuned (the declared defaults, HAL_TUNE=off) vs CLBlast (pyclblast, its untuned
defaults; HGEMM for float16 where the device has half precision, else CLBlast's reason
and its SGEMM on the same product as the nearest peer); on the cpu device hal's matmul vs
NumPy's (for float16 NumPy's own float16 matmul, and its float32 one for scale). Shapes
(M x K x N): squares of 256 to 2048 and the products of a 576-wide LLaMA (one token and
64 tokens through the 576 x 1536 MLP, one token through the 576 x 49152 vocabulary
projection). float16 is storage: hal sums in float32 and rounds once.

    python benchmarks/gemm.py [--budget 60] [--retune] [--repeats 5] [--dtype float16] [--only cpu]
    python benchmarks/gemm.py --device cuda:0 [--dtype float32]

On a CUDA or ROCm GPU (``--device``) hal's matmul, which runs cuBLAS (rocBLAS) through
CuPy, is timed against CuPy's own matmul on the same device and data: the ratio is
what hal's dispatch costs.

"tuned" uses what the tuning database holds for each shape's bucket (``python -m hal
tune`` fills it); a bucket with nothing stored is tuned first, within ``--budget``
seconds (``--retune`` tunes every bucket again). Each figure is the best of
``--repeats`` rounds in which the contenders take turns, each timing a batch of calls
(wall clock around the calls and a queue finish, the same for every contender): the
machine may be shared, so compare the ratios, which are measured in the same run, and
read the load average printed with them (each PoCL row's, as it ended): under load
CLBlast's figure falls further than hal's (9-13 vs 30 GFLOP/s at n=1024 and load 4-8
here), which inflates the ratio.
"""
import argparse
import importlib
import os
import time

import numpy as np

import hal
from hal import autotune
from hal.ops import linalg

SHAPES = [(n, n, n) for n in (256, 512, 1024, 2048)] + [(1, 576, 1536), (64, 576, 1536), (1, 576, 49152)]


def best_seconds(contenders: dict, repeats: int) -> dict:
    """Seconds per call of each ``name: (fn, sync, mode)``: the best of ``repeats``
    rounds, in each of which every contender runs one batch of calls (>= 100 ms) in turn
    with HAL_TUNE=``mode``, so a burst of load from other processes slows them alike
    rather than whichever ran then."""
    calls = {}
    for name, (fn, sync, mode) in contenders.items():
        tune_mode(mode)
        fn()
        sync()
        start = time.perf_counter()
        fn()
        sync()
        calls[name] = max(1, int(0.1 / max(time.perf_counter() - start, 1e-6)))
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(repeats):
        for name, (fn, sync, mode) in contenders.items():
            tune_mode(mode)
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            sync()
            best[name] = min(best[name], (time.perf_counter() - start) / calls[name])
    return best


def tune_mode(mode: str) -> None:
    """HAL_TUNE=``mode`` from now on (hal notices the change at its next lookup)."""
    os.environ["HAL_TUNE"] = mode


def ensure_tuned(device, m, k, n, budget: float, retune: bool, dtype) -> dict:
    """The stored configuration of the (op, bucket) this shape runs as; tuned if missing."""
    op, _ = linalg._config(device, np.dtype(dtype), 1, m, n, k, 1, n)
    key = linalg._key(dtype, 1, m, n, k) if op == "gemm" else linalg._key(dtype, 1, n, k)
    stored = autotune.lookup(device, op, key)
    if stored is None or retune:
        stored = autotune.tune(device, op, key, budget=budget, progress=True).config
    return {"op": op, **stored}


def clblast_missing() -> str:
    """Why CLBlast cannot be timed here ("" when pyclblast and libclblast load)."""
    try:
        importlib.import_module("pyclblast")  # (which loads libclblast)
    except ImportError as e:
        return f"CLBlast absent: {e} (install Debian's libclblast-dev, then pip install pyclblast)"
    return ""


def clblast_gemm(device, a_np, b_np):
    """A callable running CLBlast's GEMM of the operands' dtype (SGEMM, HGEMM) on hal's
    OpenCL context and queue."""
    import pyclblast
    import pyopencl.array as cla
    m, k = a_np.shape
    n = b_np.shape[1]
    a, b = cla.to_device(device.queue, a_np), cla.to_device(device.queue, b_np)
    c = cla.zeros(device.queue, (m, n), a_np.dtype)
    return lambda: pyclblast.gemm(device.queue, m, n, k, a, b, c, a_ld=k, b_ld=n, c_ld=n), c


def clblast_hgemm_problem(device) -> str:
    """Why CLBlast's HGEMM cannot run on ``device`` ("" if it can)."""
    if clblast_missing():
        return clblast_missing()
    a = np.ones((8, 8), np.float16)
    try:
        run, c = clblast_gemm(device, a, a)
        run()
        device.queue.finish()
    except Exception as e:  # CLBlast says why (e.g. CLBlastNoHalfPrecision)
        why = str(e).split("failed: ")[-1].split("CLBlast: Run-time")[0].strip()
        has_fp16 = "cl_khr_fp16" in device.cl_device.extensions
        return f"{why}; the device {'has' if has_fp16 else 'lacks'} cl_khr_fp16"
    return "" if np.array_equal(c.get(), a @ a) else "wrong result"


def gflops(m, k, n, seconds):
    return 2 * m * k * n / seconds / 1e9


def pocl_rows(device, args):
    missing = clblast_missing()
    if missing:
        print(f"  {missing}: hal tuned and untuned only")
    rows = []
    for m, k, n in SHAPES:
        rng = np.random.default_rng(0)
        a_np, b_np = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32)
        config = ensure_tuned(device, m, k, n, args.budget, args.retune, np.float32)
        a, b = hal.asarray(a_np, device=device), hal.asarray(b_np, device=device)
        want = a_np @ b_np
        for mode in ("cached", "off"):
            tune_mode(mode)
            got = np.asarray(hal.matmul(a, b))
            assert np.allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max()), (mode, m, k, n)
        contenders = {"tuned": (lambda: hal.matmul(a, b), device.synchronize, "cached"),
                      "untuned": (lambda: hal.matmul(a, b), device.synchronize, "off")}
        if not missing:
            run, c = clblast_gemm(device, a_np, b_np)
            run()
            assert np.allclose(c.get(), want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
            contenders["clblast"] = (run, device.queue.finish, "cached")
        g = {name: gflops(m, k, n, t) for name, t in best_seconds(contenders, args.repeats).items()}
        clb, ratio = (f"{g['clblast']:.1f}", f"{g['tuned'] / g['clblast']:.2f}") if "clblast" in g else ("n/a", "n/a")
        rows.append((f"{m}x{k}x{n}", f"{g['tuned']:.1f}", f"{g['untuned']:.1f}", clb, ratio,
                     f"{g['tuned'] / g['untuned']:.2f}", f"{os.getloadavg()[0]:.1f}",
                     " ".join(f"{key}={v}" for key, v in config.items())))
        print(f"  {rows[-1][0]}: tuned {g['tuned']:.1f}, untuned {g['untuned']:.1f}, CLBlast {clb} GFLOP/s",
              flush=True)
    return rows


def pocl_half_rows(device, args):
    """float16 storage on PoCL: hal tuned and untuned, CLBlast's HGEMM where the device
    runs it, and CLBlast's SGEMM of the same product (float32 data: twice the bytes)."""
    hgemm_problem = clblast_hgemm_problem(device)
    print(f"  CLBlast HGEMM on {device.name}: " + (f"not run ({hgemm_problem})" if hgemm_problem else "runs"))
    rows = []
    for m, k, n in SHAPES:
        rng = np.random.default_rng(0)
        a_np, b_np = rng.standard_normal((m, k)).astype(np.float16), rng.standard_normal((k, n)).astype(np.float16)
        config = ensure_tuned(device, m, k, n, args.budget, args.retune, np.float16)
        a, b = hal.asarray(a_np, device=device), hal.asarray(b_np, device=device)
        want = linalg.reference(a_np, b_np).astype(np.float32)
        for mode in ("cached", "off"):
            tune_mode(mode)
            got = np.asarray(hal.matmul(a, b)).astype(np.float32)
            assert np.allclose(got, want, rtol=2e-3, atol=1e-3 * np.abs(want).max()), (mode, m, k, n)
        contenders = {"tuned": (lambda: hal.matmul(a, b), device.synchronize, "cached"),
                      "untuned": (lambda: hal.matmul(a, b), device.synchronize, "off")}
        if not clblast_missing():
            sgemm, _ = clblast_gemm(device, a_np.astype(np.float32), b_np.astype(np.float32))
            contenders["sgemm"] = (sgemm, device.queue.finish, "cached")
        if not hgemm_problem:
            contenders["hgemm"] = (clblast_gemm(device, a_np, b_np)[0], device.queue.finish, "cached")
        timed = best_seconds(contenders, args.repeats)
        g = {name: gflops(m, k, n, t) for name, t in timed.items()}
        hgemm = f"{g['hgemm']:.1f}" if "hgemm" in g else "n/a"
        sgemm, ratio = (f"{g['sgemm']:.1f}", f"{g['tuned'] / g['sgemm']:.2f}") if "sgemm" in g else ("n/a", "n/a")
        rows.append((f"{m}x{k}x{n}", f"{g['tuned']:.1f}", f"{g['untuned']:.1f}", hgemm, sgemm,
                     f"{g['tuned'] / g['untuned']:.2f}", ratio, f"{os.getloadavg()[0]:.1f}",
                     " ".join(f"{key}={v}" for key, v in config.items())))
        print(f"  {rows[-1][0]}: tuned {g['tuned']:.1f}, untuned {g['untuned']:.1f}, CLBlast HGEMM {hgemm}, "
              f"SGEMM {sgemm} GFLOP/s", flush=True)
    return rows


def warm_blas(seconds: float = 2.0) -> None:
    """Keep BLAS busy for a moment: in a new process OpenBLAS's threads ran 16 ms per
    256x256 product for about a second here before settling at 0.2 ms."""
    x = np.ones((256, 256), np.float32)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        x @ x


def cpu_rows(args):
    cpu = hal.device("cpu")
    warm_blas()
    rows = []
    for m, k, n in SHAPES:
        rng = np.random.default_rng(0)
        a_np, b_np = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32)
        a, b = hal.asarray(a_np, device=cpu), hal.asarray(b_np, device=cpu)
        timed = best_seconds({"hal": (lambda: hal.matmul(a, b), lambda: None, "cached"),
                              "numpy": (lambda: a_np @ b_np, lambda: None, "cached")}, args.repeats)
        h, p = gflops(m, k, n, timed["hal"]), gflops(m, k, n, timed["numpy"])
        rows.append((f"{m}x{k}x{n}", f"{h:.1f}", f"{p:.1f}", f"{h / p:.2f}"))
    return rows


NUMPY_HALF_LIMIT = 5.0
"""Seconds one NumPy float16 product may take to be timed (it runs a scalar loop at
about 0.5 GFLOP/s here: n=2048 would take half a minute a call)."""


def cpu_half_rows(args):
    """hal's float16 matmul on the cpu (SGEMM on the decoded operands, one rounding) vs
    NumPy's float16 matmul, and NumPy's float32 matmul of the same product for scale."""
    cpu = hal.device("cpu")
    warm_blas()
    rows, numpy_rate = [], None
    for m, k, n in SHAPES:
        rng = np.random.default_rng(0)
        a_np, b_np = rng.standard_normal((m, k)).astype(np.float16), rng.standard_normal((k, n)).astype(np.float16)
        a32, b32 = a_np.astype(np.float32), b_np.astype(np.float32)
        a, b = hal.asarray(a_np, device=cpu), hal.asarray(b_np, device=cpu)
        got, want = (x.astype(np.float32) for x in (np.asarray(hal.matmul(a, b)), linalg.reference(a_np, b_np)))
        assert np.allclose(got, want, rtol=2e-3, atol=1e-3 * np.abs(want).max()), (m, k, n)
        contenders = {"hal": (lambda: hal.matmul(a, b), lambda: None, "cached"),
                      "numpy32": (lambda: a32 @ b32, lambda: None, "cached")}
        timed = best_seconds(contenders, args.repeats)
        expected = 2 * m * k * n / numpy_rate if numpy_rate else 0.0
        if expected < NUMPY_HALF_LIMIT:
            start = time.perf_counter()
            a_np @ b_np  # one call, untimed rounds: at 0.5 GFLOP/s a round is long enough alone
            timed["numpy16"] = time.perf_counter() - start
            numpy_rate = 2 * m * k * n / timed["numpy16"]
        g = {name: gflops(m, k, n, t) for name, t in timed.items()}
        numpy16 = (f"{g['numpy16']:.2f}", f"{g['hal'] / g['numpy16']:.0f}") if "numpy16" in g else \
            (f"not timed (~{expected:.0f} s a call)", "-")
        rows.append((f"{m}x{k}x{n}", f"{g['hal']:.1f}", numpy16[0], numpy16[1], f"{g['numpy32']:.1f}",
                     f"{g['hal'] / g['numpy32']:.2f}"))
    return rows


def gpu_rows(device, dtype, args):
    """hal's matmul on a CUDA/ROCm ``device`` vs cupy.matmul on the same GPU and data."""
    import cupy
    gpu = cupy.cuda.Device(device.index)
    rows = []
    for m, k, n in SHAPES:
        rng = np.random.default_rng(0)
        a_np, b_np = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k, n)))
        a, b = hal.asarray(a_np, device=device), hal.asarray(b_np, device=device)
        with gpu:
            a_c, b_c = cupy.asarray(a_np), cupy.asarray(b_np)
        want = linalg.reference(a_np, b_np).astype(np.float32)
        got = np.asarray(hal.matmul(a, b)).astype(np.float32)
        assert np.allclose(got, want, rtol=2e-3, atol=2e-3 * np.abs(want).max()), (m, k, n)
        timed = best_seconds({"hal": (lambda: hal.matmul(a, b), device.synchronize, "cached"),
                              "cupy": (lambda: cupy.matmul(a_c, b_c), gpu.synchronize, "cached")}, args.repeats)
        h, c = gflops(m, k, n, timed["hal"]), gflops(m, k, n, timed["cupy"])
        rows.append((f"{m}x{k}x{n}", f"{h:.1f}", f"{c:.1f}", f"{h / c:.2f}"))
    return rows


def gpu_main(device, args) -> None:
    for dtype in [t for t in ("float32", "float16") if args.dtype in (t, "all")]:
        print(f"{device.name} {dtype} (GFLOP/s): {device.info.description} ({device.info.driver})")
        print(table(("M x K x N", "hal matmul", "CuPy matmul", "hal/CuPy"), gpu_rows(device, np.dtype(dtype), args)))


def table(head, rows) -> str:
    rows = [head] + rows
    widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60, help="seconds to tune a bucket with nothing stored")
    parser.add_argument("--retune", action="store_true", help="tune every bucket again")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--dtype", choices=("float32", "float16", "all"), default="all")
    parser.add_argument("--only", choices=("cpu", "pocl", "all"), default="all", help="which devices to measure")
    parser.add_argument("--device", help="measure only this device: cpu, an OpenCL CPU device (PoCL) or a "
                        "CUDA/ROCm GPU (cuda:0, ...)")
    args = parser.parse_args()
    pocl = next((d for d in hal.devices() if d.family == "buffer" and d.info.kind == "cpu"), None)
    if args.device:
        device = hal.device(args.device)
        if device.backend_name in ("cuda", "rocm"):
            gpu_main(device, args)
            return
        if device.family == "buffer" and device.info.kind == "cpu":
            pocl, args.only = device, "pocl"
        elif device.name == "cpu":
            args.only = "cpu"
        else:
            parser.error(f"{device.name} is not cpu, an OpenCL CPU device or a CUDA/ROCm GPU")
    f32, f16 = args.dtype in ("float32", "all"), args.dtype in ("float16", "all")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    # The cpu first: after OpenCL work PoCL's worker threads stay busy for a while and
    # OpenBLAS's threads, competing with them, measured 10-100x slow on small products.
    if args.only != "pocl" and f32:
        rows = cpu_rows(args)
        print("cpu float32 (GFLOP/s):")
        print(table(("M x K x N", "hal matmul", "NumPy", "hal/NumPy"), rows))
        worst = min(float(r[3]) for r in rows)
        print(f"target cpu hal/NumPy >= 0.95: worst {worst:.2f} ({'met' if worst >= 0.95 else 'NOT met'})")
    if args.only != "pocl" and f16:
        print("cpu float16 storage (GFLOP/s; NumPy float16 timed once per shape):")
        print(table(("M x K x N", "hal matmul", "NumPy f16", "hal/NumPy f16", "NumPy f32", "hal f16/NumPy f32"),
                    cpu_half_rows(args)))
    if pocl is not None and args.only != "cpu" and f16:
        print(f"{pocl.name} float16 storage: {pocl.info.description} ({pocl.info.driver})")
        print(table(("M x K x N", "hal tuned", "hal untuned", "CLBlast HGEMM", "CLBlast SGEMM", "tuned/untuned",
                     "tuned/SGEMM", "load", "tuned config"), pocl_half_rows(pocl, args)))
    if pocl is not None and args.only != "cpu" and f32:
        print(f"{pocl.name}: {pocl.info.description} ({pocl.info.driver})")
        rows = pocl_rows(pocl, args)
        print(table(("M x K x N", "hal tuned", "hal untuned", "CLBlast", "tuned/CLBlast", "tuned/untuned",
                     "load", "tuned config"), rows))
        target = next(r[4] for r in rows if r[0] == "1024x1024x1024")
        print("target tuned/CLBlast >= 3 at n=1024: " + (f"not measured ({clblast_missing()})" if target == "n/a"
              else f"{target} ({'met' if float(target) >= 3 else 'NOT met'})"))
    if pocl is None and args.only != "cpu":
        print("no OpenCL CPU device (PoCL) found: skipping hal vs CLBlast")
    print(f"load average at end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
