"""Manipulation functions on every device, against NumPy: reshape (views, copies, -1,
copy=), permute_dims and the transposes, expand_dims, squeeze, concat (incl. axis=None),
stack, broadcast_to and broadcast_arrays, on contiguous arrays and on strided views."""
import numpy as np
import pytest

import hal
from helpers import ALL, assert_matches, data, put


@pytest.mark.parametrize("shape", [(4, 6), (2, -1), (-1,), (3, 2, 4), (-1, 2, 3), (24,), (1, 24, 1), (2, 3, 2, 2)],
                         ids=str)
def test_reshape(device, shape):
    a = np.arange(24, dtype=np.int32).reshape(6, 4)
    assert_matches(hal.reshape(put(a, device), shape), a.reshape(shape), device=device)


def test_reshape_of_a_contiguous_array_is_a_view(device):
    x = hal.asarray(np.arange(12.0).reshape(3, 4), device=device)
    y = hal.reshape(x, (2, -1))
    x[0, 1] = -1.0
    y[1, 5] = -2.0
    expected = np.arange(12.0)
    expected[[1, 11]] = -1.0, -2.0
    assert_matches(y, expected.reshape(2, 6))
    assert_matches(x, expected.reshape(3, 4))
    z = hal.reshape(x, (12,), copy=False)
    z[0] = 5.0
    assert float(x[0, 0]) == 5.0


@pytest.mark.parametrize("dtype", ALL, ids=str)
def test_reshape_of_strided_views(device, dtype):
    a = data((4, 6), dtype)
    x = put(a, device)
    assert_matches(hal.reshape(x.T, (3, 8)), a.T.reshape(3, 8))
    assert_matches(hal.reshape(x[::-1, 1::2], (-1,)), a[::-1, 1::2].reshape(-1))
    assert_matches(hal.reshape(x[:, ::2], (4, 1, 3)), a[:, ::2].reshape(4, 1, 3))  # a view: only unit dims added
    assert_matches(hal.reshape(x[1:2, ::3], (2,)), a[1:2, ::3].reshape(2))
    b = hal.broadcast_to(x[0], (2, 6))
    assert_matches(hal.reshape(b, (3, 4)), np.broadcast_to(a[0], (2, 6)).reshape(3, 4))


def test_reshape_copy_argument(device):
    a = np.arange(6.0).reshape(2, 3)
    x = put(a, device)
    y = hal.reshape(x, (3, 2), copy=True)
    x[...] = 0.0
    assert_matches(y, a.reshape(3, 2))
    with pytest.raises(ValueError):
        hal.reshape(x.T, (6,), copy=False)  # a transposed view cannot be flattened without a copy
    t = hal.reshape(x.T, (6,))
    assert_matches(t, np.zeros(6))


def test_reshape_empty_and_0d(device):
    assert_matches(hal.reshape(hal.zeros((0, 3), device=device), (3, 0)), np.zeros((3, 0)))
    assert_matches(hal.reshape(hal.zeros((0, 3), device=device), (-1, 3)), np.zeros((0, 3)))
    assert_matches(hal.reshape(hal.asarray([7], device=device), ()), np.array(7))
    assert_matches(hal.reshape(hal.asarray(7, device=device), (1, 1)), np.array([[7]]))


@pytest.mark.parametrize("axes", [(0, 1, 2), (2, 0, 1), (1, 2, 0), (-1, -3, -2), (2, 1, 0)], ids=str)
def test_permute_dims(device, axes):
    a = data((2, 3, 4), hal.float32)
    x = put(a, device)
    assert_matches(hal.permute_dims(x, axes), np.transpose(a, axes), device=device)
    assert_matches(hal.permute_dims(x[:, ::-1, 1:], axes), np.transpose(a[:, ::-1, 1:], axes))
    # chained views and an op on them: the result is read through the permuted strides
    assert_matches(hal.permute_dims(x, axes) + 1, np.transpose(a, axes) + np.float32(1))


def test_transposes(device):
    a = data((2, 3, 4), hal.int64)
    x = put(a, device)
    assert_matches(x.mT, np.swapaxes(a, -1, -2))
    assert_matches(hal.matrix_transpose(x), np.swapaxes(a, -1, -2))
    assert_matches(x[0].T, a[0].T)
    assert_matches(x[0].T.T, a[0])
    with pytest.raises(ValueError):
        x.T
    with pytest.raises(ValueError):
        hal.matrix_transpose(x[0, 0])


