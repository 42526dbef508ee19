"""Creation functions on every device, against NumPy: asarray (lists, scalars, NumPy
arrays, hal arrays, copy semantics), zeros, ones, empty, full, arange, linspace, eye,
meshgrid, tril, triu and the *_like functions, for every dtype; complex Python scalars
and complex creation; from_dlpack's device and copy."""
import numpy as np
import pytest

import hal
from helpers import ALL, FLOATING, INTEGER, NUMERIC, assert_matches, data, put


@pytest.mark.parametrize("obj, expected", [
    ([1, 2, 3], np.array([1, 2, 3], np.int64)),
    ([[1.5, 2], [3, -4]], np.array([[1.5, 2], [3, -4]], np.float64)),
    ([True, False], np.array([True, False])),
    (7, np.array(7, np.int64)),
    (-2.5, np.array(-2.5)),
    (False, np.array(False)),
    ([], np.zeros((0,))),
    ([[[1], [2]]], np.array([[[1], [2]]], np.int64)),
])
def test_asarray_python_objects(device, obj, expected):
    assert_matches(hal.asarray(obj, device=device), expected, device=device)


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_asarray_list_with_dtype(device, dtype):
    values = [[0, 1, 1], [1, 0, 1]] if dtype == hal.bool else [[0, 1, 2], [3, 4, 5]]
    assert_matches(hal.asarray(values, dtype=dtype, device=device), np.array(values, dtype), device=device)


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_asarray_numpy(device, dtype):
    a = data((3, 4), dtype)
    assert_matches(hal.asarray(a, device=device), a, device=device)


def test_asarray_numpy_non_contiguous(device):
    a = np.arange(24, dtype=np.int32).reshape(4, 6)[::-2, 1::2]
    assert_matches(hal.asarray(a, device=device), a)
    assert_matches(hal.asarray(a.T, device=device), a.T)


def test_asarray_numpy_with_other_dtype(device):
    a = np.array([1.7, -2.2, 3.0])
    assert_matches(hal.asarray(a, dtype=hal.int32, device=device), a.astype(np.int32))
    assert_matches(hal.asarray(a, dtype="float32", device=device), a.astype(np.float32))


def test_asarray_copy_true_is_independent_of_numpy(device):
    a = np.arange(4.0)
    x = hal.asarray(a, device=device, copy=True)
    a[0] = 100
    assert_matches(x, np.arange(4.0))


def test_asarray_copy_semantics_with_numpy_on_the_host():
    cpu = hal.device("cpu")
    a = np.arange(4.0)
    x = hal.asarray(a, device=cpu, copy=False)  # the host device can share NumPy's memory
    a[0] = 100
    assert float(x[0]) == 100
    assert np.shares_memory(np.asarray(x), a)


def test_asarray_copy_false_from_host_to_device_raises(buffer_device):
    with pytest.raises(ValueError, match="copy"):
        hal.asarray(np.arange(3), device=buffer_device, copy=False)


def test_asarray_of_a_hal_array(device):
    x = hal.asarray([1, 2, 3], device=device)
    assert hal.asarray(x) is x
    assert hal.asarray(x, copy=False) is x
    y = hal.asarray(x, copy=True)
    x[0] = 10
    assert_matches(y, np.array([1, 2, 3]), device=device)
    assert_matches(x, np.array([10, 2, 3]))
    z = hal.asarray(x, dtype=hal.float32)
    assert_matches(z, np.array([10, 2, 3], np.float32), device=device)
    with pytest.raises(ValueError):
        hal.asarray(x, dtype=hal.float32, copy=False)


def test_asarray_of_a_hal_view_with_copy(device):
    x = hal.asarray(np.arange(12).reshape(3, 4), device=device)
    y = hal.asarray(x[::2, ::-1], copy=True)
    x[...] = 0
    assert_matches(y, np.arange(12).reshape(3, 4)[::2, ::-1])


def test_asarray_python_scalars_with_dtype(device):
    assert_matches(hal.asarray(3, dtype=hal.uint8, device=device), np.array(3, np.uint8))
    assert_matches(hal.asarray(2.5, dtype=hal.float32, device=device), np.array(2.5, np.float32))
    assert_matches(hal.asarray(True, dtype=hal.bool, device=device), np.array(True))


def test_default_device(device):
    with hal.default_device(device):
        assert hal.asarray([1]).device == device
        assert hal.zeros(2).device == device
        assert hal.arange(3).device == device


