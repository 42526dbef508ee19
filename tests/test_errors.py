"""Bad input gets the exception type the array API standard expects, with a message that
says what happened (DESIGN.md, "Errors"): shape mismatches, arrays on two devices,
float64 on a device without fp64, unknown devices, bad indices and reshapes, in-place
operations that would change the array; and ops that run on a device stay there."""
import dataclasses
import re

import numpy as np
import pytest

import hal
from conftest import DEVICES
from helpers import assert_matches


def test_error_types_are_the_standards():
    assert issubclass(hal.DeviceError, ValueError)
    assert issubclass(hal.UnsupportedDTypeError, TypeError)
    assert issubclass(hal.OutOfMemoryError, MemoryError)


# -- shapes -------------------------------------------------------------------------

def names_shapes(error, *shapes):
    """Whether the message of ``error`` names every shape, in order (spacing aside: the
    cpu reports NumPy's "(2,3)", other devices hal's "(2, 3)")."""
    text = str(error.value).replace(" ", "")
    return re.search(".*".join(re.escape(str(s).replace(" ", "")) for s in shapes), text) is not None


@pytest.mark.parametrize("fn", [hal.add, hal.less, hal.logical_and, hal.maximum, hal.bitwise_xor],
                         ids=lambda f: f.__name__)
def test_shape_mismatch_names_both_shapes(device, fn):
    dtype = hal.bool if fn in (hal.logical_and, hal.bitwise_xor) else hal.float32
    x, y = hal.zeros((2, 3), dtype=dtype, device=device), hal.zeros((4,), dtype=dtype, device=device)
    with pytest.raises(ValueError) as error:
        fn(x, y)
    assert names_shapes(error, (2, 3), (4,)), error.value
    with pytest.raises(ValueError) as error:
        fn(y, x)
    assert names_shapes(error, (4,), (2, 3)), error.value


def test_shape_mismatch_in_other_functions(device):
    x, y = hal.zeros((2, 3), device=device), hal.zeros((5, 1, 4), device=device)
    calls = {"multiply": lambda: x * y, "where": lambda: hal.where(x > 0, x, y), "matmul": lambda: hal.matmul(x, y),
             "concat": lambda: hal.concat([x, y]), "broadcast_to": lambda: hal.broadcast_to(x, (5, 1, 4))}
    for name, call in calls.items():
        with pytest.raises(ValueError) as error:
            call()
        assert names_shapes(error, (2, 3), (5, 1, 4)), f"{name}: {error.value}"
    with pytest.raises(ValueError) as error:
        x[...] = y
    assert names_shapes(error, (5, 1, 4), (2, 3)), error.value


def test_inplace_cannot_change_shape_or_dtype(device):
    x = hal.zeros((3,), dtype=hal.int32, device=device)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        x += hal.ones((2, 3), dtype=hal.int32, device=device)
    with pytest.raises(TypeError, match="int32.*float64"):
        x *= 1.5
    with pytest.raises(TypeError):
        x += hal.ones((3,), dtype=hal.int64, device=device)
    with pytest.raises(TypeError):
        x /= 2
    assert_matches(x, np.zeros(3, np.int32))


@pytest.mark.parametrize("shape", [(5,), (2, 2), (4, -1), (-1, -1), (-2, -3), (7, 0)], ids=str)
def test_reshape_to_a_wrong_size(device, shape):
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        hal.reshape(hal.zeros((2, 3), device=device), shape)


def test_index_out_of_range(device):
    x = hal.zeros((2, 3), device=device)
    with pytest.raises(IndexError, match="3.*axis 1.*size 3"):
        x[0, 3]
    with pytest.raises(IndexError):
        x[-3]
    with pytest.raises(IndexError):
        x[2] = 1.0
    with pytest.raises(IndexError):
        x[0, 0, 0]


# -- devices ------------------------------------------------------------------------

