"""hal.ElementwiseKernel and hal.ReductionKernel with CuPy's interface on every device,
checked against NumPy: CuPy's documented examples (written anew), placeholders bound per
call, broadcasting, strided and raw operands, given and allocated outputs, axis and
keepdims, long rows folded in two passes; their generated CUDA compiles with NVRTC."""
import numpy as np
import pytest

import hal
import cuda_sources as S
from cuda_compile import compile_cuda, compilers


def put(device, a):
    return hal.asarray(a, device=device)


def is_sim(device):
    return device.info.kind == "simulator"


def native(device) -> bool:
    """Whether ``device`` compiles the generated CUDA as it is (NVRTC, hiprtc): C++'s rules."""
    return device.backend_name in ("cuda", "rocm")


SQUARED_DIFF = hal.ElementwiseKernel("float32 x, float32 y", "float32 z", "z = (x - y) * (x - y)", "squared_diff")
SQUARED_DIFF_T = hal.ElementwiseKernel("T x, T y", "T z", "z = (x - y) * (x - y)", "squared_diff_generic")
ADD_REVERSE = hal.ElementwiseKernel("T x, raw T y", "T z", "z = x + y[_ind.size() - i - 1]", "add_reverse")
L2NORM = hal.ReductionKernel("T x", "T y", "x * x", "a + b", "y = sqrt(a)", "0", "l2norm")


def test_squared_difference_broadcasts(device):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    y = np.array([1, 5, -2, 0.5], np.float32)
    np.testing.assert_array_equal(np.asarray(SQUARED_DIFF(put(device, x), put(device, y))), (x - y) ** 2)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "uint8"])
def test_type_placeholders_bind_per_call(device, dtype):
    x = (np.arange(20) % 7).astype(dtype).reshape(4, 5)
    y = np.flip(x, axis=1)  # a strided (negative step) operand
    got = SQUARED_DIFF_T(put(device, x), hal.flip(put(device, x), axis=1))
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(np.asarray(got), ((x - y) * (x - y)).astype(dtype))
    np.testing.assert_array_equal(np.asarray(SQUARED_DIFF_T(put(device, x), 2)), ((x - 2) * (x - 2)).astype(dtype))


def test_raw_argument_and_index(device):
    x = np.arange(9, dtype=np.float32)
    y = np.arange(9, dtype=np.float32) * 10
    np.testing.assert_array_equal(np.asarray(ADD_REVERSE(put(device, x), put(device, y))), x + y[::-1])


def test_given_outputs_are_written_and_read(device):
    accumulate = hal.ElementwiseKernel("T x", "T acc", "acc += x * i", "accumulate")
    acc = put(device, np.ones((2, 3), np.float64))
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    assert accumulate(put(device, x), acc) is acc
    np.testing.assert_array_equal(np.asarray(acc), 1 + x * np.arange(6).reshape(2, 3))


def test_two_outputs_preamble_and_size(device):
    sincos = hal.ElementwiseKernel("float64 step", "float32 s, float32 c",
                                   "double v = scaled(step, i); s = sin(v); c = cos(v)", "sincos",
                                   preamble="__device__ double scaled(double a, long long k) { return a * k; }")
    s, c = sincos(0.25, size=7)
    v = 0.25 * np.arange(7)
    np.testing.assert_allclose(np.asarray(s), np.sin(v).astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(c), np.cos(v).astype(np.float32), rtol=1e-6)


def test_half_operands(device):
    twice = hal.ElementwiseKernel("T x", "T y", "y = x * 2 + 1", "twice_plus_one")
    x = np.linspace(-4, 4, 11).astype(np.float16)
    got = twice(put(device, x))
    assert got.dtype == np.float16
    np.testing.assert_array_equal(np.asarray(got), (x.astype(np.float32) * 2 + 1).astype(np.float16))


