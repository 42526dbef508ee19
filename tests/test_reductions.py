"""Reductions on every device, against NumPy: sum, prod, max, min and mean over every
kind of axis (None, int, negative, tuple, empty tuple) with and without keepdims, every
dtype and its accumulator, strided views, empty selections, NaN, and the two-pass path
of long rows; std and var, cumulative_sum and cumulative_prod, all, any and diff; complex
sums, products and means; and the errors of bad input."""
import math
import warnings

import numpy as np
import pytest

import hal
from helpers import ALL, FLOATING, INTEGER, NUMERIC, assert_matches, data, put

NAMES = ["sum", "prod", "max", "min", "mean"]
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), (2, 1, 0), ()]


def accumulator(dtype):
    """The standard's default dtype of sum and prod: integers widen to the default
    integer of their signedness, bool counts as int64, floats stay."""
    dtype = np.dtype(dtype)
    return {"b": np.int64, "i": np.int64, "u": np.uint64}.get(dtype.kind, dtype)


def reference(name, a, axis=None, keepdims=False):
    if name == "mean":
        out = np.mean(a, axis=axis, keepdims=keepdims, dtype=a.dtype if a.dtype.kind == "f" else np.float64)
        return np.asarray(out, a.dtype if a.dtype.kind == "f" else np.float64)
    if name in ("sum", "prod"):
        return np.asarray(getattr(np, name)(a, axis=axis, keepdims=keepdims, dtype=accumulator(a.dtype)))
    return np.asarray(getattr(np, name)(a, axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_axes(device, name, axis, keepdims):
    a = data((3, 4, 5), hal.float32, positive=True)
    out = getattr(hal, name)(put(a, device), axis=axis, keepdims=keepdims)
    assert_matches(out, reference(name, a, axis, keepdims), device=device)


@pytest.mark.parametrize("name, dtype", [pytest.param(name, dtype, id=f"{name}-{dtype}") for name in NAMES
                                         for dtype in (ALL if name == "sum" else NUMERIC)])
def test_dtypes(device, name, dtype):
    a = data((4, 7), dtype, positive=name == "prod")
    if name == "prod" and dtype.kind in "iu":
        a = a % 3 + 1  # 7 factors of at most 3 fit in every integer dtype
    # one reduction per dtype (each is a kernel compile per device); the axes are test_axes's
    assert_matches(getattr(hal, name)(put(a, device), axis=1, keepdims=True), reference(name, a, 1, True))


@pytest.mark.parametrize("name", ["max", "min", "prod", "mean"])
def test_reductions_reject_bool(device, name):
    with pytest.raises(TypeError):
        getattr(hal, name)(hal.ones(3, dtype=hal.bool, device=device))


def test_sum_of_small_integers_does_not_overflow(device):
    a = np.full((300,), 100, np.int8)
    assert_matches(hal.sum(put(a, device)), np.array(30000, np.int64))
    u = np.full((2, 300), 250, np.uint8)
    assert_matches(hal.sum(put(u, device), axis=1), np.array([75000, 75000], np.uint64))
    assert_matches(hal.sum(put(a > 0, device)), np.array(300, np.int64))  # counting a mask


@pytest.mark.parametrize("dtype, out", [(hal.int8, hal.int8), (hal.int32, hal.float64), (hal.float32, hal.float64),
                                        (hal.uint16, hal.uint32)], ids=str)
def test_sum_and_prod_with_dtype(device, dtype, out):
    a = data((3, 5), dtype, positive=True)
    x = put(a, device)
    with np.errstate(all="ignore"):
        assert_matches(hal.sum(x, axis=1, dtype=out), np.sum(a, axis=1, dtype=out))
        assert_matches(hal.prod(x, dtype=out), np.asarray(np.prod(a, dtype=out)))
    m = a > 3
    assert_matches(hal.sum(put(m, device), axis=0, dtype=out), np.sum(m, axis=0, dtype=out))


@pytest.mark.parametrize("name", NAMES)
def test_strided_views(device, name):
    a = data((6, 5, 8), hal.float64, positive=True)
    x = put(a, device)
    fn = getattr(hal, name)
    # Each view's reduced lengths are 5 to 8, so they share one kernel per op (its
    # work-group size follows the length); test_axes varies the axes.
    views = [(x[::-1, ::2, 1:], a[::-1, ::2, 1:]), (hal.permute_dims(x, (2, 0, 1)), a.transpose(2, 0, 1)),
             (x[:, 1:, ::-1], a[:, 1:, ::-1]), (x[2, ::-1, 1:7], a[2, ::-1, 1:7]),
             (hal.broadcast_to(x[:1, 0, :], (6, 8)), np.broadcast_to(a[:1, 0, :], (6, 8)))]
    for v, ref in views:
        for axis in (0, -1):
            assert_matches(fn(v, axis=axis), reference(name, ref, axis))
            assert_matches(fn(v, axis=axis, keepdims=True), reference(name, ref, axis, True))


@pytest.mark.parametrize("dtype", [hal.int32, hal.uint8, hal.float32], ids=str)
def test_strided_views_integer(device, dtype):
    a = data((5, 9), dtype, positive=True)
    x = put(a, device)
    for name in ("sum", "max", "min"):
        fn = getattr(hal, name)
        assert_matches(fn(x.T[::-2], axis=1), reference(name, a.T[::-2], 1))
        assert_matches(fn(x[1:, ::4], axis=0, keepdims=True), reference(name, a[1:, ::4], 0, True))


def test_empty_reductions(device):
    x = hal.zeros((0, 3), device=device)
    assert_matches(hal.sum(x), np.array(0.0))
    assert_matches(hal.sum(x, axis=0), np.zeros(3))
    assert_matches(hal.prod(x, axis=0), np.ones(3))
    assert_matches(hal.sum(x, axis=1), np.zeros(0))
    assert_matches(hal.max(x, axis=1), np.zeros(0))  # nothing to reduce in an empty result
    assert_matches(hal.sum(hal.zeros((0,), dtype=hal.int8, device=device)), np.array(0, np.int64))
    assert_matches(hal.prod(hal.zeros((2, 0), dtype=hal.uint16, device=device), axis=1), np.ones(2, np.uint64))
    assert_matches(hal.mean(x, axis=0), np.full(3, np.nan))
    for fn in (hal.max, hal.min):
        with pytest.raises(ValueError):
            fn(x)
        with pytest.raises(ValueError):
            fn(x, axis=0)


@pytest.mark.parametrize("dtype", FLOATING, ids=str)
def test_nan_and_inf(device, dtype):
    a = np.array([[1, np.nan, 3, -2], [np.inf, 1, 2, 3], [-np.inf, np.inf, 0, 1], [4, 3, 2, np.nan]], dtype)
    x = put(a, device)
    with np.errstate(all="ignore"):
        for name in NAMES:
            fn = getattr(hal, name)
            assert_matches(fn(x, axis=1), reference(name, a, 1))
            assert_matches(fn(x, axis=0), reference(name, a, 0))
            assert_matches(fn(x), reference(name, a))


@pytest.mark.parametrize("dtype", INTEGER, ids=str)
def test_max_min_integer_extremes(device, dtype):
    info = np.iinfo(dtype)
    a = np.array([[info.min, 0, info.max, 5, 1], [5, info.max, info.min, 2, 3], [1, 2, 3, info.min, info.max]], dtype)
    x = put(a, device)
    for view, ref, axis in ((x, a, 1), (x.T, a.T, 0)):
        assert_matches(hal.max(view, axis=axis), np.max(ref, axis=axis))
        assert_matches(hal.min(view, axis=axis), np.min(ref, axis=axis))


def launches(fn, *args, **kwargs):
    """``fn``'s result and the number of kernels it launched."""
    hal.reset_stats()
    out = fn(*args, **kwargs)
    return out, hal.stats()["kernel_launches"]


@pytest.mark.parametrize("shape, axis", [((5000,), None), ((3, 4500), 1), ((4100, 2), 0), ((2, 2100, 2), (0, 1))],
                         ids=str)
def test_two_pass_reduction(device, shape, axis):
    """Long rows over few outputs are folded in two passes (ops/reduction.py)."""
    a = data(shape, hal.float64, positive=True)
    i = data(shape, hal.int32, 1)
    x, y = put(a, device), put(i, device)
    out, kernels = launches(hal.sum, x, axis=axis)
    assert_matches(out, reference("sum", a, axis))
    if device.family == "buffer" and len(shape) == 1:
        assert kernels == 2, "a long row should be folded in two passes"
    assert_matches(hal.max(x, axis=axis), reference("max", a, axis))
    assert_matches(hal.min(y, axis=axis), reference("min", i, axis))
    assert_matches(hal.sum(y, axis=axis), reference("sum", i, axis))


@pytest.mark.heavy
@pytest.mark.parametrize("dtype", [hal.float32, hal.float64, hal.int64], ids=str)
def test_large_1d_sum(device, dtype):
    n = 1 << 20
    a = data((n,), dtype, positive=True)
    x = put(a, device)
    # float32 accumulates a million terms in a different order than NumPy's pairwise sum
    out, kernels = launches(hal.sum, x)
    assert_matches(out, reference("sum", a), rtol=1e-4 if dtype == hal.float32 else None)
    assert kernels == (2 if device.family == "buffer" else 0), "the two-pass path"
    assert_matches(hal.max(x), reference("max", a))
    assert_matches(hal.mean(x), reference("mean", a), rtol=1e-4 if dtype == hal.float32 else None)
    assert_matches(hal.sum(x[::3]), reference("sum", a[::3]), rtol=1e-4 if dtype == hal.float32 else None)
    assert_matches(hal.min(x[7:n - 5]), reference("min", a[7:n - 5]))


def test_reduction_of_a_0d_array(device):
    x = hal.asarray(2.5, device=device)
    for name in NAMES:
        assert_matches(getattr(hal, name)(x), reference(name, np.array(2.5)))
    assert_matches(hal.sum(hal.asarray(3, dtype=hal.int16, device=device)), np.array(3, np.int64))


def test_bad_axes(device):
    x = hal.ones((2, 3), device=device)
    with pytest.raises(IndexError):
        hal.sum(x, axis=2)
    with pytest.raises(IndexError):
        hal.max(x, axis=-3)
    with pytest.raises(ValueError):
        hal.sum(x, axis=(0, -2))


# ---------------------------------------------------------------- std, var

@pytest.mark.parametrize("name", ["std", "var"])
@pytest.mark.parametrize("axis, correction, keepdims", [(None, 0.0, False), (1, 1, True), ((0, 2), 0.5, False),
                                                        (-1, 5, False), ((), 0, True)], ids=str)
def test_std_var(device, name, axis, correction, keepdims):
    """"std"/"var" (2025.12): the divisor is M - correction; NaN where it is <= 0."""
    a = data((3, 4, 5), hal.float64)
    out = getattr(hal, name)(put(a, device), axis=axis, correction=correction, keepdims=keepdims)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy warns where M - correction <= 0
        expected = getattr(np, name)(a, axis=axis, ddof=correction, keepdims=keepdims)
    if correction >= (a.size if axis is None else math.prod(a.shape[i] for i in np.atleast_1d(axis))):
        expected = np.full_like(expected, np.nan)
    assert_matches(out, np.asarray(expected), device=device)


@pytest.mark.parametrize("dtype", [hal.float32, hal.int16], ids=str)
def test_std_var_dtypes(device, dtype):
    a = data((4, 6), dtype)
    result = np.float32 if dtype == hal.float32 else device.default_float
    assert_matches(hal.var(put(a, device), axis=0), np.var(a.astype(result), axis=0))
    assert_matches(hal.std(put(a, device)), np.asarray(np.std(a.astype(result))), rtol=1e-5)


def test_std_var_errors(device):
    x = hal.ones((2, 3), device=device)
    with pytest.raises(IndexError):
        hal.var(x, axis=2)
    with pytest.raises(TypeError):
        hal.std(hal.ones(3, dtype=hal.bool, device=device))


# ---------------------------------------------------------------- cumulative_sum, cumulative_prod

def cumulative_reference(name, a, axis, dtype, include_initial):
    fold = np.cumsum if name == "cumulative_sum" else np.cumprod
    out = fold(a, axis=axis, dtype=dtype)
    if include_initial:
        shape = list(a.shape)
        shape[axis] = 1
        out = np.concatenate([np.full(shape, 0 if name == "cumulative_sum" else 1, dtype), out], axis=axis)
    return out


@pytest.mark.parametrize("include_initial", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("name", ["cumulative_sum", "cumulative_prod"])
def test_cumulative_axes(device, name, axis, include_initial):
    a = data((3, 4, 5), hal.int32, nonzero=True)
    out = getattr(hal, name)(put(a, device), axis=axis, include_initial=include_initial)
    assert_matches(out, cumulative_reference(name, a, axis, np.int64, include_initial), device=device)


@pytest.mark.parametrize("dtype, out_dtype", [(hal.bool, None), (hal.uint8, None), (hal.int16, hal.int32),
                                              (hal.float32, None), (hal.float32, hal.float64), (hal.int64, None)],
                         ids=str)
def test_cumulative_dtypes(device, dtype, out_dtype):
    """The standard's dtype rule: narrow integers widen to the default integer of their
    signedness, bool counts as int64, floats stay; ``dtype`` casts first."""
    a = data((2, 40), dtype)
    x = put(a, device)
    expected_dtype = out_dtype or accumulator(dtype)
    assert_matches(hal.cumulative_sum(x, axis=1, dtype=out_dtype), np.cumsum(a, axis=1, dtype=expected_dtype),
                   atol=1e-5)
    if dtype != hal.bool:
        small = a % 3 + 1 if dtype.kind in "iu" else a
        assert_matches(hal.cumulative_prod(put(small, device), axis=1, dtype=out_dtype),
                       np.cumprod(small, axis=1, dtype=expected_dtype))


def test_cumulative_1d_and_views(device):
    a = data((700,), hal.float64)
    x = put(a, device)
    assert_matches(hal.cumulative_sum(x), np.cumsum(a))  # axis is optional for 1-D arrays
    assert_matches(hal.cumulative_sum(x[::-3], include_initial=True), cumulative_reference(
        "cumulative_sum", a[::-3], 0, np.float64, True))
    m = data((6, 5), hal.int8)
    assert_matches(hal.cumulative_sum(put(m, device).T, axis=1), np.cumsum(m.T, axis=1, dtype=np.int64))
    assert_matches(hal.cumulative_sum(put(np.zeros((0, 3)), device), axis=0, include_initial=True), np.zeros((1, 3)))


def test_cumulative_errors(device):
    x = hal.ones((2, 3), device=device)
    with pytest.raises(ValueError):
        hal.cumulative_sum(x)  # more than one dimension: the axis is required
    with pytest.raises(IndexError):
        hal.cumulative_prod(x, axis=2)
    with pytest.raises(ValueError):
        hal.cumulative_sum(hal.asarray(1.0, device=device))
    with pytest.raises(TypeError):
        hal.cumulative_prod(hal.ones(3, dtype=hal.bool, device=device))


@pytest.mark.heavy
def test_cumulative_long_row(device):
    a = data((3, 200_000), hal.int32)
    assert_matches(hal.cumulative_sum(put(a, device), axis=1), np.cumsum(a, axis=1, dtype=np.int64))


# ---------------------------------------------------------------- all, any, diff

@pytest.mark.parametrize("dtype", [hal.bool, hal.int8, hal.uint64, hal.float32, hal.float64], ids=str)
@pytest.mark.parametrize("name", ["all", "any"])
def test_all_any(device, name, dtype):
    a = data((4, 6), dtype)
    a[0] = 0  # a row of zeros
    a[1] = 1  # a row without one
    if dtype.kind == "f":
        a[2, 0] = np.nan  # NaN is nonzero
    x = put(a, device)
    fn, ref = getattr(hal, name), getattr(np, name)
    for axis in (None, 0, 1, (0, 1), ()):
        assert_matches(fn(x, axis=axis), np.asarray(ref(a, axis=axis)), device=device)
    assert_matches(fn(x[:, ::-2], axis=1, keepdims=True), ref(a[:, ::-2], axis=1, keepdims=True))
    assert_matches(fn(put(np.zeros((0, 3), dtype), device), axis=0), ref(np.zeros((0, 3), dtype), axis=0))


@pytest.mark.parametrize("dtype", [hal.int16, hal.uint8, hal.float32], ids=str)
def test_diff(device, dtype):
    a = data((4, 7), dtype)
    x = put(a, device)
    for axis, n in ((-1, 1), (0, 2), (1, 3), (1, 0)):
        assert_matches(hal.diff(x, axis=axis, n=n), np.diff(a, axis=axis, n=n), device=device)
    pre, app = data((4, 2), dtype, 1), data((4, 1), dtype, 2)
    assert_matches(hal.diff(x, prepend=put(pre, device), append=put(app, device)),
                   np.diff(a, prepend=pre, append=app))
    assert_matches(hal.diff(x.T[::-1], axis=0, n=9), np.diff(a.T[::-1], axis=0, n=9))  # n > length: empty


def test_diff_errors(device):
    x = hal.ones((2, 3), device=device)
    with pytest.raises(IndexError):
        hal.diff(x, axis=2)
    with pytest.raises(ValueError):
        hal.diff(x, n=-1)
    with pytest.raises(ValueError):
        hal.diff(x, axis=1, prepend=hal.ones((3, 1), device=device))
    with pytest.raises(TypeError):
        hal.diff(hal.ones(3, dtype=hal.bool, device=device))


# ---------------------------------------------------------------- dtype keyword, bool, complex

def test_sum_prod_in_bool(device):
    """sum/prod accumulated in bool are NumPy's logical or / and."""
    a = np.array([[True, False, True], [False, False, False]])
    x = put(a, device)
    assert_matches(hal.sum(x, axis=1, dtype=hal.bool), np.sum(a, axis=1, dtype=bool))
    assert_matches(hal.prod(put(a.astype(np.int8), device), axis=1, dtype=hal.bool), np.prod(a, axis=1, dtype=bool))


def assert_complex_matches(actual, expected, rtol=1e-5, atol=1e-5):
    """assert_matches for complex results (compared as their real and imaginary parts)."""
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, \
        f"{actual.dtype}{actual.shape}, expected {expected.dtype}{expected.shape}"
    host = np.asarray(actual)
    assert host.dtype == expected.dtype and host.shape == expected.shape
    for part in (np.real, np.imag):
        np.testing.assert_allclose(part(host), part(expected), rtol=rtol, atol=atol, equal_nan=True)


def complex_or_skip(device, dtype=hal.complex64):
    if dtype not in device.dtypes:
        pytest.skip(f"{device} has no {dtype} yet")


@pytest.mark.parametrize("dtype", [hal.complex64, hal.complex128], ids=str)
def test_complex_sum_prod_mean(device, dtype):
    complex_or_skip(device, dtype)
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((3, 4, 5)) + 1j * rng.standard_normal((3, 4, 5))).astype(dtype)
    x = put(a, device)
    for axis in (None, 1, (0, 2)):
        assert_complex_matches(hal.sum(x, axis=axis), np.asarray(np.sum(a, axis=axis)))
        assert_complex_matches(hal.prod(x, axis=axis, keepdims=True), np.prod(a, axis=axis, keepdims=True),
                               rtol=1e-4)
        assert_complex_matches(hal.mean(x, axis=axis), np.asarray(np.mean(a, axis=axis)))
    assert_complex_matches(hal.sum(x[:, ::-2].mT, axis=-1, keepdims=True),
                           np.sum(a[:, ::-2].swapaxes(-1, -2), -1, keepdims=True))
    empty = put(np.zeros((0, 2), dtype), device)
    assert_complex_matches(hal.sum(empty, axis=0), np.zeros(2, dtype))
    assert_complex_matches(hal.prod(empty, axis=0), np.ones(2, dtype))


def test_complex_cumulative_and_any(device):
    complex_or_skip(device)
    a = np.array([[1 + 2j, 0, 3 - 1j, 0.5j], [0, 0, 0, 0]], np.complex64)
    x = put(a, device)
    assert_complex_matches(hal.cumulative_sum(x, axis=1), np.cumsum(a, axis=1))
    assert_complex_matches(hal.cumulative_prod(x, axis=1, include_initial=True),
                           cumulative_reference("cumulative_prod", a, 1, np.complex64, True))
    assert_matches(hal.any(x, axis=1), np.any(a, axis=1))
    assert_matches(hal.all(x, axis=0), np.all(a, axis=0))
    assert_complex_matches(hal.sum(put(a.real.copy(), device), dtype=hal.complex64),
                           np.asarray(np.sum(a.real, dtype=np.complex64)))


def test_complex_two_pass_prod(device):
    """A long complex product: the second pass folds complex partial products."""
    complex_or_skip(device, hal.complex128)
    a = np.exp(1j * data((5000,), hal.float64))  # on the unit circle: the product stays finite
    assert_complex_matches(hal.prod(put(a, device)), np.asarray(np.prod(a)), rtol=1e-9, atol=1e-9)
    assert_complex_matches(hal.sum(put(a, device)), np.asarray(np.sum(a)), rtol=1e-9, atol=1e-9)


def test_no_host_transfers(buffer_device):
    """Every function here runs as kernels: no array data passes through the host."""
    x = put(data((3, 50), hal.float32), buffer_device)
    hal.reset_stats()
    for fn in (hal.sum, hal.prod, hal.max, hal.min, hal.mean, hal.std, hal.var, hal.all, hal.any,
               hal.argmax, hal.argmin, hal.count_nonzero):
        fn(x, axis=1)
    hal.cumulative_sum(x, axis=1, include_initial=True)
    hal.cumulative_prod(x, axis=0)
    hal.diff(x, n=2, prepend=x)
    stats = hal.stats()
    assert stats["host_to_device"] == stats["device_to_host"] == stats["size_reads"] == 0, stats
