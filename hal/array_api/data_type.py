"""Data type functions ("Data Type Functions", array API 2025.12)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .. import dtypes
from .array import Array, checked
from .creation import scalar_operand
from ..device import device as as_device
from ..device import get_default_device

__all__ = ["astype", "can_cast", "finfo", "iinfo", "isdtype", "result_type"]


def astype(x: Array, dtype, /, *, copy: bool = True, device=None) -> Array:
    """``x`` converted to ``dtype`` (and moved to ``device``), on the device: NumPy's
    conversions, except that complex to real is a TypeError (the standard asks for an
    explicit ``real(x)`` or ``imag(x)``). ``copy=False`` returns ``x`` itself when
    nothing changes."""
    checked(x, "astype")
    dtype = dtypes.as_storage_dtype(dtype)
    if dtypes.float16 in (dtype, x.dtype):
        return _astype_float16(x, dtype, copy, device)
    if x.dtype.kind == "c" and dtype.kind != "c" and dtype != dtypes.bool:
        raise TypeError(f"astype: casting {x.dtype} to {dtype} would drop the imaginary part; "
                        f"take real(x) or imag(x) first")
    if device is not None:
        target = as_device(device)
        if target != x._device:
            target.check_dtype(dtype)
            x, copy = x.to_device(target), False  # the move already made a new array
    if dtype == x.dtype:
        return Array._new(x._device.copy(x._data), x._device) if copy else x
    x._device.check_dtype(dtype)
    return Array._new(x._device.impl("astype")(x._device, x._data, dtype), x._device)


_HALF_PARTNERS = (dtypes.float16, dtypes.float32, dtypes.float64)


def _astype_float16(x: Array, dtype, copy: bool, device) -> Array:
    """Conversions of the storage-only float16: to and from float32 and float64 (rounding
    to nearest even), on ``x``'s device, then moved to ``device``."""
    if x.dtype not in _HALF_PARTNERS or dtype not in _HALF_PARTNERS:
        raise TypeError(f"astype: {x.dtype} to {dtype}: float16 is a storage-only dtype in hal and converts "
                        f"only to and from float32 and float64")
    if dtype != x.dtype:
        if dtype != dtypes.float16:
            x._device.check_dtype(dtype)
        x, copy = Array._new(x._device.impl("astype_float16")(x._device, x._data, dtype), x._device), False
    if device is not None and as_device(device) != x._device:
        return x.to_device(device)
    return Array._new(x._device.copy(x._data), x._device) if copy else x


def result_type(*arrays_and_dtypes):
    """The dtype the standard's promotion rules give for arrays, dtypes and Python
    scalars; scalars are weak: they join the promoted dtype of the rest as they would
    in an operation with an array of it ("Mixing arrays with Python scalars")."""
    scalars = [a for a in arrays_and_dtypes if isinstance(a, (bool, int, float, complex))]
    arrays = [a for a in arrays_and_dtypes if isinstance(a, Array)]
    types = [a.dtype if isinstance(a, Array) else dtypes.as_dtype(a) for a in arrays_and_dtypes
             if not isinstance(a, (bool, int, float, complex))]
    if not types:
        raise TypeError("result_type needs at least one array or dtype")
    out = functools.reduce(dtypes.result_type, types)
    device = arrays[0]._device if arrays else get_default_device()
    for s in scalars:
        out = scalar_operand(s, out, device)
    return out


def can_cast(from_, to, /) -> bool:
    """Whether the standard's promotion rules turn ``from_`` into ``to`` (promotion of
    ``from_`` with ``to`` gives ``to``), within one kind: hal's cross-kind promotions
    (integer with floating) are conveniences, not casts the standard's graph allows.
    For an array, ``to`` must also exist on the array's device."""
    src = from_.dtype if isinstance(from_, Array) else dtypes.as_dtype(from_)
    to = dtypes.as_dtype(to)
    if isinstance(from_, Array) and to not in from_._device.dtypes:
        return False
    if src == dtypes.bool or to == dtypes.bool:
        return src == to
    if (src.kind in "iu") != (to.kind in "iu"):
        return False
    try:
        return dtypes.result_type(src, to) == to
    except TypeError:
        return False


@dataclass(frozen=True)
class finfo_object:  # noqa: N801  (the standard's name)
    """Machine limits of a floating dtype (a complex dtype's are its components')."""
    bits: int
    eps: float
    max: float
    min: float
    smallest_normal: float
    dtype: np.dtype


@dataclass(frozen=True)
class iinfo_object:  # noqa: N801
    """Machine limits of an integer dtype."""
    bits: int
    max: int
    min: int
    dtype: np.dtype


def _dtype_of(type) -> np.dtype:
    return type.dtype if isinstance(type, Array) else dtypes.as_dtype(type)


def finfo(type, /) -> finfo_object:
    """Limits of a floating dtype or array (array API "finfo"); for complex, those of
    the real component, whose dtype ``dtype`` names."""
    dtype = _dtype_of(type)
    if dtype.kind not in "fc":
        raise TypeError(f"finfo takes a floating dtype, not {dtype}")
    real = np.dtype(f"f{dtype.itemsize // 2}") if dtype.kind == "c" else dtype
    info = np.finfo(real)
    return finfo_object(bits=info.bits, eps=float(info.eps), max=float(info.max), min=float(info.min),
                        smallest_normal=float(info.smallest_normal), dtype=real)


def iinfo(type, /) -> iinfo_object:
    """Limits of an integer dtype or array (array API "iinfo")."""
    dtype = _dtype_of(type)
    if dtype.kind not in "iu":
        raise TypeError(f"iinfo takes an integer dtype, not {dtype}")
    info = np.iinfo(dtype)
    return iinfo_object(bits=info.bits, max=int(info.max), min=int(info.min), dtype=dtype)


def isdtype(dtype, kind) -> bool:
    """Whether ``dtype`` is of ``kind``: a dtype, a kind name ("bool", "signed
    integer", "unsigned integer", "integral", "real floating", "complex floating",
    "numeric"), or a tuple of them."""
    if not isinstance(dtype, np.dtype) or dtype not in dtypes.ALL:
        raise TypeError(f"isdtype expects a hal dtype, got {dtype!r}")
    if isinstance(kind, tuple):
        return any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, str):
        if kind not in dtypes.KINDS:
            raise ValueError(f"unknown dtype kind {kind!r}; kinds are {', '.join(dtypes.KINDS)}")
        return dtype in dtypes.KINDS[kind]
    if isinstance(kind, np.dtype):
        return dtype == kind
    raise TypeError(f"isdtype: kind must be a dtype, a kind name or a tuple of them, not {kind!r}")
