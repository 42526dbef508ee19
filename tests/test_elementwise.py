"""Elementwise functions and operators on every device, against NumPy: the standard's
type promotion (arrays with arrays, arrays with Python scalars), every arithmetic,
comparison, logical and bitwise operator in its plain, reflected and in-place forms,
broadcasting, strided operands, every math function of the standard (with inf, NaN and
signed zeros), NaN handling, integer division by zero, shifts past the width, clip and
where."""
import operator

import numpy as np
import pytest

import hal
from helpers import ALL, FLOATING, INTEGER, NUMERIC, SAMPLE_INT, SIGNED, UNSIGNED, assert_matches, data, put


def standard_promotion(a, b):
    """The promoted dtype of two arrays by the array API standard's table, with hal's
    documented choices where it leaves a case open (integer with floating -> the
    floating type); TypeError where there is no common type."""
    a, b = np.dtype(a), np.dtype(b)
    if a == b:
        return a
    if hal.bool in (a, b):
        raise TypeError
    if a.kind == "f" or b.kind == "f":
        return max((d for d in (a, b) if d.kind == "f"), key=lambda d: d.itemsize)
    if a.kind == b.kind:
        return max(a, b, key=lambda d: d.itemsize)
    signed, unsigned = (a, b) if a.kind == "i" else (b, a)
    if unsigned.itemsize < signed.itemsize:
        return signed
    if unsigned.itemsize == 8:
        raise TypeError  # no signed type holds every uint64
    return np.dtype(f"int{unsigned.itemsize * 16}")


@pytest.mark.parametrize("b", ALL, ids=str)
@pytest.mark.parametrize("a", ALL, ids=str)
def test_promotion_of_two_arrays(device, a, b):
    # Empty operands: the dtype rule for every pair without a kernel for each; the
    # values of mixed pairs are checked below and in test_astype.
    x, y = hal.zeros((0, 3), dtype=a, device=device), hal.zeros((3,), dtype=b, device=device)
    try:
        expected = standard_promotion(a, b)
    except TypeError:
        for fn in (hal.result_type, hal.equal, hal.where):
            with pytest.raises(TypeError):
                fn(x, y) if fn is not hal.where else fn(x == x, x, y)
        return
    assert hal.result_type(a, b) == hal.result_type(x, y) == expected
    assert (x == y).dtype == hal.bool and hal.where(x == x, x, y).dtype == expected
    if expected != hal.bool:
        assert (x + y).dtype == (y * x).dtype == hal.maximum(x, y).dtype == expected


MIXED = [(hal.int8, hal.int64), (hal.uint8, hal.uint32), (hal.uint16, hal.uint64), (hal.int16, hal.int32),
         (hal.uint8, hal.float32), (hal.int64, hal.float32), (hal.uint64, hal.float64), (hal.int8, hal.float64),
         (hal.float32, hal.float64), (hal.int16, hal.uint8)]


@pytest.mark.parametrize("a, b", MIXED, ids=str)
def test_promotion_values(device, a, b):
    x, y = put(data((2, 3), a, 1), device), put(data((3,), b, 2), device)
    out = standard_promotion(a, b)
    assert_matches(x + y, np.asarray(x).astype(out) + np.asarray(y).astype(out), device=device)
    assert_matches(y < x, np.asarray(y).astype(out) < np.asarray(x).astype(out))


@pytest.mark.parametrize("a, b", [(hal.int8, hal.uint8), (hal.int16, hal.uint16), (hal.int32, hal.uint32),
                                  (hal.int8, hal.uint32), (hal.int64, hal.uint32)], ids=str)
def test_mixed_sign_promotion_keeps_extreme_values(device, a, b):
    ia, ib = np.iinfo(a), np.iinfo(b)
    x = hal.asarray([ia.min, ia.max, -1, 0], dtype=a, device=device)
    y = hal.asarray([ib.max, ib.max, ib.max, 0], dtype=b, device=device)
    out = standard_promotion(a, b)
    ref_x, ref_y = np.asarray(x).astype(out), np.asarray(y).astype(out)
    assert_matches(x + y, ref_x + ref_y)
    assert_matches(x - y, ref_x - ref_y)
    assert_matches(x < y, ref_x < ref_y)
    assert_matches(hal.maximum(x, y), np.maximum(ref_x, ref_y))


