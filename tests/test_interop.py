"""Crossing between devices and libraries: numpy.asarray, to_device between every pair
of devices, DLPack both ways with NumPy, the Python scalar conversions, repr, len and
the namespace (also as array-api-compat finds it)."""
import operator

import numpy as np
import pytest

import hal
from helpers import ALL, assert_matches, data, put


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_numpy_asarray(device, dtype):
    a = data((2, 3), dtype)
    x = put(a, device)
    host = np.asarray(x)
    assert type(host) is np.ndarray
    np.testing.assert_array_equal(host, a, strict=True)
    np.testing.assert_array_equal(np.asarray(x[:, ::-2]), a[:, ::-2], strict=True)  # a strided view
    np.testing.assert_array_equal(np.asarray(x, dtype=np.float64), a.astype(np.float64), strict=True)
    np.testing.assert_array_equal(np.array(x.T), a.T, strict=True)


def test_numpy_asarray_copy_semantics(device):
    x = hal.asarray([1.0, 2.0], device=device)
    owned = np.asarray(x, copy=True)
    owned[0] = 10
    assert_matches(x, np.array([1.0, 2.0]))  # a copy never writes back
    if device.family == "numpy":
        shared = np.asarray(x, copy=False)
        shared[1] = 20
        assert_matches(x, np.array([1.0, 20.0]))
        with pytest.raises(ValueError):
            np.asarray(x, dtype=np.float32, copy=False)  # a conversion is a copy
    else:
        with pytest.raises(ValueError):
            np.asarray(x, copy=False)


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_to_device_between_every_pair(device_pair, dtype):
    src, dst = device_pair
    a = data((3, 4), dtype)
    x = put(a, src)
    y = x.to_device(dst)
    assert_matches(y, a, device=dst)
    x[...] = put(np.zeros_like(a), src)
    assert_matches(y, a)  # a move is a copy: the source can change afterwards
    y[0] = put(a[1], dst)
    assert_matches(x, np.zeros_like(a))
    assert_matches(x[::-1, 1::2].to_device(dst.name), np.zeros_like(a)[::-1, 1::2], device=dst)


def test_to_device_views_and_ops_after_the_move(device_pair):
    src, dst = device_pair
    a = data((4, 5), hal.float32)
    y = put(a, src).T[::2].to_device(dst)
    assert_matches(y * 2 + 1, a.T[::2] * np.float32(2) + np.float32(1), device=dst)
    assert_matches(hal.sum(y, axis=1), a.T[::2].sum(axis=1))
    assert_matches(hal.asarray(put(a, src), device=dst), a, device=dst)
    assert_matches(hal.astype(put(a, src), hal.float64, device=dst), a.astype(np.float64), device=dst)


def test_to_device_same_device_is_identity(device):
    x = hal.ones(3, device=device)
    assert x.to_device(device) is x
    assert x.to_device(device.name) is x


def test_from_dlpack_numpy(device):
    a = data((3, 4), hal.int16)
    x = hal.from_dlpack(a, device=device)
    assert_matches(x, a, device=device)
    assert_matches(hal.from_dlpack(a[::-1, ::2], device=device), a[::-1, ::2])
    assert_matches(hal.from_dlpack(put(a, device)), a, device=device)


def test_from_dlpack_shares_host_memory():
    a = np.arange(5.0)
    x = hal.from_dlpack(a, device="cpu")
    a[0] = 42.0
    assert float(x[0]) == 42.0
    y = hal.from_dlpack(a, device="cpu", copy=True)
    a[1] = -1.0
    assert float(y[1]) == 1.0


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_numpy_from_dlpack(device, dtype):
    a = data((2, 5), dtype)
    x = put(a, device)
    assert x.__dlpack_device__()[0] == (1 if device.family == "numpy" else 4)  # kDLCPU, kDLOpenCL
    got = np.from_dlpack(x, device="cpu")  # off the cpu: asks for a host copy
    np.testing.assert_array_equal(got, a, strict=True)
    np.testing.assert_array_equal(np.from_dlpack(x[1, ::-2], device="cpu"), a[1, ::-2], strict=True)