def test_permute_dims_errors(device):
    x = hal.zeros((2, 3), device=device)
    with pytest.raises(ValueError):
        hal.permute_dims(x, (0, 0))
    with pytest.raises(ValueError):
        hal.permute_dims(x, (0,))
    with pytest.raises(IndexError):
        hal.permute_dims(x, (0, 2))


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3], ids=str)
def test_expand_dims(device, axis):
    a = data((3, 4), hal.uint16)
    assert_matches(hal.expand_dims(put(a, device), axis=axis), np.expand_dims(a, axis), device=device)
    assert_matches(hal.expand_dims(put(a, device)[::2, ::-1], axis=axis), np.expand_dims(a[::2, ::-1], axis))


def test_expand_dims_out_of_range(device):
    with pytest.raises(IndexError):
        hal.expand_dims(hal.zeros((3, 4), device=device), axis=3)
    with pytest.raises(IndexError):
        hal.expand_dims(hal.zeros((3, 4), device=device), axis=-4)


@pytest.mark.parametrize("axis", [0, 2, -1, (0, 2), (0, -1, 2), (3,)], ids=str)
def test_squeeze(device, axis):
    a = data((1, 3, 1, 1), hal.int8)
    assert_matches(hal.squeeze(put(a, device), axis=axis), np.squeeze(a, axis), device=device)


def test_squeeze_errors(device):
    x = hal.zeros((1, 3), device=device)
    with pytest.raises(ValueError):
        hal.squeeze(x, axis=1)
    with pytest.raises(IndexError):
        hal.squeeze(x, axis=2)
    assert_matches(hal.squeeze(x[:, 1:2], axis=(0, 1)), np.array(0.0))


@pytest.mark.parametrize("axis", [0, 1, -1, -2], ids=str)
def test_concat(device, axis):
    parts = [data((2, 3), hal.float64, 1), data((2, 3), hal.float64, 2), data((2, 3), hal.float64, 3)]
    if axis in (1, -1):
        parts[1] = data((2, 5), hal.float64, 4)
    else:
        parts[1] = data((4, 3), hal.float64, 4)
    out = hal.concat([put(p, device) for p in parts], axis=axis)
    assert_matches(out, np.concatenate(parts, axis=axis), device=device)


def test_concat_axis_none_and_views(device):
    a, b = data((2, 3), hal.int32, 1), data((4,), hal.int32, 2)
    x, y = put(a, device), put(b, device)
    assert_matches(hal.concat([x, y], axis=None), np.concatenate([a, b], axis=None))
    assert_matches(hal.concat([x.T, y[::2, None]], axis=None), np.concatenate([a.T, b[::2, None]], axis=None))
    assert_matches(hal.concat((x[:, ::-1], x[:1], x[1:, :]), axis=0), np.concatenate([a[:, ::-1], a[:1], a[1:]]))
    assert_matches(hal.concat([x]), a)
    assert_matches(hal.concat([x, x[:0]]), a)  # an empty member


def test_concat_promotes(device):
    a, b = data((2,), hal.int8), data((3,), hal.uint8, 1)
    out = hal.concat([put(a, device), put(b, device)])
    assert_matches(out, np.concatenate([a.astype(np.int16), b.astype(np.int16)]))
    f = data((2,), hal.float32, 2)
    assert_matches(hal.concat([put(f, device), hal.asarray([1.5], device=device)]),
                   np.concatenate([f.astype(np.float64), [1.5]]))
    with pytest.raises(TypeError):
        hal.concat([put(a, device), hal.ones(2, dtype=hal.bool, device=device)])


def test_concat_errors(device):
    x = hal.zeros((2, 3), device=device)
    with pytest.raises(ValueError):
        hal.concat([x, hal.zeros((2, 4), device=device)], axis=0)
    with pytest.raises(ValueError):
        hal.concat([x, hal.zeros((3,), device=device)])
    with pytest.raises(ValueError):
        hal.concat([])
    with pytest.raises(ValueError):
        hal.concat([hal.asarray(1.0, device=device)])  # 0-d arrays have no axis to join
    with pytest.raises(IndexError):
        hal.concat([x, x], axis=2)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3], ids=str)
def test_stack(device, axis):
    parts = [data((2, 3), hal.int16, i) for i in range(3)]
    assert_matches(hal.stack([put(p, device) for p in parts], axis=axis), np.stack(parts, axis=axis), device=device)