@pytest.mark.parametrize("dtype", SAMPLE_INT, ids=str)
def test_integer_array_with_float_array_takes_the_float_type(device, dtype):
    x = put(data((4,), dtype), device)
    y = put(data((4,), hal.float32, 3), device)
    assert_matches(x * y, np.asarray(x).astype(np.float32) * np.asarray(y))


# -- Python scalars -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", NUMERIC, ids=str)
def test_python_int_keeps_the_array_dtype(device, dtype):
    a = data((5,), dtype, positive=True)
    x = put(a, device)
    s = dtype.type(3)
    assert_matches(x + 3, a + s)
    assert_matches(20 - x, dtype.type(20) - a)
    assert_matches(x == 3, a == s)


@pytest.mark.parametrize("dtype", SAMPLE_INT + FLOATING, ids=str)
def test_python_float_with_array(device, dtype):
    a = data((5,), dtype, positive=True)
    out = dtype if dtype.kind == "f" else hal.float64  # integers: the device's default float
    assert_matches(put(a, device) * 1.5, a.astype(out) * out.type(1.5))
    assert_matches(0.5 - put(a, device), out.type(0.5) - a.astype(out))


def test_python_bool_with_bool_array(device):
    a = data((6,), hal.bool)
    x = put(a, device)
    assert_matches(x & True, a & True)
    assert_matches(False | x, a | False)
    assert_matches(x ^ True, ~a)
    assert_matches(x == False, ~a)  # noqa: E712


@pytest.mark.parametrize("dtype, value", [(hal.uint8, 256), (hal.uint8, -1), (hal.int8, 128), (hal.int16, -2**15 - 1),
                                          (hal.int64, 2**63), (hal.uint64, 2**64)], ids=str)
def test_python_int_out_of_range_raises(device, dtype, value):
    x = hal.zeros(3, dtype=dtype, device=device)
    with pytest.raises(OverflowError):
        x + value
    with pytest.raises(OverflowError):
        value * x


def test_python_scalar_kind_mismatch_raises(device):
    i, b = hal.zeros(3, dtype=hal.int32, device=device), hal.zeros(3, dtype=hal.bool, device=device)
    with pytest.raises(TypeError):
        i + True
    with pytest.raises(TypeError):
        b & 1
    with pytest.raises(TypeError):
        b + b  # add takes numbers, not bools
    with pytest.raises(TypeError):
        i + "1"
    with pytest.raises(TypeError):
        i + np.arange(3)  # NumPy arrays are not operands: move them with hal.asarray first
    with pytest.raises(TypeError):
        np.arange(3) + i
    with pytest.raises(TypeError):
        hal.add(1, 2)


# -- binary operators ---------------------------------------------------------------

