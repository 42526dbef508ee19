"""The kernel dialect: portable kernels run on the C target (backends/cc.py) against NumPy,
specialization by defines, compile errors, the on-disk cache across processes, and a
compile check of the same sources for CUDA (no GPU needed)."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import cuda_compile
from hal import cache, dialect
from hal.backends import cc
from hal.errors import CompileError
from helpers import textbook_complex

REPO = pathlib.Path(dialect.__file__).resolve().parents[1]

# out[i] = OP(x[x_off + i * x_step], y[i]): OP and the type T come from defines; x may be
# a view into a larger buffer (offset and step as arguments, as backends pass them).
ELEMENTWISE = r"""
KERNEL void binary(GLOBAL T *out, GLOBAL const T *x, i64 x_off, i64 x_step,
                   GLOBAL const T *RESTRICT y, i64 n) {
    i64 i = GLOBAL_ID(0);
    if (i < n) out[i] = OP(x[x_off + i * x_step], y[i]);
}
"""

# A 2-D grid: GLOBAL_ID(0) walks columns, GLOBAL_ID(1) rows; out = a * scale + b[col].
GRID2D = r"""
KERNEL void scale_add(GLOBAL f64 *out, GLOBAL const f64 *a, GLOBAL const f64 *b, f64 scale,
                      i64 rows, i64 cols) {
    i64 col = GLOBAL_ID(0), row = GLOBAL_ID(1);
    if (row < rows && col < cols) out[row * cols + col] = a[row * cols + col] * scale + b[col];
}
"""

# One work-group per row: each item sums a strided share of the row, then a tree
# reduction over LOCAL_SIZE(0) items in LOCAL memory (WG, a power of two, bounds it).
ROW_SUM = r"""
KERNEL void row_sum(GLOBAL ACC *out, GLOBAL const T *x, i64 rows, i64 cols) {
    LOCAL ACC partial[WG];
    i64 row = GROUP_ID(0), lid = LOCAL_ID(0), size = LOCAL_SIZE(0);
    ACC acc = 0;
    if (row < rows)
        for (i64 c = lid; c < cols; c += size) acc += (ACC)x[row * cols + c];
    partial[lid] = acc;
    BARRIER();
    for (i64 s = size / 2; s > 0; s /= 2) {
        if (lid < s) partial[lid] += partial[lid + s];
        BARRIER();
    }
    if (lid == 0 && row < rows) out[row] = partial[0];
}
"""

# Every work-item of a 3-D grid writes its flat index: checks the launcher's split of
# the grid over threads.
IOTA3 = r"""
KERNEL void iota3(GLOBAL i64 *out) {
    out[GLOBAL_ID(0) + NUM_GROUPS(0) * (GLOBAL_ID(1) + NUM_GROUPS(1) * GLOBAL_ID(2))]
        = GLOBAL_ID(0) + 1000 * GLOBAL_ID(1) + 1000000 * GLOBAL_ID(2);
}
"""

# Math words and atomics.
MATH = r"""
KERNEL void math(GLOBAL T *out, GLOBAL const T *x, GLOBAL i32 *count, i64 n) {
    i64 i = GLOBAL_ID(0);
    if (i >= n) return;
    T v = x[i];
    out[i] = exp(v) + log(fabs(v) + (T)1) + sqrt(fabs(v)) + floor(v) + rint(v);
    if (v > 0) ATOMIC_ADD_I32(count, 1);
}
"""

ADD = {"OP(a, b)": "((a) + (b))"}
MUL = {"OP(a, b)": "((a) * (b))"}

# (source, defines) pairs compiled for CUDA below.
# The prelude's complex type C (c64 or c128) and its helpers; FN(op) names C's op.
COMPLEX = r"""
#define PASTE(a, b) a##b
#define FN(op) PASTE2(C, op)
#define PASTE2(a, b) PASTE(a, b)
KERNEL void complex_ops(GLOBAL C *out, GLOBAL i32 *equal, GLOBAL const C *x, GLOBAL const C *y, i64 n) {
    i64 i = GLOBAL_ID(0);
    if (i >= n) return;
    out[4 * i] = FN(_add)(x[i], y[i]);
    out[4 * i + 1] = FN(_sub)(x[i], y[i]);
    out[4 * i + 2] = FN(_mul)(x[i], y[i]);
    out[4 * i + 3] = FN(_div)(x[i], FN(_make)(y[i].re, y[i].im));
    equal[i] = FN(_eq)(x[i], y[i]) + 2 * FN(_nonzero)(x[i]);
}
"""

SOURCES = [
    (COMPLEX, {"C": "c64"}),
    (COMPLEX, {"C": "c128"}),
    (ELEMENTWISE, {"T": "f32", **ADD}),
    (ELEMENTWISE, {"T": "i32", **MUL}),
    (GRID2D, {}),
    (ROW_SUM, {"T": "f32", "ACC": "f32", "WG": 256}),
    (ROW_SUM, {"T": "i32", "ACC": "i64", "WG": 64}),
    (IOTA3, {}),
    (MATH, {"T": "f32"}),
    (MATH, {"T": "f64"}),
]


@pytest.fixture(autouse=True)
def kernel_cache(tmp_path, monkeypatch):
    """A private disk cache for every test."""
    monkeypatch.setenv("HAL_CACHE_DIR", str(tmp_path / "kernels"))
    return tmp_path / "kernels"


def sample(rng, dtype, n: int) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -1000), min(info.max, 1000), n, dtype=dtype, endpoint=True)
    return (rng.standard_normal(n) * 50).astype(dtype)


@pytest.mark.parametrize("t, dtype, defines, ref", [
    ("f32", np.float32, ADD, np.add),
    ("f64", np.float64, MUL, np.multiply),
    ("i32", np.int32, MUL, np.multiply),
    ("u8", np.uint8, {"OP(a, b)": "((a) > (b) ? (a) : (b))"}, np.maximum),
    ("i64", np.int64, {"OP(a, b)": "((a) - (b))"}, np.subtract),
])
def test_elementwise(t, dtype, defines, ref):
    rng = np.random.default_rng(0)
    n = 1000003  # ragged: no work-group or vector width divides it
    x, y = sample(rng, dtype, n), sample(rng, dtype, n)
    binary = cc.compile_c(ELEMENTWISE, {"T": t, **defines})["binary"]
    out = np.zeros(n, dtype)
    binary((n,), None, out, x, 0, 1, y, n)
    np.testing.assert_array_equal(out, ref(x, y))

    # A view with an offset and a step, passed as the base buffer plus offset arguments...
    base = sample(rng, dtype, 3 * n + 10)
    out = np.zeros(n, dtype)
    binary((n,), (1,), out, base, 7, 3, y, n)
    np.testing.assert_array_equal(out, ref(base[7::3][:n], y))
    # ...and as a strided NumPy view: the kernel gets a pointer to its first element.
    out2 = np.zeros(n, dtype)
    binary([n], None, out2, base[7::3], 0, 3, y, n)
    np.testing.assert_array_equal(out2, out)


@pytest.mark.parametrize("c, dtype", [("c64", np.complex64), ("c128", np.complex128)])
def test_complex_prelude(c, dtype):
    # hal's rule for complex arithmetic (README, "Where hal chooses"): the textbook
    # formulas in the operands' precision, one IEEE operation at a time, with Smith's
    # quotient and no C99 Annex G recovery of infinities. The reference is the same
    # formulas on the real and imaginary parts as real NumPy arrays, whose IEEE
    # operations give the same bits on every instruction set (NumPy's own complex loops
    # do not at overflow: AVX2 and AVX-512 builds differ).
    rng = np.random.default_rng(1)
    n = 101
    x = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    y = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    y[:3], x[3], x[4] = x[:3], 0, 1e30 + 1e30j
    y[5], y[4] = 0, 1e30 - 1e30j
    x[6], y[6], x[7], y[7] = complex(np.inf, 1), 2 + 0j, complex(np.nan, 0), 1j
    out, equal = np.zeros((n, 4), dtype), np.zeros(n, np.int32)
    cc.compile_c(COMPLEX, {"C": c})["complex_ops"]((n,), None, out, equal, x, y, n)
    for k, ref in enumerate(textbook_complex(x, y)):
        np.testing.assert_array_equal(out[:, k], ref)
    np.testing.assert_array_equal(equal, (x == y) + 2 * (x != 0))


def test_c128_exists_only_with_fp64_on_opencl():
    # An OpenCL device without cl_khr_fp64 must still compile every source: c128 and
    # its helpers sit inside the HAL_FP64 guard that f64 has.
    source = dialect.render("", "opencl")
    guard = source.index("#ifdef HAL_FP64", source.index("c64_nonzero"))
    assert source.index("} c128;") > guard and source.index("c128_to_c64") > guard
    assert "} c128;" in dialect.render("", "cuda") and "} c128;" in dialect.render("", "c")


def test_elementwise_tails_only_touch_n():
    binary = cc.compile_c(ELEMENTWISE, {"T": "f32", **ADD})["binary"]
    for n, grid in [(0, 0), (1, 1), (5, 8), (4097, 4352)]:  # grid rounded up past n
        out = np.full(grid + 3, np.nan, np.float32)
        x = np.arange(grid + 3, dtype=np.float32)
        binary((grid,), None, out, x, 0, 1, x, n)
        np.testing.assert_array_equal(out[:n], 2 * x[:n])
        assert np.isnan(out[n:]).all()


def test_specialization_changes_the_result():
    x = np.arange(1, 11, dtype=np.float32)
    results = []
    for defines in ({"T": "f32", **ADD}, {"T": "f32", **MUL}):
        out = np.zeros_like(x)
        cc.compile_c(ELEMENTWISE, defines)["binary"]((10,), None, out, x, 0, 1, x, 10)
        results.append(out)
    np.testing.assert_array_equal(results[0], x + x)
    np.testing.assert_array_equal(results[1], x * x)


@pytest.mark.parametrize("rows, cols", [(37, 1001), (1, 1), (5000, 3), (3, 0)])
def test_2d_grid(rows, cols):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((rows, cols)), rng.standard_normal(cols)
    out = np.full((rows, cols), np.nan)
    cc.compile_c(GRID2D)["scale_add"]((cols + 5, rows + 2), None, out, a, b, 2.5, rows, cols)
    np.testing.assert_array_equal(out, a * 2.5 + b)


@pytest.mark.parametrize("t, acc, dtype", [("f32", "f32", np.float32), ("i32", "i64", np.int32)])
@pytest.mark.parametrize("rows, cols", [(37, 1001), (1000, 7), (1, 1), (2, 0)])
def test_row_sum_with_local_memory_and_barriers(t, acc, dtype, rows, cols):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((rows, cols)) * 100).astype(dtype)
    out = np.full(rows, 123, np.float32 if acc == "f32" else np.int64)
    row_sum = cc.compile_c(ROW_SUM, {"T": t, "ACC": acc, "WG": 256})["row_sum"]
    row_sum((rows,), (1,), out, x, rows, cols)
    if dtype == np.float32:  # summed in f32, in another order than NumPy's
        error = np.abs(out - x.sum(axis=1, dtype=np.float64))
        assert (error <= 1e-5 * np.abs(x).sum(axis=1, dtype=np.float64)).all()
    else:
        np.testing.assert_array_equal(out, x.sum(axis=1, dtype=np.int64))


@pytest.mark.parametrize("min_items", [1, 1 << 40])  # the thread pool, and the calling thread only
@pytest.mark.parametrize("shape", [(1,), (7, 9, 11), (4099,), (50, 61, 7), (1, 3, 5000), (5000, 1, 3)])
def test_grid_covers_every_item_once(min_items, shape):
    out = np.full(int(np.prod(shape)), -1, np.int64)
    cc.compile_c(IOTA3, {"HAL_THREADS_MIN_ITEMS": min_items})["iota3"](shape, None, out)
    np.testing.assert_array_equal(out, _iota3_expected(shape))


def _iota3_expected(shape) -> np.ndarray:
    g = np.indices((*shape, 1, 1)[:3][::-1]).reshape(3, -1)
    return g[2] + 1000 * g[1] + 1000000 * g[0]


def test_launches_from_several_threads_at_once():
    """The pool runs one launch at a time; a thread launching meanwhile runs its grid
    itself: every launch still covers its grid, whoever runs it."""
    import threading
    kernel, shape = cc.compile_c(IOTA3, {"HAL_THREADS_MIN_ITEMS": 1})["iota3"], (5000, 3, 2)
    failures = []

    def launch_many():
        for _ in range(200):
            out = np.full(int(np.prod(shape)), -1, np.int64)
            kernel(shape, None, out)
            if not np.array_equal(out, _iota3_expected(shape)):
                failures.append(out)
    threads = [threading.Thread(target=launch_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads) and not failures


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_a_forked_child_runs_kernels_on_threads_of_its_own():
    """The parent's pool threads are not in a fork's child (a Dask or multiprocessing
    worker): its first launch starts new ones instead of waiting for the parent's."""
    kernel, shape = cc.compile_c(IOTA3, {"HAL_THREADS_MIN_ITEMS": 1})["iota3"], (100000,)
    out = np.full(shape, -1, np.int64)
    kernel(shape, None, out)  # the parent's pool is running
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether its launch covered the grid, then leave at once
        child_out = np.full(shape, -1, np.int64)
        kernel(shape, None, child_out)
        os.write(write, b"1" if np.array_equal(child_out, _iota3_expected(shape)) else b"0")
        os._exit(0)
    os.close(write)
    try:
        import select
        import signal
        ready, _, _ = select.select([read], [], [], 60)
        if not ready:  # (reaped below: a hung child must not hang the suite)
            os.kill(pid, signal.SIGKILL)
        assert ready, "the forked child's launch did not finish in 60 s"
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(pid, 0)