def test_arrays_on_two_devices(device_pair):
    a, b = device_pair
    x, y = hal.ones((2, 2), device=a), hal.ones((2, 2), device=b)
    calls = [lambda: x + y, lambda: y - x, lambda: hal.multiply(x, y), lambda: x < y, lambda: x @ y,
             lambda: hal.where(x > 0, x, y), lambda: hal.where(y > 0, x, x), lambda: hal.concat([x, y]),
             lambda: hal.stack([y, x]), lambda: hal.maximum(x, y)]
    for call in calls:
        with pytest.raises(hal.DeviceError) as info:
            call()
        assert a.name in str(info.value) and b.name in str(info.value), str(info.value)
    with pytest.raises(hal.DeviceError, match=f"{b.name}.*{a.name}"):
        x[0] = y[0]
    with pytest.raises(hal.DeviceError):
        x += y
    assert_matches(x, np.ones((2, 2)))


@pytest.mark.parametrize("spec", ["gpu:7", "opencl:99", 3, "cpu:1", "opencl:x", "", 2.5], ids=repr)
def test_bad_device(spec):
    with pytest.raises(hal.DeviceError):
        hal.device(spec)
    with pytest.raises(hal.DeviceError):
        hal.asarray([1, 2], device=spec)
    with pytest.raises(hal.DeviceError):
        hal.zeros(2, device=spec)
    with pytest.raises(hal.DeviceError):
        hal.arange(3, device=spec)
    with pytest.raises(hal.DeviceError):
        hal.ones(2, device="cpu").to_device(spec)
    with pytest.raises(hal.DeviceError):
        with hal.default_device(spec):
            pass


def test_bad_device_messages():
    with pytest.raises(hal.DeviceError, match="gpu:7.*backends are"):
        hal.device("gpu:7")
    with pytest.raises(hal.DeviceError, match="opencl:99.*opencl:0"):
        hal.device("opencl:99")


# -- float64 on a device without fp64 -----------------------------------------------

@pytest.fixture
def no_fp64(device, monkeypatch):
    """``device`` as a device without fp64 (patched back afterwards)."""
    monkeypatch.setattr(device, "info", dataclasses.replace(device.info, fp64=False))
    monkeypatch.setattr(device, "dtypes", tuple(d for d in device.dtypes if d != hal.float64))
    return device


def test_float64_on_a_device_without_fp64(no_fp64):
    dev = no_fp64
    f64 = hal.float64
    creators = [lambda: hal.asarray(np.ones(3), device=dev), lambda: hal.asarray([1.0], dtype=f64, device=dev),
                lambda: hal.zeros(3, dtype=f64, device=dev), lambda: hal.ones(2, dtype="float64", device=dev),
                lambda: hal.empty(2, dtype=f64, device=dev), lambda: hal.full(2, 1.0, dtype=f64, device=dev),
                lambda: hal.arange(3, dtype=f64, device=dev), lambda: hal.eye(2, dtype=f64, device=dev),
                lambda: hal.linspace(0, 1, 3, dtype=f64, device=dev)]
    for create in creators:
        with pytest.raises(hal.UnsupportedDTypeError, match=f"{dev.name}.*float64"):
            create()
    x = hal.ones(3, dtype=hal.float32, device=dev)
    with pytest.raises(hal.UnsupportedDTypeError):
        hal.astype(x, hal.float64)
    with pytest.raises(hal.UnsupportedDTypeError):
        hal.sum(x, dtype=hal.float64)
    with pytest.raises(hal.UnsupportedDTypeError):
        hal.zeros_like(x, dtype=hal.float64)


def test_python_floats_default_to_float32_without_fp64(no_fp64):
    dev = no_fp64
    assert_matches(hal.asarray([1.5, 2], device=dev), np.array([1.5, 2], np.float32))
    assert_matches(hal.asarray(0.1, device=dev), np.array(0.1, np.float32))
    assert_matches(hal.zeros(2, device=dev), np.zeros(2, np.float32))
    assert_matches(hal.ones((1, 2), device=dev), np.ones((1, 2), np.float32))
    assert_matches(hal.empty_like(hal.zeros(2, device=dev)) * 0, np.zeros(2, np.float32))
    assert_matches(hal.full(2, 2.5, device=dev), np.full(2, 2.5, np.float32))
    assert_matches(hal.arange(0, 1, 0.25, device=dev), np.arange(0, 1, 0.25, dtype=np.float32))
    assert_matches(hal.linspace(0, 1, 5, device=dev), np.linspace(0, 1, 5, dtype=np.float32))
    assert_matches(hal.eye(2, device=dev), np.eye(2, dtype=np.float32))
    i = hal.asarray([1, 2, 4], dtype=hal.int32, device=dev)
    assert_matches(i * 1.5, np.array([1.5, 3, 6], np.float32))
    assert_matches(i / i, np.ones(3, np.float32))
    assert_matches(hal.sqrt(i), np.sqrt(np.array([1, 2, 4], np.float32)))
    assert_matches(hal.mean(i), np.array(7 / 3, np.float32))


