"""NumPy code on hal arrays (hal/numpy_protocols.py): ufuncs (NEP 13) with out=, where=,
dtype= and the reduce/accumulate/outer methods, NumPy functions (NEP 18), creation with
like= (NEP 35), results equal to NumPy's on the array's own device, no hidden host
transfers, and NumPy's TypeError for everything hal lacks."""
import dataclasses
import warnings

import numpy as np
import pytest

import hal
from hal.numpy_protocols import TABLE, Ufunc, missing
from helpers import assert_matches, on_device_only, put


def test_the_table_names_only_functions_hal_has():
    assert missing() == []
    for key, entry in TABLE.items():
        assert isinstance(key, np.ufunc) == isinstance(entry, Ufunc), key


_GUFUNCS = (np.matmul, np.vecdot, np.matvec, np.vecmat)  # (core dimensions: their own tests)


def _ufunc_operands(ufunc, device):
    """Operands in the ufunc's domain: floats in (0.2, 0.8) (every inverse function and
    log is defined there), bools for the logical ufuncs (hal's take bools, as the standard
    says), integers for the integer-only ones."""
    if ufunc.__name__.startswith("logical_"):
        a = np.arange(12).reshape(3, 4) % 3 == 0
        return [a, a[::-1]][:ufunc.nin]
    float_type = "d" if device.info.fp64 else "f"
    if any(t.startswith(float_type * ufunc.nin) for t in ufunc.types) and ufunc not in _GUFUNCS:
        dtype = np.dtype(float_type)
        a = np.linspace(0.2, 0.8, 12, dtype=dtype).reshape(3, 4)
        if ufunc is np.arccosh:
            a = a + 1
        return [a, a[::-1] + 0.05][:ufunc.nin]
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    return [a, (a % 3 + 1)][:ufunc.nin]


@pytest.mark.heavy
def test_every_ufunc_in_the_table_matches_numpy(device):
    for ufunc, entry in TABLE.items():
        if not isinstance(ufunc, np.ufunc) or ufunc in _GUFUNCS:
            continue
        operands = _ufunc_operands(ufunc, device)
        expected = ufunc(*operands)
        actual = ufunc(*(put(a, device) for a in operands))
        assert_matches(actual, expected, device=device)


def test_ufuncs_with_scalars_and_matmul(device):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = put(a, device)
    assert_matches(np.multiply(x, 2.0), a * np.float32(2.0), device=device)
    assert_matches(np.subtract(1.0, x), np.float32(1.0) - a, device=device)
    assert_matches(np.matmul(x, x.T), a @ a.T, device=device)
    assert_matches(x.T @ x, a.T @ a, device=device)


def test_ufunc_out_where_dtype(device):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = put(a, device)
    out = hal.full((2, 3), -1.0, dtype=hal.float32, device=device)
    result = np.add(x, x, out=out)
    assert result is out
    assert_matches(out, a + a)
    out = hal.full((2, 3), -1.0, dtype=hal.float32, device=device)
    np.multiply(x, 10.0, out=(out,), where=x > 2)
    expected = np.full((2, 3), -1.0, np.float32)
    np.multiply(a, np.float32(10.0), out=expected, where=a > 2)
    assert_matches(out, expected)
    assert_matches(np.add(put(np.arange(4, dtype=np.int32), device), 1, dtype=np.float32),
                   np.add(np.arange(4, dtype=np.int32), 1, dtype=np.float32))
    with pytest.raises(TypeError, match="same_kind"):
        np.divide(x, 2.0, out=hal.zeros((2, 3), dtype=hal.int32, device=device))


def test_ufunc_methods(device):
    a = np.arange(1, 13, dtype=np.float32).reshape(3, 4)
    x = put(a, device)
    assert_matches(np.add.reduce(x), np.add.reduce(a), device=device)
    assert_matches(np.multiply.reduce(x, axis=1, keepdims=True), np.multiply.reduce(a, axis=1, keepdims=True))
    assert_matches(np.maximum.reduce(x, axis=None), np.maximum.reduce(a, axis=None))
    assert_matches(np.add.reduce(x, axis=1, where=x > 5, initial=100.0),
                   np.add.reduce(a, axis=1, where=a > 5, initial=100.0))
    assert_matches(np.minimum.reduce(x, axis=0, where=x > 5, initial=50.0),
                   np.minimum.reduce(a, axis=0, where=a > 5, initial=50.0))
    assert_matches(np.logical_or.reduce(x > 11, axis=1), np.logical_or.reduce(a > 11, axis=1))
    assert_matches(np.add.accumulate(x, axis=1), np.add.accumulate(a, axis=1))
    assert_matches(np.multiply.accumulate(x), np.multiply.accumulate(a))
    assert_matches(np.subtract.outer(x[0], x[:, 1]), np.subtract.outer(a[0], a[:, 1]), device=device)
    assert_matches(np.sum(x, axis=0), np.sum(a, axis=0))
    assert_matches(np.sum(x, axis=1, where=x > 4), np.sum(a, axis=1, where=a > 4))
    assert_matches(np.max(x, initial=20.0), np.max(a, initial=20.0))
    assert_matches(np.min(x, axis=0, where=x > 6, initial=100.0), np.min(a, axis=0, where=a > 6, initial=100.0))
    with pytest.raises(TypeError):
        np.add.reduceat(x, [0, 2])  # hal has no segmented sums
    with pytest.raises(TypeError):
        np.subtract.reduce(x)  # nor a difference reduction


def test_functions_match_numpy(device):
    """A NumPy script: stacking, manipulation, statistics, sorting, searching, linalg, fft, einsum."""
    a = np.array([[3.0, 1.0, 2.0], [0.5, 4.0, 1.5], [2.0, 2.5, 6.0]])
    b = np.arange(9.0).reshape(3, 3)
    if not device.info.fp64:
        a, b = a.astype(np.float32), b.astype(np.float32)
    x, y = put(a, device), put(b, device)
    checks = [
        (np.concatenate([x, y], axis=1), np.concatenate([a, b], axis=1)),
        (np.stack([x, y]), np.stack([a, b])), (np.vstack([x, y[0]]), np.vstack([a, b[0]])),
        (np.hstack([x[0], y[1]]), np.hstack([a[0], b[1]])),
        (np.reshape(x, (9,)), np.reshape(a, (9,))), (np.ravel(x.T), np.ravel(a.T)),
        (np.transpose(x), np.transpose(a)), (np.swapaxes(x[None], 0, 2), np.swapaxes(a[None], 0, 2)),
        (np.squeeze(x[None, :, None, :1]), np.squeeze(a[None, :, None, :1])), (np.flip(x, 0), np.flip(a, 0)),
        (np.roll(x, 2), np.roll(a, 2)), (np.tile(x[0], 2), np.tile(a[0], 2)),
        (np.where(x > 2, x, 0.0), np.where(a > 2, a, 0.0)), (np.clip(x, 1.0, 3.0), np.clip(a, 1.0, 3.0)),
        (np.sum(x), np.sum(a)), (np.mean(x, axis=1), np.mean(a, axis=1)),
        (np.std(x, axis=0, ddof=1), np.std(a, axis=0, ddof=1)), (np.var(x), np.var(a)),
        (np.max(x, axis=1, keepdims=True), np.max(a, axis=1, keepdims=True)), (np.cumsum(x), np.cumsum(a)),
        (np.argmax(x, axis=0), np.argmax(a, axis=0)), (np.sort(x, axis=1), np.sort(a, axis=1)),
        (np.argsort(x, axis=None), np.argsort(a, axis=None, kind="stable")),
        (np.searchsorted(np.sort(x[0]), y[0]), np.searchsorted(np.sort(a[0]), b[0])),
        (np.dot(x, y), np.dot(a, b)), (np.tensordot(x, y, axes=([1], [0])), np.tensordot(a, b, axes=([1], [0]))),
        (np.einsum("ij,kj->ik", x, y), np.einsum("ij,kj->ik", a, b)),
        (np.einsum("bij,bjk->bik", np.stack([x, y]), np.stack([y, x])),
         np.einsum("bij,bjk->bik", np.stack([a, b]), np.stack([b, a]))),
        (np.einsum("ij->j", x), np.einsum("ij->j", a)), (np.trace(x), np.trace(a)),
        (np.outer(x[0], y[1]), np.outer(a[0], b[1])), (np.linalg.norm(x), np.linalg.norm(a)),
        (np.linalg.norm(x, axis=1), np.linalg.norm(a, axis=1)),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hal.HostFallbackWarning)  # decompositions on buffer devices
        checks += [(np.linalg.inv(x), np.linalg.inv(a)), (np.linalg.det(x), np.linalg.det(a)),
                   (np.linalg.solve(x, y), np.linalg.solve(a, b))]
    for actual, expected in checks:
        rtol = 1e-5 if expected.dtype == np.float64 else 1e-4
        assert_matches(actual, expected, rtol=rtol, atol=rtol, device=device)
    values, counts = np.unique(put(np.array([3, 1, 3, 2, 1, 3], np.int32), device), return_counts=True)
    assert_matches(values, np.array([1, 2, 3], np.int32))
    assert_matches(counts, np.array([2, 1, 3], np.int64))


