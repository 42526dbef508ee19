"""Reductions on every device, against NumPy: sum, prod, max, min and mean over every
kind of axis (None, int, negative, tuple, empty tuple) with and without keepdims, every
dtype and its accumulator, strided views, empty selections, NaN, and the two-pass path
of long rows."""
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
