"""hal.RawKernel on every device: CUDA C kernels written as for CuPy (tests/cuda_sources.py)
give NumPy's results on the cpu, PoCL and Oclgrind (whose out-of-bounds and race checks
run on them, tests/oclgrind_checks.py), compile unchanged with NVRTC, and what hal does
not translate is a hal.CompileError naming the construct and its line."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import hal
import cuda_sources as S
from cuda_compile import compile_cuda, compilers

SIM = "simulator"


def small(device, normal, tiny):
    """Oclgrind runs ~100x slower: tiny shapes there."""
    return tiny if device.info.kind == SIM else normal


def put(device, a):
    return hal.asarray(a, device=device)


def native(device) -> bool:
    """Whether ``device`` compiles the CUDA source as written (NVRTC, hiprtc), not hal's
    translation of it: C++'s rules then, and NVRTC's own error messages."""
    return device.backend_name in ("cuda", "rocm")


MY_ADD = r"""
extern "C" __global__
void my_add(const float* x1, const float* x2, float* y) {
    int tid = blockDim.x * blockIdx.x + threadIdx.x;
    y[tid] = x1[tid] + x2[tid];
}
"""


def test_cupy_raw_kernel_example(device):
    """CuPy's user guide example: 5 blocks of 5 threads over 5 x 5 arrays."""
    x1 = hal.reshape(hal.arange(25, dtype=hal.float32, device=device), (5, 5))
    x2 = hal.reshape(hal.arange(25, dtype=hal.float32, device=device), (5, 5))
    y = hal.zeros((5, 5), dtype=hal.float32, device=device)
    hal.RawKernel(MY_ADD, "my_add")((5,), (5,), (x1, x2, y))
    np.testing.assert_array_equal(np.asarray(y), 2 * np.arange(25, dtype=np.float32).reshape(5, 5))