@pytest.mark.parametrize("t, dtype, rtol", [("f32", np.float32, 1e-6), ("f64", np.float64, 1e-14)])
def test_math_words_and_atomics(t, dtype, rtol):
    x = np.linspace(-5, 5, 20001).astype(dtype)
    out, count = np.zeros_like(x), np.zeros(1, np.int32)
    cc.compile_c(MATH, {"T": t})["math"]((x.size,), None, out, x, count, x.size)
    ref = np.exp(x) + np.log(np.abs(x) + 1) + np.sqrt(np.abs(x)) + np.floor(x) + np.rint(x)
    np.testing.assert_allclose(out, ref, rtol=rtol, atol=rtol)
    assert count[0] == (x > 0).sum()


def test_launch_argument_checks():
    prog = cc.compile_c(ELEMENTWISE, {"T": "f32", **ADD})["binary"]
    x = np.ones(4, np.float32)
    with pytest.raises(TypeError, match=r"binary\(out, x, x_off, x_step, y, n\) got 5 .* missing \['n'\]"):
        prog((4,), None, x, x, 0, 1, x)
    with pytest.raises(ValueError, match="work-groups of size 1"):
        prog((4,), (2,), x, x, 0, 1, x, 4)
    with pytest.raises(ValueError, match="1 to 3 dimensions"):
        prog((4, 1, 1, 1), None, x, x, 0, 1, x, 4)
    with pytest.raises(TypeError, match="argument 0 is a pointer"):
        prog((4,), None, 5, x, 0, 1, x, 4)
    with pytest.raises(TypeError, match="argument 2 1.5 does not convert to int64_t"):
        prog((4,), None, x, x, 1.5, 1, x, 4)
    with pytest.raises(OverflowError, match="argument 5"):
        prog((4,), None, x, x, 0, 1, x, 2 ** 64)
    out = np.zeros(4, np.float32)
    prog((np.int64(4),), None, out, x, np.int64(0), np.int32(1), x, np.uint16(4))  # NumPy scalars
    np.testing.assert_array_equal(out, 2)
    with pytest.raises(KeyError, match="no kernel 'nope'"):
        cc.compile_c(ELEMENTWISE, {"T": "f32", **ADD}).kernel("nope")


