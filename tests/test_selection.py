"""nonzero, take and take_along_axis on every device against NumPy: every dtype, empty
arrays, masks with no True, negative indices, views, errors; data-dependent sizes read
back as one ``size_reads`` and nothing else through the host."""
import numpy as np
import pytest

import hal
from helpers import ALL, assert_matches, data, on_device_only, put


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_nonzero(device, dtype):
    a = data((3, 4, 5), dtype)
    if dtype != hal.bool:
        a[a > 2] = 0  # plenty of zeros
    got = hal.nonzero(put(a, device))
    assert isinstance(got, tuple) and len(got) == 3
    for g, e in zip(got, np.nonzero(a)):
        assert_matches(g, e.astype(np.int64))


@pytest.mark.parametrize("shape", [(1,), (7,), (0,), (2, 0), (300,), (2, 1, 1, 3)], ids=str)
def test_nonzero_shapes(device, shape):
    a = data(shape, hal.bool, seed=1)
    for g, e in zip(hal.nonzero(put(a, device)), np.nonzero(a)):
        assert_matches(g, e.astype(np.int64))


def test_nonzero_none_and_all(device):
    for a in (np.zeros((4, 3), np.float32), np.ones((4, 3), np.int8), np.full(5, np.nan)):
        for g, e in zip(hal.nonzero(put(a, device)), np.nonzero(a)):
            assert_matches(g, e.astype(np.int64))


def test_nonzero_of_a_view(device):
    a = data((6, 7), hal.int32)
    for g, e in zip(hal.nonzero(put(a, device).mT[::2, 1:]), np.nonzero(a.T[::2, 1:])):
        assert_matches(g, e.astype(np.int64))


def test_nonzero_reads_only_its_size(device):
    x = put(data((5, 6), hal.bool), device)
    on_device_only(lambda: hal.nonzero(x), size_reads=int(device.family == "buffer"))


def test_nonzero_errors(device):
    with pytest.raises(ValueError):
        hal.nonzero(hal.asarray(1.0, device=device))
    with pytest.raises(TypeError):
        hal.nonzero(np.ones(3))


# -- take, take_along_axis ------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_take(device, dtype):
    a = data((3, 4, 5), dtype)
    x = put(a, device)
    idx = np.array([4, -1, 0, 0, -5, 2])
    for axis, sel in ((2, idx), (1, idx % 4), (0, np.array([2, -3]))):
        assert_matches(hal.take(x, put(sel, device), axis=axis), np.take(a, sel, axis=axis))


def test_take_cases(device):
    a = np.arange(10, dtype=np.float32)
    x = put(a, device)
    assert_matches(hal.take(x, put(np.array([3, -1], np.int8), device)), a[[3, -1]])  # axis optional for 1-D
    assert_matches(hal.take(x, put(np.zeros(0, np.int64), device)), a[:0])
    assert_matches(hal.take(x[::-3], put(np.array([1, 2], np.uint16), device)), a[::-3][[1, 2]])
    b = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert_matches(hal.take(put(b, device).mT, put(np.array([2, 2]), device), axis=1), b.T[:, [2, 2]])
    assert_matches(hal.take(put(np.zeros((0, 3)), device), put(np.array([1]), device), axis=1), np.zeros((0, 1)))


def test_take_errors(device):
    x = hal.zeros((2, 3), device=device)
    i = hal.asarray([0], device=device)
    with pytest.raises(ValueError):
        hal.take(x, i)  # 2-D needs an axis
    with pytest.raises(ValueError):
        hal.take(x, hal.zeros((1, 1), dtype=hal.int64, device=device), axis=0)
    with pytest.raises(TypeError):
        hal.take(x, hal.zeros(1, device=device), axis=0)
    with pytest.raises(IndexError):
        hal.take(x, i, axis=2)
    with pytest.raises(IndexError):
        hal.take(hal.zeros((2, 0), device=device), i, axis=1)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_take_along_axis(device, axis):
    a = data((3, 4, 5), hal.float64)
    rng = np.random.default_rng(axis + 5)
    n = a.shape[axis]
    shape = list(a.shape)
    shape[axis] = 6
    idx = rng.integers(-n, n, shape)
    assert_matches(hal.take_along_axis(put(a, device), put(idx, device), axis=axis),
                   np.take_along_axis(a, idx, axis))


def test_take_along_axis_broadcasts_and_sorts(device):
    a = data((4, 6), hal.int16)
    x = put(a, device)
    order = hal.argsort(x, axis=1)
    assert_matches(hal.take_along_axis(x, order, axis=1), np.sort(a, axis=1, kind="stable"))
    idx = np.array([[0, 5, -1]])  # broadcast along axis 0
    assert_matches(hal.take_along_axis(x, put(idx, device), axis=1), np.take_along_axis(a, idx, 1))
    col = np.array([[1], [0], [3], [2]])
    assert_matches(hal.take_along_axis(x, put(col, device), axis=0), np.take_along_axis(a, col, 0))


def test_take_along_axis_errors(device):
    x = hal.zeros((2, 3), device=device)
    with pytest.raises(ValueError):
        hal.take_along_axis(x, hal.zeros(3, dtype=hal.int64, device=device))
    with pytest.raises(ValueError):
        hal.take_along_axis(x, hal.zeros((3, 3), dtype=hal.int64, device=device), axis=1)
    with pytest.raises(TypeError):
        hal.take_along_axis(x, hal.zeros((2, 3), dtype=hal.bool, device=device))


def test_out_of_range_indices_stay_in_bounds(buffer_device):
    """The standard leaves them unspecified; kernels clamp them (never out of bounds)."""
    x = put(np.arange(5, dtype=np.int32), buffer_device)
    got = hal.take(x, put(np.array([7, -9, 2]), buffer_device))
    assert_matches(got, np.array([4, 0, 2], np.int32))
