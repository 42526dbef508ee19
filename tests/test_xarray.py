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