# name -> (operator, hal function, NumPy reference, dtypes). Ops whose C code depends on
# the width (division, powers, shifts) run on every dtype; the others on a sample.
SAMPLE = SAMPLE_INT + FLOATING
BINARY = {
    "add": (operator.add, hal.add, np.add, SAMPLE),
    "subtract": (operator.sub, hal.subtract, np.subtract, SAMPLE),
    "multiply": (operator.mul, hal.multiply, np.multiply, SAMPLE),
    "divide": (operator.truediv, hal.divide, np.divide, SAMPLE),
    "floor_divide": (operator.floordiv, hal.floor_divide, np.floor_divide, NUMERIC),
    "remainder": (operator.mod, hal.remainder, np.remainder, NUMERIC),
    "pow": (operator.pow, hal.pow, np.power, NUMERIC),
    "bitwise_and": (operator.and_, hal.bitwise_and, np.bitwise_and, [hal.bool, hal.int8, hal.uint64]),
    "bitwise_or": (operator.or_, hal.bitwise_or, np.bitwise_or, [hal.bool, hal.uint16, hal.int32]),
    "bitwise_xor": (operator.xor, hal.bitwise_xor, np.bitwise_xor, [hal.bool, hal.int8, hal.uint64]),
    "bitwise_left_shift": (operator.lshift, hal.bitwise_left_shift, np.left_shift, INTEGER),
    "bitwise_right_shift": (operator.rshift, hal.bitwise_right_shift, np.right_shift, INTEGER),
    "equal": (operator.eq, hal.equal, np.equal, [hal.bool] + SAMPLE),
    "not_equal": (operator.ne, hal.not_equal, np.not_equal, [hal.bool, hal.int8, hal.uint64, hal.float32]),
    "less": (operator.lt, hal.less, np.less, SAMPLE),
    "less_equal": (operator.le, hal.less_equal, np.less_equal, [hal.int8, hal.uint64, hal.float64]),
    "greater": (operator.gt, hal.greater, np.greater, [hal.uint16, hal.int32, hal.float32]),
    "greater_equal": (operator.ge, hal.greater_equal, np.greater_equal, [hal.int8, hal.uint64, hal.float64]),
    # Functions without an operator, of real floating arguments.
    "atan2": (None, hal.atan2, np.arctan2, FLOATING),
    "hypot": (None, hal.hypot, np.hypot, FLOATING),
    "copysign": (None, hal.copysign, np.copysign, FLOATING),
    "logaddexp": (None, hal.logaddexp, np.logaddexp, FLOATING),
    "nextafter": (None, hal.nextafter, np.nextafter, FLOATING),
}
FLOAT_FUNCTIONS = ("atan2", "hypot", "copysign", "logaddexp", "nextafter")
CASES = [pytest.param(name, dtype, id=f"{name}-{dtype}") for name, (*_, dts) in BINARY.items() for dtype in dts]
# The operators with a Python scalar on either side, and the in-place forms: one integer
# dtype, one floating, and bool where the op takes it.
SCALAR_CASES = [pytest.param(name, dtype, id=f"{name}-{dtype}") for name, (*_, dts) in BINARY.items()
                for dtype in (hal.bool, hal.int16, hal.float32)
                if dtype in dts or (dtype == hal.int16 and name not in FLOAT_FUNCTIONS)]
INPLACE = {operator.add: operator.iadd, operator.sub: operator.isub, operator.mul: operator.imul,
           operator.truediv: operator.itruediv, operator.floordiv: operator.ifloordiv,
           operator.mod: operator.imod, operator.pow: operator.ipow, operator.and_: operator.iand,
           operator.or_: operator.ior, operator.xor: operator.ixor, operator.lshift: operator.ilshift,
           operator.rshift: operator.irshift}


def operands(name, dtype):
    """(x1, x2, a Python scalar for x2) for ``name``, kept where every dtype is defined
    and exact: divisors non-zero, exponents small, shift counts inside the width."""
    if name == "pow":
        base = data((2, 3), dtype, 1) // 3 if dtype.kind in "iu" else data((2, 3), dtype, 1, positive=True)
        return base, data((3,), dtype, 2, positive=True) % 4, 2
    if name.endswith("shift"):
        return data((2, 3), dtype, 1), (data((3,), dtype, 2, positive=True) % (dtype.itemsize * 8)), 3
    if name in ("divide", "floor_divide", "remainder"):
        return data((2, 3), dtype, 1), data((3,), dtype, 2, nonzero=True), (2 if dtype.kind in "iu" else 1.5)
    scalar = True if dtype == hal.bool else 3 if dtype.kind in "iu" else -1.25
    return data((2, 3), dtype, 1), data((3,), dtype, 2), scalar


def reference(fn, x1, x2, dtype_of_result):
    with np.errstate(all="ignore"):
        return np.asarray(fn(x1, x2)).astype(dtype_of_result)


def result_dtype(name, dtype):
    if name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
        return hal.bool
    return hal.float64 if name == "divide" and dtype.kind != "f" else dtype


@pytest.mark.parametrize("name, dtype", CASES)
def test_binary(device, name, dtype):
    op, fn, ref, _ = BINARY[name]
    a, b, _ = operands(name, dtype)
    x, y = put(a, device), put(b, device)
    expected = reference(ref, a, b, result_dtype(name, dtype))
    assert_matches(fn(x, y), expected, device=device)
    if op is not None:
        assert_matches(op(x, y), expected)