def test_creation_with_like(device):
    x = hal.zeros(2, dtype=hal.float32, device=device)
    for made, expected in [(np.ones((2, 3), dtype=np.float32, like=x), np.ones((2, 3), np.float32)),
                           (np.zeros(4, dtype=np.int32, like=x), np.zeros(4, np.int32)),
                           (np.full((2,), 7, dtype=np.int64, like=x), np.full((2,), 7, np.int64)),
                           (np.arange(5, like=x), np.arange(5)),
                           (np.asarray([1.5, 2.5], dtype=np.float32, like=x), np.asarray([1.5, 2.5], np.float32)),
                           (np.array([[1, 2]], dtype=np.int16, like=x), np.array([[1, 2]], np.int16)),
                           (np.eye(3, dtype=np.float32, like=x), np.eye(3, dtype=np.float32)),
                           (np.ones_like(x), np.ones(2, np.float32)),
                           (np.full_like(x, 3.0, shape=(2, 2)), np.full((2, 2), 3.0, np.float32))]:
        assert_matches(made, expected, device=device)


def test_results_stay_on_the_device(buffer_device):
    x = put(np.arange(1, 7, dtype=np.float32).reshape(2, 3), buffer_device)
    hal.zeros(1, device=buffer_device)  # (warm the pool)

    def numpy_code():
        z = np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)
        return np.concatenate([z, np.ones((1, 3), dtype=np.float32, like=x)], axis=0)
    assert_matches(on_device_only(numpy_code), np.concatenate(
        [np.exp(np.arange(1, 7, dtype=np.float32).reshape(2, 3))
         / np.exp(np.arange(1, 7, dtype=np.float32).reshape(2, 3)).sum(axis=1, keepdims=True),
         np.ones((1, 3), np.float32)]), device=buffer_device)


def test_what_hal_lacks_is_numpys_type_error(device):
    x = hal.ones((2, 2), dtype=hal.float32, device=device)
    with pytest.raises(TypeError):
        np.gcd(hal.astype(x, hal.int32), 2)  # a ufunc without a counterpart
    with pytest.raises(TypeError, match="no implementation found for 'numpy.convolve'"):
        np.convolve(x[0], x[1])  # a function hal lacks
    with pytest.raises(TypeError):
        np.add(x, np.ones((2, 2), np.float32))  # a NumPy array is never pulled onto the device implicitly
    with pytest.raises(TypeError):
        np.concatenate([x, np.ones((2, 2), np.float32)])
    with pytest.raises(TypeError, match="casting"):
        np.add(x, x, casting="unsafe")
    with pytest.raises(TypeError, match="decimals"):
        np.round(hal.astype(x, hal.int32), decimals=-1)
    with pytest.raises(TypeError, match="string"):
        np.einsum(x, [0, 1], [1])  # einsum's sublist form
    host = np.asarray(x)  # the explicit way to the host stays
    assert type(host) is np.ndarray and host.tolist() == [[1.0, 1.0], [1.0, 1.0]]


