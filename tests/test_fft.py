"""hal.fft on every device, against numpy.fft: the transforms (NumPy through the host on
buffer devices, with a HostFallbackWarning once per op and never on the cpu), and
fftfreq, rfftfreq, fftshift, ifftshift, which run on the device."""

import numpy as np
import pytest

import hal
from helpers import assert_matches, data, fallback_warnings, on_device_only, put

pytestmark = pytest.mark.filterwarnings("ignore::hal.HostFallbackWarning")


def needs(device, dtype):
    if dtype not in device.dtypes:
        pytest.skip(f"{device} has no {dtype}")


def signal(shape, dtype, seed=0):
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        real = np.finfo(dtype).dtype
        return data(shape, real, seed) + 1j * data(shape, real, seed + 1)
    return data(shape, dtype, seed)


def tolerance(dtype):
    return {"rtol": 1e-4, "atol": 1e-5} if np.dtype(dtype) in (np.float32, np.complex64) else {}


ONE_AXIS = {"fft": hal.complex128, "ifft": hal.complex128, "irfft": hal.complex128, "hfft": hal.complex128,
            "rfft": hal.float64, "ihfft": hal.float64}
N_AXES = {"fftn": hal.complex128, "ifftn": hal.complex128, "irfftn": hal.complex128, "rfftn": hal.float64}


@pytest.mark.parametrize("name", list(ONE_AXIS))
@pytest.mark.parametrize("n, axis, norm", [(None, -1, "backward"), (6, 0, "ortho"), (3, 1, "forward"), (None, 0, "ortho")],
                         ids=str)
def test_one_axis_transforms(device, name, n, axis, norm):
    dtype = ONE_AXIS[name]
    needs(device, hal.complex128)
    a = signal((4, 5), dtype)
    out = getattr(hal.fft, name)(put(a, device), n=n, axis=axis, norm=norm)
    assert_matches(out, getattr(np.fft, name)(a, n=n, axis=axis, norm=norm), device=device)


@pytest.mark.parametrize("name", list(N_AXES))
@pytest.mark.parametrize("s, axes, norm", [(None, None, "backward"), ((3, 4), (0, 2), "ortho"), (None, (1,), "forward"),
                                           ((2, -1), (-1, 0), "backward")], ids=str)
def test_n_axes_transforms(device, name, s, axes, norm):
    dtype = N_AXES[name]
    needs(device, hal.complex128)
    a = signal((2, 3, 4), dtype)
    expected_s = None if s is None else tuple(a.shape[ax] if n == -1 else n for ax, n in zip(axes, s))
    out = getattr(hal.fft, name)(put(a, device), s=s, axes=axes, norm=norm)
    assert_matches(out, getattr(np.fft, name)(a, s=expected_s, axes=axes, norm=norm))


@pytest.mark.parametrize("dtype", [hal.complex64, hal.float32], ids=str)
def test_single_precision_stays_single(device, dtype):
    needs(device, hal.complex64)
    a = signal((8,), dtype)
    forward = hal.fft.fft if dtype.kind == "c" else hal.fft.rfft
    out = forward(put(a, device))
    assert out.dtype == hal.complex64
    assert_matches(out, (np.fft.fft if dtype.kind == "c" else np.fft.rfft)(a), **tolerance(dtype))
    assert hal.fft.irfft(out).dtype == hal.float32


def test_round_trip(device):
    needs(device, hal.complex128)
    a = signal((3, 8), hal.complex128)
    x = put(a, device)
    assert_matches(hal.fft.ifft(hal.fft.fft(x)), a)
    r = signal((3, 8), hal.float64)
    assert_matches(hal.fft.irfftn(hal.fft.rfftn(put(r, device)), s=(3, 8), axes=(0, 1)), r)


def test_fallback_warns_once_per_op_on_buffer_devices(device, monkeypatch):
    needs(device, hal.complex128)
    monkeypatch.setattr(hal.errors, "_fallbacks_warned", set())
    x = put(signal((4,), hal.complex128), device)
    fallbacks = fallback_warnings(lambda: (hal.fft.fft(x), hal.fft.fft(x), hal.fft.ifft(x),
                                           hal.fft.fftshift(x)))  # fftshift: a device op, no warning
    if device.family == "numpy":
        assert fallbacks == []
    else:
        assert len(fallbacks) == 2 and "fft.fft" in fallbacks[0] and "fft.ifft" in fallbacks[1], fallbacks
        assert device.name in fallbacks[0]



@pytest.mark.parametrize("n, d", [(1, 1.0), (4, 1.0), (7, 0.5), (10, 2.0)], ids=str)
def test_fftfreq(device, n, d):
    assert_matches(on_device_only(lambda: hal.fft.fftfreq(n, d=d, device=device)), np.fft.fftfreq(n, d),
                   device=device)
    assert_matches(on_device_only(lambda: hal.fft.rfftfreq(n, d=d, device=device)), np.fft.rfftfreq(n, d))
    assert_matches(hal.fft.fftfreq(n, d=d, dtype=hal.float32, device=device), np.fft.fftfreq(n, d).astype(np.float32))


def test_fftfreq_errors(device):
    with pytest.raises(ValueError):
        hal.fft.fftfreq(0, device=device)
    with pytest.raises(TypeError):
        hal.fft.rfftfreq(4, dtype=hal.int32, device=device)


@pytest.mark.parametrize("axes", [None, 0, (1, 2), (-1,), ()], ids=str)
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 1, 4)], ids=str)
def test_shifts(device, axes, shape):
    a = data(shape, hal.float32)
    x = put(a, device)
    assert_matches(on_device_only(lambda: hal.fft.fftshift(x, axes=axes)), np.fft.fftshift(a, axes))
    assert_matches(on_device_only(lambda: hal.fft.ifftshift(x, axes=axes)), np.fft.ifftshift(a, axes))


def test_transform_errors(device):
    x = hal.ones((4,), device=device)
    with pytest.raises(TypeError):
        hal.fft.fft(x)  # real input: the standard asks for complex
    with pytest.raises(TypeError):
        hal.fft.rfft(hal.ones((4,), dtype=hal.int32, device=device))
    with pytest.raises(ValueError):
        hal.fft.rfft(x, norm="none")
    with pytest.raises(ValueError):
        hal.fft.rfft(x, n=0)
    with pytest.raises(IndexError):
        hal.fft.rfft(x, axis=1)
    with pytest.raises(ValueError):
        hal.fft.rfftn(x, s=(4,))  # the standard: with s, axes too