def test_complex_elementwise_and_reduction(device):
    z = (np.arange(6) + 1j * (np.arange(6) - 2)).astype(np.complex64).reshape(2, 3)
    gz = put(device, z)
    poly = hal.ElementwiseKernel("T x", "T y", "y = x * x + conj(x) - T(1)", "complex_poly")
    np.testing.assert_allclose(np.asarray(poly(gz)), z * z + np.conj(z) - 1, rtol=1e-6)
    rotate = hal.ElementwiseKernel("T x, float32 s", "T y", "y = x * s + T(0, 1)", "complex_rotate")
    np.testing.assert_allclose(np.asarray(rotate(gz, 2.0)), z * 2 + 1j, rtol=1e-6)  # (T(re, im) constructs)
    parts = hal.ElementwiseKernel("T x", "float32 y", "y = abs(x) + x.real() - imag(x)", "complex_parts")
    np.testing.assert_allclose(np.asarray(parts(gz)), np.abs(z) + z.real - z.imag, rtol=1e-6)
    total = hal.ReductionKernel("T x", "T y", "x", "a + b", "y = a", "0", "complex_sum")
    np.testing.assert_allclose(np.asarray(total(gz, axis=1)), z.sum(axis=1), rtol=1e-6)
    with pytest.raises(TypeError, match="complex scalars"):
        hal.ElementwiseKernel("T x, T y", "T z", "z = x + y", "complex_add")(gz, np.complex64(1))


@pytest.mark.parametrize("names", [("n", "out"), ("d0", "j0"), ("x", "x_s0"), ("r", "p_y"), ("s0_x", "p_s0")])
def test_parameter_names_never_clash_with_the_kernels_own(device, names):
    """Strided operands whose names are those of the generated kernel's own variables,
    or of another operand's strides: each reads its own data."""
    a, b = names
    k = hal.ElementwiseKernel(f"T {a}, T {b}", "T z", f"z = {a} * 2 - {b}", f"clash_{a}_{b}")
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    y = np.array([10, 20, 30], np.int32)
    np.testing.assert_array_equal(np.asarray(k(put(device, x).mT, put(device, y)[:, None])), x.T * 2 - y[:, None])
    np.testing.assert_array_equal(np.asarray(k(put(device, x), put(device, y))), x * 2 - y)


