"""xarray over hal arrays (NEP 18 duck arrays): a DataArray wrapping a hal array computes
on the array's device, NaN-skipping reductions included, without moving the data."""
import warnings

import numpy as np
import pytest

import hal
from helpers import assert_matches, on_device_only, put

xr = pytest.importorskip("xarray", reason="xarray is not installed (it is in the test extra)")


def test_a_data_array_computes_on_the_device(device):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    a[0, 1] = np.nan
    data = put(a, device)
    temperature = xr.DataArray(data, dims=("time", "site"), coords={"time": [10, 20, 30]})
    assert temperature.data is data

    def anomalies():
        return (temperature - temperature.mean("time")) / temperature.std("time")
    standardized = on_device_only(anomalies) if device.family == "buffer" else anomalies()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = (a - np.nanmean(a, axis=0)) / np.nanstd(a, axis=0)
    assert standardized.dims == ("time", "site")
    assert_matches(standardized.data, expected, rtol=1e-5, atol=1e-5, device=device)
    assert_matches(temperature.sel(time=20).data, a[1], device=device)
    assert_matches(temperature.max("site").data, np.nanmax(a, axis=1), device=device)
    assert_matches((temperature * 2).sum().data, np.nansum(a * 2), device=device)


def test_quantiles_shifts_and_cumulative_sums_stay_on_the_device(device):
    """xarray calls its arrays' namespace (hal) for transpose, einsum and pad, and NumPy's
    nanquantile, nancumsum and real through NEP 18."""
    a = np.random.default_rng(8).standard_normal((6, 4)).astype(np.float32)
    a[1, 2] = np.nan
    readings = xr.DataArray(put(a, device), dims=("time", "site"))
    reference = xr.DataArray(a, dims=("time", "site"))
    for name, run in [("quantile", lambda d: d.quantile([0.25, 0.5], dim="time")),
                      ("shift", lambda d: d.shift(time=1)), ("pad", lambda d: d.pad(site=(1, 2), constant_values=7)),
                      ("cumsum", lambda d: d.cumsum("time")), ("real", lambda d: d.real)]:
        actual, expected = run(readings).data, run(reference).data
        assert isinstance(actual, hal.Array) and actual.device == device, name
        if not device.info.fp64 and expected.dtype == np.float64:
            expected = expected.astype(np.float32)  # (quantiles of a list: float64 where the device has it)
        assert_matches(actual, expected, rtol=1e-6, atol=1e-6, device=device)


def test_dot_contracts_on_the_device(device):
    """xarray.dot calls its arrays' einsum with '...' subscripts."""
    a = np.random.default_rng(9).standard_normal((3, 4, 5)).astype(np.float32)
    data, reference = xr.DataArray(put(a, device), dims=("t", "s", "u")), xr.DataArray(a, dims=("t", "s", "u"))
    for dims in ("u", ("s", "u"), None):
        actual, expected = xr.dot(data, data, dim=dims), xr.dot(reference, reference, dim=dims)
        assert actual.dims == expected.dims
        assert_matches(actual.data, expected.data, rtol=1e-5, atol=1e-5, device=device)


def test_rolling_windows_and_filled_values_on_the_device(device):
    """xarray's rolling windows are hal views (``xp.lib.stride_tricks.sliding_window_view``).
    xarray makes its fill values with ``xp.asarray(0)``, on hal's default device: inside
    ``hal.default_device(device)`` that is the data's device (as CuPy's current device)."""
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    a[1, 2] = np.nan
    data, reference = xr.DataArray(put(a, device), dims=("t", "s")), xr.DataArray(a, dims=("t", "s"))
    with hal.default_device(device):
        for name, run in [("mean", lambda d: d.rolling(t=2).mean()), ("max", lambda d: d.rolling(t=3).max()),
                          ("centred sum", lambda d: d.rolling(s=3, center=True, min_periods=1).sum()),
                          ("construct", lambda d: d.rolling(s=2).construct("window")),
                          ("where", lambda d: d.where(d > 3, 0)), ("fillna", lambda d: d.fillna(-1))]:
            actual, expected = run(data), run(reference)
            assert actual.dims == expected.dims, name
            assert_matches(actual.data, expected.data, rtol=1e-6, device=device)
