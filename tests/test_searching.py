"""argmax, argmin and count_nonzero on every device, against NumPy: axes, keepdims,
dtypes, ties (the first occurrence wins), NaN (as NumPy: the first NaN), strided
views, the two-pass path of long rows, and bad input."""
import numpy as np
import pytest

import hal
from helpers import ALL, FLOATING, SAMPLE_INT, assert_matches, data, put


def arg_reference(name, a, axis=None, keepdims=False):
    return np.asarray(getattr(np, name)(a, axis=axis, keepdims=keepdims), np.int64)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_axes(device, name, axis, keepdims):
    a = data((3, 4, 5), hal.int8)  # small integers: many ties
    out = getattr(hal, name)(put(a, device), axis=axis, keepdims=keepdims)
    assert_matches(out, arg_reference(name, a, axis, keepdims), device=device)


@pytest.mark.parametrize("dtype", SAMPLE_INT + FLOATING, ids=str)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_dtypes(device, name, dtype):
    a = data((5, 40), dtype)
    x = put(a, device)
    assert_matches(getattr(hal, name)(x, axis=1), arg_reference(name, a, 1))
    assert_matches(getattr(hal, name)(x.T[::-1], axis=0), arg_reference(name, a.T[::-1], 0))


@pytest.mark.parametrize("dtype", FLOATING, ids=str)
def test_arg_nan_and_signed_zero(device, dtype):
    a = np.array([[1, np.nan, 3, np.nan], [-np.inf, 2, np.inf, -np.inf], [0.0, -0.0, 0.0, -1], [5, 5, 5, np.nan]],
                 dtype)
    x = put(a, device)
    for name in ("argmax", "argmin"):
        for axis in (None, 0, 1):
            assert_matches(getattr(hal, name)(x, axis=axis), arg_reference(name, a, axis))


@pytest.mark.parametrize("shape, axis", [((5000,), None), ((3, 4500), 1), ((4100, 2), 0)], ids=str)
def test_arg_two_pass(device, shape, axis):
    """Long rows over few outputs: a (value, index) first pass over segments, then one
    over the segments' winners; ties across segments still go to the first."""
    a = data(shape, hal.int16)
    f = data(shape, hal.float32)
    f.reshape(-1)[3333] = np.nan
    for name in ("argmax", "argmin"):
        assert_matches(getattr(hal, name)(put(a, device), axis=axis), arg_reference(name, a, axis))
        assert_matches(getattr(hal, name)(put(f, device), axis=axis), arg_reference(name, f, axis))


def test_arg_0d_and_length_one(device):
    assert_matches(hal.argmax(hal.asarray(3.0, device=device)), np.array(0, np.int64))
    assert_matches(hal.argmin(hal.ones((1, 3), device=device), axis=0), np.zeros(3, np.int64))
    assert_matches(hal.argmax(hal.ones((0, 3), device=device), axis=1), np.zeros(0, np.int64))


def test_arg_errors(device):
    x = hal.ones((2, 3), device=device)
    with pytest.raises(IndexError):
        hal.argmax(x, axis=2)
    with pytest.raises(IndexError):
        hal.argmin(x, axis=-3)
    with pytest.raises(ValueError):
        hal.argmax(hal.ones((0, 3), device=device))
    with pytest.raises(ValueError):
        hal.argmin(hal.ones((2, 0), device=device), axis=1)
    with pytest.raises(TypeError):
        hal.argmax(hal.ones(3, dtype=hal.bool, device=device))
    if hal.complex64 in device.dtypes:
        with pytest.raises(TypeError):
            hal.argmin(hal.ones(3, dtype=hal.complex64, device=device))


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_count_nonzero_dtypes(device, dtype):
    a = data((4, 9), dtype)
    if dtype.kind == "f":
        a[1, 2] = np.nan  # NaN is nonzero
        a[2, 3] = -0.0
    x = put(a, device)
    for axis in (None, 1, (0, 1), ()):
        assert_matches(hal.count_nonzero(x, axis=axis), np.asarray(np.count_nonzero(a, axis=axis), np.int64),
                       device=device)
    assert_matches(hal.count_nonzero(x[::-1, ::2], axis=0, keepdims=True),
                   np.count_nonzero(a[::-1, ::2], axis=0, keepdims=True).astype(np.int64))


def test_count_nonzero_complex_and_empty(device):
    assert_matches(hal.count_nonzero(hal.zeros((0, 3), device=device), axis=0), np.zeros(3, np.int64))
    assert_matches(hal.count_nonzero(hal.zeros((0, 3), device=device)), np.array(0, np.int64))
    if hal.complex64 in device.dtypes:
        a = np.array([[0, 1j, 2], [0j, 0, 1 + 1j]], np.complex64)
        assert_matches(hal.count_nonzero(put(a, device), axis=1), np.array([2, 1], np.int64))


def test_count_nonzero_errors(device):
    x = hal.ones((2, 3), device=device)
    with pytest.raises(IndexError):
        hal.count_nonzero(x, axis=2)
    with pytest.raises(ValueError):
        hal.count_nonzero(x, axis=(0, 0))
    with pytest.raises(TypeError):
        hal.count_nonzero(np.ones(3))


@pytest.mark.heavy
def test_large_argmax(device):
    a = data((1 << 20,), hal.float64)
    x = put(a, device)
    assert_matches(hal.argmax(x), arg_reference("argmax", a))
    assert_matches(hal.argmin(x[::3]), arg_reference("argmin", a[::3]))
    assert_matches(hal.count_nonzero(x > 0), np.asarray(np.count_nonzero(a > 0), np.int64))