@pytest.mark.parametrize("dtype", ALL, ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3, 4)], ids=str)
def test_zeros_ones(device, dtype, shape):
    assert_matches(hal.zeros(shape, dtype=dtype, device=device), np.zeros(shape, dtype), device=device)
    assert_matches(hal.ones(shape, dtype=dtype, device=device), np.ones(shape, dtype), device=device)


def test_zeros_ones_default_dtype(device):
    assert_matches(hal.zeros((2, 2), device=device), np.zeros((2, 2)))
    assert_matches(hal.ones(3, device=device), np.ones(3))


@pytest.mark.parametrize("dtype", ALL, ids=str)
@pytest.mark.parametrize("shape", [(4, 5), (3, 0, 2), ()], ids=str)
def test_empty(device, dtype, shape):
    x = hal.empty(shape, dtype=dtype, device=device)
    assert (x.shape, x.dtype, x.device) == (shape, dtype, device)
    host = np.asarray(x)
    assert (host.shape, host.dtype) == (shape, dtype)


def test_empty_default_dtype(device):
    y = hal.empty(7, device=device)
    assert (y.shape, y.dtype) == ((7,), hal.float64)


@pytest.mark.parametrize("fill, dtype, expected", [
    (3, None, np.full((2, 3), 3, np.int64)),
    (-1.5, None, np.full((2, 3), -1.5)),
    (True, None, np.full((2, 3), True)),
    (7, hal.uint8, np.full((2, 3), 7, np.uint8)),
    (-3, hal.int16, np.full((2, 3), -3, np.int16)),
    (0.1, hal.float32, np.full((2, 3), 0.1, np.float32)),
    (2, hal.float64, np.full((2, 3), 2.0)),
    (False, hal.bool, np.full((2, 3), False)),
    (2**63 - 1, hal.int64, np.full((2, 3), 2**63 - 1, np.int64)),
    (2**64 - 1, hal.uint64, np.full((2, 3), 2**64 - 1, np.uint64)),
    (float("nan"), hal.float32, np.full((2, 3), np.nan, np.float32)),
    (float("-inf"), None, np.full((2, 3), -np.inf)),
])
def test_full(device, fill, dtype, expected):
    assert_matches(hal.full((2, 3), fill, dtype=dtype, device=device), expected, device=device)


def test_full_scalar_shape(device):
    assert_matches(hal.full((), 4, device=device), np.array(4))
    assert_matches(hal.full(3, 4, device=device), np.array([4, 4, 4]))


@pytest.mark.parametrize("args", [(10,), (2, 10), (2, 11, 3), (10, 0, -2), (10, 1, -3), (5, 5), (0, -3),
                                  (-7, 7, 4), (3, -3, -1), (5, 2)], ids=str)
def test_arange_int(device, args):
    assert_matches(hal.arange(*args, device=device), np.arange(*args), device=device)


@pytest.mark.parametrize("args", [(0, 1, 0.1), (1.0, -1.0, -0.25), (2.5,), (0.5, 3), (0, 5, 1.5), (1.0, 1.0),
                                  (3.0, 1.0), (-1, 1, 0.3)], ids=str)
def test_arange_float(device, args):
    assert_matches(hal.arange(*args, device=device), np.arange(*args, dtype=np.float64), device=device)


@pytest.mark.parametrize("dtype", NUMERIC, ids=str)
def test_arange_with_dtype(device, dtype):
    assert_matches(hal.arange(1, 9, 2, dtype=dtype, device=device), np.arange(1, 9, 2, dtype=dtype))


def test_arange_float32_steps(device):
    assert_matches(hal.arange(0, 2, 0.25, dtype=hal.float32, device=device),
                   np.arange(0, 2, 0.25, dtype=np.float32))
    assert_matches(hal.arange(10, 0, -3, dtype=hal.int8, device=device), np.arange(10, 0, -3, dtype=np.int8))


@pytest.mark.parametrize("endpoint", [True, False])
@pytest.mark.parametrize("start, stop, num", [(0, 1, 5), (-2.5, 7, 11), (3, -3, 4), (1, 2, 1), (1, 2, 0),
                                              (0, 10, 2)], ids=str)
def test_linspace(device, start, stop, num, endpoint):
    expected = np.linspace(start, stop, num, endpoint=endpoint)
    assert_matches(hal.linspace(start, stop, num, endpoint=endpoint, device=device), expected, device=device)


