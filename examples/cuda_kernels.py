"""A CuPy program's custom kernels on any hal device: the only changed line is the import.

CuPy's three kernel classes, as its user guide writes them ("User-Defined Kernels"), run
unchanged with ``import hal as cp``: a RawKernel (CUDA C, here a shared-memory tiled
matrix product), an ElementwiseKernel and a ReductionKernel.

    python examples/cuda_kernels.py                  # the default device
    python examples/cuda_kernels.py --device opencl:0
    HAL_DEVICE=cpu python examples/cuda_kernels.py

What else differs from CuPy (README, "CUDA kernels on every device"):
- the device: CuPy's current GPU is ``cp.cuda.Device(n)``; hal's is
  ``hal.default_device("opencl:0")`` (as below), ``HAL_DEVICE``, or ``device=`` arguments;
- to NumPy: ``cp.asnumpy(x)`` is ``numpy.asarray(x)`` with hal (hal has no asnumpy);
- arrays are the array API standard's: ``cp.reshape(x, shape)`` rather than ``x.reshape``
  (both libraries have the function).
"""
import argparse
import contextlib

import numpy as np

import hal as cp  # was: import cupy as cp

SGEMM = cp.RawKernel(r"""
#define TILE 16
extern "C" __global__ void sgemm(const float* __restrict__ A, const float* __restrict__ B,
                                 float* __restrict__ C, int M, int N, int K) {
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE + 1];
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TILE) {
        As[ty][tx] = (row < M && k0 + tx < K) ? A[row * K + k0 + tx] : 0.0f;
        Bs[ty][tx] = (col < N && k0 + ty < K) ? B[(k0 + ty) * N + col] : 0.0f;
        __syncthreads();
        for (int k = 0; k < TILE; ++k)
            acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    if (row < M && col < N) C[row * N + col] = acc;
}
""", "sgemm")

ADD = cp.RawKernel(r"""
extern "C" __global__
void my_add(const float* x1, const float* x2, float* y) {
    int tid = blockDim.x * blockIdx.x + threadIdx.x;
    y[tid] = x1[tid] + x2[tid];
}
""", "my_add")

SQUARED_DIFF = cp.ElementwiseKernel("T x, T y", "T z", "z = (x - y) * (x - y)", "squared_diff")

L2NORM = cp.ReductionKernel("T x", "T y", "x * x", "a + b", "y = sqrt(a)", "0", "l2norm")


def sgemm(a, b):
    m, k = a.shape
    n = b.shape[1]
    c = cp.empty((m, n), dtype=cp.float32)
    SGEMM(((n + 15) // 16, (m + 15) // 16), (16, 16), (a, b, c, np.int32(m), np.int32(n), np.int32(k)))
    return c


def on_device(name):
    """The one place the libraries differ in choosing a device."""
    if name is None:
        return contextlib.nullcontext()
    if hasattr(cp, "default_device"):  # hal
        return cp.default_device(name)
    return cp.cuda.Device(int(name.rpartition(":")[2] or 0))  # CuPy: "cuda:1" -> GPU 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", help="a hal device, e.g. cpu or opencl:0 (default: hal's default device)")
    args = parser.parse_args()
    to_numpy = getattr(cp, "asnumpy", np.asarray)  # (CuPy's name, and hal's way)
    with on_device(args.device):
        x1 = cp.reshape(cp.arange(25, dtype=cp.float32), (5, 5))
        x2 = cp.reshape(cp.arange(25, dtype=cp.float32), (5, 5))
        y = cp.zeros((5, 5), dtype=cp.float32)
        ADD((5,), (5,), (x1, x2, y))
        print("my_add:", to_numpy(y)[0])

        a = cp.asarray(np.random.default_rng(0).standard_normal((200, 300), dtype=np.float32))
        b = cp.asarray(np.random.default_rng(1).standard_normal((300, 100), dtype=np.float32))
        c = sgemm(a, b)
        print("sgemm: max |C - A @ B| =", float(np.abs(to_numpy(c) - to_numpy(a) @ to_numpy(b)).max()))

        x = cp.reshape(cp.arange(10, dtype=cp.float32), (2, 5))
        print("squared_diff:", to_numpy(SQUARED_DIFF(x, np.float32(4)))[1])
        print("l2norm per row:", to_numpy(L2NORM(x, axis=1)))


if __name__ == "__main__":
    main()