def test_compile_error_has_the_log_and_the_module_stays_usable():
    good = cc.compile_c(ELEMENTWISE, {"T": "f32", **ADD})["binary"]
    bad = "KERNEL void broken(GLOBAL f32 *out) {\n    out[0] = 1.0f +;\n}\n"
    for _ in range(2):  # a failure is not cached: it fails the same way again
        with pytest.raises(CompileError) as info:
            cc.compile_c(bad)
        assert "error" in info.value.log and "kernel.c:" in info.value.log
        assert "out[0] = 1.0f +;" in info.value.source and "expected expression" in str(info.value)
    x = np.arange(3, dtype=np.float32)
    out = np.zeros(3, np.float32)
    good((3,), None, out, x, 0, 1, x, 3)
    np.testing.assert_array_equal(out, 2 * x)
    fresh = cc.compile_c(ELEMENTWISE, {"T": "f32", **MUL})["binary"]
    fresh((3,), None, out, x, 0, 1, x, 3)
    np.testing.assert_array_equal(out, x * x)


def test_unknown_scalar_type_is_reported():
    with pytest.raises(ValueError, match="scalar parameter type 'U'"):
        cc.compile_c("KERNEL void k(GLOBAL f32 *out, U a) { }", {"U": "float16"})


# Compiles (or, the second time, must load) a kernel and runs it; a build in the second
# process fails the test through the patched _build.
CHILD = """
import sys, numpy as np
from hal import cache
from hal.backends import cc
if sys.argv[1] == "load":
    def no_build(*args):
        raise AssertionError("compiled although the disk cache holds the kernel")
    cc._build = no_build
src = sys.stdin.read()
x = np.arange(5, dtype=np.float32)
out = np.zeros(5, np.float32)
cc.compile_c(src, {"T": "f32", "OP(a, b)": "((a) * (b))"})["binary"]((5,), None, out, x, 0, 1, x, 5)
assert (out == x * x).all(), out
print(cache.stats()["builds"], cache.stats()["disk_hits"])
"""