@pytest.mark.parametrize("endpoint", [True, False])
def test_linspace_float32(device, endpoint):
    expected = np.linspace(-1, 3, 9, endpoint=endpoint, dtype=np.float32)
    assert_matches(hal.linspace(-1, 3, 9, endpoint=endpoint, dtype=hal.float32, device=device), expected)


def test_linspace_endpoint_is_exact(device):
    x = hal.linspace(0.1, 0.7, 7, device=device)
    assert float(x[-1]) == 0.7 and float(x[0]) == 0.1


@pytest.mark.parametrize("n, m, k", [(3, None, 0), (4, 6, 1), (4, 6, -2), (5, 3, 2), (3, 3, 3), (3, 4, -5),
                                     (0, None, 0), (1, None, 0), (2, 5, 4)], ids=str)
def test_eye(device, n, m, k):
    assert_matches(hal.eye(n, m, k=k, device=device), np.eye(n, m, k), device=device)


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_eye_dtype(device, dtype):
    assert_matches(hal.eye(3, 4, k=1, dtype=dtype, device=device), np.eye(3, 4, 1, dtype=dtype))


@pytest.mark.parametrize("dtype", [hal.bool, hal.int8, hal.uint32, hal.float32, hal.float64], ids=str)
def test_like(device, dtype):
    x = put(data((2, 3), dtype), device)
    assert_matches(hal.zeros_like(x), np.zeros((2, 3), dtype), device=device)
    assert_matches(hal.ones_like(x), np.ones((2, 3), dtype), device=device)
    fill = True if dtype == hal.bool else 5
    assert_matches(hal.full_like(x, fill), np.full((2, 3), fill, dtype), device=device)
    e = hal.empty_like(x)
    assert (e.shape, e.dtype, e.device) == ((2, 3), dtype, device)


def test_like_with_dtype(device):
    x = hal.asarray([[1, 2, 3]], dtype=hal.int8, device=device)
    assert_matches(hal.zeros_like(x, dtype=hal.float32), np.zeros((1, 3), np.float32), device=device)
    assert_matches(hal.ones_like(x, dtype=hal.bool), np.ones((1, 3), bool))
    assert_matches(hal.full_like(x, 2.5, dtype=hal.float64), np.full((1, 3), 2.5))
    e = hal.empty_like(x, dtype=hal.uint16)
    assert (e.shape, e.dtype) == ((1, 3), hal.uint16)


def test_like_of_a_view(device):
    x = hal.asarray(np.arange(24).reshape(2, 3, 4), device=device)
    assert_matches(hal.ones_like(x[:, ::2, 1]), np.ones((2, 2), np.int64))


def test_like_on_another_device(device_pair):
    src, dst = device_pair
    x = hal.asarray([1.5, 2.5], device=src)
    assert_matches(hal.zeros_like(x, device=dst), np.zeros(2), device=dst)
    assert_matches(hal.full_like(x, 3.0, device=dst), np.full(2, 3.0), device=dst)


@pytest.mark.parametrize("dtype", INTEGER + FLOATING, ids=str)
def test_full_extremes(device, dtype):
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    value = int(info.min) if dtype.kind in "iu" else float(info.min)
    assert_matches(hal.full((3,), value, dtype=dtype, device=device), np.full(3, info.min, dtype))
    value = int(info.max) if dtype.kind in "iu" else float(info.max)
    assert_matches(hal.full((3,), value, dtype=dtype, device=device), np.full(3, info.max, dtype))


# -- astype and the data type functions ---------------------------------------------

def cast_values(src, dst):
    """Values of ``src`` whose conversion to ``dst`` is defined in C (no float out of the
    integer range, no negative float to unsigned): wrap-around between integer types is."""
    src, dst = np.dtype(src), np.dtype(dst)
    if src == hal.bool:
        return np.array([True, False, True])
    if src.kind in "iu":
        info = np.iinfo(src)
        values = [0, 1, 5, 100, info.max] + ([-1, -100, info.min] if src.kind == "i" else [])
        if dst.kind == "f" and src.itemsize == 8:
            values = values[:4]  # 2**63 - 1 rounds differently when a target converts through float
        return np.array(values, src)
    values = [0.0, -0.0, 1.5, 2.7, 99.9]
    if dst.kind in "if" or dst == hal.bool:
        values += [-1.5, -99.9]
    if dst.kind == "f" or dst == hal.bool:
        values += [np.nan, np.inf, -np.inf, 3.4e38, 1e-45]
    return np.array(values, src)