def test_stack_views_promotion_and_errors(device):
    a, b = data((3, 2), hal.uint8, 1), data((2, 3), hal.uint32, 2)
    x, y = put(a, device), put(b, device)
    assert_matches(hal.stack([x.T, y, y[::-1]], axis=1), np.stack([a.T, b, b[::-1]], axis=1).astype(np.uint32))
    assert_matches(hal.stack([hal.asarray(1.0, device=device), hal.asarray(2.0, device=device)]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        hal.stack([x, y])
    with pytest.raises(ValueError):
        hal.stack([])


@pytest.mark.parametrize("src, shape", [((3, 1), (2, 3, 4)), ((4,), (3, 4)), ((), (2, 2)), ((2, 1, 3), (2, 5, 3)),
                                        ((1,), (0,)), ((3,), (3,))], ids=str)
def test_broadcast_to(device, src, shape):
    a = data(src, hal.int32)
    out = hal.broadcast_to(put(a, device), shape)
    assert_matches(out, np.broadcast_to(a, shape), device=device)
    assert_matches(out * 2, np.broadcast_to(a, shape) * np.int32(2))


def test_broadcast_to_errors(device):
    x = hal.zeros((3, 2), device=device)
    for shape in [(3,), (2, 2), (3, 3, 1), (4, 3, 3)]:
        with pytest.raises(ValueError):
            hal.broadcast_to(x, shape)


def test_broadcast_arrays(device):
    a, b, c = data((3, 1), hal.float32, 1), data((4,), hal.float32, 2), data((), hal.float32, 3)
    out = hal.broadcast_arrays(put(a, device), put(b, device), put(c, device))
    for got, ref in zip(out, np.broadcast_arrays(a, b, c)):
        assert_matches(got, ref)
    with pytest.raises(ValueError):
        hal.broadcast_arrays(put(a, device), hal.zeros((2, 2), device=device))


def test_writing_into_a_broadcast_view_raises(device):
    x = hal.broadcast_to(hal.zeros((1, 3), device=device), (4, 3))
    with pytest.raises(ValueError):
        x[0, 0] = 1.0


def on_device_only(device, fn):
    """``fn()``, asserting that on a buffer device it moved no array data to or from
    the host (the output size of a data-dependent op is a ``size_reads``)."""
    hal.reset_stats()
    out = fn()
    stats = hal.stats()
    assert stats["device_to_host"] == stats["host_to_device"] == 0, stats
    return out


def complex_data(shape, dtype, seed=0):
    real = np.finfo(dtype).dtype
    return data(shape, real, seed) + 1j * data(shape, real, seed + 1)


def needs(device, dtype):
    if dtype not in device.dtypes:
        pytest.skip(f"{device} has no {dtype}")


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (1,), ()], ids=str)
def test_flip(device, axis):
    a = data((2, 3, 4), hal.int16)
    x = put(a, device)
    out = on_device_only(device, lambda: hal.flip(x, axis=axis))
    assert_matches(out, np.flip(a, axis))
    assert_matches(hal.flip(x[:, ::2], axis=axis), np.flip(a[:, ::2], axis))  # a flip of a strided view


def test_flip_is_a_view(device):
    x = put(np.arange(6.0), device)
    y = hal.flip(x)
    x[0] = -1.0
    assert float(y[5]) == -1.0


@pytest.mark.parametrize("source, destination", [(0, 2), (-1, 0), ((0, 1), (2, 0)), ((2, 0), (0, 1)), ((), ())],
                         ids=str)
def test_moveaxis(device, source, destination):
    a = data((2, 3, 4), hal.float32)
    assert_matches(hal.moveaxis(put(a, device), source, destination), np.moveaxis(a, source, destination))


def test_moveaxis_errors(device):
    x = hal.zeros((2, 3), device=device)
    with pytest.raises(ValueError):
        hal.moveaxis(x, (0, 1), (1,))
    with pytest.raises(ValueError):
        hal.moveaxis(x, (0, 0), (0, 1))
    with pytest.raises(IndexError):
        hal.moveaxis(x, 2, 0)


@pytest.mark.parametrize("shift, axis", [(1, None), (-7, None), (2, 0), (-1, 1), ((1, 2), (0, 2)), (5, (1, 2)),
                                         ((1, -1), (1, 1)), (0, 2), (4, 2)], ids=str)
@pytest.mark.parametrize("dtype", [hal.bool, hal.uint8, hal.float64], ids=str)
def test_roll(device, shift, axis, dtype):
    a = data((2, 3, 4), dtype)
    x = put(a, device)
    assert_matches(on_device_only(device, lambda: hal.roll(x, shift, axis=axis)), np.roll(a, shift, axis))
    assert_matches(hal.roll(x.mT, shift, axis=axis), np.roll(a.swapaxes(-1, -2), shift, axis))


def test_roll_is_a_copy_and_of_empty(device):
    x = put(np.arange(4.0), device)
    y = hal.roll(x, 0)
    x[0] = 9.0
    assert_matches(y, np.arange(4.0))
    assert_matches(hal.roll(hal.zeros((0, 3), device=device), 2, axis=0), np.zeros((0, 3)))
    with pytest.raises(ValueError):
        hal.roll(x, (1, 2), axis=(0,))