def test_second_process_loads_from_the_disk_cache(kernel_cache):
    env = dict(os.environ, HAL_CACHE_DIR=str(kernel_cache),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.pop("HAL_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", CHILD, mode], input=ELEMENTWISE, env=env,
                           capture_output=True, text=True, timeout=120) for mode in ("build", "load")]
    for run in runs:
        assert run.returncode == 0, run.stderr
    # (two objects each: the kernel's and the thread pool's, cc._pool)
    assert runs[0].stdout.split() == ["2", "0"]  # built once...
    assert runs[1].stdout.split() == ["0", "2"]  # ...then loaded from disk
    assert list(kernel_cache.glob("c-*.bin"))


def test_same_source_twice_is_one_build():
    before = cache.stats()["builds"]
    a = cc.compile_c(GRID2D, {"UNUSED": 1})
    assert cc.compile_c(GRID2D, {"UNUSED": 1}) is a
    assert cache.stats()["builds"] - before <= 1


# CUDA: every source above must compile for these architectures (no GPU needed).
ARCHS = ("sm_70", "sm_80", "sm_90")
CUDA_CASES = [pytest.param(c, a, id=f"{c}-{a}") for c in ("nvrtc", "nvcc") for a in ARCHS]


@pytest.mark.parametrize("compiler, arch", CUDA_CASES)
def test_cuda_compiles(compiler, arch):
    if compiler not in cuda_compile.compilers():
        pytest.skip(f"no {compiler} here (pip install nvidia-cuda-nvrtc-cu12, or nvcc on PATH)")
    if not cuda_compile.supports(compiler, arch):
        pytest.skip(f"{compiler} {cuda_compile.compilers()[compiler]} cannot target {arch}")
    for source, defines in SOURCES:
        assert cuda_compile.compile_cuda(dialect.render(source, "cuda", defines), arch, compiler)


def test_cuda_compile_error_has_the_log():
    if not cuda_compile.compilers():
        pytest.skip("no CUDA compiler (pip install nvidia-cuda-nvrtc-cu12, or nvcc on PATH)")
    with pytest.raises(cuda_compile.CudaCompileError, match="undefined_thing"):
        cuda_compile.compile_cuda(dialect.render("KERNEL void k() { undefined_thing(); }", "cuda"),
                                  "sm_80")