def test_numpy_from_dlpack_without_a_device(device):
    x = hal.arange(4, device=device)
    if device.family == "numpy":
        host = np.from_dlpack(x)
        assert np.shares_memory(host, np.asarray(x))
    else:
        with pytest.raises(BufferError, match="device='cpu'"):  # the message says what to do
            np.from_dlpack(x)
        with pytest.raises(BufferError):
            np.from_dlpack(x, device="cpu", copy=False)


# -- Python scalars -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_scalar_conversions(device, dtype):
    value = np.array(True if dtype == hal.bool else 3, dtype)
    x = put(value, device)
    assert bool(x) is bool(value)
    assert int(x) == int(value) and type(int(x)) is int
    assert float(x) == float(value) and type(float(x)) is float
    if dtype.kind in "iu":
        assert operator.index(x) == 3
        assert [10, 20, 30, 40][x] == 40
    else:
        with pytest.raises(TypeError):
            operator.index(x)


def test_scalar_conversion_values(device):
    assert float(hal.asarray(-2.75, device=device)) == -2.75
    assert int(hal.asarray(-2.75, device=device)) == -2
    assert int(hal.asarray(2**63 - 1, device=device)) == 2**63 - 1
    assert int(hal.asarray(2**64 - 1, dtype=hal.uint64, device=device)) == 2**64 - 1
    assert bool(hal.asarray(0.0, device=device)) is False
    assert bool(hal.asarray(float("nan"), device=device)) is True
    assert float(hal.asarray(np.float32(0.1), device=device)) == float(np.float32(0.1))
    assert float(hal.asarray(float("-inf"), device=device)) == float("-inf")
    with pytest.raises(ValueError):
        int(hal.asarray(float("nan"), device=device))
    with pytest.raises(OverflowError):
        int(hal.asarray(float("inf"), device=device))
    x = hal.arange(6, device=device)
    assert bool(x[3] == 3) and not bool(x[3] == 4)
    assert int(hal.sum(x)) == 15 and float(hal.mean(x)) == 2.5


def test_scalar_conversions_need_0d(device):
    x = hal.ones((1,), device=device)
    for convert in (bool, int, float, operator.index):
        with pytest.raises(TypeError):
            convert(hal.ones((2, 2), dtype=hal.int32, device=device))
    assert float(x[0]) == 1.0


# -- repr, len, namespace -----------------------------------------------------------

def test_repr(device):
    x = hal.asarray([[1.5, -2.0], [3.0, 4.25]], device=device)
    text = repr(x)
    assert text.startswith("Array([[") and "-2." in text and "4.25" in text
    assert text.endswith(f"dtype=float64, device='{device.name}')")
    assert repr(hal.asarray(7, dtype=hal.uint8, device=device)) == f"Array(7, dtype=uint8, device='{device.name}')"
    assert "True" in repr(hal.asarray([True, False], device=device))
    assert repr(hal.zeros((0, 2), dtype=hal.int32, device=device)).startswith("Array([], shape=(0, 2)")
    assert str(device) in repr(x[:, ::-1])


def test_len_and_namespace(device):
    x = hal.zeros((3, 2), device=device)
    assert len(x) == 3 and len(x[0]) == 2
    with pytest.raises(TypeError):
        len(x[0, 0])
    assert x.__array_namespace__() is hal
    assert x.__array_namespace__(api_version="2025.12") is hal
    with pytest.raises(ValueError):
        x.__array_namespace__(api_version="2021.12")
    assert (x.ndim, x.size, x.shape, x.dtype) == (2, 6, (3, 2), hal.float64)
    with pytest.raises(TypeError):
        hash(x)
    with pytest.raises(TypeError):
        hal.Array()


def test_array_api_compat_finds_hal(device):
    import array_api_compat  # in the test extra: libraries written for the standard find hal through it
    x, y = hal.ones((2, 2), device=device), hal.zeros(3, device=device)
    assert array_api_compat.array_namespace(x) is hal
    assert array_api_compat.array_namespace(x, y) is hal
    assert array_api_compat.device(x) == device
    assert array_api_compat.is_array_api_obj(x)