@pytest.mark.parametrize("name, dtype", SCALAR_CASES)
def test_binary_with_python_scalars(device, name, dtype):
    op, fn, ref, _ = BINARY[name]
    op = op or fn
    a, b, s = operands(name, dtype)
    x, y = put(a, device), put(b, device)
    out = result_dtype(name, dtype)
    assert_matches(op(x, s), reference(ref, a, dtype.type(s), out), device=device)
    assert_matches(op(s, y), reference(ref, dtype.type(s), b, out))  # reflected: y is a valid right operand
    assert_matches(fn(x[1, 2], s), reference(ref, a[1, 2], dtype.type(s), out))  # 0-d with a scalar


@pytest.mark.parametrize("name, dtype", [c for c in SCALAR_CASES if BINARY[c.values[0]][0] in INPLACE])
def test_inplace(device, name, dtype):
    op, _, ref, _ = BINARY[name]
    a, b, s = operands(name, dtype)
    x = put(a, device)
    if result_dtype(name, dtype) != dtype:
        with pytest.raises(TypeError):
            INPLACE[op](x, put(b, device))
        assert_matches(x, a)  # untouched
        return
    same = x
    x = INPLACE[op](x, put(b, device))  # x op= y, y broadcast along the rows
    assert x is same
    assert_matches(x, reference(ref, a, b, dtype))
    x = INPLACE[op](x, s)
    assert x is same
    assert_matches(x, reference(ref, reference(ref, a, b, dtype), dtype.type(s), dtype))


def test_inplace_through_views(device):
    a = np.arange(24, dtype=np.int32).reshape(4, 6)
    x = put(a, device)
    v = x[::2, 1::2]
    v += 100
    v *= hal.asarray([1, 2, 3], dtype=hal.int32, device=device)
    x[1] -= 1
    x[:, -1] //= 2
    a = a.copy()
    a[::2, 1::2] += 100
    a[::2, 1::2] *= np.array([1, 2, 3], np.int32)
    a[1] -= 1
    a[:, -1] //= 2
    assert_matches(x, a)


def test_inplace_with_itself(device):
    a = data((3, 4), hal.float32)
    x = put(a, device)
    x += x
    x *= x.T.T
    x -= x[::-1]
    b = (a + a) * (a + a)
    assert_matches(x, b - b[::-1])


def test_inplace_matmul(device):
    a, b = data((3, 3), hal.float64), data((3, 3), hal.float64, 1)
    x = put(a, device)
    x @= put(b, device)
    assert_matches(x, a @ b)


@pytest.mark.parametrize("name", ["add", "multiply", "subtract", "less", "bitwise_xor", "maximum", "divide"])
def test_broadcasting_and_strided_operands(device, name):
    fn = getattr(hal, name)
    ref = {"maximum": np.maximum, "divide": np.divide}.get(name) or BINARY[name][2]
    a = data((4, 1, 6), hal.int16, 1)
    b = data((5, 6), hal.int16, 2, nonzero=True)
    x, y = put(a, device), put(b, device)
    dt = result_dtype(name, hal.int16) if name != "maximum" else hal.int16
    cases = [(x, y, a, b), (x[::-1, :, ::2], y[1:4, ::-2], a[::-1, :, ::2], b[1:4, ::-2]),
             (y.T, x[0, 0, :5], b.T, a[0, 0, :5]), (x[..., 2], y[:, 0], a[..., 2], b[:, 0]),
             (hal.permute_dims(x, (2, 1, 0)), y[0:1, :4].T, a.transpose(2, 1, 0), b[0:1, :4].T)]
    for u, v, ru, rv in cases:
        assert_matches(fn(u, v), reference(ref, ru, rv, dt))
        assert_matches(fn(v, u), reference(ref, rv, ru, dt))


def test_broadcasting_to_empty_and_0d(device):
    x = hal.zeros((0, 3), dtype=hal.int32, device=device)
    assert_matches(x + hal.ones(3, dtype=hal.int32, device=device), np.zeros((0, 3), np.int32))
    assert_matches(hal.asarray(2.0, device=device) * hal.asarray(4.0, device=device), np.array(8.0))


# -- operators with edge values -----------------------------------------------------