def test_float64_arrays_cannot_move_to_a_device_without_fp64(device, monkeypatch):
    other = next(d for d in DEVICES if d != device)
    x = hal.asarray(np.ones(3), device=other)
    monkeypatch.setattr(device, "info", dataclasses.replace(device.info, fp64=False))
    monkeypatch.setattr(device, "dtypes", tuple(d for d in device.dtypes if d != hal.float64))
    with pytest.raises(hal.UnsupportedDTypeError):
        x.to_device(device)
    with pytest.raises(hal.UnsupportedDTypeError):
        hal.asarray(x, device=device)
    assert_matches(hal.astype(x, hal.float32).to_device(device), np.ones(3, np.float32), device=device)


# -- dtypes hal does not have -------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.longdouble, "complex256", "object", np.str_, "int128", 3], ids=str)
def test_unknown_dtypes(device, dtype):
    with pytest.raises(TypeError):
        hal.zeros(2, dtype=dtype, device=device)


def test_unconvertible_objects(device):
    with pytest.raises(TypeError):
        hal.asarray(np.array([1 + 2j], np.clongdouble), device=device)
    with pytest.raises(TypeError):
        hal.asarray(np.array(["a"]), device=device)
    with pytest.raises(TypeError):
        hal.asarray([object()], device=device)
    with pytest.raises(ValueError):
        hal.asarray([[1, 2], [3]], device=device)
    with pytest.raises(OverflowError):  # Python ints take int64, the default integer dtype
        hal.asarray([2**63], device=device)
    with pytest.raises(OverflowError):
        hal.asarray(2**64, device=device)
    with pytest.raises(OverflowError):
        hal.asarray([[1], [-2**63 - 1]], device=device)
    with pytest.raises(OverflowError):
        hal.asarray([300], dtype=hal.uint8, device=device)


def test_bad_creation_arguments(device):
    with pytest.raises(ValueError):
        hal.zeros((2, -1), device=device)
    with pytest.raises(ValueError):
        hal.arange(0, 5, 0, device=device)
    with pytest.raises(ValueError):
        hal.linspace(0, 1, -1, device=device)
    with pytest.raises(TypeError):
        hal.linspace(0, 1, 3, dtype=hal.int32, device=device)


# -- data stays on the device -------------------------------------------------------

def test_kernel_ops_do_not_touch_the_host(buffer_device):
    dev = buffer_device
    x = hal.asarray(np.arange(1000, dtype=np.float32), device=dev)
    hal.reset_stats()
    y = hal.sum(x * 2 + 1)
    m = hal.reshape(x[:900], (30, 30)).T @ hal.ones((30, 4), dtype=hal.float32, device=dev)
    w = hal.where(x > 3, x, 0.5)
    x[::2] = 5.0
    x[1:] = x[:-1]
    hal.concat([x, w])
    hal.astype(x, hal.int32)
    hal.mean(m, axis=0)
    hal.max(x)
    hal.arange(10, device=dev)
    hal.eye(3, device=dev)
    hal.linspace(0, 1, 5, device=dev)
    hal.zeros_like(x)
    x[...] = x[::-1]
    stats = hal.stats()
    assert (stats["host_to_device"], stats["device_to_host"], stats["bytes_to_device"], stats["bytes_to_host"]) \
        == (0, 0, 0, 0), stats
    assert stats["kernel_launches"] > 10
    assert float(y) == 1000.0 * 999 + 1000  # only now does a value cross to the host
    stats = hal.stats()
    assert (stats["device_to_host"], stats["bytes_to_host"], stats["host_to_device"]) == (1, 4, 0), stats
