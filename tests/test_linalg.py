"""matmul on every device, against NumPy: 1-D operands, batches with broadcasting,
transposed and strided views, ragged sizes that do not fill a tile, empty contractions,
integer and mixed dtypes, and the errors the standard asks for."""
import numpy as np
import pytest

import hal
from helpers import assert_matches, data, put


def whole(shape, dtype, seed):
    """Small whole numbers (>= 0 for unsigned dtypes): every product and sum is exact,
    so results compare exactly whatever the order of accumulation."""
    values = data(shape, hal.int8, seed) // 2
    return (np.abs(values) if np.dtype(dtype).kind == "u" else values).astype(dtype)


SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((1, 1), (1, 1)),
    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((2, 1, 3, 4), (5, 4, 2)), ((3,), (2, 3, 4)), ((2, 3, 4), (4,)),
    ((4, 1, 2, 3), (1, 5, 3, 2)), ((3, 0), (0, 2)), ((0, 3), (3, 2)), ((2, 0, 3), (3, 4)), ((17, 16), (16, 15)),
]


@pytest.mark.parametrize("s1, s2", SHAPES, ids=str)
def test_shapes(device, s1, s2):
    a, b = whole(s1, np.float64, 1), whole(s2, np.float64, 2)
    assert_matches(hal.matmul(put(a, device), put(b, device)), np.matmul(a, b), device=device)
    assert_matches(put(a, device) @ put(b, device), a @ b)


@pytest.mark.parametrize("dtype", [hal.float32, hal.float64, hal.int8, hal.int16, hal.int32, hal.int64, hal.uint8,
                                   hal.uint32, hal.uint64], ids=str)
def test_dtypes(device, dtype):
    a, b = whole((5, 7), dtype, 1), whole((7, 3), dtype, 2)
    assert_matches(put(a, device) @ put(b, device), a @ b)


@pytest.mark.parametrize("t1, t2, out", [
    (hal.int8, hal.int16, hal.int16), (hal.int8, hal.uint8, hal.int16), (hal.float32, hal.float64, hal.float64),
    (hal.int32, hal.float32, hal.float32)], ids=str)
def test_mixed_dtypes(device, t1, t2, out):
    a, b = whole((3, 4), t1, 1), whole((4, 2), t2, 2)
    assert_matches(put(a, device) @ put(b, device), a.astype(out) @ b.astype(out))


def test_integer_overflow_wraps_like_numpy(device):
    a = np.full((2, 40), 100, np.int8)
    b = np.full((40, 3), 7, np.int8)
    assert_matches(put(a, device) @ put(b, device), a @ b)


@pytest.mark.parametrize("m, k, n", [(33, 65, 17), (1, 130, 1), (16, 16, 16), (7, 3, 31), (40, 1, 9)], ids=str)
def test_ragged_sizes(device, m, k, n):
    a, b = whole((m, k), np.float32, 1), whole((k, n), np.float32, 2)
    assert_matches(put(a, device) @ put(b, device), a @ b)


@pytest.mark.parametrize("dtype", [hal.float32, hal.float64], ids=str)
def test_random_floats(device, dtype):
    a, b = data((33, 65), dtype, 1), data((65, 17), dtype, 2)
    scale = np.abs(a) @ np.abs(b)  # error bound: a few ulps of the sum of |products|
    got = np.asarray(put(a, device) @ put(b, device))
    assert got.dtype == dtype
    assert np.all(np.abs(got - a @ b) <= 16 * np.finfo(dtype).eps * scale)


def test_transposed_and_strided_views(device):
    a, b = whole((6, 9), np.float64, 1), whole((8, 6), np.float64, 2)
    x, y = put(a, device), put(b, device)
    assert_matches(x.T @ y.T, a.T @ b.T)
    assert_matches(x[::2, ::-3] @ y[1:4, ::2], a[::2, ::-3] @ b[1:4, ::2])
    assert_matches(y @ x[:, 1::2], b @ a[:, 1::2])
    assert_matches(x[:, 0] @ y.T, a[:, 0] @ b.T)
    assert_matches(y[2] @ y.mT, b[2] @ b.T)
    c = whole((3, 4, 5), np.float64, 3)
    z = put(c, device)
    assert_matches(z.mT @ z, c.swapaxes(-1, -2) @ c)
    assert_matches(z[::-1, 1:] @ z[0].T[:, ::2], c[::-1, 1:] @ c[0].T[:, ::2])
    assert_matches(hal.permute_dims(z, (1, 0, 2)) @ z[0].T, c.transpose(1, 0, 2) @ c[0].T)


def test_broadcast_batch_views(device):
    a, b = whole((4, 3), np.float32, 1), whole((2, 3, 5), np.float32, 2)
    x = hal.broadcast_to(put(a, device), (2, 2, 4, 3))
    assert_matches(x @ put(b, device), np.broadcast_to(a, (2, 2, 4, 3)) @ b)


def test_1d_results_are_0d(device):
    a, b = whole((5,), np.int32, 1), whole((5,), np.int32, 2)
    out = put(a, device) @ put(b, device)
    assert out.shape == () and int(out) == int(a @ b)


def test_errors(device):
    x, y = hal.ones((2, 3), device=device), hal.ones((4, 2), device=device)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        x @ y
    with pytest.raises(ValueError):
        hal.matmul(hal.ones(3, device=device), hal.ones(4, device=device))
    with pytest.raises(ValueError):
        hal.matmul(hal.ones((2, 2, 3), device=device), hal.ones((3, 3, 2), device=device))  # batch 2 vs 3
    with pytest.raises(ValueError):
        hal.matmul(hal.asarray(2.0, device=device), x)
    with pytest.raises(TypeError):
        hal.matmul(hal.ones((2, 2), dtype=hal.bool, device=device), hal.ones((2, 2), dtype=hal.bool, device=device))
    with pytest.raises(TypeError):
        hal.matmul(x, np.ones((3, 2)))
    with pytest.raises(TypeError):
        hal.matmul(hal.ones((2, 2), dtype=hal.int64, device=device), hal.ones((2, 2), dtype=hal.uint64, device=device))
