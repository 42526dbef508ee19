"""The Fourier transform extension ("Fourier Transform Functions", ``fft``, array API
2025.12): ``hal.fft``.

The transforms are NumPy's (``numpy.fft``, which keeps single precision): on the cpu
directly, on buffer devices through the host with a one-time
``hal.HostFallbackWarning``. fftfreq, rfftfreq (arange) and fftshift, ifftshift (roll)
run on the device.
"""
from __future__ import annotations

import operator

import numpy as np

from . import dtypes
from .array_api.array import Array, checked
from .array_api.creation import _dtype, arange
from .array_api.elementwise import multiply
from .array_api.manipulation import roll
from .device import device_or_default
from .linalg import on_host
from .shapes import normalize_axis

__all__ = ["fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft", "ihfft", "fftfreq",
           "rfftfreq", "fftshift", "ifftshift"]

_NORMS = ("backward", "ortho", "forward")


def _check(x, op: str, kind: str, norm: str) -> None:
    checked(x, op, kind)
    if norm not in _NORMS:
        raise ValueError(f"{op}: norm is one of {', '.join(_NORMS)}, not {norm!r}")


def _transform(name: str, kind: str, doc: str):
    """numpy.fft's ``name`` on hal arrays: over one axis, or over several (fftn, ifftn,
    rfftn, irfftn: the names ending in n)."""
    numpy_fn = getattr(np.fft, name)

    def one(x: Array, /, *, n: int | None = None, axis: int = -1, norm: str = "backward") -> Array:
        _check(x, name, kind, norm)
        normalize_axis(axis, x.ndim)
        if n is not None and operator.index(n) < 1:
            raise ValueError(f"{name}: n must be at least 1, got {n}")
        return on_host(f"fft.{name}", numpy_fn, x, n=n, axis=axis, norm=norm)

    def many(x: Array, /, *, s=None, axes=None, norm: str = "backward") -> Array:
        _check(x, name, kind, norm)
        if axes is not None:
            axes = tuple(normalize_axis(a, x.ndim) for a in axes)
        if s is not None:
            if axes is None or len(axes) != len(s):
                raise ValueError(f"{name}: with s, give axes too, one per entry of s")
            s = tuple(x.shape[a] if n == -1 else n for a, n in zip(axes, s))
        return on_host(f"fft.{name}", numpy_fn, x, s=s, axes=axes, norm=norm)
    fn = many if name.endswith("n") else one
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f'"{name}" (array API 2025.12): {doc}; host on buffer devices.'
    return fn


fft = _transform("fft", "complex floating", "the 1-D discrete Fourier transform")
ifft = _transform("ifft", "complex floating", "the 1-D inverse discrete Fourier transform")
rfft = _transform("rfft", "real floating", "the 1-D transform of a real signal (n//2 + 1 outputs)")
irfft = _transform("irfft", "complex floating", "the inverse of rfft, a real signal of n samples")
hfft = _transform("hfft", "complex floating",
                  "the transform of a Hermitian-symmetric signal (real output)")
ihfft = _transform("ihfft", "real floating", "the inverse of hfft")
fftn = _transform("fftn", "complex floating", "the n-D discrete Fourier transform")
ifftn = _transform("ifftn", "complex floating", "the n-D inverse discrete Fourier transform")
rfftn = _transform("rfftn", "real floating", "the n-D transform of a real signal")
irfftn = _transform("irfftn", "complex floating", "the inverse of rfftn")


def _freq_args(name: str, n, dtype, device) -> tuple:
    """(n, dtype, device) of fftfreq or rfftfreq, checked."""
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"{name}: n must be at least 1, got {n}")
    device = device_or_default(device)
    dtype = _dtype(dtype, device, "float")
    dtypes.check_kind(dtype, "real floating", "fftfreq")
    return n, dtype, device


def fftfreq(n: int, /, *, d: float = 1.0, dtype=None, device=None) -> Array:
    """"fftfreq": the sample frequencies ``[0, 1, ..., n//2 - 1 (or (n-1)//2), -n//2,
    ..., -1] / (d n)`` of an n-point transform; arange and roll on the device."""
    n, dtype, device = _freq_args("fftfreq", n, dtype, device)
    ordered = arange(-(n // 2), n - n // 2, dtype=dtype, device=device)
    return multiply(roll(ordered, -(n // 2)), 1.0 / (n * d))


def rfftfreq(n: int, /, *, d: float = 1.0, dtype=None, device=None) -> Array:
    """"rfftfreq": ``[0, 1, ..., n//2] / (d n)``, the frequencies of rfft's outputs."""
    n, dtype, device = _freq_args("rfftfreq", n, dtype, device)
    return multiply(arange(n // 2 + 1, dtype=dtype, device=device), 1.0 / (n * d))


def _shift(x: Array, axes, sign: int) -> Array:
    checked(x, "fftshift")
    axes = tuple(range(x.ndim)) if axes is None else (axes,) if isinstance(axes, int) else tuple(axes)
    axes = tuple(normalize_axis(a, x.ndim) for a in axes)
    return roll(x, tuple(sign * (x.shape[a] // 2) for a in axes), axis=axes)


def fftshift(x: Array, /, *, axes=None) -> Array:
    """"fftshift": the zero frequency moved to the middle (a roll by n//2 per axis)."""
    return _shift(x, axes, 1)


def ifftshift(x: Array, /, *, axes=None) -> Array:
    """"ifftshift": the inverse of fftshift (a roll by -(n//2) per axis)."""
    return _shift(x, axes, -1)