@pytest.mark.parametrize("shape, reps", [((3,), (2,)), ((2, 3), (2, 1)), ((2, 3), (3,)), ((2,), (2, 1, 3)),
                                         ((2, 3), (0, 2)), ((), (3,)), ((2, 1, 2), ())], ids=str)
def test_tile(device, shape, reps):
    a = data(shape, hal.int32)
    x = put(a, device)
    assert_matches(on_device_only(device, lambda: hal.tile(x, reps)), np.tile(a, reps))


@pytest.mark.parametrize("repeats, axis", [(2, None), (3, 0), (1, 1), (0, 2), (2, -1)], ids=str)
def test_repeat_int(device, repeats, axis):
    a = data((2, 3, 2), hal.float32)
    x = put(a, device)
    assert_matches(on_device_only(device, lambda: hal.repeat(x, repeats, axis=axis)), np.repeat(a, repeats, axis))
    assert_matches(hal.repeat(x[:, ::-1], repeats, axis=axis), np.repeat(a[:, ::-1], repeats, axis))


@pytest.mark.parametrize("counts, axis", [([2, 0, 3], 1), ([1, 2], 0), ([4], 2), ([0, 0, 0], 1), ([3], None),
                                          (list(range(12)), None)], ids=str)
@pytest.mark.parametrize("dtype", [hal.int8, hal.float64], ids=str)
def test_repeat_array_of_counts(device, counts, axis, dtype):
    a = data((2, 3, 2), dtype)
    x, r = put(a, device), hal.asarray(np.array(counts, np.int32), device=device)
    out = on_device_only(device, lambda: hal.repeat(x, r, axis=axis))
    assert_matches(out, np.repeat(a, np.broadcast_to(counts, (a.size if axis is None else a.shape[axis],)), axis))
    if device.family == "buffer":
        assert hal.stats()["size_reads"] == 1  # the total, the only value read back


def test_repeat_errors(device):
    x = hal.zeros((2, 3), device=device)
    with pytest.raises(TypeError):
        hal.repeat(x, hal.asarray([1.0, 2.0, 1.0], device=device), axis=1)
    with pytest.raises(ValueError):
        hal.repeat(x, hal.asarray([1, 2], device=device), axis=1)
    with pytest.raises(ValueError):
        hal.repeat(x, -1)
    with pytest.raises(IndexError):
        hal.repeat(x, 2, axis=2)


@pytest.mark.parametrize("axis", [0, 1, -1], ids=str)
def test_unstack(device, axis):
    a = data((2, 3, 4), hal.uint16)
    parts = hal.unstack(put(a, device), axis=axis)
    assert isinstance(parts, tuple) and len(parts) == a.shape[axis]
    for got, ref in zip(parts, np.moveaxis(a, axis, 0)):
        assert_matches(got, ref)
    with pytest.raises(ValueError):
        hal.unstack(hal.asarray(1, device=device))


def test_expand_dims_tuple(device):
    a = data((2, 3), hal.float32)
    for axis in [(0, 1), (0, -1), (3, 1), (-4, 2)]:
        assert_matches(hal.expand_dims(put(a, device), axis=axis), np.expand_dims(a, axis))
    with pytest.raises(ValueError):
        hal.expand_dims(put(a, device), axis=(1, 1))
    with pytest.raises(IndexError):
        hal.expand_dims(put(a, device), axis=(0, 4))


def test_broadcast_shapes():
    assert hal.broadcast_shapes((2, 1), (3,), ()) == (2, 3)
    assert hal.broadcast_shapes() == ()
    assert isinstance(hal.broadcast_arrays(hal.zeros((2,), device="cpu")), tuple)
    with pytest.raises(ValueError):
        hal.broadcast_shapes((2,), (3,))


@pytest.mark.parametrize("dtype", [hal.complex64, hal.complex128], ids=str)
def test_complex(device, dtype):
    needs(device, dtype)
    a = complex_data((2, 3), dtype)
    x = put(a, device)
    assert_matches(hal.flip(x, axis=1), np.flip(a, 1))
    assert_matches(hal.roll(x, 1, axis=1), np.roll(a, 1, 1))
    assert_matches(hal.tile(x, (2, 1)), np.tile(a, (2, 1)))
    assert_matches(hal.repeat(x, hal.asarray([1, 0, 2], device=device), axis=1), np.repeat(a, [1, 0, 2], 1))
    assert_matches(hal.concat([x, x[:1]]), np.concatenate([a, a[:1]]))
    assert_matches(hal.stack([x, x], axis=2), np.stack([a, a], 2))
    assert_matches(hal.reshape(x.mT, (6,)), a.T.reshape(6))
