"""ops.scan.scan_rows on every buffer device, against NumPy's cumsum/cumprod: inclusive
and exclusive, sums and products, strided and transposed inputs, dtype conversion,
rows short (one work-item) and long (blocks, their totals scanned, added back), and
work-groups of one item."""
import numpy as np
import pytest

import hal
from hal.ops import scan
from hal.ops.scan import scan_rows
from helpers import data, put


def reference(a, out_dtype, op="sum", exclusive=False):
    fold = np.cumsum if op == "sum" else np.cumprod
    out = fold(a.astype(out_dtype), axis=1, dtype=out_dtype)
    if exclusive:
        first = np.full((a.shape[0], 1), 0 if op == "sum" else 1, out_dtype)
        out = np.concatenate([first, out[:, :-1]], axis=1)
    return out


def check(device, a, out_dtype, op="sum", exclusive=False, view=lambda s: s, ref_view=lambda a: a):
    x = view(put(a, device)._data)
    out = scan_rows(device, x, out_dtype, op, exclusive)
    assert out.shape == x.shape and out.dtype == np.dtype(out_dtype) and out.contiguous
    expected = reference(ref_view(a), np.dtype(out_dtype), op, exclusive)
    host = device.to_host(out)
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(host, expected, rtol=1e-5 if expected.dtype == np.float32 else 1e-12,
                                   atol=1e-4 if expected.dtype == np.float32 else 1e-10)
    else:
        np.testing.assert_array_equal(host, expected)


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("cols", [1, 7, 300, 2500])
def test_sum_int(buffer_device, cols, exclusive):
    check(buffer_device, data((3, cols), hal.int32), np.int64, "sum", exclusive)


@pytest.mark.parametrize("exclusive", [False, True])
def test_flags_to_positions(buffer_device, exclusive):
    """The set/sorting ops' use: bool flags -> exclusive running count."""
    check(buffer_device, data((2, 3000), hal.bool), np.int64, "sum", exclusive)


@pytest.mark.parametrize("in_dtype, out_dtype", [(hal.uint8, hal.uint64), (hal.float32, hal.float32),
                                                 (hal.float64, hal.float64), (hal.int8, hal.float64)], ids=str)
def test_dtypes(buffer_device, in_dtype, out_dtype):
    if out_dtype not in buffer_device.dtypes:
        pytest.skip(f"{buffer_device} has no {out_dtype}")
    check(buffer_device, data((2, 600), in_dtype), out_dtype)


@pytest.mark.parametrize("cols", [5, 900])
def test_prod(buffer_device, cols):
    a = 1 + data((3, cols), hal.float64, positive=True) / 1000  # a long product stays finite
    check(buffer_device, a, np.float64, "prod")
    check(buffer_device, a, np.float64, "prod", exclusive=True)


def test_strided_views(buffer_device):
    a = data((6, 1200), hal.int16)
    check(buffer_device, a, np.int64, view=lambda s: s.getitem((slice(None, None, 2), slice(None, None, -3))),
          ref_view=lambda a: a[::2, ::-3])
    t = data((900, 3), hal.int32)
    check(buffer_device, t, np.int32, view=lambda s: s.permute((1, 0)), ref_view=lambda a: a.T)


def test_work_group_of_one(buffer_device, monkeypatch):
    monkeypatch.setattr(scan, "_WG", 1)
    check(buffer_device, data((2, 3000), hal.int32), np.int64)
    check(buffer_device, data((2, 3000), hal.int32), np.int64, exclusive=True)


def test_empty(buffer_device):
    for shape in ((0, 4), (3, 0)):
        out = scan_rows(buffer_device, put(np.zeros(shape, np.int32), buffer_device)._data, np.int64)
        assert out.shape == shape


def test_bad_op(buffer_device):
    with pytest.raises(ValueError):
        scan_rows(buffer_device, put(np.zeros((1, 2)), buffer_device)._data, np.float64, "max")


@pytest.mark.heavy
@pytest.mark.parametrize("exclusive", [False, True])
def test_long_rows(buffer_device, exclusive):
    check(buffer_device, data((1, 10 ** 6), hal.int32), np.int64, exclusive=exclusive)
    check(buffer_device, data((3, 333_333), hal.bool), np.int32, exclusive=exclusive)
