"""sort, argsort and searchsorted on every device against NumPy: every axis, both
directions, NaNs (last ascending, first descending), ties (stable: original order kept
in both directions), rows that are not powers of two, empty arrays, views, errors."""
import numpy as np
import pytest

import hal
from helpers import assert_matches, put

DTYPES = [hal.bool, hal.int8, hal.uint16, hal.int32, hal.uint64, hal.float32, hal.float64]


def reference_argsort(a, axis, descending):
    """The stable order; descending reverses the values but keeps ties in order."""
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    flipped = np.argsort(np.flip(a, axis), axis=axis, kind="stable")
    return a.shape[axis] - 1 - np.flip(flipped, axis)


def values(shape, dtype, seed=0):
    """Few distinct values (many ties) and, for floats, NaNs and infinities."""
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    a = rng.integers(0 if np.dtype(dtype).kind == "u" else -3, 4, shape).astype(dtype)
    if np.dtype(dtype).kind == "f" and a.size:
        a.flat[::5] = np.nan
        a.flat[1::7] = np.inf
        a.flat[2::11] = -np.inf
    return a


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort(device, dtype, descending):
    a = values((3, 37), dtype)
    x = put(a, device)
    for axis in (-1, 0):
        order = reference_argsort(a, axis, descending)
        assert_matches(hal.argsort(x, axis=axis, descending=descending), order)
        assert_matches(hal.sort(x, axis=axis, descending=descending), np.take_along_axis(a, order, axis))


@pytest.mark.parametrize("shape, axis", [((1,), 0), ((2,), 0), ((5,), -1), ((2, 3, 4), 1), ((4, 1, 3), 0),
                                         ((0,), 0), ((2, 0), 1), ((0, 3), 1), ((3, 0), 0)], ids=str)
def test_shapes(device, shape, axis):
    a = values(shape, hal.float32, seed=1)
    x = put(a, device)
    for descending in (False, True):
        order = reference_argsort(a, axis, descending)
        assert_matches(hal.argsort(x, axis=axis, descending=descending), order)
        assert_matches(hal.sort(x, axis=axis, descending=descending), np.take_along_axis(a, order, axis))


def test_ties_keep_their_order(device):
    a = np.array([2, 1, 2, 1, 2, 1, 0, 2], np.int16)
    x = put(a, device)
    assert_matches(hal.argsort(x), np.array([6, 1, 3, 5, 0, 2, 4, 7]))
    assert_matches(hal.argsort(x, descending=True), np.array([0, 2, 4, 7, 1, 3, 5, 6]))
    assert_matches(hal.argsort(x, stable=False), np.argsort(a, kind="stable"))  # hal is always stable


def test_nan_order(device):
    a = np.array([np.nan, 1.0, -np.inf, np.nan, -0.5, np.inf], np.float32)
    x = put(a, device)
    assert_matches(hal.argsort(x), np.array([2, 4, 1, 5, 0, 3]))
    assert_matches(hal.argsort(x, descending=True), np.array([0, 3, 5, 1, 4, 2]))
    assert_matches(hal.sort(x, descending=True), a[[0, 3, 5, 1, 4, 2]])


def test_views_and_results(device):
    a = values((6, 10), hal.int32, seed=2)
    x = put(a, device)
    view = x.mT[::2, 1:]
    ref = a.T[::2, 1:]
    assert_matches(hal.sort(view, axis=0), np.sort(ref, axis=0, kind="stable"))
    assert_matches(hal.argsort(view, axis=1), np.argsort(ref, axis=1, kind="stable"))
    out = hal.sort(x, axis=0)  # the result is an ordinary array: it takes part in more ops
    assert_matches(out + 1, np.sort(a, axis=0) + 1)
    assert_matches(out[1:3, ::-1], np.sort(a, axis=0)[1:3, ::-1])