@pytest.mark.parametrize("dst", ALL, ids=str)
@pytest.mark.parametrize("src", ALL, ids=str)
def test_astype(device, src, dst):
    a = cast_values(src, dst)
    with np.errstate(all="ignore"):
        expected = a.astype(dst)
    assert_matches(hal.astype(put(a, device), dst), expected, device=device)


@pytest.mark.parametrize("src, dst", [(hal.int8, hal.float64), (hal.float32, hal.uint16), (hal.bool, hal.int32),
                                      (hal.float64, hal.bool)], ids=str)
def test_astype_of_views(device, src, dst):
    a = cast_values(src, dst)
    with np.errstate(all="ignore"):
        expected = a.astype(dst)
    x = put(np.stack([a, a[::-1]]), device)
    assert_matches(hal.astype(x[1, ::-2], dst), expected[::2])
    assert_matches(hal.astype(x.T, dst), np.stack([expected, expected[::-1]]).T)


def test_astype_float64_to_float32_rounds_and_overflows(device):
    a = np.array([0.1, 1 / 3, 1e300, -1e300, 1e-300, 16777217.0])
    with np.errstate(over="ignore"):  # NumPy (and so the cpu) warns about the infinities
        assert_matches(hal.astype(put(a, device), hal.float32), a.astype(np.float32))


def test_astype_copy(device):
    x = hal.asarray([1, 2, 3], dtype=hal.int16, device=device)
    assert hal.astype(x, hal.int16, copy=False) is x
    y = hal.astype(x, hal.int16)
    x[0] = 9
    assert_matches(y, np.array([1, 2, 3], np.int16))
    assert_matches(hal.astype(x, "float32", copy=False), np.array([9, 2, 3], np.float32))


def test_astype_to_another_device(device_pair):
    src, dst = device_pair
    x = hal.asarray([1.5, -2.5], device=src)
    assert_matches(hal.astype(x, hal.int32, device=dst), np.array([1, -2], np.int32), device=dst)
    assert_matches(hal.astype(x, hal.float64, device=dst), np.array([1.5, -2.5]), device=dst)


def test_data_type_functions():
    assert hal.result_type(hal.int8, hal.uint8) == hal.int16
    assert hal.result_type(hal.int8, hal.uint8, hal.float32) == hal.float32
    assert hal.result_type(hal.uint16, 1) == hal.uint16  # a Python scalar takes the array's kind (2024.12)
    with pytest.raises(TypeError):
        hal.result_type(hal.int32, hal.uint64)
    assert hal.can_cast(hal.int8, hal.int16) and hal.can_cast(hal.uint8, hal.int16)
    assert not hal.can_cast(hal.int16, hal.int8) and not hal.can_cast(hal.int64, hal.uint64)
    assert not hal.can_cast(hal.bool, hal.int8) and not hal.can_cast(hal.float64, hal.float32)
    assert hal.finfo(hal.float32).eps == np.finfo(np.float32).eps
    assert hal.iinfo(hal.int8).min == -128 and hal.iinfo(hal.uint16).max == 65535
    with pytest.raises(TypeError):
        hal.finfo(hal.int32)
    with pytest.raises(TypeError):
        hal.iinfo(hal.float32)
    assert hal.isdtype(hal.int8, "signed integer") and not hal.isdtype(hal.uint8, "signed integer")
    assert hal.isdtype(hal.float32, ("integral", "real floating")) and hal.isdtype(hal.bool, "bool")
    assert not hal.isdtype(hal.bool, "numeric") and hal.isdtype(hal.uint64, hal.uint64)
    assert not hal.isdtype(hal.float64, "complex floating")  # a kind of the standard that hal has none of
    with pytest.raises(ValueError):
        hal.isdtype(hal.int8, "float")


# -- meshgrid, tril, triu ----------------------------------------------------------

@pytest.mark.parametrize("indexing", ["xy", "ij"])
@pytest.mark.parametrize("sizes", [(3,), (2, 3), (2, 3, 4), (0, 2)], ids=str)
def test_meshgrid(device, indexing, sizes):
    vectors = [data((n,), hal.float32, seed) for seed, n in enumerate(sizes)]
    out = hal.meshgrid(*(put(v, device) for v in vectors), indexing=indexing)
    assert isinstance(out, tuple)
    for got, ref in zip(out, np.meshgrid(*vectors, indexing=indexing)):
        assert_matches(got, ref, device=device)
    if out[0].size:
        out[0][(0,) * len(sizes)] = 7.0  # writable copies, not shared broadcast views
        assert float(out[0][(0,) * len(sizes)]) == 7.0


