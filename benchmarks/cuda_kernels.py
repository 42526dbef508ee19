"""User CUDA kernels against hal's own ops, in one run (hal.RawKernel, ElementwiseKernel,
ReductionKernel; examples/cuda_kernels.py holds the kernels):

- the shared-memory tiled SGEMM RawKernel (16 x 16 tiles) against hal.matmul (its tuned
  GEMM) and CLBlast's SGEMM (pyclblast, where installed), on an OpenCL device;
- elementwise and reduction kernels against the equivalent hal namespace calls:
  ``z = x + y`` vs ``hal.add``, ``z = (x - y) * (x - y)`` vs ``hal.square(x - y)``, a sum
  vs ``hal.sum`` (all, and per row) and an L2 norm vs ``hal.linalg.vector_norm``.

    python benchmarks/cuda_kernels.py [--device opencl:0] [--repeats 5] [--n 4000000] [--gemm 512 1024]

Each figure is the best of ``--repeats`` rounds in which the contenders take turns, each
timing a batch of calls (>= 0.1 s; wall clock around the calls and a device
synchronize); a ratio above 1 means the user's kernel is slower than the peer.
"""
import argparse
import os
import sys

import numpy as np

import hal

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import cuda_kernels as kernels  # noqa: E402  (the example's kernels)
import gemm  # noqa: E402  (benchmarks/gemm.py, beside this file: its timer)

ADD = hal.ElementwiseKernel("T x, T y", "T z", "z = x + y", "user_add")
SUM = hal.ReductionKernel("T x", "T y", "x", "a + b", "y = a", "0", "user_sum")


def best_seconds(contenders: dict, sync, repeats: int) -> dict:
    """benchmarks/gemm.py's alternating timer, every contender synchronized by ``sync``
    under the tuning mode in force."""
    mode = os.environ.get("HAL_TUNE", "cached")
    return gemm.best_seconds({name: (fn, sync, mode) for name, fn in contenders.items()}, repeats)


def clblast(device, a_np, b_np):
    """CLBlast's SGEMM on hal's OpenCL queue, or None (and why) where it cannot run."""
    if device.backend_name != "opencl":
        return None, "CLBlast runs on OpenCL devices"
    if gemm.clblast_missing():
        return None, gemm.clblast_missing()
    run, c = gemm.clblast_gemm(device, a_np, b_np)
    run()
    want = a_np @ b_np
    assert np.allclose(c.get(), want, rtol=1e-3, atol=1e-3 * np.abs(want).max()), "CLBlast's SGEMM is wrong"
    return run, ""


def gemm_rows(device, sizes, repeats):
    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        a_np, b_np = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
        a, b = hal.asarray(a_np, device=device), hal.asarray(b_np, device=device)
        want = a_np @ b_np
        got = np.asarray(kernels.sgemm(a, b))
        assert np.allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max()), "the RawKernel SGEMM is wrong"
        contenders = {"raw": lambda: kernels.sgemm(a, b), "hal.matmul": lambda: hal.matmul(a, b)}
        run, why = clblast(device, a_np, b_np)
        if run is not None:
            contenders["clblast"] = run
        t = best_seconds(contenders, lambda: (device.synchronize(), getattr(device, "queue", None)), repeats)
        gf = {k: 2 * n ** 3 / v / 1e9 for k, v in t.items()}
        rows.append((f"sgemm {n}^3", f"{gf['raw']:.1f} GFLOP/s", f"hal.matmul {gf['hal.matmul']:.1f}",
                     f"{t['raw'] / t['hal.matmul']:.2f}",
                     f"clblast {gf['clblast']:.1f}, ratio {t['raw'] / t['clblast']:.2f}" if "clblast" in t else why))
    return rows


def op_rows(device, n, repeats):
    rng = np.random.default_rng(0)
    x = hal.asarray(rng.standard_normal(n, dtype=np.float32), device=device)
    y = hal.asarray(rng.standard_normal(n, dtype=np.float32), device=device)
    m = hal.reshape(x, (1000, n // 1000))
    cases = [
        ("x + y", lambda: ADD(x, y), lambda: hal.add(x, y), hal.add(x, y), ADD(x, y)),
        ("(x - y)^2", lambda: kernels.SQUARED_DIFF(x, y), lambda: hal.square(x - y),
         hal.square(x - y), kernels.SQUARED_DIFF(x, y)),
        ("sum(x)", lambda: SUM(x), lambda: hal.sum(x), hal.sum(x), SUM(x)),
        ("sum(rows)", lambda: SUM(m, axis=1), lambda: hal.sum(m, axis=1), hal.sum(m, axis=1), SUM(m, axis=1)),
        ("l2 norm", lambda: kernels.L2NORM(x), lambda: hal.linalg.vector_norm(x), hal.linalg.vector_norm(x),
         kernels.L2NORM(x)),
    ]
    rows = []
    for name, user, peer, want, got in cases:
        # (a sanity check: a float32 sum of 4M terms in another order is 0.2% off on the C target)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-2, atol=1e-3)
        t = best_seconds({"user": user, "hal": peer}, device.synchronize, repeats)
        rows.append((name, f"{t['user'] * 1e6:.0f} us", f"hal {t['hal'] * 1e6:.0f} us",
                     f"{t['user'] / t['hal']:.2f}", ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="opencl:0")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n", type=int, default=4_000_000, help="elements of the elementwise/reduction operands")
    parser.add_argument("--gemm", type=int, nargs="*", default=[512, 1024])
    args = parser.parse_args()
    device = hal.device(args.device)
    print(f"{device.name}: {device.info.description}; load average {os.getloadavg()[0]:.1f}")
    with hal.default_device(device):  # (the example's sgemm allocates on the default device, as CuPy's would)
        rows = gemm_rows(device, args.gemm, args.repeats) + op_rows(device, args.n, args.repeats)
    print(f"{'case':<14} {'user kernel':<18} {'peer':<22} {'ratio':>6}  note")
    for case, user, peer, ratio, note in rows:
        print(f"{case:<14} {user:<18} {peer:<22} {ratio:>6}  {note}")


if __name__ == "__main__":
    main()
