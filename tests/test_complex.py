"""complex64 and complex128 on every device, against NumPy: arithmetic (with real arrays
and Python scalars, as the standard's "Mixing arrays with Python scalars" says), every
element-wise function that takes complex arguments, the standard's special cases
(C99 Annex G) for inf and NaN components, astype, comparisons, and the data type
functions; the complex kernels also compile for CUDA."""
import numpy as np
import pytest

import hal
from cuda_compile import compile_cuda, compilers, supports
from hal.dialect import render
from hal.ops import elementwise
from hal.ops.launch import elementwise_source
from helpers import COMPLEX, FLOATING, assert_matches, data, put, textbook_complex


def need_complex(device, dtype):
    if dtype not in device.dtypes:
        pytest.skip(f"{device} has no {dtype}")


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
@pytest.mark.parametrize("name, ref", [("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply),
                                       ("divide", np.divide), ("pow", np.power), ("equal", np.equal),
                                       ("not_equal", np.not_equal)])
def test_arithmetic(device, name, ref, dtype):
    need_complex(device, dtype)
    a, b = data((3, 4), dtype, 1), data((4,), dtype, 2)
    b[1] = a[0, 1]  # one equal pair
    fn = getattr(hal, name)
    x, y = put(a, device), put(b, device)
    assert_matches(fn(x, y), ref(a, b), device=device)
    assert_matches(fn(x.T[::-1], y[:3]), ref(a.T[::-1], b[:3]))  # strided and broadcast


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
def test_products_and_quotients_follow_the_textbook_formulas(device, dtype):
    # hal's stated rule (README): the textbook product and Smith's quotient, one IEEE
    # operation at a time, with no Annex G recovery of infinities: the same bits on every
    # device and every CPU (NumPy's complex loops differ between AVX2 and AVX-512).
    need_complex(device, dtype)
    big, inf, nan = 1e30 if dtype == np.complex64 else 1e300, np.inf, np.nan
    a = np.array([big + big * 1j, complex(inf, 1), complex(nan, 0), 1 + 2j, complex(0, -inf), 3 - 1j], dtype)
    b = np.array([big - big * 1j, 2, 1j, 0, complex(inf, inf), complex(-0.0, 4)], dtype)
    _, _, product, quotient = textbook_complex(a, b)
    x, y = put(a, device), put(b, device)
    np.testing.assert_array_equal(np.asarray(x * y), product)
    np.testing.assert_array_equal(np.asarray(x / y), quotient)


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
def test_division_by_zero_and_small_powers(device, dtype):
    need_complex(device, dtype)
    a = np.array([1 + 1j, -2, 0, 3j, 1e30 + 1e-30j], dtype)
    b = np.array([0, 1e-30 + 1e30j, 0, -0.5 + 2j, 1e30], dtype)
    with np.errstate(all="ignore"):
        assert_matches(put(a, device) / put(b, device), a / b)  # Smith's algorithm: no overflow
        for e in (0, 1, 2, 3, -2, 0.5, 1j):
            assert_matches(put(a[:4], device) ** e, a[:4] ** dtype.type(e))


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
@pytest.mark.parametrize("real", FLOATING, ids=str)
def test_promotion_with_real_arrays(device, dtype, real):
    need_complex(device, dtype)
    need_complex(device, real)
    a, r = data((2, 3), dtype, 1), data((3,), real, 2)
    out = np.result_type(dtype, real)
    assert hal.result_type(dtype, real) == out
    assert_matches(put(a, device) * put(r, device), a.astype(out) * r.astype(out))
    assert_matches(put(r, device) - put(a, device), r.astype(out) - a.astype(out))
    assert_matches(put(r, device) == put(a, device), r.astype(out) == a.astype(out))


@pytest.mark.parametrize("dtype", FLOATING + COMPLEX, ids=str)
def test_python_complex_scalars(device, dtype):
    need_complex(device, dtype)
    a = data((5,), dtype, 3)
    out = np.dtype(np.complex128 if dtype in (hal.float64, hal.complex128) else np.complex64)
    x = put(a, device)
    assert_matches(x + (1.5 - 2j), a.astype(out) + out.type(1.5 - 2j), device=device)
    assert_matches((0.5 + 1j) / x, out.type(0.5 + 1j) / a.astype(out))
    assert_matches(x == 1j, a.astype(out) == out.type(1j))
    assert hal.result_type(dtype, 1j) == out
    if dtype.kind == "c":  # ints and floats keep the complex dtype
        assert_matches(x * 2, a * dtype.type(2))
        assert_matches(x - 0.25, a - dtype.type(0.25))


def test_python_complex_with_integer_array_raises(device):
    with pytest.raises(TypeError):
        hal.ones(3, dtype=hal.int32, device=device) + 1j


# Moderate values (|z| in [0.1, 3], both parts random): where NumPy's algorithms and hal's
# agree to the tolerance; the special values are below.
UNARY = {
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "log2": np.log2, "log10": np.log10,
    "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos, "tan": np.tan, "sinh": np.sinh, "cosh": np.cosh,
    "tanh": np.tanh, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "asinh": np.arcsinh,
    "acosh": np.arccosh, "atanh": np.arctanh, "abs": np.abs, "sign": np.sign, "square": np.square,
    "reciprocal": np.reciprocal, "conj": np.conj, "real": np.real, "imag": np.imag, "round": np.round,
    "negative": np.negative, "positive": np.positive, "isnan": np.isnan, "isinf": np.isinf,
    "isfinite": np.isfinite,
}
# The composed inverse functions lose a few more digits than NumPy's own.
MATH_TOLERANCE = {np.dtype(np.complex64): (2e-5, 2e-6), np.dtype(np.complex128): (1e-12, 1e-13)}


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(device, name, dtype):
    need_complex(device, dtype)
    a = data((4, 6), dtype, 5) * 1.5
    a[0, :3] = [0.1 + 0j, -2.5 - 0j, 3j]  # on the axes
    rtol, atol = MATH_TOLERANCE[dtype]
    with np.errstate(all="ignore"):
        expected = UNARY[name](a)
    if expected.dtype.kind == "f":
        rtol, atol = max(rtol, 1e-12), max(atol, 1e-12)
    assert_matches(getattr(hal, name)(put(a, device)), expected, rtol=rtol, atol=atol, device=device)


INF, NAN = np.inf, np.nan
PARTS = [0.0, -0.0, 1.5, -2.0, INF, -INF, NAN]
SPECIAL = np.array([complex(r, i) for r in PARTS for i in PARTS])
# Functions whose special values NumPy takes from C99 Annex G, as the standard does.
ANNEX_G = ["exp", "log", "sqrt", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "abs", "isnan", "isinf",
           "isfinite", "conj", "negative"]


def same_values(actual, expected):
    """Equal where both are numbers (signs of zero included), NaN where NumPy has NaN;
    the standard leaves the sign of some zeros and infinities open ("±"), NumPy fixes one."""
    a, e = np.asarray(actual), np.asarray(expected)
    parts = [(a.real, e.real), (a.imag, e.imag)] if e.dtype.kind == "c" else [(a, e)]
    for got, want in parts:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        finite = ~np.isnan(want)
        np.testing.assert_allclose(np.abs(got[finite]), np.abs(want[finite]), rtol=1e-6)


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
@pytest.mark.parametrize("name", ANNEX_G)
def test_special_values(device, name, dtype):
    need_complex(device, dtype)
    a = SPECIAL.astype(dtype)
    with np.errstate(all="ignore"):
        expected = UNARY[name](a)
    out = getattr(hal, name)(put(a, device))
    assert out.dtype == expected.dtype
    same_values(out, expected)


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
def test_equality_with_nan_and_signed_zeros(device, dtype):
    need_complex(device, dtype)
    a = np.array([complex(NAN, 0), complex(0.0, 0.0), complex(-0.0, 0.0), complex(1, -0.0), complex(INF, 1)], dtype)
    b = np.array([complex(NAN, 0), complex(-0.0, -0.0), complex(0.0, 0.0), complex(1, 0.0), complex(INF, 1)], dtype)
    assert_matches(put(a, device) == put(b, device), a == b)
    assert_matches(put(a, device) != put(b, device), a != b)


@pytest.mark.parametrize("src", [hal.bool, hal.int8, hal.uint64, hal.float32, hal.float64] + COMPLEX, ids=str)
@pytest.mark.parametrize("dst", COMPLEX, ids=str)
def test_astype_to_complex(device, src, dst):
    need_complex(device, src)
    need_complex(device, dst)
    a = data((3, 4), src, 4)
    out = hal.astype(put(a, device)[:, ::2], dst)
    assert_matches(out, a[:, ::2].astype(dst), device=device)


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
def test_astype_from_complex(device, dtype):
    need_complex(device, dtype)
    a = np.array([0, 1j, -0.0, 2 + 0j, complex(NAN, 0), complex(0, -0.0)], dtype)
    assert_matches(hal.astype(put(a, device), hal.bool), a.astype(np.bool_))
    for real in (hal.float32, hal.int16):
        with pytest.raises(TypeError):  # the standard: take real(x) or imag(x) explicitly
            hal.astype(put(a, device), real)
    x = put(a, device)
    assert hal.astype(x, dtype, copy=False) is x
    assert hal.astype(x, dtype) is not x


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
def test_where_and_clip_kinds(device, dtype):
    need_complex(device, dtype)
    a, b = data((2, 3), dtype, 1), data((3,), dtype, 2)
    c = np.array([True, False, True])
    assert_matches(hal.where(put(c, device), put(a, device), put(b, device)), np.where(c, a, b))
    assert_matches(hal.where(put(c, device), 1j, put(b, device)), np.where(c, dtype.type(1j), b))
    with pytest.raises(TypeError):
        hal.clip(put(a, device), 0, 1)  # clip takes real numbers
    with pytest.raises(TypeError):
        hal.less(put(a, device), put(b, device))  # complex numbers have no order


def test_data_type_functions():
    assert hal.finfo(hal.complex64) == hal.finfo(hal.float32) and hal.finfo(hal.complex128).dtype == hal.float64
    assert isinstance(hal.finfo(hal.complex64).eps, float) and hal.finfo(hal.float32).bits == 32
    assert hal.isdtype(hal.complex64, "complex floating") and hal.isdtype(hal.complex128, "numeric")
    assert not hal.isdtype(hal.complex64, "real floating")
    assert hal.isdtype(hal.complex64, ("bool", hal.complex64))
    assert hal.can_cast(hal.float32, hal.complex64) and hal.can_cast(hal.complex64, hal.complex128)
    assert not hal.can_cast(hal.complex128, hal.complex64) and not hal.can_cast(hal.complex64, hal.float64)
    assert hal.result_type(hal.float32, hal.complex64, 1.5) == hal.complex64
    assert hal.result_type(hal.int8, 1, hal.int16) == hal.int16
    assert hal.iinfo(hal.int8).min == -128 and isinstance(hal.iinfo(hal.uint64).max, int)


def _complex_kernels():
    """Each op that takes complex arguments, for both complex types, with contiguous,
    strided and scalar operands and a strided output."""
    for op in elementwise.OPS.values():
        for dtype in COMPLEX:
            if op.expression(dtype) is None or dtype not in hal.dtypes.KINDS[op.kind]:
                continue
            expr, _, helpers = elementwise._specialize(op.name, dtype)
            modes = ("c", "s", "k")[:op.nin]
            yield f"{op.name}-{dtype}", elementwise_source(expr, op.out_dtype(dtype), tuple((m, dtype, dtype) for m in modes),
                                                           True, 2, helpers)
    for src, dst in [(np.float32, np.complex64), (np.complex64, np.complex128), (np.complex128, np.bool_),
                     (np.complex128, np.complex64), (np.int8, np.complex128)]:
        yield f"astype-{src}-{dst}", elementwise_source("x0", dst, (("s", src, src),), False, 2, "", src)


@pytest.mark.parametrize("arch", ["sm_70", "sm_90"])
def test_complex_kernels_compile_for_cuda(arch):
    usable = [c for c in compilers() if supports(c, arch)]
    if not usable:
        pytest.skip(f"no CUDA compiler here targets {arch}")
    failures = []
    for name, source in _complex_kernels():
        try:
            compile_cuda(render(source, "cuda"), arch, usable[0])
        except Exception as e:  # collect all, report together
            failures.append(f"{name}: {e}")
    assert not failures, "\n".join(failures[:5])