def test_meshgrid_errors(device):
    with pytest.raises(ValueError):
        hal.meshgrid(hal.ones((2, 2), device=device))
    with pytest.raises(TypeError):
        hal.meshgrid(hal.ones(2, device=device), hal.ones(2, dtype=hal.int32, device=device))
    with pytest.raises(ValueError):
        hal.meshgrid(hal.ones(2, device=device), indexing="xz")


@pytest.mark.parametrize("k", [0, 1, -1, 3, -5], ids=str)
@pytest.mark.parametrize("dtype", [hal.bool, hal.int8, hal.float64], ids=str)
def test_tril_triu(device, k, dtype):
    a = data((2, 3, 4), dtype)
    x = put(a, device)
    hal.reset_stats()
    lower, upper = hal.tril(x, k=k), hal.triu(x.mT, k=k)
    assert hal.stats()["device_to_host"] == 0
    assert_matches(lower, np.tril(a, k))
    assert_matches(upper, np.triu(a.swapaxes(-1, -2), k))
    with pytest.raises(ValueError):
        hal.tril(x[0, 0])


# -- complex ------------------------------------------------------------------------

def needs(device, dtype):
    if dtype not in device.dtypes:
        pytest.skip(f"{device} has no {dtype}")


def test_complex_python_scalars(device):
    needs(device, hal.complex64)
    default = hal.complex128 if device.default_float == hal.float64 else hal.complex64
    assert hal.asarray(1 + 2j, device=device).dtype == default
    assert hal.full((2,), 1j, device=device).dtype == default
    assert_matches(hal.full((2,), 1 - 1j, dtype=hal.complex64, device=device), np.full(2, 1 - 1j, np.complex64))
    assert (hal.ones(2, dtype=hal.float32, device=device) * 1j).dtype == hal.complex64
    with pytest.raises(TypeError):
        hal.ones(2, dtype=hal.int32, device=device) + 1j  # the standard leaves it open; hal refuses
    with pytest.raises(TypeError):
        hal.ones(2, dtype=hal.bool, device=device) + 1j
    x = hal.ones(2, device=device)
    with pytest.raises(TypeError):
        x[0] = 1j


@pytest.mark.parametrize("start, stop, num, endpoint", [(0, 1j, 5, True), (1 + 1j, -2, 4, False), (2j, 2j, 3, True),
                                                        (0j, 1, 1, True)], ids=str)
def test_complex_linspace(device, start, stop, num, endpoint):
    needs(device, hal.complex128)
    assert_matches(hal.linspace(start, stop, num, endpoint=endpoint, device=device),
                   np.linspace(start, stop, num, endpoint=endpoint))
    assert_matches(hal.linspace(start, stop, num, endpoint=endpoint, dtype=hal.complex64, device=device),
                   np.linspace(start, stop, num, endpoint=endpoint, dtype=np.complex64))
    with pytest.raises(TypeError):
        hal.linspace(start, stop, num, dtype=hal.float64, device=device)


@pytest.mark.parametrize("dtype", [hal.complex64, hal.complex128], ids=str)
def test_complex_eye_zeros_ones(device, dtype):
    needs(device, dtype)
    assert_matches(hal.eye(3, 4, k=1, dtype=dtype, device=device), np.eye(3, 4, 1, dtype))
    assert_matches(hal.zeros((2, 2), dtype=dtype, device=device), np.zeros((2, 2), dtype))
    assert_matches(hal.ones_like(hal.zeros(3, dtype=dtype, device=device)), np.ones(3, dtype))
    a = data((2, 3), np.finfo(dtype).dtype).astype(dtype) * (1 - 2j)
    assert_matches(hal.tril(put(a, device)), np.tril(a))
    assert_matches(hal.asarray(a, device=device, copy=True), a)


def test_from_dlpack_device_and_copy(device):
    a = np.arange(4.0)
    x = hal.from_dlpack(a)
    assert x.device == hal.device("cpu")  # a NumPy exporter's data is on the cpu
    y = hal.from_dlpack(a, device=device, copy=True)
    a[0] = 9.0
    assert_matches(y, np.arange(4.0), device=device)
    if device.family == "buffer":
        with pytest.raises(ValueError):
            hal.from_dlpack(a, device=device, copy=False)