def test_rows_longer_than_a_work_group_block(device):
    """Rows of more than 512 pairs: sorted in local-memory blocks, merged through global memory."""
    a = values((2, 600), hal.int16, seed=7)
    x = put(a, device)
    assert_matches(hal.argsort(x, descending=True), reference_argsort(a, 1, True))


@pytest.mark.heavy
def test_long_rows(device):
    a = values((2, 5000), hal.float64, seed=3)
    x = put(a, device)
    assert_matches(hal.argsort(x), np.argsort(a, kind="stable"))
    assert_matches(hal.sort(x, axis=0, descending=True), np.take_along_axis(a, reference_argsort(a, 0, True), 0))


def test_sort_stays_on_the_device(device):
    x = put(values((4, 9), hal.float32), device)
    hal.reset_stats()
    hal.argsort(hal.sort(x, axis=0))
    stats = hal.stats()
    assert stats["device_to_host"] == 0 and stats["host_to_device"] == 0


def test_sort_errors(device):
    with pytest.raises(ValueError):
        hal.sort(hal.asarray(1.0, device=device))
    with pytest.raises(IndexError):
        hal.argsort(hal.zeros((2, 3), device=device), axis=2)
    with pytest.raises(TypeError):
        hal.sort(hal.asarray([1 + 2j], device="cpu"))
    with pytest.raises(TypeError):
        hal.sort(np.zeros(3))


# -- searchsorted -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [hal.int8, hal.uint32, hal.int64, hal.float32, hal.float64], ids=str)
@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted(device, dtype, side):
    sorted_ = np.sort(values((23,), dtype, seed=4))
    v = values((3, 5), dtype, seed=5)
    x1, x2 = put(sorted_, device), put(v, device)
    assert_matches(hal.searchsorted(x1, x2, side=side), np.searchsorted(sorted_, v, side=side))


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_with_sorter(device, side):
    a = values((17,), hal.float32, seed=6)
    v = np.array([np.nan, -np.inf, 0.0, 1.0, 3.5, 7.0], np.float32)
    sorter = np.argsort(a, kind="stable")
    got = hal.searchsorted(put(a, device), put(v, device), side=side, sorter=put(sorter, device))
    assert_matches(got, np.searchsorted(a, v, side=side, sorter=sorter))
    small = hal.searchsorted(put(a, device), put(v, device), side=side, sorter=put(sorter.astype(np.int16), device))
    assert_matches(small, np.searchsorted(a, v, side=side, sorter=sorter))


def test_searchsorted_scalars_and_mixed_dtypes(device):
    a = np.array([-2, 0, 0, 3, 9], np.int32)
    x1 = put(a, device)
    assert_matches(hal.searchsorted(x1, 0), np.asarray(1))
    assert_matches(hal.searchsorted(x1, 0, side="right"), np.asarray(3))
    assert_matches(hal.searchsorted(x1, 2.5), np.asarray(3))  # a float searches the float values
    assert_matches(hal.searchsorted(x1, put(np.array([1, 10], np.int8), device)), np.array([3, 5]))
    assert_matches(hal.searchsorted(x1, put(np.zeros((2, 0), np.int32), device)), np.zeros((2, 0), np.int64))
    empty = put(np.zeros(0, np.float32), device)
    assert_matches(hal.searchsorted(empty, put(np.ones(3, np.float32), device)), np.zeros(3, np.int64))


def test_searchsorted_errors(device):
    x = hal.zeros((2, 2), device=device)
    with pytest.raises(ValueError):
        hal.searchsorted(x, 1.0)
    with pytest.raises(ValueError):
        hal.searchsorted(x[0], 1.0, side="middle")
    with pytest.raises(ValueError):
        hal.searchsorted(x[0], 1.0, sorter=hal.zeros(3, dtype=hal.int64, device=device))
    with pytest.raises(TypeError):
        hal.searchsorted(hal.zeros(2, dtype=hal.bool, device=device), True)