@pytest.mark.parametrize("dtype", SIGNED, ids=str)
def test_signed_floor_divide_and_remainder(device, dtype):
    info = np.iinfo(dtype)
    a = np.array([7, -7, 7, -7, 0, 5, -5, 0, info.min, info.min, info.max, info.max, 6, -6], dtype)
    b = np.array([2, 2, -2, -2, 3, 0, 0, 0, -1, 1, -1, 0, 3, -3], dtype)
    x, y = put(a, device), put(b, device)
    with np.errstate(all="ignore"):
        assert_matches(x // y, a // b)  # x // 0 == 0, as in NumPy
        assert_matches(x % y, a % b)
        assert_matches(x // -3, a // dtype.type(-3))
        assert_matches(-3 % x[:4], dtype.type(-3) % a[:4])


@pytest.mark.parametrize("dtype", UNSIGNED, ids=str)
def test_unsigned_floor_divide_and_remainder(device, dtype):
    a = np.array([7, 0, 5, np.iinfo(dtype).max, 9, 0], dtype)
    b = np.array([2, 3, 0, 0, 4, 0], dtype)
    with np.errstate(all="ignore"):
        assert_matches(put(a, device) // put(b, device), a // b)
        assert_matches(put(a, device) % put(b, device), a % b)


@pytest.mark.parametrize("dtype", FLOATING, ids=str)
def test_float_floor_divide_and_remainder(device, dtype):
    inf, nan = np.inf, np.nan
    a = np.array([7.5, -7.5, 7.5, -7.5, 1, -1, 0, inf, -inf, nan, 5, -5, 5, -0.0, 3, 0.3, -4], dtype)
    b = np.array([2, 2, -2, -2, 0, 0, 0, 2, 2, 1, inf, inf, -inf, 3, nan, 0.1, 2], dtype)
    with np.errstate(all="ignore"):
        # The standard's special cases: an infinite operand gives floor(a / b) (NumPy: NaN, -1).
        expected = np.where(np.isinf(a) | np.isinf(b), np.floor(a / b), a // b)
        assert_matches(put(a, device) // put(b, device), expected)
        assert_matches(put(a, device) % put(b, device), a % b)


@pytest.mark.parametrize("dtype", INTEGER, ids=str)
def test_shifts_past_the_width(device, dtype):
    bits = dtype.itemsize * 8
    a = np.array([1, 5, 1, 3, 1, 7, np.iinfo(dtype).max], dtype)
    b = np.array([0, 1, bits - 1, bits, bits + 3, 2 * bits, 1], dtype)
    if dtype.kind == "i":
        a = np.concatenate([a, np.array([-1, -8, -8, -8, np.iinfo(dtype).min], dtype)])
        b = np.concatenate([b, np.array([1, 2, bits - 1, bits, bits + 1], dtype)])
    x, y = put(a, device), put(b, device)
    assert_matches(x << y, np.left_shift(a, b))
    assert_matches(x >> y, np.right_shift(a, b))
    assert_matches(x >> bits, np.right_shift(a, dtype.type(bits)))


@pytest.mark.parametrize("dtype", INTEGER, ids=str)
def test_integer_pow(device, dtype):
    a = np.array([0, 1, 2, 3, 5, 2, 7, 0], dtype)
    b = np.array([0, 5, 6, 4, 3, 0, 2, 3], dtype)
    assert_matches(put(a, device) ** put(b, device), a ** b)
    if dtype.kind == "i":
        assert_matches(put(-a, device) ** put(b, device), (-a) ** b)


@pytest.mark.parametrize("dtype", FLOATING, ids=str)
def test_float_pow(device, dtype):
    a = np.array([2, -2, -2, 0.5, 0, 0, 1, np.nan, -1, 4], dtype)
    b = np.array([3, 3, 0.5, -2, 0, -1, np.nan, 0, np.inf, 0.5], dtype)
    with np.errstate(all="ignore"):
        assert_matches(put(a, device) ** put(b, device), a ** b)


@pytest.mark.parametrize("dtype", FLOATING, ids=str)
def test_float_division_by_zero(device, dtype):
    a = np.array([1, -1, 0, np.nan, np.inf], dtype)
    with np.errstate(all="ignore"):
        assert_matches(put(a, device) / 0.0, a / dtype.type(0))
    assert_matches(put(np.array([1, -1, 0], np.int8), device) / 0, np.array([np.inf, -np.inf, np.nan]))


# -- logical ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
def test_logical(device, name):
    a, b = data((3, 4), hal.bool, 1), data((4,), hal.bool, 2)
    assert_matches(getattr(hal, name)(put(a, device), put(b, device)), getattr(np, name)(a, b))
    assert_matches(hal.logical_not(put(a, device)), ~a)


def test_logical_requires_bool(device):
    x = hal.ones(3, dtype=hal.int8, device=device)
    with pytest.raises(TypeError):
        hal.logical_and(x, x)
    with pytest.raises(TypeError):
        hal.logical_not(x)


# -- unary --------------------------------------------------------------------------

SPECIAL = np.array([0.0, -0.0, 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5, 3.7, -3.7, 1e-3, 20, -20, 88.5, np.inf, -np.inf,
                    np.nan])
UNARY = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "abs": np.abs, "negative": np.negative, "positive": np.positive, "floor": np.floor, "ceil": np.ceil,
    "round": np.round, "acos": np.arccos, "acosh": np.arccosh, "asin": np.arcsin, "asinh": np.arcsinh,
    "atan": np.arctan, "atanh": np.arctanh, "cosh": np.cosh, "sinh": np.sinh, "tan": np.tan,
    "expm1": np.expm1, "log1p": np.log1p, "log2": np.log2, "log10": np.log10, "reciprocal": np.reciprocal,
    "sign": np.sign, "square": np.square, "trunc": np.trunc, "conj": np.conj, "real": np.real,
    "isfinite": np.isfinite, "isinf": np.isinf, "isnan": np.isnan, "signbit": np.signbit,
}
TO_FLOAT = ("exp", "log", "sqrt", "sin", "cos", "tanh", "acos", "acosh", "asin", "asinh", "atan", "atanh",
            "cosh", "sinh", "tan", "expm1", "log1p", "log2", "log10", "reciprocal")
WHOLE = ("floor", "ceil", "round", "trunc")  # integers are already whole


@pytest.mark.parametrize("dtype", FLOATING, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_float(device, name, dtype):
    a = np.concatenate([SPECIAL, data((20,), np.float64)]).astype(dtype)
    with np.errstate(all="ignore"):
        expected = UNARY[name](a)
    assert_matches(getattr(hal, name)(put(a, device)), expected, device=device)


@pytest.mark.parametrize("dtype", [hal.int8, hal.uint64], ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_integer(device, name, dtype):
    a = data((3, 4), dtype, positive=name in ("log", "sqrt"))
    if name in TO_FLOAT:  # integers compute in the device's default float
        with np.errstate(all="ignore"):
            expected = UNARY[name](a.astype(np.float64))
    elif name in WHOLE:
        expected = a
    elif name == "signbit":
        expected = a < 0
    else:
        with np.errstate(all="ignore"):
            expected = UNARY[name](a)
    assert_matches(getattr(hal, name)(put(a, device)), expected)


def test_unary_operators(device):
    a = data((2, 5), hal.int16)
    x = put(a, device)
    assert_matches(-x, -a)
    assert_matches(+x, a)
    assert_matches(abs(x), np.abs(a))
    assert_matches(~x, ~a)
    m = data((5,), hal.bool)
    assert_matches(~put(m, device), ~m)
    assert_matches(hal.bitwise_invert(put(m, device)), ~m)


@pytest.mark.parametrize("dtype", INTEGER, ids=str)
def test_bitwise_invert_and_negative_integers(device, dtype):
    a = np.array([0, 1, 5, np.iinfo(dtype).max, np.iinfo(dtype).min + 1], dtype)
    with np.errstate(all="ignore"):
        assert_matches(~put(a, device), ~a)
        assert_matches(-put(a, device), -a)


def test_unary_rejects_bool(device):
    x = hal.ones(2, dtype=hal.bool, device=device)
    for fn in (hal.exp, hal.negative, hal.abs, hal.sqrt, hal.floor):
        with pytest.raises(TypeError):
            fn(x)


@pytest.mark.parametrize("dtype", FLOATING, ids=str)
def test_round_half_to_even(device, dtype):
    a = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 2.5000002, 1e16 + 1, -3.5], dtype)
    assert_matches(hal.round(put(a, device)), np.round(a))


@pytest.mark.parametrize("dtype", FLOATING, ids=str)
@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_propagate_nan(device, name, dtype):
    nan, inf = np.nan, np.inf
    a = np.array([nan, 1, nan, -inf, 2, 0, -1, inf], dtype)
    b = np.array([1, nan, nan, 0, inf, -0.0, -2, 3], dtype)
    fn, ref = getattr(hal, name), getattr(np, name)
    assert_matches(fn(put(a, device), put(b, device)), ref(a, b))
    assert_matches(fn(put(b, device), put(a, device)), ref(b, a))
    assert_matches(fn(put(a, device), 0.5), ref(a, dtype.type(0.5)))


@pytest.mark.parametrize("dtype", SAMPLE_INT, ids=str)
@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_integer(device, name, dtype):
    a, b = data((3, 4), dtype, 1), data((4,), dtype, 2)
    assert_matches(getattr(hal, name)(put(a, device), put(b, device)), getattr(np, name)(a, b))


@pytest.mark.parametrize("dtype", FLOATING, ids=str)
@pytest.mark.parametrize("name", FLOAT_FUNCTIONS)
def test_binary_float_functions_on_special_values(device, name, dtype):
    # Every pair of special values (inf, NaN, signed zeros, ...): the standard's special
    # cases, which NumPy follows for these functions.
    a, b = (v.ravel().astype(dtype) for v in np.meshgrid(SPECIAL, SPECIAL))
    _, fn, ref, _ = BINARY[name]
    with np.errstate(all="ignore"):
        expected = ref(a, b)
    assert_matches(fn(put(a, device), put(b, device)), expected, device=device)


@pytest.mark.parametrize("dtype", FLOATING, ids=str)
def test_sign_and_signbit_of_zeros_and_nan(device, dtype):
    a = np.array([-0.0, 0.0, -2.5, 3, np.nan, -np.inf, np.inf], dtype)
    out = np.asarray(hal.sign(put(a, device)))
    assert_matches(hal.sign(put(a, device)), np.sign(a))
    assert not np.signbit(out[:2]).any()  # the standard: sign(-0) is +0
    assert_matches(hal.signbit(put(a, device)), np.signbit(a))


def test_real_number_functions_reject_other_kinds(device):
    x, b = hal.ones(3, device=device), hal.ones(3, dtype=hal.bool, device=device)
    with pytest.raises(TypeError):
        hal.imag(x)  # imag takes complex arrays only
    for fn in (hal.atan2, hal.hypot, hal.copysign, hal.logaddexp, hal.nextafter):
        with pytest.raises(TypeError):
            fn(b, b)
    with pytest.raises(TypeError):
        hal.clip(b, 0, 1)


# -- clip ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", SAMPLE_INT + FLOATING, ids=str)
def test_clip_with_array_and_scalar_bounds(device, dtype):
    a = data((3, 4), dtype, 1)
    lo, hi = data((4,), dtype, 2) // 2 if dtype.kind in "iu" else data((4,), dtype, 2) / 2, dtype.type(5)
    x = put(a, device)
    assert_matches(hal.clip(x, put(lo, device), 5), np.clip(a, lo, hi), device=device)
    assert_matches(hal.clip(x, min=2), np.clip(a, dtype.type(2), None))
    assert_matches(hal.clip(x, max=put(lo[:1], device)), np.clip(a, None, lo[:1]))
    assert_matches(hal.clip(x), a)
    assert_matches(hal.clip(x[::2, ::-1], 1, put(np.full((2, 1), 3, dtype), device)),
                   np.clip(a[::2, ::-1], dtype.type(1), np.full((2, 1), 3, dtype)))


def test_clip_keeps_the_dtype_of_x(device):
    a = np.array([-128, -5, 0, 7, 127], np.int8)
    x = put(a, device)
    # Bounds outside int8 and float bounds of an integer array clamp to what int8 admits.
    assert_matches(hal.clip(x, -1000, 1000), a)
    assert_matches(hal.clip(x, -2.5, 6.5), np.clip(a, -2, 6).astype(np.int8))
    assert_matches(hal.clip(x, put(np.array([-3], np.int16), device), 3), np.clip(a, -3, 3).astype(np.int8))
    f = np.array([np.nan, -np.inf, 0.5, 2, np.inf], np.float32)
    assert_matches(hal.clip(put(f, device), 0, 1), np.clip(f, np.float32(0), np.float32(1)))
    assert_matches(hal.clip(put(f, device), np.nan, 1), np.full(5, np.nan, np.float32))


# -- where --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_where(device, dtype):
    c, a, b = data((3, 1), hal.bool, 1), data((1, 4), dtype, 2), data((3, 4), dtype, 3)
    assert_matches(hal.where(put(c, device), put(a, device), put(b, device)), np.where(c, a, b), device=device)


def test_where_with_scalars_views_and_promotion(device):
    c = data((4, 5), hal.bool, 1)
    a, b = data((4, 5), hal.int8, 2), data((5,), hal.uint8, 3)
    C, A, B = put(c, device), put(a, device), put(b, device)
    assert_matches(hal.where(C, A, B), np.where(c, a.astype(np.int16), b.astype(np.int16)))
    assert_matches(hal.where(C, A, 7), np.where(c, a, np.int8(7)))
    assert_matches(hal.where(C, -1, hal.astype(B, hal.int32)), np.where(c, np.int32(-1), b.astype(np.int32)))
    assert_matches(hal.where(C.T[::-1], A.T, 0.5), np.where(c.T[::-1], a.T.astype(np.float64), 0.5))
    assert_matches(hal.where(C[:, 2:3], A[::2, None, :], B), np.where(c[:, 2:3], a[::2, None, :], b).astype(np.int16))


def test_where_errors(device):
    x = hal.ones(3, device=device)
    with pytest.raises(TypeError):
        hal.where(x, x, x)  # the condition must be bool
    with pytest.raises(TypeError):
        hal.where(x > 0, 1, 2)
    with pytest.raises(ValueError):
        hal.where(x > 0, x, hal.ones(4, device=device))


def test_runs_kept_per_operand_layout(device):
    # The namespace keeps a run per device and operand layout (dtype, shape, strides):
    # operands of the same dtypes in other layouts, called in turns, each get their own,
    # and a kept run still counts its kernel launches (where the device launches kernels).
    host = np.arange(24, dtype=np.float32).reshape(4, 6)
    x = hal.asarray(host, device=device)
    cases = [(x, x), (x.T, x.T), (x[1:, ::2], x[:3, 1::2]), (x, x[0]), (x[:, :1], x[0]), (x[1:], x[:3])]
    for _ in range(2):
        for a, b in cases:
            want = np.asarray(a) + np.asarray(b)
            launches = hal.stats()["kernel_launches"]
            np.testing.assert_array_equal(np.asarray(a + b), want)
            assert hal.stats()["kernel_launches"] - launches == (device.family == "buffer")
    with pytest.raises(ValueError):
        x + x[:2, :2]  # (a shape that does not broadcast is refused every time, none kept)
    with pytest.raises(ValueError):
        x + x[:2, :2]


def test_floating_point_errors_are_results_not_warnings_in_any_thread():
    """On the cpu, overflow, division by zero and invalid operations give inf and NaN
    without a warning (the standard defines the results), in the calling thread and in
    two others at once (NumPy's loops run in an error state of hal's own, one per
    thread), and the caller's own NumPy error state is left as it was."""
    device = "cpu"
    import threading
    import warnings
    big = hal.asarray(np.full(4, 3e38, np.float32), device=device)
    zero = hal.zeros(4, dtype=hal.float32, device=device)
    results = {}

    def run(name):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            results[name] = [np.asarray(x) for x in (big + big, big / zero, zero / zero, hal.exp(big))]
    with np.errstate(all="raise"):
        run("main")
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with pytest.raises(FloatingPointError):
            np.float32(3e38) * np.float32(10)
    for got in results.values():
        np.testing.assert_array_equal(np.stack(got), np.stack([[np.inf] * 4, [np.inf] * 4, [np.nan] * 4, [np.inf] * 4]))
    assert len(results) == 3