def test_the_cupy_style_example_runs():
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "cuda_kernels.py")
    out = subprocess.run([sys.executable, example, "--device", "cpu"], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    assert "my_add: [0. 2. 4. 6. 8.]" in out and "squared_diff: [ 1.  4.  9. 16. 25.]" in out
    error = float(out.split("max |C - A @ B| =")[1].split()[0])
    assert error < 1e-3


def test_complex_numbers(device):
    n = small(device, 50, 10)
    rng = np.random.default_rng(12)
    x1 = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    x2 = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex64)
    y = hal.empty(n, dtype=hal.complex64, device=device)
    mag = hal.empty(n, dtype=hal.float32, device=device)
    hal.RawKernel(S.COMPLEX, "complex_ops")((-(-n // 32),), (32,), (put(device, x1), put(device, x2), y, mag,
                                                                     np.float32(2), np.int32(n)))
    z = x1 + 2 * x2 - (0.5 - 1j)
    np.testing.assert_allclose(np.asarray(y), z * np.conj(x2) / 2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(mag), np.abs(z) + z.real - x1.imag, rtol=1e-5, atol=1e-5)


def test_sgemm(device):
    rng = np.random.default_rng(1)
    m, n, k = small(device, (37, 29, 45), (18, 17, 20))
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = hal.zeros((m, n), dtype=hal.float32, device=device)
    kernel = hal.RawKernel(S.SGEMM, "sgemm")
    kernel(((n + 15) // 16, (m + 15) // 16), (16, 16), (put(device, a), put(device, b), c, np.int32(m), np.int32(n),
                                                        np.int32(k)))
    np.testing.assert_allclose(np.asarray(c), a @ b, rtol=1e-5, atol=1e-5)


def test_histogram_with_shared_and_global_atomics(device):
    data = np.random.default_rng(2).integers(0, 256, small(device, 5000, 700)).astype(np.uint8)
    bins = hal.zeros(64, dtype=hal.uint32, device=device)
    hal.RawKernel(S.HISTOGRAM, "histogram")((3,), (64,), (put(device, data), np.int32(data.size), bins))
    np.testing.assert_array_equal(np.asarray(bins), np.bincount(data % 64, minlength=64))


def test_block_scan_with_dynamic_shared_memory(device):
    block = small(device, 128, 32)
    x = np.random.default_rng(3).standard_normal(block * 3 + 5).astype(np.float32)
    blocks = -(-x.size // block)
    y = hal.empty(x.size, dtype=hal.float32, device=device)
    sums = hal.empty(blocks, dtype=hal.float32, device=device)
    hal.RawKernel(S.SCAN, "block_scan")((blocks,), (block,), (put(device, x), y, sums, np.int32(x.size)),
                                        shared_mem=2 * block * 4)
    padded = np.zeros(blocks * block, np.float32)
    padded[:x.size] = x
    expected = np.cumsum(padded.reshape(blocks, block), axis=1)
    np.testing.assert_allclose(np.asarray(y), expected.ravel()[:x.size], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(sums), expected[:, -1], rtol=1e-5, atol=1e-5)


def test_transpose_through_a_padded_tile(device):
    rows, cols = small(device, (70, 45), (33, 20))
    x = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols)
    out = hal.empty((cols, rows), dtype=hal.float32, device=device)
    hal.RawKernel(S.TRANSPOSE, "transpose")((-(-cols // 32), -(-rows // 32)), (32, 8),
                                            (out, put(device, x), np.int32(rows), np.int32(cols)))
    np.testing.assert_array_equal(np.asarray(out), x.T)


def test_row_softmax(device):
    rows, cols = small(device, (5, 300), (2, 40))
    x = np.random.default_rng(4).standard_normal((rows, cols)).astype(np.float32) * 4
    y = hal.empty((rows, cols), dtype=hal.float32, device=device)
    block = 64
    hal.RawKernel(S.SOFTMAX, "softmax_rows")((rows,), (block,), (put(device, x), y, np.int32(cols)),
                                             shared_mem=block * 4)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(np.asarray(y), e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)


def test_layernorm_with_a_synchronizing_device_function(device):
    rows, cols = small(device, (4, 300), (2, 50))
    x = np.random.default_rng(10).standard_normal((rows, cols)).astype(np.float32)
    y = hal.empty((rows, cols), dtype=hal.float32, device=device)
    hal.RawKernel(S.LAYERNORM, "layernorm")((rows,), (128,), (put(device, x), y, np.int32(cols), np.float32(1e-5)))
    expected = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-4, atol=1e-4)


def test_stencil_with_halo_tile(device):
    rows, cols = small(device, (21, 37), (9, 18))
    u = np.random.default_rng(5).standard_normal((rows, cols)).astype(np.float32)
    v = hal.empty((rows, cols), dtype=hal.float32, device=device)
    hal.RawKernel(S.STENCIL, "jacobi")((-(-cols // 16), -(-rows // 8)), (16, 8),
                                       (put(device, u), v, np.int32(rows), np.int32(cols)))
    expected = u.copy()
    expected[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
    np.testing.assert_allclose(np.asarray(v), expected, rtol=1e-6, atol=1e-6)


def test_constant_memory_with_initializers(device):
    n = small(device, 100, 20)
    x = np.random.default_rng(11).standard_normal(n).astype(np.float32)
    y = hal.empty(n, dtype=hal.float32, device=device)
    hal.RawKernel(S.CONVOLVE, "convolve")((-(-n // 32),), (32,), (put(device, x), y, np.int32(n)))
    padded = np.concatenate([[x[0]] * 2, x, [x[-1]] * 2])
    w = np.array([0.0625, 0.25, 0.375, 0.25, 0.0625], np.float32)
    expected = sum(w[k] * padded[k:k + n] for k in range(5))
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-5, atol=1e-6)


def test_complex_types_by_typedef_and_using(device):
    """``typedef complex<float> cf`` and ``using cd = complex<double>``: cf(re, im) constructs
    (not a cast of the comma expression (re, im))."""
    x = (np.arange(5) - 2j).astype(np.complex64)
    y = hal.empty(5, dtype=hal.complex128, device=device)
    hal.RawKernel(S.COMPLEX_ALIASES, "rotate")((1,), (32,), (put(device, x), y, np.int32(5)))
    np.testing.assert_allclose(np.asarray(y), x * 1j + 2 + np.complex64(0.5 - 1j) * x, rtol=1e-6)


def test_structs(device):
    n = small(device, 1000, 100)
    x = np.random.default_rng(13).standard_normal(n).astype(np.float32)
    value, index = hal.empty(1, dtype=hal.float32, device=device), hal.empty(1, dtype=hal.int32, device=device)
    bounds = hal.empty(2, dtype=hal.float32, device=device)
    hal.RawKernel(S.ARGMAX, "argmax")((1,), (64,), (put(device, x), np.int32(n), value, index, bounds))
    assert float(np.asarray(value)[0]) == x.max() and int(np.asarray(index)[0]) == x.argmax()
    np.testing.assert_array_equal(np.asarray(bounds), [-1, 8])


def test_half_loads_and_stores(device):
    x = (np.random.default_rng(6).standard_normal(37) * 10).astype(np.float16)
    y = hal.empty(37, dtype=hal.float16, device=device)
    pair = hal.zeros(18, dtype=hal.float32, device=device)
    hal.RawKernel(S.HALF_SCALE, "half_axpb")((2,), (32,), (put(device, x), y, pair, np.float32(1.5),
                                                           np.float32(-2), np.int32(37)))
    np.testing.assert_array_equal(np.asarray(y), (np.float32(1.5) * x.astype(np.float32) - 2).astype(np.float16))
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(np.asarray(pair), x32[0:36:2] + x32[1:37:2])


def test_atomic_max_min_exch_cas_inc_and_float_add(device):
    n = small(device, 300, 40)
    x = np.random.default_rng(7).integers(-1000, 1000, n).astype(np.int32)
    out = put(device, np.array([-2**31, 2**31 - 1, 0, 0, 0, 0], np.int32))
    fsum = hal.zeros(1, dtype=hal.float32, device=device)
    hal.RawKernel(S.ATOMICS, "atomics")((-(-n // 32),), (32,), (put(device, x), np.int32(n), out, fsum))
    got = np.asarray(out)
    assert got[0] == x.max() and got[1] == x.min() and got[2] == 7
    assert 1 <= got[3] <= n and got[4] == 1  # exactly one thread won the compare-and-swap
    assert got[5] == n % 10  # atomicInc wraps after 9
    assert float(np.asarray(fsum)[0]) == 0.5 * x.sum()  # (integers and halves: exact in any order)


def test_math_functions_defines_and_casts(device):
    x = np.linspace(-3, 3, 50).astype(np.float32)
    y = hal.empty(50, dtype=hal.float32, device=device)
    z = hal.empty(50, dtype=hal.float64, device=device)
    hal.RawKernel(S.MATH, "math")((2,), (32,), (put(device, x), y, z, np.int32(50)))
    from math import erf
    i = np.arange(50)
    expected_y = (np.sqrt(np.abs(x)) + np.exp(-x * x) + np.tanh(x) + np.abs(x) ** 1.5 + 1 / np.sqrt(1 + x * x)
                  + np.minimum(x, 0.5) + np.maximum(i, 3) + np.minimum(i, 2) + i % 3 + np.floor(x)
                  + np.array([erf(v) for v in x]) + np.clip(x, -1, 1))
    x64 = x.astype(np.float64)
    expected_z = 2 * np.log1p(np.abs(x64)) + np.arctan2(x64, 2.0) + (x64 * 3.0 + 1.0)
    np.testing.assert_allclose(np.asarray(y), expected_y, rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(z), expected_z, rtol=1e-12, atol=1e-12)


def test_bit_intrinsics_and_normcdf(device):
    n = small(device, 40, 8)
    rng = np.random.default_rng(21)
    x = rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    x[0] = 0  # (__ffs(0) is 0)
    w = rng.integers(0, 2 ** 63, n, dtype=np.uint64) * np.uint64(2) + np.uint64(1) * (np.arange(n) % 2 == 0)
    v = np.linspace(-3, 3, n).astype(np.float32)
    u, ull = hal.empty(2 * n, dtype=hal.uint32, device=device), hal.empty(2 * n, dtype=hal.uint64, device=device)
    s, f = hal.empty(3 * n, dtype=hal.int32, device=device), hal.empty(3 * n, dtype=hal.float32, device=device)
    hal.RawKernel(S.BITS_AND_NORMALS, "bits")((-(-n // 32),), (32,), (put(device, x), put(device, w), put(device, v),
                                                                      u, ull, s, f, np.int32(n)))
    xs, ws = [int(a) for a in x], [int(a) for a in w]
    assert np.asarray(u).tolist() == [b for a in xs for b in (int(f"{a:032b}"[::-1], 2), (a * 0x9E3779B9) >> 32)]
    assert np.asarray(ull).tolist() == [b for a in ws for b in (int(f"{a:064b}"[::-1], 2),
                                                                (a * 0x9E3779B97F4A7C15) >> 64)]
    signed = [a - 2 ** 32 if a >= 2 ** 31 else a for a in xs]
    assert np.asarray(s).tolist() == [b for a, sa, wa in zip(xs, signed, ws)
                                      for b in ((a & -a).bit_length(), (wa & -wa).bit_length(), (sa * -7919) >> 32)]
    from math import erfc, sqrt
    normal = [0.5 * erfc(-float(a) / sqrt(2)) for a in v]
    expected = np.stack([normal, 1 / np.hypot(v, 2), 1 / np.cbrt(v + 4)], axis=1).reshape(-1)
    np.testing.assert_allclose(np.asarray(f), expected, rtol=2e-6, atol=1e-7)


def test_shared_scalar_pointer_helpers_half_intrinsics_and_64_bit_atomics(device):
    n = small(device, 100, 40)
    x = np.random.default_rng(8).standard_normal(n).astype(np.float32)
    h = (np.arange(n) / 8).astype(np.float16)
    count = hal.zeros(2, dtype=hal.uint64, device=device)
    total = hal.zeros(1, dtype=hal.float64, device=device)
    out = hal.empty(n, dtype=hal.float32, device=device)
    hout = hal.empty(n, dtype=hal.float16, device=device)
    hal.RawKernel(S.MISC, "misc")((-(-n // 32),), (32,), (put(device, x), put(device, h), count, total, out, hout,
                                                          np.int32(n)))
    np.testing.assert_array_equal(np.asarray(count), [n, 32])
    np.testing.assert_allclose(np.asarray(total)[0], x.astype(np.float64).sum(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(out), (x + 4 * x - 3 * x) + (x[0] + 2 * x[1] + 3 * x[2]), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_array_equal(np.asarray(hout), (h.astype(np.float32) + 1).astype(np.float16))


def test_vector_types(device):
    n4 = small(device, 50, 9)
    x = np.random.default_rng(9).standard_normal(4 * n4).astype(np.float32)
    out2 = hal.empty((n4, 2), dtype=hal.float32, device=device)
    out3 = hal.empty((n4, 3), dtype=hal.float32, device=device)
    hal.RawKernel(S.VECTORS, "vectors")((-(-n4 // 32),), (32,), (put(device, x), out2, out3, np.int32(n4)))
    v = x.reshape(n4, 4)
    np.testing.assert_array_equal(np.asarray(out2), np.stack([v[:, 0] + v[:, 1], v[:, 2] * v[:, 3]], axis=1))
    np.testing.assert_array_equal(np.asarray(out3), np.stack([v[:, 3], v[:, 2] - 1, v[:, 0]], axis=1))


SCALE = r"""
extern "C" __global__ void scale(const float* x, float* y, float a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i];
}
"""


def test_views_pass_their_first_element_and_compiles_are_cached(device):
    """A view is passed as a pointer to its first element, as CuPy passes it; a second
    RawKernel of the same source on the device reuses the compiled kernel."""
    x = hal.asarray(np.arange(20, dtype=np.float32), device=device)
    y = hal.zeros(20, dtype=hal.float32, device=device)
    hal.RawKernel(SCALE, "scale")((1,), (32,), (x[5:], y[3:], np.float32(2), np.int32(10)))
    expected = np.zeros(20, np.float32)
    expected[3:13] = 2 * np.arange(5, 15)
    np.testing.assert_array_equal(np.asarray(y), expected)
    before = hal.cache.stats()
    hal.RawKernel(SCALE, "scale")((1,), (32,), (x, y, 3.0, 4))  # (Python numbers convert to the parameters' types)
    after = hal.cache.stats()
    assert after["misses"] == before["misses"] and after["builds"] == before["builds"]
    np.testing.assert_array_equal(np.asarray(y)[:4], 3 * np.arange(4))


def test_whole_builtins_as_dim3(device):
    kernel = hal.RawKernel(r"""
extern "C" __global__ void ids(unsigned int* out) {
    dim3 t = threadIdx;
    uint3 b = blockIdx;
    dim3 size = blockDim;
    out[b.x * size.x + t.x] = t.x + 100 * b.x + 10000 * gridDim.x;
}""", "ids")
    out = hal.zeros(8, dtype=hal.uint32, device=device)
    kernel((2,), (4,), (out,))
    np.testing.assert_array_equal(np.asarray(out), [20000, 20001, 20002, 20003, 20100, 20101, 20102, 20103])


def test_macro_options_apply_everywhere(device):
    x = hal.zeros(4, dtype=hal.float32, device=device)
    kernel = hal.RawKernel('extern "C" __global__ void k(float* x) { x[threadIdx.x] = SCALE * threadIdx.x; }', "k",
                           options=("-DSCALE=3.0f", "--std=c++14"))
    kernel((1,), (4,), (x,))
    np.testing.assert_array_equal(np.asarray(x), [0, 3, 6, 9])


def test_break_and_continue_in_loops_with_barriers(device):
    """On the cpu a loop with __syncthreads() runs outside the block's thread loops:
    break and continue there mark the thread, which skips the rest of the iteration or
    the loop (translate.py, ``jump``)."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 100, size=(3, 8, 32)).astype(np.int32)
    for block, stop in enumerate([5, 0, 7]):
        x[block, stop, 0] = -1  # the sentinel row: every thread breaks there
    expected = np.zeros((3, 32), np.int32)
    for block, thread in np.ndindex(3, 32):  # the kernel, thread by thread
        acc, i = 0, 0
        while x[block, i, 0] >= 0:
            row = x[block, i]
            right = int(row[(thread + 1) % 32])
            i += 1
            if right % 3 == 0 or right % 4 == 2:
                continue
            acc += (right if right % 4 == 1 else -1) + int(row[:right % 5].sum())
        expected[block, thread] = acc * 100 + 3
    out = hal.zeros((3, 32), dtype=hal.int32, device=device)
    hal.RawKernel(S.LOOP_EXITS, "loop_exits")((3,), (32,), (put(device, x), out))
    np.testing.assert_array_equal(np.asarray(out), expected)


def test_syncthreads_count_and_or(device):
    rng = np.random.default_rng(6)
    bx, by, blocks = 8, 4, 3
    n = bx * by * blocks - 5  # the last block has 5 threads past n
    x = (rng.standard_normal(n) * 1.2).astype(np.float32)
    x[:bx * by] = np.abs(x[:bx * by]) * 0.5 + 0.01  # block 0: all positive and small
    expected = np.zeros((blocks * bx * by, 3), np.int32)
    for block in range(blocks):
        i = np.arange(block * bx * by, (block + 1) * bx * by)
        v = np.where(i < n, np.pad(x, (0, 5))[i], 0).astype(np.float32)
        expected[i, 0], expected[i, 1] = np.sum(v > 0), np.all(np.abs(v) < 2)
        rounds = 0
        while np.any(np.abs(v) > 0.25):
            v, rounds = v * np.float32(0.5), rounds + 1
        expected[i, 2] = rounds + (0 if np.all(i < n) else 100)
    out = hal.zeros(blocks * bx * by * 3, dtype=hal.int32, device=device)
    hal.RawKernel(S.VOTES, "votes")((blocks,), (bx, by), (put(device, x), out, np.int32(n)))
    np.testing.assert_array_equal(np.asarray(out).reshape(-1, 3), expected)
    helper = 'extern "C" __device__ int f(int p) { return __syncthreads_or(p); }\n' \
             'extern "C" __global__ void k(int* x) { x[0] = f(x[0]); }'
    if native(device):  # (CUDA allows it, and hal refuses nothing NVRTC compiles)
        hal.RawKernel(helper, "k").compile(device)
        return
    with pytest.raises(hal.CompileError, match="__syncthreads_or.. in a __device__ function"):
        hal.RawKernel(helper, "k").compile(device)


def test_complex_and_struct_arguments_by_value(device):
    """A ``complex<float>`` and a struct (an array, an int and a complex in it) by value:
    NumPy scalars as CuPy takes them (a structured scalar for the struct, its dtype
    aligned as the C struct), or a complex and a dict of the fields."""
    n = small(device, 37, 9)
    x = np.arange(n, dtype=np.float32) / 7
    affine = np.dtype([("scale", np.float32, (2,)), ("offset", np.int32), ("twist", np.complex64)], align=True)
    expected = (np.complex64(1.5 + 0.25j) * (x * np.where(np.arange(n) % 2, -1, 2).astype(np.float32) + 3)
                + np.complex64(0.5 - 2j))
    kernel = hal.RawKernel(S.BY_VALUE, "by_value")
    for z, a in ((np.complex64(1.5 + 0.25j), np.array(([2, -1], 3, 0.5 - 2j), dtype=affine)[()]),
                 (1.5 + 0.25j, {"scale": [2.0, -1.0], "offset": 3, "twist": 0.5 - 2j})):
        y = hal.zeros(n, dtype=hal.complex64, device=device)
        kernel((-(-n // 32),), (32,), (put(device, x), y, z, a, np.int32(n)))
        np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-6)
    with pytest.raises(TypeError, match="lacks the field 'offset'"):
        kernel((1,), (32,), (put(device, x), y, z, {"scale": [1, 1]}, np.int32(n)))
    with pytest.raises(TypeError, match="structured scalar"):
        kernel((1,), (32,), (put(device, x), y, z, 2.0, np.int32(n)))


def test_raw_module(device):
    """CuPy's RawModule: one source, several kernels by name."""
    module = hal.RawModule(code=S.MODULE, options=("-DSCALE=3",))
    x = put(device, np.arange(10, dtype=np.float32))
    y = hal.zeros(10, dtype=hal.float32, device=device)
    module.get_function("scaled")((1,), (16,), (x, y, np.int32(10)))
    np.testing.assert_array_equal(np.asarray(y), 3 * np.arange(10, dtype=np.float32) + 1)
    module.get_function("shifted")((2,), (8,), (y, np.float32(-1), np.int32(10)))
    np.testing.assert_array_equal(np.asarray(y), 3 * np.arange(10, dtype=np.float32))
    assert module.get_function("scaled") is module.get_function("scaled")
    with pytest.raises(hal.CompileError, match="no __global__ function named 'missing'"):
        module.get_function("missing").compile(device)
    with pytest.raises(hal.CompileError, match="__device__ global variables"):
        module.get_global("counter")
    with pytest.raises(hal.CompileError, match="path="):
        hal.RawModule(path="kernels.cubin")


def test_templates_through_name_expressions(device):
    """CuPy's RawModule(code, name_expressions=[...]): each instance by its expression."""
    module = hal.RawModule(code=S.TEMPLATES, name_expressions=S.TEMPLATE_INSTANCES)
    n = small(device, 1000, 100)
    x = np.random.default_rng(14).random(n)
    for expression, dtype, threads in (("sum_squares<float, 64>", np.float32, 64), ("sum_squares<double,32>",
                                                                                   np.float64, 32)):
        out = hal.zeros(1, dtype=dtype, device=device)
        module.get_function(expression)((-(-n // threads),), (threads,), (put(device, x.astype(dtype)), out,
                                                                          np.int32(n)))
        np.testing.assert_allclose(np.asarray(out), [(x.astype(dtype) ** 2).sum()], rtol=1e-5 if dtype == np.float32
                                   else 1e-12)
    i = np.arange(n, dtype=np.int32)
    y = put(device, i.copy())
    module.get_function("axpy<int>")((-(-n // 64),), (64,), (np.int32(3), put(device, i), y, np.int32(n)))
    np.testing.assert_array_equal(np.asarray(y), 4 * i)
    with pytest.raises(hal.CompileError, match="no __global__ function named 'axpy<double>'"):
        module.get_function("axpy<double>").compile(device)  # (not among the name expressions)
    # (hal's front end words what NVRTC refuses in its own way: the missing template, each)
    with pytest.raises(hal.CompileError, match='identifier "saxpy" is undefined' if native(device)
                       else "names no function template"):
        hal.RawModule(code=S.TEMPLATES, name_expressions=["saxpy<float>"]).get_function("saxpy<float>").compile(
            device)
    deduced = S.TEMPLATES.replace("square<T>(x[i])", "square(x[i])")  # (T deduced from x[i])
    out = hal.zeros(1, dtype=hal.float64, device=device)
    hal.RawModule(code=deduced, name_expressions=["sum_squares<double, 32>"]).get_function(
        "sum_squares<double, 32>")((-(-n // 32),), (32,), (put(device, x), out, np.int32(n)))
    np.testing.assert_allclose(np.asarray(out), [(x ** 2).sum()], rtol=1e-12)


def test_cpp_constants_as_array_sizes(device):
    n = small(device, 40, 16)
    x = np.random.default_rng(15).random(n).astype(np.float32)
    y = hal.zeros(n, dtype=hal.float32, device=device)
    hal.RawKernel(S.CONSTANTS, "smooth")((-(-n // 16),), (16,), (put(device, x), y, np.int32(n)))
    padded = np.concatenate([[0], x, [0]]).astype(np.float32)
    smoothed = np.float32(0.25) * padded[:-2] + np.float32(0.5) * padded[1:-1] + np.float32(0.25) * padded[2:]
    np.testing.assert_allclose(np.asarray(y), 2 * smoothed + 3 * x + 16, rtol=1e-6)


def test_integer_division_by_zero_does_not_trap(device):
    """x86 traps on a zero divisor, which would end Python; CUDA leaves the value undefined."""
    kernel = hal.RawKernel('extern "C" __global__ void k(int* x, int d) { int i = threadIdx.x; '
                           "x[i] = x[i] / d + x[i] % (d + 1); x[i] /= d + 1; }", "k")
    x = put(device, np.array([5, -7, 9, -2**31], np.int32))
    kernel((1,), (4,), (x, -1))  # (x / -1 on INT_MIN traps too)
    if not native(device):  # (hal's value for them: 0; a GPU's hardware gives its own, -1 on NVIDIA's)
        np.testing.assert_array_equal(np.asarray(x), 0)
    x = put(device, np.array([5, -7, 9, 11], np.int32))
    kernel((1,), (4,), (x, 2))
    np.testing.assert_array_equal(np.asarray(x), [1, -1, 1, 2])


def test_signed_overflow_wraps(device):
    """Signed overflow wraps as in NumPy: no translated target folds (a * 2) / 2 or a + 1 > a.
    In CUDA C++ it is undefined, and NVRTC folds both: there only the rows that do not
    overflow are checked."""
    x = np.array([1, 2**30 + 1, 2**31 - 1, -2**31, -7], np.int32)
    w = np.array([3, 2**62 + 5, 2**63 - 1, -2**63, -9], np.int64)
    y, z = hal.zeros(20, dtype=hal.int32, device=device), hal.zeros(5, dtype=hal.int64, device=device)
    hal.RawKernel(S.WRAPPING, "wrapping")((1,), (32,), (put(device, x), put(device, w), y, z, np.int32(5)))
    with np.errstate(over="ignore"):
        h = ((x * np.int32(31) + np.int32(7)).astype(np.int64) << 3).astype(np.int32) - np.int32(-2**31)
        expected = np.stack([(x * np.int32(2)) // 2, x + np.int32(1) > x, h, -x > 0], axis=1)
        expected_z = (w * np.int64(4)) // 4 + (w + np.int64(1) > w)
    rows = [0, 4] if native(device) else slice(None)
    np.testing.assert_array_equal(np.asarray(y).reshape(5, 4)[rows], expected[rows])
    np.testing.assert_array_equal(np.asarray(z)[rows], expected_z[rows])


def test_printf(device, capfd):
    kernel = hal.RawKernel(r"""
extern "C" __global__ void hello(const float* x) {
    if (threadIdx.x == 1) printf("block %d thread %d x=%.2f\n", (int)blockIdx.x, (int)threadIdx.x, x[threadIdx.x]);
}""", "hello")
    capfd.readouterr()
    kernel((2,), (4,), (hal.asarray(np.arange(4, dtype=np.float32), device=device),))
    device.synchronize()
    lines = sorted(capfd.readouterr().out.splitlines())
    assert lines == ["block 0 thread 1 x=1.00", "block 1 thread 1 x=1.00"], lines


def test_arguments_are_checked(device):
    kernel = hal.RawKernel(S.SGEMM, "sgemm")
    c = hal.zeros((2, 2), dtype=hal.float32, device=device)
    with pytest.raises(TypeError, match="takes 6 arguments"):
        kernel((1,), (16, 16), (c, c, c))
    with pytest.raises(TypeError, match="'M' is a i32 scalar"):
        kernel((1,), (16, 16), (c, c, c, c, np.int32(2), np.int32(2)))
    with pytest.raises(TypeError, match="'A' is a pointer"):
        kernel((1,), (16, 16), (np.int32(1), c, c, np.int32(2), np.int32(2), np.int32(2)))
    with pytest.raises(hal.CompileError, match="no __global__ function named 'gemm'"):
        hal.RawKernel(S.SGEMM, "gemm")((1,), (16, 16), (c, c, c, np.int32(2), np.int32(2), np.int32(2)))


def test_grid_stride_loops_size_t_restrict_and_2d_grid(device):
    n = small(device, 5000, 300)
    rng = np.random.default_rng(21)
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    out = put(device, y.copy())  # (the cpu's asarray shares y's memory)
    # (fewer threads than values: each thread strides over several)
    hal.RawKernel(S.GRID_STRIDE, "saxpy")((3,), (64,), (put(device, x), out, np.float32(2.5), np.uint64(n)))
    np.testing.assert_allclose(np.asarray(out), np.float32(2.5) * x + y, rtol=1e-6, atol=1e-6)
    m = rng.standard_normal((11, 37))
    scaled = hal.zeros((11, 37), dtype=hal.float64, device=device)
    hal.RawKernel(S.GRID_STRIDE, "scale_rows")((2, 4), (32,), (put(device, m), scaled, np.uint32(11), np.uint32(37)))
    np.testing.assert_allclose(np.asarray(scaled), m * 10 / np.arange(1, 12)[:, None], rtol=1e-12)


def test_atomics_built_on_compare_and_swap_and_scoped_atomics(device):
    if device.info.kind == SIM:  # (and it does: the session's check would fail on it)
        pytest.skip("Oclgrind reports the CAS loop's first plain read (old = *address, as CUDA's "
                    "guide writes it) as a race with the other items' atomicCAS")
    n = small(device, 1000, 200)
    x = np.random.default_rng(22).integers(-500, 500, n).astype(np.float32)
    top, total = put(device, np.full(1, -np.inf, np.float32)), hal.zeros(1, dtype=hal.float64, device=device)
    count = hal.zeros(1, dtype=hal.int32, device=device)
    hal.RawKernel(S.CAS_ATOMICS, "cas_atomics")((-(-n // 64),), (64,), (put(device, x), top, total, count, np.int32(n)))
    assert np.asarray(top)[0] == x.max() and np.asarray(total)[0] == x.sum() and np.asarray(count)[0] == n


def test_sincos_and_conversion_intrinsics(device):
    x = np.linspace(-2, 2, 40).astype(np.float32)
    u = np.arange(40, dtype=np.uint32) * 100_000_007
    y, z = hal.empty(120, dtype=hal.float64, device=device), hal.empty(40, dtype=hal.int64, device=device)
    hal.RawKernel(S.CONVERSIONS, "conversions")((1,), (64,), (put(device, x), put(device, u), y, z, np.int32(40)))
    got = np.asarray(y).reshape(40, 3)
    np.testing.assert_allclose(got[:, 0], np.arange(40) + np.sin(x) * np.cos(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[:, 1], u.astype(np.float32).astype(np.float64) + u)
    np.testing.assert_array_equal(got[:, 2], np.full(40, 2 / 8 - 3))
    np.testing.assert_array_equal(np.asarray(z), np.rint(x.astype(np.float64) * 100).astype(np.int64))


def test_complex_direct_initialization(device):
    z = (np.arange(6) + 0.5j).astype(np.complex64)
    re = np.linspace(-1, 1, 6)
    w = hal.empty(6, dtype=hal.complex128, device=device)
    hal.RawKernel(S.COMPLEX_DIRECT, "direct")((1,), (32,), (put(device, z), put(device, re), w, np.int32(6)))
    np.testing.assert_allclose(np.asarray(w), (re + 1j) * 2 + z * 1j, rtol=1e-6)


def test_template_helpers_need_no_name_expressions(device):
    """A __device__ template instantiates itself where it is called: with its arguments
    written, or deduced from the call's (T, T* and const T* parameters; the arguments must
    agree, as in C++); what cannot be deduced is refused at the call's line."""
    code = r"""
template <typename T> __device__ T twice(T v) { return v + v; }
template <typename T> __device__ void put_max(T* out, const T* a, T b) { *out = *a > b ? *a : b; }
template <int N> __device__ float scaled(float v) { return v * N; }
extern "C" __global__ void k(float* x, double* y, int* z) {
    x[threadIdx.x] = twice<float>(x[threadIdx.x]) + twice(1.0f);
    y[threadIdx.x] = twice(y[threadIdx.x]);
    put_max(z + threadIdx.x, z + threadIdx.x, 2);
}"""
    x, y = put(device, np.arange(4, dtype=np.float32)), put(device, np.arange(4, dtype=np.float64))
    z = put(device, np.arange(4, dtype=np.int32))
    hal.RawKernel(code, "k")((1,), (4,), (x, y, z))
    np.testing.assert_array_equal(np.asarray(x), np.arange(4) * 2 + 2)
    np.testing.assert_array_equal(np.asarray(y), np.arange(4) * 2)
    np.testing.assert_array_equal(np.asarray(z), [2, 2, 2, 3])
    # (NVRTC refuses the same calls at the same lines, in its own words)
    with pytest.raises(hal.CompileError, match=r'hal.cu\(8\): error: no instance of function template "put_max"'
                       if native(device) else r"kernel.cu:8: not supported: deducing the template parameter of "
                                              r"put_max from arguments of types i32 and f64"):
        hal.RawKernel(code.replace("threadIdx.x, 2)", "threadIdx.x, 2.0)"), "k").compile(device)
    with pytest.raises(hal.CompileError, match=r'hal.cu\(7\): error: no instance of function template "scaled"'
                       if native(device) else "kernel.cu:7: not supported: using the template scaled without"):
        hal.RawKernel(code.replace("twice(y[threadIdx.x])", "scaled(1.0f)"), "k").compile(device)


def test_deduced_template_helper_that_synchronizes(device):
    """On the cpu a helper calling __syncthreads() is inlined into the kernel's thread
    loops: its deduced types hold there too."""
    code = r"""
template <typename T> __device__ T block_sum(T* s, T v) {
    s[threadIdx.x] = v;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) s[threadIdx.x] += s[threadIdx.x + k];
        __syncthreads();
    }
    T total = s[0];
    __syncthreads();
    return total;
}
extern "C" __global__ void k(const double* x, const int* y, double* out) {
    __shared__ double s[64];
    __shared__ int t[64];
    double a = block_sum(s, x[threadIdx.x]);
    int b = block_sum(t, y[threadIdx.x]);
    if (threadIdx.x == 0) out[0] = a + b;
}"""
    x, y = np.linspace(0, 1, 64), np.arange(64, dtype=np.int32)
    out = hal.zeros(1, dtype=hal.float64, device=device)
    hal.RawKernel(code, "k")((1,), (64,), (put(device, x), put(device, y), out))
    np.testing.assert_allclose(np.asarray(out), [x.sum() + y.sum()], rtol=1e-12)


UNSUPPORTED = [
    ("warp shuffles", 4, "int v = x[0];\n    v += __shfl_down_sync(0xffffffff, v, 16);"),
    ("warp votes", 4, "int v = x[0];\n    v += __ballot_sync(0xffffffff, v > 0);"),
    ("inline assembly", 4, 'int v;\n    asm("mov.u32 %0, %%laneid;" : "=r"(v));'),
    ("textures", 3, "texture<float, 1> t;"),
    ("dynamic parallelism", 3, "child<<<1, 1>>>(x);"),
    ("warpSize", 3, "x[0] = warpSize;"),
    ("__constant__ variable", 3, "__constant__ float c[4];"),
    ("unions", 3, "union P { int a; float b; } p;"),
    ("C++ references", 4, "int v = 1;\n    int& r = v;"),
    ("volatile arrays and pointers (warp-synchronous programming)", 4,
     "x[0] = 1;\n    volatile int* lane = x;\n    lane[threadIdx.x] += lane[threadIdx.x + 16];"),
    ("templates", 1, ""),
    ("C++ using (namespaces)", 3, "using namespace std;"),
    ("textures", 4, "float v;\n    v = tex1Dfetch<float>(t, 0);"),
    ("textures", 3, "cudaTextureObject_t t = 0;"),
    ("surfaces", 3, "surf2Dwrite(1.0f, s, 0, 0);"),
    ("__half2", 3, "half2 h;"),
    ("bfloat16", 3, "__nv_bfloat16 b;"),
]


@pytest.mark.parametrize("construct, line, body", UNSUPPORTED, ids=[f"{u[0]}-{i}" for i, u in enumerate(UNSUPPORTED)])
def test_unsupported_constructs_name_themselves_and_their_line(construct, line, body):
    code = f'extern "C" __global__\nvoid k(int* x) {{\n    {body}\n}}\n'
    if construct == "templates":
        code = "template <typename T>\n__global__ void k(T* x) { x[0] = 1; }\n"
    with pytest.raises(hal.CompileError, match=f"kernel.cu:{line}: not supported: .*{re.escape(construct)}"):
        hal.RawKernel(code, "k").compile("cpu")


def test_static_assert_nullptr_and_void_casts(device):
    code = r"""
#include <cassert>
__device__ const float* pick(const float* p, int i) { return i < 0 ? nullptr : p + i; }
extern "C" __global__ void k(const float* x, float* y, int n) {
    static_assert(sizeof(float) == 4, "4-byte floats");
    (void)n;
    const float* p = pick(x, (int)threadIdx.x - 1);
    y[threadIdx.x] = p == nullptr ? -1.0f : *p;
}"""
    y = hal.empty(4, dtype=hal.float32, device=device)
    hal.RawKernel(code, "k")((1,), (4,), (put(device, np.arange(4, dtype=np.float32) + 10), y, np.int32(4)))
    np.testing.assert_array_equal(np.asarray(y), [-1, 10, 11, 12])


def test_default_arguments(device):
    code = r"""
__device__ float affine(float x, float a = 2.0f, int b = (1 + 2));
__device__ float affine(float x, float a, int b) { return a * x + b; }
extern "C" __global__ void k(float* y) {
    y[threadIdx.x] = affine(y[threadIdx.x]) + affine(1.0f, 3.0f) + affine(affine(1.0f), 0.0f, 0);
}"""
    y = put(device, np.arange(4, dtype=np.float32))
    hal.RawKernel(code, "k")((1,), (4,), (y,))
    np.testing.assert_array_equal(np.asarray(y), (2 * np.arange(4) + 3) + 6 + 0)


def test_overloaded_functions_are_refused():
    code = ("__device__ float sq(float x) { return x * x; }\n__device__ double sq(double x) { return x * x; }\n"
            'extern "C" __global__ void k(float* y) { y[0] = sq(y[0]); }\n')
    with pytest.raises(hal.CompileError, match=r"kernel.cu:2: not supported: C\+\+ function overloading"):
        hal.RawKernel(code, "k").compile("cpu")


def test_refused_declarations_name_themselves_with_a_hint():
    code = 'extern "C" __global__ void k(const float* s,\n                              float (*rows)[16]) {\n}\n'
    with pytest.raises(hal.CompileError, match=r"kernel.cu:2: not supported: pointers to arrays \(take a flat "
                                               r"pointer and index it a\[r \* COLS \+ c\]\)"):
        hal.RawKernel(code, "k").compile("cpu")
    code = ("__device__ float first(float v) {\n    __shared__ float s[64];\n    s[threadIdx.x] = v;\n"
            "    __syncthreads();\n    return s[0];\n}\n"
            'extern "C" __global__ void k(float* x) { x[threadIdx.x] = first(x[threadIdx.x]); }\n')
    with pytest.raises(hal.CompileError, match=r"kernel.cu:2: not supported: __shared__ variables in __device__ "
                                               r"functions \(declare it in the kernel and pass a pointer\)"):
        hal.RawKernel(code, "k").compile("cpu")


def test_math_constants_and_limits(device):
    code = r"""
#include <math_constants.h>
#include <climits>
#include <cmath>
extern "C" __global__ void k(double* y, long long* z) {
    y[0] = CUDART_PI_F; y[1] = CUDART_PI; y[2] = CUDART_SQRT_HALF; y[3] = M_LN2; y[4] = CUDART_INF;
    z[0] = SHRT_MIN; z[1] = LLONG_MIN; z[2] = (long long)(ULLONG_MAX >> 2); z[3] = UCHAR_MAX;
}"""
    y, z = hal.empty(5, dtype=hal.float64, device=device), hal.empty(4, dtype=hal.int64, device=device)
    hal.RawKernel(code, "k")((1,), (1,), (y, z))
    np.testing.assert_array_equal(np.asarray(y), [np.float32(np.pi), np.pi, np.sqrt(0.5), np.log(2), np.inf])
    np.testing.assert_array_equal(np.asarray(z), [-2**15, -2**63, 2**62 - 1, 255])


def test_cooperative_groups_are_refused():
    code = '#include <cooperative_groups.h>\nextern "C" __global__ void k(int* x) { x[0] = 1; }\n'
    with pytest.raises(hal.CompileError, match="(?s)kernel.cu:1:.*cooperative groups are not supported"):
        hal.RawKernel(code, "k").compile("cpu")
    with pytest.raises(hal.CompileError, match="cooperative groups"):
        hal.RawKernel('extern "C" __global__ void k(int* x) { x[0] = 1; }', "k", enable_cooperative_groups=True)


ALL_SOURCES = {name: getattr(S, name) for name in ("SGEMM", "HISTOGRAM", "SCAN", "TRANSPOSE", "SOFTMAX", "STENCIL",
                                                   "HALF_SCALE", "ATOMICS", "MATH", "RACY", "MISC", "VECTORS",
                                                   "LAYERNORM", "CONVOLVE", "COMPLEX", "ARGMAX", "LOOP_EXITS",
                                                   "VOTES", "BY_VALUE", "MODULE", "BITS_AND_NORMALS",
                                                   "CONSTANTS", "WRAPPING", "COMPLEX_ALIASES", "GRID_STRIDE",
                                                   "CAS_ATOMICS", "CONVERSIONS", "COMPLEX_DIRECT")}


@pytest.mark.skipif(not compilers(), reason="no CUDA compiler (pip install nvidia-cuda-nvrtc-cu12)")
@pytest.mark.parametrize("name", sorted(ALL_SOURCES))
def test_sources_compile_unchanged_with_nvrtc(name):
    source = ALL_SOURCES[name]
    if "cupy/complex.cuh" in source:  # (CuPy's header: compiled with CuPy's include folders, as CuPy does)
        pytest.importorskip("cupy", reason="cupy/complex.cuh is CuPy's header (pip install cupy-cuda12x)")
        from hal.backends import cuda
        from hal.cuda_kernels.native import include_options
        _, options = cuda.target({"major": 8, "minor": 0}, hip=False)
        assert cuda.build(source, (*options, *include_options()))[:4] == b"\x7fELF"
        return
    if "cuda_fp16.h" in source:  # (a toolkit header: NVRTC needs the toolkit's include folder, nvcc has it)
        if "nvcc" not in compilers():
            pytest.skip("cuda_fp16.h is a CUDA toolkit header and no toolkit (nvcc) is installed")
        assert compile_cuda(source, "sm_80", "nvcc")
        return
    assert compile_cuda(source, "sm_80")


RACE = """
import numpy as np, hal, sys
sys.path.insert(0, {tests!r})
import cuda_sources
dev = next(d for d in hal.devices() if d.info.kind == "simulator")
x, out = hal.ones(16, dtype=hal.float32, device=dev), hal.empty(16, dtype=hal.float32, device=dev)
hal.RawKernel(cuda_sources.RACY, "racy")((1,), (16,), (x, out))
np.asarray(out)
"""


@pytest.mark.simulator
@pytest.mark.skipif(not any(d.info.kind == SIM for d in hal.devices()), reason="Oclgrind not installed")
def test_a_race_on_shared_memory_is_reported_by_oclgrind(tmp_path):
    """In a child process with its own log, so this run's log (which fails the session
    on any report) stays clean."""
    log = tmp_path / "oclgrind.log"
    env = {**os.environ, "OCLGRIND_LOG": str(log), "OCLGRIND_DATA_RACES": "1",
           "HAL_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-c", RACE.format(tests=os.path.dirname(__file__))], env=env, check=True,
                   timeout=120)
    text = log.read_text()
    assert "data race" in text and "racy" in text, text


def test_native_path_compiles_with_nvrtc_and_launches_through_cupy(monkeypatch, tmp_path):
    """On CUDA devices the source compiles as written (NVRTC, the backend's options for
    sm_80) and launches through CuPy's Function with each view's address; checked here
    with a stand-in for the loaded module (no GPU needed)."""
    cupy = pytest.importorskip("cupy", reason="the cuda backend needs CuPy")
    from types import SimpleNamespace
    from contextlib import nullcontext
    from hal.backends import cuda
    from hal.memory import Strided
    monkeypatch.setenv("HAL_CACHE_DIR", str(tmp_path))
    launches = []

    class LoadedModule:
        def load(self, binary):
            assert binary[:4] == b"\x7fELF"  # a cubin: ptxas checked the code too

        def get_function(self, name):
            return lambda grid, block, args, shared_mem, stream: launches.append((name, grid, block, args,
                                                                                  shared_mem, stream))

    monkeypatch.setattr(cupy.cuda.function, "Module", LoadedModule)
    _, options = cuda.target({"major": 8, "minor": 0}, hip=False)
    gpu = SimpleNamespace(name="cuda:0", backend_name="cuda", family="buffer", options=options, hip=False,
                          fingerprint="test sm_80", cupy_device=nullcontext(), stream="stream",
                          info=SimpleNamespace(max_work_group=1024),
                          kernel_args=lambda *ps: [v for p in ps for v in (p.buf, p.offset)])  # (BufferDevice's)
    view = Strided(SimpleNamespace(handle=4096), (8,), np.dtype(np.float32), offset=3)
    kernel = hal.RawKernel(S.SCAN, "block_scan")
    kernel.launch(gpu, 2, (128,), [view, view, view, np.int32(8)], shared_mem=1024)
    assert launches == [("block_scan", (2, 1, 1), (128, 1, 1), (4108, 4108, 4108, np.int32(8)), 1024, "stream")]
    affine = np.dtype([("scale", np.float32, (2,)), ("offset", np.int32), ("twist", np.complex64)], align=True)
    a = np.array(([2, -1], 3, 0.5 - 2j), dtype=affine)[()]
    # (a complex and a struct by value: their bytes as C lays them out, CuPy's complex<float>
    # aligned to 8 bytes, where NumPy's aligned dtype has twist at 12; a dict of the fields alike)
    c_struct = np.zeros(6, np.float32)
    c_struct[[0, 1, 4, 5]] = 2, -1, 0.5, -2
    c_struct.view(np.int32)[2] = 3
    for struct in (a, {"scale": [2, -1], "offset": 3, "twist": 0.5 - 2j}):
        hal.RawKernel(S.BY_VALUE, "by_value").launch(gpu, 1, (32,), [view, view, 1.5 + 0.25j, struct, 8])
        args = launches[-1][3]
        assert args[2].tobytes() == np.complex64(1.5 + 0.25j).tobytes() and args[4] == 8
        assert args[3].tobytes() == c_struct.tobytes()
    module = hal.RawModule(code=S.TEMPLATES, name_expressions=S.TEMPLATE_INSTANCES)
    module.get_function("axpy<float>").launch(gpu, 1, (32,), [np.float32(2), view, view, 8])
    assert launches[-1][0] == "_Z4axpyIfEvT_PKS0_PS0_i"  # (NVRTC's lowered name, as CuPy looks it up)
    with pytest.raises(TypeError, match="structured scalar"):
        hal.RawKernel(S.BY_VALUE, "by_value").launch(gpu, 1, (32,), [view, view, 1.5, 2.0, 8])