@pytest.mark.parametrize("name", ["nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin"])
def test_nan_functions(device, name):
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 4
    a[0, 1] = a[2, 2] = np.nan
    a[:, 3] = np.nan  # an all-NaN column
    x = put(a, device)
    for axis, keepdims in ((None, False), (0, False), (1, True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (NumPy's for the all-NaN column)
            expected = getattr(np, name)(a, axis=axis, keepdims=keepdims)
        assert_matches(getattr(np, name)(x, axis=axis, keepdims=keepdims), expected, device=device)


def test_quantiles_comparisons_fft_and_more(device):
    a = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    i = np.arange(7, dtype=np.int32)
    x, xi = put(a, device), put(i, device)
    checks = [
        (np.median(x), np.median(a)), (np.median(x, axis=1, keepdims=True), np.median(a, axis=1, keepdims=True)),
        (np.median(xi), np.median(i)) if device.info.fp64 else (np.ptp(xi), np.ptp(i)),
        (np.percentile(x, [10, 90], axis=1), np.percentile(a, [10, 90], axis=1)),
        (np.quantile(x, [[0.1], [0.7]], axis=0, keepdims=True), np.quantile(a, [[0.1], [0.7]], axis=0, keepdims=True)),
        (np.ptp(x, axis=0), np.ptp(a, axis=0)), (np.isclose(x, x + 1e-7), np.isclose(a, a + np.float32(1e-7))),
        (np.allclose(x, x * 1.1), np.allclose(a, a * 1.1)), (np.array_equal(x, x), np.array_equal(a, a)),
        (np.inner(x, x), np.inner(a, a)), (np.cross(x[:, :3], x[:, 3:]), np.cross(a[:, :3], a[:, 3:])),
        (np.diagonal(x, 1), np.diagonal(a, 1)), (np.atleast_2d(x[0]), np.atleast_2d(a[0])),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hal.HostFallbackWarning)  # (fft runs through the host on buffer devices)
        checks += [(np.fft.fft(x[0]), np.fft.fft(a[0])), (np.fft.rfft2(x), np.fft.rfft2(a))]
    for actual, expected in checks:
        assert_matches(actual, expected, rtol=1e-4, atol=1e-5, device=device)
    with pytest.raises(ValueError, match="quantiles"):
        np.quantile(x, 1.5)


def test_ndarray_methods(device):
    a = np.arange(6, dtype=np.int32).reshape(1, 2, 3)
    x = put(a, device)
    assert_matches(x.squeeze(0), a.squeeze(0), device=device)
    assert_matches(x.reshape(3, 2), a.reshape(3, 2))
    assert_matches(x.reshape((-1,)), a.reshape((-1,)))
    assert_matches(x.transpose(2, 0, 1), a.transpose(2, 0, 1))
    assert_matches(x.astype(np.float32), a.astype(np.float32))
    assert_matches(x.sum(axis=2, keepdims=True), a.sum(axis=2, keepdims=True))
    assert_matches(x.max(), a.max())
    assert_matches(x.cumsum(), a.cumsum())


def test_numpy_index_arrays_move_to_the_device(device):
    """NumPy integer and boolean index arrays (host data, as Dask indexes its chunks)
    index a hal array on its device, with NumPy's results; the data stays there."""
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    x = put(a, device)
    rows, cols = np.array([2, 0, -1, 2]), np.array([[4], [1]])
    mask = np.array([True, False, True, True])
    for key in [rows, (rows,), (slice(None), np.array([3, 0])), (1, slice(1, None), cols), (Ellipsis, rows),
                (None, slice(None, None, -1), np.array([1, 3]), 2), (rows, np.array([0, 1, 2, 3])),
                (slice(None), mask), (np.array([True, False, True]),), (rows, Ellipsis),
                (slice(None), np.array([], dtype=np.int64))]:
        assert_matches(x[key], a[key], device=device)
    for key, value in [(np.array([0, 2]), -1.0), ((slice(None), np.array([3, 0])), a[:, :2] * 10),
                       ((1, slice(1, None), np.array([4, 1])), np.arange(6, dtype=np.float32).reshape(2, 3)),
                       ((Ellipsis, np.arange(5) % 2 == 0), np.float32(7)), ((slice(None), mask), a[:, :3] - 1)]:
        y, b = put(a, device), a.copy()
        y[key] = put(value, device) if isinstance(value, np.ndarray) else value
        b[key] = value
        assert_matches(y, b, device=device)
    with pytest.raises(IndexError, match="out of bounds"):
        x[:, np.array([0, 4])]
    with pytest.raises(IndexError, match="integer or boolean"):
        x[np.array([0.0, 1.0])]


def test_unique_with_index_inverse_and_counts(device):
    a = np.array([[3, 1, 3], [2, 1, 7]], dtype=np.int32)
    x = put(a, device)
    for flags in [dict(return_index=True), dict(return_inverse=True), dict(return_counts=True),
                  dict(return_index=True, return_inverse=True, return_counts=True)]:
        actual, expected = np.unique(x, **flags), np.unique(a, **flags)
        assert len(actual) == len(expected), flags
        for got, want in zip(actual, expected):
            assert_matches(got, want.astype(got.dtype), device=device)  # (hal's indices: int64, NumPy's intp)
    assert_matches(np.unique(x), np.unique(a), device=device)
    with pytest.raises(TypeError, match="axis"):
        np.unique(x, axis=0)


def test_argument_indices_and_interpolation(device):
    a = np.array([[0.5, np.nan, 2.0], [np.nan, -1.0, 4.0]], dtype=np.float32)
    x = put(a, device)
    for axis in (None, 0, 1):
        assert_matches(np.nanargmax(x, axis=axis), np.nanargmax(a, axis=axis), device=device)
        assert_matches(np.nanargmin(x, axis=axis), np.nanargmin(a, axis=axis), device=device)
    with pytest.raises(ValueError, match="All-NaN"):
        np.nanargmax(put(np.full((2, 2), np.nan, np.float32), device), axis=0)
    flat = put(np.array([0, 5, 11], dtype=np.int64), device)
    for actual, expected in zip(np.unravel_index(flat, (3, 4)), np.unravel_index([0, 5, 11], (3, 4))):
        assert_matches(actual, expected, device=device)
    for actual, expected in zip(np.unravel_index(flat, (3, 4), order="F"), np.unravel_index([0, 5, 11], (3, 4),
                                                                                           order="F")):
        assert_matches(actual, expected, device=device)
    coords = (put(np.array([0, 1, 2]), device), put(np.array([0, 1, 3]), device))
    assert_matches(np.ravel_multi_index(coords, (3, 4)), np.ravel_multi_index(([0, 1, 2], [0, 1, 3]), (3, 4)))
    with pytest.raises(ValueError):
        np.unravel_index(flat, (2, 4))
    with pytest.raises(ValueError):
        np.ravel_multi_index(coords, (3, 3))
    float_type = np.float64 if device.info.fp64 else np.float32
    points = np.array([-1, 0, 0.5, 1, 2.5, 3, 4, np.nan], dtype=float_type)
    xp, fp = np.array([0, 1, 1, 3], dtype=float_type), np.array([5, 6, 7, 9], dtype=float_type)
    for kwargs in ({}, dict(left=-1.0, right=99.0)):
        assert_matches(np.interp(put(points, device), put(xp, device), put(fp, device), **kwargs),
                       np.interp(points, xp, fp, **kwargs).astype(float_type), device=device)


def test_partition_meets_numpys_contract(device):
    """np.partition/argpartition: each kth element where sorting puts it, none larger
    before it and none smaller after (hal sorts fully; NumPy's other order differs)."""
    a = np.random.default_rng(3).permutation(40).astype(np.float32).reshape(5, 8)
    x = put(a, device)
    for kth, axis in ((3, -1), ([1, 4], 0)):
        parted, order = np.partition(x, kth, axis=axis), np.argpartition(x, kth, axis=axis)
        host, ordered = np.asarray(parted), np.sort(a, axis=axis)
        for k in np.atleast_1d(kth):
            pivot = np.take(host, [k], axis=axis)
            np.testing.assert_array_equal(pivot, np.take(ordered, [k], axis=axis))
            assert np.all(np.take(host, range(k), axis=axis) <= pivot)
            assert np.all(np.take(host, range(k, host.shape[axis]), axis=axis) >= pivot)
        assert_matches(np.take_along_axis(x, order, axis=axis), host, device=device)
    with pytest.raises(ValueError, match="out of bounds"):
        np.partition(x, 8)


def test_quantile_methods(device):
    a = np.random.default_rng(1).standard_normal((9, 4)).astype(np.float32)
    i = np.random.default_rng(2).permutation(30).astype(np.int32).reshape(10, 3)
    for method in ("linear", "lower", "higher", "midpoint", "nearest"):
        for data, q in ((a, [0, 12.5, 50, 62.5, 100]), (i, [5, 50, 95])):
            if data.dtype.kind == "i" and not device.info.fp64 and method in ("linear", "midpoint"):
                continue  # (NumPy interpolates integers in float64)
            assert_matches(np.percentile(put(data, device), q, axis=0, method=method),
                           np.percentile(data, q, axis=0, method=method), device=device)
    x = put(a.reshape(3, 3, 4), device)
    for axis, keepdims in (((0, 2), False), ([2, 0], True), (None, True)):
        assert_matches(np.quantile(x, np.array([[0.2], [0.7]]), axis=axis, keepdims=keepdims),
                       np.quantile(a.reshape(3, 3, 4), np.array([[0.2], [0.7]]), axis=axis, keepdims=keepdims),
                       device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (NumPy's, for the empty axis)
        assert_matches(np.median(put(a[:0], device), axis=0), np.median(a[:0], axis=0), device=device)
    with pytest.raises(TypeError, match="method"):
        np.percentile(put(a, device), 50, method="weibull")


def test_python_lists_index_as_numpy_arrays(device):
    """``x[[2, 0]]``: a list index is host index data, as in NumPy and CuPy."""
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    x = put(a, device)
    for key in ([2, 0, -1], [[1], [3]], (slice(None), [5, 1]), [True, False, False, True], (1, [0, 0, 4]), []):
        assert_matches(x[key], a[key], device=device)
    y, b = put(a, device), a.copy()
    y[[0, 3]] = -1.0
    b[[0, 3]] = -1.0
    assert_matches(y, b, device=device)
    with pytest.raises(IndexError, match="out of bounds"):
        x[[0, 4]]
    with pytest.raises(IndexError, match="integer or boolean"):
        x[[0.5]]


def test_nanmedian(device):
    a = np.random.default_rng(3).standard_normal((5, 6, 4)).astype(np.float32)
    a[0, 1, :] = np.nan  # an all-NaN slice
    a[2, ::2, 1] = a[4, 3, 3] = np.nan
    x = put(a, device)
    for axis, keepdims in ((None, False), (0, False), (1, True), (-1, False), ((0, 2), False), ((1, 2), True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (NumPy's for the all-NaN slice)
            expected = np.nanmedian(a, axis=axis, keepdims=keepdims)
        assert_matches(np.nanmedian(x, axis=axis, keepdims=keepdims), expected, device=device)
    i = np.arange(7, dtype=np.int16)[::-1]
    if device.info.fp64:
        assert_matches(np.nanmedian(put(i, device)), np.nanmedian(i), device=device)


def test_bincount_and_histogram(device):
    rng = np.random.default_rng(4)
    ints = rng.integers(0, 9, 40).astype(np.int32)
    values = rng.standard_normal(300).astype(np.float32)
    values[[5, 77]] = np.nan
    weights = rng.random(300).astype(np.float32)
    real = np.float64 if device.info.fp64 else np.float32
    xi, xv, xw = put(ints, device), put(values, device), put(weights, device)
    counts = on_device_only(lambda: np.bincount(xi), size_reads=2 * int(device.family == "buffer"))  # (min, max)
    assert_matches(counts, np.bincount(ints), device=device)
    assert_matches(np.bincount(xi, minlength=12), np.bincount(ints, minlength=12), device=device)
    assert_matches(np.bincount(xi, weights=xw[:40]), np.bincount(ints, weights=weights[:40]).astype(real),
                   rtol=1e-5, device=device)
    finite = values[~np.isnan(values)]
    for bins, range_ in ((10, None), (7, (-1.0, 2.5)), ([-3.0, -1.0, 0.0, 0.5, 3.0], None),
                         (np.array([-1, 0, 2]), None)):  # (edges as host data)
        data = finite if range_ is None and isinstance(bins, int) else values
        hist, edges = np.histogram(put(data, device), bins=bins, range=range_)
        expected, expected_edges = np.histogram(data, bins=bins, range=range_)
        assert_matches(hist, expected, device=device)
        assert np.array_equal(edges, expected_edges) and edges.dtype == expected_edges.dtype
    hist, _ = np.histogram(xv, bins=6, range=(-2, 2), weights=xw, density=True)
    expected, _ = np.histogram(values, bins=6, range=(-2, 2), weights=weights, density=True)
    assert_matches(hist, expected.astype(real), rtol=1e-5, device=device)
    with pytest.raises(ValueError, match="negative"):
        np.bincount(put(np.array([1, -1]), device))
    with pytest.raises(TypeError, match="bins"):
        np.histogram(xv, bins="auto")


def test_stacking_and_splitting(device):
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    v = np.arange(4, dtype=np.float32)
    x, w = put(a, device), put(v, device)
    for actual, expected in [(np.column_stack([w, x[:, :2], w]), np.column_stack([v, a[:, :2], v])),
                             (np.dstack([x, x]), np.dstack([a, a])), (np.dstack([w, w]), np.dstack([v, v])),
                             (np.append(x, w), np.append(a, v)),
                             (np.append(x, x[:1], axis=0), np.append(a, a[:1], axis=0))]:
        assert_matches(actual, expected, device=device)
    for split in (lambda m: np.split(m, 3, axis=1), lambda m: np.split(m, [1, -1]), lambda m: np.array_split(m, 4, 1),
                  lambda m: np.array_split(m, [2, 9], axis=1), lambda m: np.hsplit(m, 2), lambda m: np.vsplit(m, [3])):
        pieces, expected = split(x), split(a)
        assert len(pieces) == len(expected)
        for piece, part in zip(pieces, expected):
            assert_matches(piece, part, device=device)
    with pytest.raises(ValueError, match="equal division"):
        np.split(x, 4, axis=1)
    with pytest.raises(ValueError, match="vsplit"):
        np.vsplit(w, 2)


def test_average_cov_corrcoef_diag_and_indices(device):
    rng = np.random.default_rng(6)
    a = rng.standard_normal((3, 8)).astype(np.float32)
    weights = rng.random(8).astype(np.float32)
    x, wx = put(a, device), put(weights, device)
    real = np.float64 if device.info.fp64 else np.float32
    checks = [(np.average(x), np.average(a)),
              (np.average(x, axis=1, weights=wx), np.average(a, axis=1, weights=weights)),
              (np.average(x, axis=0, weights=x * x), np.average(a, axis=0, weights=a * a)),
              (np.cov(x), np.cov(a).astype(real)),
              (np.cov(x, rowvar=False, bias=True), np.cov(a, rowvar=False, bias=True).astype(real)),
              (np.cov(x[0], x[1], ddof=0), np.cov(a[0], a[1], ddof=0).astype(real)),
              (np.corrcoef(x), np.corrcoef(a).astype(real)),
              (np.corrcoef(x[0], x[2]), np.corrcoef(a[0], a[2]).astype(real)),
              (np.diag(x), np.diag(a)), (np.diag(x, 2), np.diag(a, 2)), (np.diag(x[0]), np.diag(a[0])),
              (np.diag(x[1], -2), np.diag(a[1], -2)), (np.vdot(x, x), np.vdot(a, a)),
              (np.argwhere(x > 0.5), np.argwhere(a > 0.5)), (np.flatnonzero(x > 0), np.flatnonzero(a > 0)),
              (np.argwhere(x[0, 0] > 0), np.argwhere(a[0, 0] > 0))]
    for actual, expected in checks:
        assert_matches(actual, expected, rtol=1e-5, atol=1e-6, device=device)
    average, scale = np.average(x, axis=1, weights=wx, returned=True)
    assert_matches(scale, np.average(a, axis=1, weights=weights, returned=True)[1], rtol=1e-6, device=device)
    with pytest.raises(TypeError, match="aweights"):
        np.cov(x, aweights=wx)


def test_nanquantile_and_nanpercentile(device):
    """Bit for bit NumPy's: a Python q weak (positions in float64, the interpolation in
    the array's dtype), a NumPy q's dtype joined (float64 results)."""
    a = np.random.default_rng(3).standard_normal((5, 7, 4)).astype(np.float32)
    a[0, 1, :] = np.nan  # an all-NaN slice
    a[2, ::2, 1] = a[4, 3, 3] = np.nan
    x = put(a, device)
    fp64 = device.info.fp64
    for q in (0.3, 0.0, 1.0, np.float32(0.4)) + (([0.1, 0.5, 0.95],) if fp64 else ()):
        for axis, keepdims in ((None, False), (0, False), (1, True), ((0, 2), False), (-1, False)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = np.nanquantile(a, q, axis=axis, keepdims=keepdims)
            actual = np.nanquantile(x, q, axis=axis, keepdims=keepdims)
            assert actual.device == device and actual.dtype == expected.dtype and actual.shape == expected.shape
            assert np.array_equal(np.asarray(actual), expected, equal_nan=True), (q, axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_matches(np.nanpercentile(x, 40, axis=1), np.nanpercentile(a, 40, axis=1), device=device)
    with pytest.raises(TypeError, match="method"):
        np.nanquantile(x, 0.5, method="nearest")


def test_quantile_of_a_python_q_rounds_as_numpys(device):
    """NumPy rounds both interpolation weights, t and 1 - t, from float64 to the array's dtype."""
    a = np.random.default_rng(4).standard_normal((50, 7)).astype(np.float32)
    x = put(a, device)
    for q in np.random.default_rng(1).random(12):
        actual, expected = np.quantile(x, float(q), axis=0), np.quantile(a, float(q), axis=0)
        assert actual.dtype == expected.dtype and np.array_equal(np.asarray(actual), expected), q


def test_reading_elements_and_in_place_methods(device):
    """ndarray's tolist, item and a 0-d array's format read to Python explicitly (as
    float(x) does); fill and sort write in place on the device; flatten copies."""
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 4
    x = put(a, device)
    assert x.tolist() == a.tolist() and type(x.tolist()[0][0]) is float
    assert put(a.astype(np.int32), device)[1].tolist() == a.astype(np.int32)[1].tolist()
    assert x[:0].tolist() == [] and x[1, 2].tolist() == a[1, 2].tolist()
    assert x[2, 1].item() == a[2, 1].item() and x.item(5) == a.item(5) and x.item(-1) == a.item(-1)
    assert x.item((1, 3)) == x.item(1, 3) == a.item((1, 3))
    assert type(put(a.astype(np.int64), device).item(3)) is int
    with pytest.raises(ValueError, match="size 1"):
        x.item()
    with pytest.raises(IndexError):
        x.item(12)
    assert f"{x[1, 1]:.3f}" == f"{a[1, 1]:.3f}" and x.itemsize == 4
    flat = x.flatten()
    flat[0] = 99.0  # (a copy: x keeps its element)
    assert_matches(flat[1:], a.flatten()[1:], device=device)
    assert_matches(x, a)
    y, b = put(a[::-1], device), a[::-1].copy()
    y.sort(axis=0)
    b.sort(axis=0)
    assert_matches(y, b, device=device)
    y.fill(-2.5)
    assert_matches(y, np.full((3, 4), -2.5, np.float32), device=device)


def test_ufuncs_composed_of_hal_functions(device):
    a = np.array([[1.5, np.nan, -3.0, np.nan], [-0.5, 2.0, 0.25, 4.0]], dtype=np.float32)
    b = np.array([[np.nan, 2.0, 1.0, np.nan], [0.0, -1.0, 0.5, 8.0]], dtype=np.float32)
    i = np.arange(-3, 5, dtype=np.int32).reshape(2, 4)
    x, y, xi = put(a, device), put(b, device), put(i, device)
    real = np.float64 if device.info.fp64 else np.float32
    for actual, expected in [(np.fmax(x, y), np.fmax(a, b)), (np.fmin(x, y), np.fmin(a, b)),
                             (np.fmax(x, 1.0), np.fmax(a, np.float32(1.0))), (np.fabs(x), np.fabs(a)),
                             (np.fabs(xi), np.fabs(i).astype(real)), (np.exp2(x), np.exp2(a)),
                             (np.deg2rad(x), np.deg2rad(a)), (np.radians(x), np.radians(a)),
                             (np.rad2deg(x), np.rad2deg(a)), (np.degrees(xi), np.degrees(i).astype(real)),
                             (np.float32(0.5) < x, np.float32(0.5) < a), (np.float32(2) - x, np.float32(2) - a),
                             (np.matvec(x, y[0]), np.matvec(a, b[0])), (np.vecmat(x[1], x.T), np.vecmat(a[1], a.T)),
                             (np.fmax(x, y, out=hal.zeros_like(x), where=x > 0), np.fmax(a, b, out=np.zeros_like(a),
                                                                                         where=a > 0))]:
        assert_matches(actual, expected, rtol=1e-6, device=device)


def test_rounding_flips_and_more_functions(device):
    rng = np.random.default_rng(7)
    a = (rng.standard_normal((3, 4)) * 50).astype(np.float32)
    m = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    x, xm = put(a, device), put(m, device)
    bins = np.array([-20.0, 0.0, 5.0, 40.0], dtype=np.float32)
    z = (a + 1j * a[::-1]).astype(np.complex64)
    checks = [(np.round(x, 2), np.round(a, 2)), (np.around(x, -1), np.around(a, -1)), (x.round(1), a.round(1)),
              (np.round(xm, 3), np.round(m, 3)), (np.flipud(x), np.flipud(a)), (np.fliplr(x), np.fliplr(a)),
              (np.atleast_3d(x[0]), np.atleast_3d(a[0])), (np.atleast_3d(x), np.atleast_3d(a)),
              (np.kron(x[:2, :2], x[1:, 2:]), np.kron(a[:2, :2], a[1:, 2:])), (np.kron(xm[0], xm[1, 0]),
                                                                             np.kron(m[0], m[1, 0])),
              (np.select([x > 30, x < -30], [x, -x], 0.5), np.select([a > 30, a < -30], [a, -a], 0.5)),
              (np.angle(put(z, device), deg=True), np.angle(z, deg=True)), (np.angle(x), np.angle(a)),
              (np.linalg.multi_dot([x, x.T, x]), np.linalg.multi_dot([a, a.T, a])),
              (np.einsum("ij,jk", x, x.T), np.einsum("ij,jk", a, a.T)), (np.einsum("i,i", x[0], x[1]),
                                                                         np.einsum("i,i", a[0], a[1])),
              (np.einsum("ij,jk,kl->il", x, x.T, x), np.einsum("ij,jk,kl->il", a, a.T, a)),
              (np.einsum("bij,jk,bk", xm, xm[0].T, xm[:, :, 0]), np.einsum("bij,jk,bk", m, m[0].T, m[:, :, 0])),
              (np.einsum("...ij,...kj->...ik", xm, xm), np.einsum("...ij,...kj->...ik", m, m)),
              (np.einsum("...j,...j", xm, xm), np.einsum("...j,...j", m, m)),
              (np.einsum("ii", x[:, :3]), np.einsum("ii", a[:, :3])), (np.einsum("bii->bi", xm[:, :, :3]),
                                                                       np.einsum("bii->bi", m[:, :, :3])),
              (np.einsum("jii,ij->j", xm[:, :2, :2], xm[1, :2, :2]), np.einsum("jii,ij->j", m[:, :2, :2],
                                                                                m[1, :2, :2]))]
    checks += [(np.lib.stride_tricks.sliding_window_view(v, *args), np.lib.stride_tricks.sliding_window_view(w, *args))
               for v, w in ((x, a), (xm[:, ::2].mT, m[:, ::2].swapaxes(1, 2)))
               for args in ((2, 0), (2, -1), ((2, 2), (0, 1)), ((1, 2, 1)[:v.ndim], None))]
    checks += [(np.rot90(xm, k, axes), np.rot90(m, k, axes)) for k in (-1, 1, 2, 3, 4) for axes in ((0, 1), (2, 0))]
    checks += [(np.digitize(x, edges, right=right), np.digitize(a, np.asarray(edges), right=right))
               for edges in (bins, bins[::-1], put(bins, device)) for right in (False, True)]
    for actual, expected in checks:
        assert_matches(actual, expected, rtol=1e-5, atol=1e-3, device=device)
    assert np.iscomplexobj(put(z, device)) and np.isrealobj(x) and np.size(xm, 1) == 3
    with pytest.raises(ValueError, match="monotonically"):
        np.digitize(x, [0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="2-d"):
        np.fliplr(x[0])


def test_means_and_spreads_with_where(device):
    a = np.random.default_rng(10).standard_normal((4, 6)).astype(np.float32)
    i = (a * 10).astype(np.int32)
    x, xi = put(a, device), put(i, device)
    real = np.float64 if device.info.fp64 else np.float32
    checks = [(np.mean(x, where=x > 0), np.mean(a, where=a > 0)),
              (np.mean(x, axis=0, where=x > 0, keepdims=True), np.mean(a, axis=0, where=a > 0, keepdims=True)),
              (np.std(x, axis=1, where=x > -0.5, ddof=1), np.std(a, axis=1, where=a > -0.5, ddof=1)),
              (np.var(x, axis=(0, 1), where=x[0] > 0), np.var(a, axis=(0, 1), where=a[0] > 0)),
              (x.std(where=x > 0, keepdims=True), a.std(where=a > 0, keepdims=True)),
              (np.mean(xi, axis=1, where=xi > 0), np.mean(i, axis=1, where=i > 0).astype(real)),
              (np.var(xi, where=xi > 0), np.var(i, where=i > 0).astype(real))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (NumPy's, for a column where selects nothing)
        checks.append((np.mean(x, axis=0, where=x > 1.5), np.mean(a, axis=0, where=a > 1.5)))
    for actual, expected in checks:
        assert_matches(actual, expected, rtol=1e-5, atol=1e-6, device=device)
    with pytest.raises(TypeError, match="no implementation found for 'numpy.mean'"):
        np.mean(x, where=np.ones((4, 6), bool))  # (host data: NumPy's TypeError, never a silent transfer)


def test_numpy_scalars_as_indices_closeness_to_scalars_and_more(device):
    """What NumPy code does with NumPy integers and scalars, bool means, and a few linalg modes."""
    a = np.random.default_rng(11).standard_normal((4, 4)).astype(np.float32)
    s = a @ a.T + 4 * np.eye(4, dtype=np.float32)
    x, xs = put(a, device), put(s, device)
    row = np.argmax(a[:, 0])  # (a NumPy integer)
    assert_matches(x[row], a[row], device=device)
    assert_matches(x[np.int64(1), np.int32(-1)], a[np.int64(1), np.int32(-1)])
    checks = [(np.isclose(x, 0.0, atol=0.5), np.isclose(a, 0.0, atol=0.5)),
              (np.isclose(0.25, x, atol=0.5), np.isclose(0.25, a, atol=0.5)),
              (np.allclose(x * 0, 0), np.allclose(a * 0, 0)), (np.allclose(x, 1.0), np.allclose(a, 1.0)),
              (np.mean(x > 0), np.mean(a > 0).astype(np.float64 if device.info.fp64 else np.float32)),
              ((x > 0).mean(axis=0), (a > 0).mean(axis=0).astype(np.float64 if device.info.fp64 else np.float32)),
              (x.conjugate(), a.conjugate())]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hal.HostFallbackWarning)  # (decompositions on buffer devices)
        checks += [(np.abs(np.linalg.qr(x, mode="r")), np.abs(np.linalg.qr(a, mode="r"))),
                   (np.linalg.cond(xs), np.linalg.cond(s)), (np.linalg.cond(xs, -2), np.linalg.cond(s, -2))]
    for actual, expected in checks:
        assert_matches(actual, expected, rtol=1e-4, atol=1e-5, device=device)
    assert str(x[0]) == str(a[0]) and x[1].tobytes() == a[1].tobytes()
    with pytest.raises(TypeError, match="p=1"):
        np.linalg.cond(xs, 1)


def test_a_boolean_hal_array_beside_slices(device):
    """NumPy's x[:, mask] with a hal mask (Dask's chunk[mask, :] for x[x[:, 0] > 0]):
    its nonzero indices taken on the device; beside an integer, an IndexError."""
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    x = put(a, device)
    rows, cols, last = np.array([False, True, True]), np.array([True, False, True, True]), a[0, 0] % 2 == 0
    for key in [(slice(None), cols), (rows, slice(None)), (rows, Ellipsis), (Ellipsis, last), (None, rows),
                (slice(None, None, -1), cols, slice(1, 3))]:
        device_key = tuple(put(k, device) if isinstance(k, np.ndarray) else k for k in key)
        assert_matches(x[device_key], a[key], device=device)
        y, b = put(a, device), a.copy()
        y[device_key] = -1.0
        b[key] = -1.0
        assert_matches(y, b, device=device)
    with pytest.raises(IndexError, match="two steps"):
        x[put(rows, device), 0]


def test_sinc_heaviside_polyval_trapezoid_and_ediff1d(device):
    v = np.random.default_rng(12).standard_normal(9).astype(np.float32)
    v[2] = 0.0
    m = np.random.default_rng(13).standard_normal((3, 5)).astype(np.float32)
    x, xm = put(v, device), put(m, device)
    real = np.float64 if device.info.fp64 else np.float32
    checks = [(np.sinc(x), np.sinc(v)), (np.heaviside(x, 0.5), np.heaviside(v, np.float32(0.5))),
              (np.heaviside(xm, xm[0]), np.heaviside(m, m[0])),
              (np.polyval([1.0, -2.0, 3.0], x), np.polyval([1.0, -2.0, 3.0], v).astype(real)),
              (np.polyval(np.array([1, 2], np.float32), x), np.polyval(np.array([1, 2], np.float32), v)),
              (np.polyval(xm[0], x), np.polyval(m[0], v)), (np.trapezoid(x), np.trapezoid(v)),
              (np.trapezoid(xm, dx=0.5, axis=0), np.trapezoid(m, dx=0.5, axis=0)),
              (np.trapezoid(xm, np.cumsum(np.abs(xm[0]))), np.trapezoid(m, np.cumsum(np.abs(m[0])))),
              (np.ediff1d(xm), np.ediff1d(m)),
              (np.ediff1d(x, to_begin=[9.0], to_end=[-1.0, -2.0]), np.ediff1d(v, to_begin=[9.0], to_end=[-1.0, -2.0]))]
    for actual, expected in checks:
        assert_matches(actual, expected, rtol=1e-5, atol=1e-6, device=device)


def test_selection_sets_orders_and_shapes(device):
    """compress, extract, lexsort, diagflat, rollaxis, NumPy 2's unique_* functions,
    repeat counts as a list, reshape in Fortran order, array(ndmin=), eigh(UPLO="U"),
    std/var of complex values and logical_or/and.accumulate, against NumPy's results."""
    rng = np.random.default_rng(14)
    a = rng.standard_normal((4, 5)).astype(np.float32)
    i = rng.integers(0, 4, (3, 8)).astype(np.int32)
    z = (a + 1j * a[::-1]).astype(np.complex64)
    s = a[:, :4] @ a[:, :4].T + 4 * np.eye(4, dtype=np.float32)
    x, xi, xz = put(a, device), put(i, device), put(z, device)
    upper = np.triu(s) - np.tril(np.full_like(s, 100.0), -1)  # (garbage below: UPLO="U" reads the upper triangle)
    checks = [(np.compress(x[:, 0] > 0, x, axis=0), np.compress(a[:, 0] > 0, a, axis=0)),
              (np.compress([True, False, True], x), np.compress([True, False, True], a)),
              (np.extract(x > 0, x), np.extract(a > 0, a)), (np.extract(xi % 2, xi), np.extract(i % 2, i)),
              (np.lexsort((xi[0], xi[1], xi[2])), np.lexsort((i[0], i[1], i[2]))),
              (np.lexsort(xi), np.lexsort(i)),
              (np.diagflat(x[:2, :2], 1), np.diagflat(a[:2, :2], 1)),
              (np.rollaxis(put(a.reshape(2, 2, 5), device), 2), np.rollaxis(a.reshape(2, 2, 5), 2)),
              (np.rollaxis(put(a.reshape(2, 2, 5), device), 0, 3), np.rollaxis(a.reshape(2, 2, 5), 0, 3)),
              (np.unique_counts(xi).counts, np.unique_counts(i).counts),
              (np.unique_inverse(xi).inverse_indices, np.unique_inverse(i).inverse_indices),
              (np.sort(np.unique_values(xi)), np.sort(np.unique_values(i))),  # (NumPy's order is unspecified)
              (np.repeat(x[0, :3], [1, 0, 2]), np.repeat(a[0, :3], [1, 0, 2])),
              (np.reshape(x, (5, 4), order="F"), np.reshape(a, (5, 4), order="F")),
              (np.reshape(x, 20, order="F"), np.reshape(a, 20, order="F")),
              (np.array([1.5, 2.5], ndmin=3, like=x), np.array([1.5, 2.5], ndmin=3)),
              (np.std(xz), np.std(z)), (np.var(xz, axis=0, ddof=1), np.var(z, axis=0, ddof=1)),
              (np.dot(x, np.float32(2)), np.dot(a, np.float32(2))),
              (np.logical_or.accumulate(x > 1, axis=0), np.logical_or.accumulate(a > 1, axis=0)),
              (np.logical_and.accumulate(x > -1, axis=1), np.logical_and.accumulate(a > -1, axis=1))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hal.HostFallbackWarning)  # (decompositions on buffer devices)
        checks.append((np.linalg.eigh(put(upper, device), UPLO="U")[0], np.linalg.eigh(upper, UPLO="U")[0]))
    for actual, expected in checks:
        assert_matches(actual, expected.astype(actual.dtype) if expected.dtype == np.intp else expected,
                       rtol=1e-5, atol=1e-5, device=device)  # (hal's indices: int64)


# -- NumPy's results, dtypes included: one body run on NumPy arrays and on hal arrays ------

def numpy_and_hal(body, *arrays, device, rtol=None, atol=None):
    """As CuPy's ``numpy_cupy_allclose``: ``body`` run on the NumPy ``arrays`` and on hal
    copies of them on ``device``; each result equals NumPy's, dtype and shape included
    (tuples and lists of results compared element by element)."""
    expected = body(*arrays)
    actual = body(*(put(a, device) for a in arrays))
    _compare(actual, expected, device, rtol, atol)


def _compare(actual, expected, device, rtol, atol):
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected)
        for a, e in zip(actual, expected):
            _compare(a, e, device, rtol, atol)
    else:
        assert_matches(actual, expected, rtol=rtol, atol=atol, device=device)


_RNG = np.random.default_rng(20)
F32 = _RNG.standard_normal((4, 5)).astype(np.float32)
F64 = _RNG.standard_normal((4, 5))
I32 = _RNG.integers(-7, 8, (4, 5)).astype(np.int32)
U8 = _RNG.integers(0, 200, (4, 5)).astype(np.uint8)
B1, B2 = _RNG.random((2, 4, 5)) < 0.5
SQUARE = _RNG.standard_normal((4, 4)) + 4 * np.eye(4)


@pytest.mark.parametrize("body, arrays", [
    (lambda a, b: np.add(a, b), (I32, F32)),  # (NumPy: float64; hal.add: float32)
    (lambda a, b: np.multiply(a, b), (U8, I32)),
    (lambda a: (np.add(a, 1.5), np.add(a, 3), np.true_divide(a, 2)), (I32,)),  # (NEP 50: weak Python scalars)
    (lambda a: (np.add(a, 3), np.subtract(a, 1)), (U8,)),
    (lambda a: (np.multiply(a, np.float64(2)), np.multiply(np.float64(2), a), np.float64(2) * a), (F32,)),
    (lambda a: np.add(a, True), (I32,)),
    (lambda a, b: (np.less(a, b), np.equal(a, b), np.maximum(a, b)), (F32, I32)),
    (lambda a, b: (np.matmul(a, b.T), np.add.outer(a[0], b[0])), (I32, F32)),
    (lambda a: (np.sqrt(a), np.exp2(a), np.sin(a)), (U8,)),  # (float16 loops: computed in float32, rounded)
    (lambda a: np.add(a.astype(np.float16), np.float16(0.1)), (F32,)),
    (lambda a: (np.sqrt(np.abs(a)), np.exp(a), np.floor(a), np.trunc(a)), (I32,)),
    (lambda a: np.add(a, a, dtype=np.float64), (I32,)),
    (lambda a, b: (np.power(np.abs(a), b), np.float_power(np.abs(a), 2), np.arctan2(a, b)), (F32, I32)),
    (lambda a, b: np.logical_and(a, b), (I32, F32)),
])
def test_ufuncs_promote_as_numpy(device, body, arrays):
    with np.errstate(all="ignore"):
        numpy_and_hal(body, *arrays, device=device)


def test_hal_namespace_keeps_the_standard_promotion(device):
    """Only NumPy's calls follow NumPy: hal's own functions and operators keep the
    standard's rules, which leave mixed kinds to the implementation."""
    x, y = put(I32, device), put(F32, device)
    assert hal.add(x, y).dtype == hal.float32 and (x + y).dtype == hal.float32
    assert np.add(x, y).dtype == hal.float64
    with pytest.raises(TypeError):
        hal.add(put(B1, device), put(B2, device))


@pytest.mark.parametrize("body", [
    lambda a, b: (np.add(a, b), np.multiply(a, b), np.maximum(a, b), np.minimum(a, b), np.fmax(a, b)),
    lambda a, b: (np.less(a, b), np.greater_equal(a, b), np.absolute(a), np.floor(a), np.rint(a)),
    lambda a, b: (np.sin(a), np.add(a, 1), np.add(a, put_int(b))),
    lambda a, b: (np.sum(a, axis=0), np.prod(a, axis=1), np.max(a, axis=0), np.min(a), np.var(a), np.std(a, axis=1)),
    lambda a, b: (np.add.reduce(a, axis=1), np.multiply.reduce(a), np.maximum.reduce(a, axis=0)),
    lambda a, b: (np.sum(a, axis=0, where=b), np.max(a, axis=0, initial=False), np.cumsum(a, axis=1), np.mean(a)),
    lambda a, b: (np.diff(a, axis=1), np.diff(a, n=2, axis=0), np.argmax(a, axis=1), np.argmin(a),
                  np.cumprod(a, axis=1)),
    lambda a, b: (np.dot(a, b.T), np.matmul(a, b.T), np.outer(a[0], b[0]), np.einsum("ij,ij->i", a, b), np.trace(a),
                  np.kron(a[:2, :2], b[:2, :2]), np.inner(a, b)),
])
def test_bools_as_numpy_computes_them(device, body):
    """NumPy's sums and maxima of bools are "or", products and minima "and"; its
    arithmetic reductions of bools count in int64."""
    numpy_and_hal(body, B1, B2, device=device)


def put_int(b):
    """``b`` as int32 on its own side (NumPy's or hal's): the bool array beside an integer one."""
    return b.astype(np.int32) if isinstance(b, np.ndarray) else hal.astype(b, hal.int32)


def test_what_numpy_refuses_of_bools_is_refused(device):
    x, y = put(B1, device), put(B2, device)
    with pytest.raises(TypeError, match="boolean subtract"):
        np.subtract(x, y)
    with pytest.raises(TypeError):
        np.negative(x)


@pytest.mark.parametrize("body, arrays", [
    (lambda a, b: (np.concatenate([a, b]), np.concatenate([a, b], axis=None), np.stack([a, b], axis=-1)), (I32, F32)),
    (lambda a, b: (np.vstack([a, b]), np.hstack([a, b]), np.column_stack([a[0], b[0]]), np.dstack([a, b])), (I32, F64)),
    (lambda a, b: (np.block([[a, b], [b, a]]), np.block([a[0], b[0]]), np.block([[a], [b]])), (F32, I32)),
    (lambda c, a, b: (np.where(c, a, b), np.where(c, a, 0), np.where(c, 1, 0), np.where(c, 1, 2.5)), (B1, F32, I32)),
    (lambda a: (np.clip(a, -2.5, 2.5), np.clip(a, -2, 3), np.clip(a, np.float32(0), 1), np.clip(a, None, 2)), (I32,)),
    (lambda a, b: (np.dot(a, b.T), np.einsum("ij,kj->ik", a, b), np.tensordot(a, b, axes=([1], [1])),
                   np.outer(a[0], b[0]), np.inner(a, b), np.kron(a[:2, :2], b[:2, :2])), (I32, F32)),
    (lambda a: (np.linalg.inv(a), np.linalg.det(a), np.linalg.solve(a, a[0]), np.linalg.norm(a), np.linalg.norm(a[0]),
                np.linalg.norm(a, axis=0), np.linalg.svd(a, compute_uv=False), np.linalg.eigvalsh(a + a.T),
                np.linalg.slogdet(a)[1]), ((4 * np.eye(4) + np.arange(16).reshape(4, 4) % 3).astype(np.int32),)),
    (lambda a: (np.linalg.det(a), np.linalg.norm(a, np.inf), np.linalg.qr(a)[1] ** 2, np.linalg.cond(a)),
     (SQUARE.astype(np.float32),)),
    (lambda a: (np.max(a, axis=0, initial=-1.0), np.min(a, axis=1, initial=5.0, keepdims=True)), (np.zeros((0, 3)),)),
    (lambda a: (np.mean(a, dtype=np.float64), np.sum(a, axis=0, dtype=np.float64)), (F32 * 1000,)),
    (lambda a: (np.mean(a), np.mean(a, axis=0), np.var(a, axis=1), np.std(a), np.mean(a, dtype=np.float32),
                np.average(a, axis=1), np.median(a, axis=0)), (I32,)),
    (lambda a: (np.sum(a), np.sum(a, axis=1, keepdims=True), np.sum(a, dtype=np.float32), np.cumsum(a),
                np.cumsum(a, axis=0, dtype=np.float64), np.prod(a, axis=0), np.add.accumulate(a, axis=1)), (U8,)),
])
def test_functions_promote_as_numpy(device, body, arrays):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hal.HostFallbackWarning)  # (decompositions on buffer devices)
        numpy_and_hal(body, *arrays, device=device, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("body, arrays", [
    (lambda a, b: (np.floor_divide(a, b), np.remainder(a, b), np.mod(a, -3), np.fmod(a, b), np.fmod(a, -3)),
     (np.arange(-6, 6), np.array([3, -3, 2, -2, 7, -7, 1, -1, 4, -4, 5, -5]))),
    (lambda a, b: (np.floor_divide(a, -0.7), np.remainder(a, -0.7), np.fmod(a, b), np.fmod(a, 0.3)), (F64, F64 + 3)),
    (lambda a: (np.cbrt(a), np.ldexp(a, 3), np.ldexp(a, put_int(a > 0)), np.fix(a), np.fix(put_int(a > 0))), (F32,)),
    (lambda a: (np.round(a, 2), np.round(a), np.around(a, -1), np.rint(a)), (F64 * 100,)),
    (lambda a: np.round(a), (np.array([0.5, 1.5, 2.5, -0.5, -1.5]),)),
])
def test_integer_division_rounding_and_more(device, body, arrays):
    with np.errstate(all="ignore"):
        numpy_and_hal(body, *arrays, device=device, rtol=1e-6, atol=1e-6)


def test_numpy_promotion_needs_its_dtype_on_the_device(device, monkeypatch):
    """Where NumPy's loop computes in a dtype the device lacks (float64 without fp64),
    hal's UnsupportedDTypeError, never a silently narrower dtype."""
    x, y = put(I32, device), put(F32, device)
    monkeypatch.setattr(device, "info", dataclasses.replace(device.info, fp64=False))
    monkeypatch.setattr(device, "dtypes", tuple(d for d in device.dtypes if d != hal.float64))
    for call in (lambda: np.add(x, y), lambda: np.sqrt(x), lambda: np.add(x, 1.5), lambda: np.linalg.inv(x[:4, :4]),
                 lambda: np.concatenate([x, y]), lambda: np.where(x > 0, x, y)):
        with pytest.raises(hal.UnsupportedDTypeError, match="float64"):
            call()
    assert_matches(np.add(y, 1.5), F32 + 1.5, device=device)  # (float32 stays float32)


@pytest.mark.parametrize("body", [
    lambda a: (a.flat[3], a.flat[2:7], a.flat[[0, 5]], a.flat[-1]),
    lambda a: list(a.flat)[:6] + [a.flat[len(a.flat) - 1]],
    lambda a: a.flat.copy(),
    lambda a: _assigned(a, lambda f: f.__setitem__(slice(None, None, 3), -1)),
    lambda a: _assigned(a.T, lambda f: f.__setitem__([1, 4], 9)),  # (a strided view: written back)
    lambda a: _assigned(a[:, 1:3], lambda f: f.__setitem__(0, 5)),
])
def test_flat_indexes_and_assigns_as_numpy(device, body):
    """x.flat as NumPy's (and CuPy's) flatiter; elements come as 0-d hal arrays (CuPy's
    choice: no read to the host), which compare as NumPy's scalars."""
    numpy_and_hal(lambda a: [v if isinstance(v, hal.Array) else np.asarray(v) for v in _listed(body(a))],
                  I32.copy(), device=device)


def _listed(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _assigned(a, write):
    """``write(a.flat)``, then ``a`` and its base (whose data a view's write reaches)."""
    write(a.flat)
    return a
