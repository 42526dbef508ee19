"""unique_all, unique_counts, unique_inverse, unique_values and isin on every device
against NumPy: every dtype, NaNs (each its own value), signed zeros, empty and 0-d
inputs, the inverse's shape, and no data through the host."""
import numpy as np
import pytest

import hal
from helpers import ALL, assert_matches, on_device_only, put


def sample(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < 0.5
    a = rng.integers(0, 5, shape).astype(dtype)
    if np.dtype(dtype).kind == "f" and a.size:
        a.flat[::4] = np.nan
    return a


def reference(a):
    """values, first indices, inverse (x's shape), counts; NaNs distinct."""
    r = np.unique_all(a)  # equal_nan=False: the standard's rule
    return r.values, r.indices, r.inverse_indices.reshape(a.shape), r.counts


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_unique_all(device, dtype):
    a = sample((3, 11), dtype)
    x = put(a, device)
    got = hal.unique_all(x)
    assert type(got).__name__ == "UniqueAllResult"
    for g, e in zip(got, reference(a)):
        assert_matches(g, e)
    values, _, inverse, _ = got
    assert_matches(hal.take(values, hal.reshape(inverse, (-1,))), a.reshape(-1))


@pytest.mark.parametrize("shape", [(0,), (2, 0), (), (1,), (2, 3, 4)], ids=str)
def test_unique_shapes(device, shape):
    a = sample(shape, hal.float32, seed=1)
    x = put(a, device)
    values, indices, inverse, counts = reference(a)
    assert_matches(hal.unique_values(x), values)
    got = hal.unique_counts(x)
    assert_matches(got.values, values)
    assert_matches(got.counts, counts)
    got = hal.unique_inverse(x)
    assert_matches(got.values, values)
    assert_matches(got.inverse_indices, inverse)
    assert_matches(hal.unique_all(x).indices, indices)


def test_nans_are_distinct_and_zeros_are_one(device):
    a = np.array([np.nan, 0.0, -0.0, np.nan, 1.0, 0.0], np.float64)
    values, indices, inverse, counts = hal.unique_all(put(a, device))
    host = np.asarray(values)
    assert host[0] == 0.0 and host[1] == 1.0 and np.isnan(host[2:]).all() and host.size == 4
    assert_matches(indices, np.array([1, 4, 0, 3]))
    assert_matches(counts, np.array([3, 1, 1, 1]))
    assert_matches(inverse, np.array([2, 0, 0, 3, 1, 0]))


def test_unique_of_views(device):
    a = sample((5, 6), hal.int16, seed=2)
    x = put(a, device)
    for g, e in zip(hal.unique_all(x.mT[::2]), reference(a.T[::2])):
        assert_matches(g, e)


@pytest.mark.parametrize("dtype", [hal.complex64, hal.complex128], ids=str)
def test_unique_complex(device, dtype):
    if dtype not in device.dtypes:
        pytest.skip(f"{device} has no {dtype}")
    a = np.array([1 + 2j, 1 + 1j, complex(np.nan, 1), 0 + 5j, 1 + 1j, 1 + 2j, -1 + 9j], dtype)
    for g, e in zip(hal.unique_all(put(a, device)), reference(a)):
        assert_matches(g, e)


def test_unique_stays_on_the_device(device):
    x = put(sample((4, 8), hal.int32), device)
    on_device_only(lambda: hal.unique_all(x), size_reads=int(device.family == "buffer"))


# -- isin ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtypes", [(hal.int32, hal.int32), (hal.int8, hal.int64), (hal.uint8, hal.int16),
                                    (hal.float32, hal.float64), (hal.bool, hal.bool)], ids=str)
@pytest.mark.parametrize("invert", [False, True])
def test_isin(device, dtypes, invert):
    a, b = sample((3, 7), dtypes[0], seed=3), sample((2, 3), dtypes[1], seed=4)
    assert_matches(hal.isin(put(a, device), put(b, device), invert=invert), np.isin(a, b, invert=invert))


def test_isin_scalars_and_empty(device):
    x = put(np.array([[1, 2], [3, 4]], np.int64), device)
    assert_matches(hal.isin(x, 3), np.array([[False, False], [True, False]]))
    assert_matches(hal.isin(2, x), np.asarray(True))
    assert_matches(hal.isin(7, x, invert=True), np.asarray(True))
    assert_matches(hal.isin(x, put(np.zeros(0, np.int64), device)), np.zeros((2, 2), bool))
    assert_matches(hal.isin(x, put(np.zeros(0, np.int64), device), invert=True), np.ones((2, 2), bool))
    assert_matches(hal.isin(put(np.zeros((0, 3), np.int8), device), x), np.zeros((0, 3), bool))


def test_set_errors(device):
    with pytest.raises(TypeError):
        hal.unique_values(np.arange(3))
    with pytest.raises(TypeError):
        hal.isin(1, 2)
    with pytest.raises(TypeError):
        hal.isin(hal.zeros(2, dtype=hal.int64, device=device), True)
