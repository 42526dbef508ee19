"""Data type functions ("Data Type Functions", array API 2025.12)."""
from __future__ import annotations

import numpy as np

from . import dtypes
from ._array import Array
from .device import device as as_device

__all__ = ["astype", "can_cast", "finfo", "iinfo", "isdtype", "result_type"]


def astype(x: Array, dtype, /, *, copy: bool = True, device=None) -> Array:
    """``x`` converted to ``dtype`` (and moved to ``device``), on the device."""
    dtype = dtypes.as_dtype(dtype)
    if device is not None:
        x = x.to_device(as_device(device))
    if dtype == x.dtype:
        return x if not copy else Array._new(_copy(x), x._device)
    x._device.check_dtype(dtype)
    return Array._new(x._device.impl("astype")(x._device, x._data, dtype), x._device)


def _copy(x: Array):
    return x._data.copy() if x._device.family == "numpy" else x._device.impl("copy")(x._device, x._data)


def result_type(*arrays_and_dtypes):
    """The dtype the standard's promotion rules give for arrays, dtypes and scalars."""
    types = [a.dtype if isinstance(a, Array) else dtypes.as_dtype(a) for a in arrays_and_dtypes
             if not isinstance(a, (bool, int, float, complex))]
    if not types:
        raise ValueError("result_type needs at least one array or dtype")
    out = types[0]
    for t in types[1:]:
        out = dtypes.result_type(out, t)
    return out


def can_cast(from_, to, /) -> bool:
    """Whether promotion of ``from_`` with ``to`` gives ``to``."""
    src = from_.dtype if isinstance(from_, Array) else dtypes.as_dtype(from_)
    try:
        return dtypes.result_type(src, dtypes.as_dtype(to)) == to
    except TypeError:
        return False


def finfo(type, /):
    dtype = type.dtype if isinstance(type, Array) else dtypes.as_dtype(type)
    if dtype.kind not in "fc":
        raise TypeError(f"finfo takes a floating dtype, not {dtype}")
    return np.finfo(dtype)


def iinfo(type, /):
    dtype = type.dtype if isinstance(type, Array) else dtypes.as_dtype(type)
    if dtype.kind not in "iu":
        raise TypeError(f"iinfo takes an integer dtype, not {dtype}")
    return np.iinfo(dtype)


def isdtype(dtype, kind) -> bool:
    """Whether ``dtype`` is of ``kind``: a dtype, a kind name, or a tuple of them."""
    if isinstance(kind, tuple):
        return any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, str):
        if kind not in dtypes.KINDS:
            raise ValueError(f"unknown dtype kind {kind!r}; kinds are {', '.join(dtypes.KINDS)}")
        return dtype in dtypes.KINDS[kind]
    return dtype == kind