def test_signed_overflow_wraps_in_operations_and_reductions(device):
    """As NumPy's int32 arrays: (x * 2) / 2 is not folded to x on translated targets. In
    CUDA C++ signed overflow is undefined and NVRTC folds it: there only the values that
    do not overflow are checked."""
    halve = hal.ElementwiseKernel("int32 x", "int32 y", "y = (x * 2) / 2 + (x + 1 > x)", "wrap_halve")
    x = np.array([1, 2**30 + 1, 2**31 - 1, -2**31, -5], np.int32)
    rows = [0, 4] if native(device) else slice(None)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(np.asarray(halve(put(device, x)))[rows],
                                      ((x * np.int32(2)) // 2 + (x + np.int32(1) > x))[rows])
        if native(device):
            return
        scaled = hal.ReductionKernel("int32 x", "int32 y", "(x * 65537) / 65537", "a + b", "y = a", "0", "wrap_sum")
        rows = np.full((2, 300), 2**20 + 3, np.int32)
        np.testing.assert_array_equal(np.asarray(scaled(put(device, rows), axis=1)),
                                      ((rows * np.int32(65537)) // 65537).sum(axis=1, dtype=np.int32))


def test_continue_ends_the_operation_and_return_is_refused(device):
    """CuPy runs the operation in a loop over i: continue ends it for this element (the
    outputs assigned so far are written). hal stores the outputs after the operation, so
    a return, which would skip that, is refused."""
    x = np.linspace(-2, 2, 9).astype(np.float32)
    relu2 = hal.ElementwiseKernel("T x", "T y", "if (x < 0) { y = 0; continue; }\ny = x * 2;  // doubled", "relu2")
    np.testing.assert_array_equal(np.asarray(relu2(put(device, x))), np.where(x < 0, 0, 2 * x))
    early = hal.ElementwiseKernel("T x", "T y", "y = 0;\nif (x < 0) return;\ny = x * 2;", "early")
    with pytest.raises(hal.CompileError, match=r"kernel.cu:2: not supported: return in an ElementwiseKernel's"):
        early(put(device, x))


def test_elementwise_errors():
    x = hal.ones(3, dtype=hal.float32, device="cpu")
    with pytest.raises(TypeError, match="takes 2 inputs"):
        SQUARED_DIFF(x)
    with pytest.raises(TypeError, match="cannot tell the type T"):
        hal.ElementwiseKernel("float32 x", "T y", "y = x", "unbound")(x)
    with pytest.raises(TypeError, match="is float32, the kernel writes int32"):
        hal.ElementwiseKernel("float32 x", "int32 y", "y = x", "cast")(x, hal.ones(3, dtype=hal.float32, device="cpu"))
    with pytest.raises(ValueError, match="bad kernel parameter"):
        hal.ElementwiseKernel("float32", "float32 y", "y = 1", "bad")
    with pytest.raises(ValueError, match=r"\['i'\]: names the kernel itself declares"):
        hal.ElementwiseKernel("float32 i", "float32 y", "y = i", "reserved")
    with pytest.raises(ValueError, match="names starting with hal_ are the generated kernel's own"):
        hal.ReductionKernel("T hal_acc", "T y", "hal_acc", "a + b", "y = a", "0", "reserved")
    with pytest.raises(hal.CompileError, match="kernel.cu:.*the identifier 'w'"):
        hal.ElementwiseKernel("float32 x", "float32 y", "y = w", "undeclared")(x)
    m, y = hal.ones((3, 2), dtype=hal.float32, device="cpu"), hal.empty(3, dtype=hal.float32, device="cpu")
    with pytest.raises(hal.CompileError, match=r"kernel.cu:\d+: not supported: method calls \(of CuPy's CArray"):
        hal.ElementwiseKernel("raw T m", "T y", "y = m[i * m.shape()[1]]", "carray_shape")(m, y)
    with pytest.raises(hal.CompileError, match=r"kernel.cu:\d+: not supported: an index of type i64\[\]"):
        hal.ElementwiseKernel("raw T m", "T y", "ptrdiff_t idx[] = {i, 0}; y = m[idx]", "index_array")(m, y)


def test_l2norm_over_axes(device):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 10
    gx = put(device, x)
    np.testing.assert_allclose(float(np.asarray(L2NORM(gx))), np.sqrt((x * x).sum()), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(L2NORM(gx, axis=1)), np.sqrt((x * x).sum(axis=1)), rtol=1e-6)
    got = L2NORM(gx, axis=(0, 2), keepdims=True)
    assert got.shape == (1, 3, 1)
    np.testing.assert_allclose(np.asarray(got), np.sqrt((x * x).sum(axis=(0, 2), keepdims=True)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(L2NORM(gx.mT, axis=-1)), np.sqrt((x * x).sum(axis=1)), rtol=1e-6)


def test_long_rows_fold_in_two_passes(device):
    n = 3000 if is_sim(device) else 200_000
    x = (np.arange(n) % 97).astype(np.float64) / 7
    np.testing.assert_allclose(float(np.asarray(L2NORM(put(device, x)))), np.sqrt((x * x).sum()), rtol=1e-12)
    rows = np.stack([x, -x[::-1]])
    np.testing.assert_allclose(np.asarray(L2NORM(put(device, rows), axis=1)), np.sqrt((rows * rows).sum(axis=1)),
                               rtol=1e-12)


def test_max_with_reduce_type_and_scalar(device):
    shifted_max = hal.ReductionKernel("T x, T shift", "int64 y", "x + shift", "max(a, b)", "y = a * 2",
                                      "-1000000", "shifted_max")
    x = np.random.default_rng(0).integers(-500, 500, (5, 33)).astype(np.int32)
    got = shifted_max(put(device, x), 7, axis=1)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(np.asarray(got), (x + 7).max(axis=1) * 2)
    out = hal.empty((33,), dtype=hal.int64, device=device)
    assert shifted_max(put(device, x), 0, axis=0, out=out) is out
    np.testing.assert_array_equal(np.asarray(out), x.max(axis=0) * 2)


def test_sum_of_bytes_in_a_wider_type(device):
    total = hal.ReductionKernel("T x", "int64 y", "x", "a + b", "y = a", "0", "byte_sum", reduce_type="long long")
    x = np.full((4, 300), 255, np.uint8)
    np.testing.assert_array_equal(np.asarray(total(put(device, x), axis=1)), np.full(4, 255 * 300))


PTP = hal.ReductionKernel("T x", "T y", "make_range(x, x)", "join(a, b)", "y = a.hi - a.lo",
                          "make_range(__int_as_float(0x7f800000), __int_as_float(0xff800000))",  # (+-inf)
                          "ptp", reduce_type="Range", preamble=S.RANGE_PREAMBLE)


def test_struct_reduce_type_from_the_preamble(device):
    """A reduce_type the preamble defines (CuPy declares _type_reduce after the preamble);
    few long rows fold in one pass (hal has no dtype for a buffer of partial structs)."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 50)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(PTP(put(device, x), axis=1)), np.ptp(x, axis=1))
    np.testing.assert_array_equal(np.asarray(PTP(put(device, x), axis=0, keepdims=True)), np.ptp(x, 0, keepdims=True))
    long_rows = rng.standard_normal((2, 3000 if is_sim(device) else 100_000)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(PTP(put(device, long_rows), axis=1)), np.ptp(long_rows, axis=1))


SUM_AND_MEAN = hal.ReductionKernel("T x", "T s, T m", "x", "a + b", "s = a; m = a / (_in_ind.size() / _out_ind.size())",
                                   "0", "sum_and_mean")


def test_several_outputs_given_as_arguments(device):
    """CuPy's call: the inputs, then (optionally) the outputs; post_map_expr writes each;
    the first output is returned. An output named s is no kernel name of hal's."""
    x = np.random.default_rng(10).random((5, 70)).astype(np.float32)
    s, m = hal.empty(5, dtype=hal.float32, device=device), hal.empty(5, dtype=hal.float32, device=device)
    assert SUM_AND_MEAN(put(device, x), s, m, axis=1) is s
    np.testing.assert_allclose(np.asarray(s), x.sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(m), x.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(SUM_AND_MEAN(put(device, x), axis=0)), x.sum(axis=0), rtol=1e-5)
    y = hal.empty(5, dtype=hal.float32, device=device)
    assert L2NORM(put(device, x), y, axis=1) is y  # (one output, positional)
    np.testing.assert_allclose(np.asarray(y), np.sqrt((x * x).sum(axis=1)), rtol=1e-5)
    with pytest.raises(TypeError, match="1 inputs, or 1 inputs and 2 outputs"):
        SUM_AND_MEAN(put(device, x), s, axis=1)
    with pytest.raises(TypeError, match="given twice"):
        L2NORM(put(device, x), y, axis=1, out=y)


def test_mean_through_the_indexers_sizes(device):
    mean = hal.ReductionKernel("T x", "float64 y", "x", "a + b", "y = a / (_in_ind.size() / _out_ind.size())", "0",
                               "mean_kernel")
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_allclose(np.asarray(mean(put(device, x), axis=(0, 2))), x.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(float(np.asarray(mean(put(device, x)))), x.mean(), rtol=1e-12)


ARGMAX = hal.ReductionKernel("T x", "int64 idx", "pick(x, _J)", "better(a, b)", "idx = a.index",
                             "pick(-__int_as_float(0x7f800000), -1)",  # (-inf: NVRTC has no INFINITY without headers)
                             "argmax_kernel", reduce_type="Best", preamble=r"""
struct Best { double value; long long index; };
__device__ Best pick(double value, long long index) { Best b; b.value = value; b.index = index; return b; }
__device__ Best better(Best a, Best b) {  // (the first of equal maxima, as NumPy's argmax; -1: the identity)
    return (b.value > a.value || (b.value == a.value && b.index >= 0 && b.index < a.index)) ? b : a;
}""")


def test_argmax_through_the_index_within_the_reduced_axes(device):
    """CuPy's _J: the value's index within its row of reduced axes (C order over them)."""
    rng = np.random.default_rng(11)
    x = rng.integers(0, 5, (6, 3, 40)).astype(np.float32)  # (ties: the first maximum wins)
    np.testing.assert_array_equal(np.asarray(ARGMAX(put(device, x), axis=2)), np.argmax(x, axis=2))
    flat = x.transpose(1, 0, 2).reshape(3, -1)
    np.testing.assert_array_equal(np.asarray(ARGMAX(put(device, x), axis=(0, 2))), np.argmax(flat, axis=1))
    long_row = rng.standard_normal(3000 if is_sim(device) else 100_000).astype(np.float32)
    assert int(np.asarray(ARGMAX(put(device, long_row)))) == np.argmax(long_row)


def test_template_helpers_in_the_preamble(device):
    """Called with the template argument written or deduced (from x, as in C++)."""
    preamble = "template <typename T> __device__ T softplus(T v) { return v > T(20) ? v : log1p(exp(v)); }"
    x = np.linspace(-5, 30, 20)
    for operation in ("y = softplus<T>(x)", "y = softplus(x)"):
        softplus = hal.ElementwiseKernel("T x", "T y", operation, "softplus_kernel", preamble=preamble)
        np.testing.assert_allclose(np.asarray(softplus(put(device, x))), np.where(x > 20, x, np.log1p(np.exp(x))),
                                   rtol=1e-12)


def test_reduction_errors():
    x = hal.ones((2, 3), dtype=hal.float32, device="cpu")
    with pytest.raises(np.exceptions.AxisError):
        L2NORM(x, axis=2)
    with pytest.raises(ValueError, match="out must be"):
        L2NORM(x, axis=0, out=hal.empty((2,), dtype=hal.float32, device="cpu"))
    with pytest.raises(ValueError, match="needs an identity"):
        hal.ReductionKernel("T x", "T y", "x", "a + b", "y = a", None, "no_identity")


@pytest.mark.skipif("nvrtc" not in compilers(), reason="no NVRTC (pip install nvidia-cuda-nvrtc-cu12)")
def test_generated_sources_compile_with_nvrtc():
    """What CUDA devices compile: the generated sources as they are (native=True)."""
    f32, i64 = {"T": np.dtype("float32")}, {"T": np.dtype("int64")}
    sincos = hal.ElementwiseKernel("float64 x", "float32 s", "s = sin(x)", "sincos")  # (CUDA's math declares sincos)
    sources = [SQUARED_DIFF_T._kernel(f32, ["c", "s", "c"], 2, (False,), True).code,
               ADD_REVERSE._kernel(i64, ["c", "r", "c"], 0, (True,), True).code,
               sincos._kernel({}, ["k", "c"], 0, (False,), True).code]
    from hal.cuda_kernels.reduction import _Pair
    pair = _Pair(L2NORM, f32, "T", 256, True)
    sources += [k.code for k in pair.kernels([np.zeros(1)])]
    sources += [k.code for k in _Pair(PTP, f32, "Range", 256, True).kernels([np.zeros(1)])]
    sources += [k.code for k in _Pair(ARGMAX, f32, "Best", 256, True).kernels([np.zeros(1)])]
    for source in sources:
        assert compile_cuda(source, "sm_80", "nvrtc")
