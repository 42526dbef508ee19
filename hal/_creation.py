"""Creation functions ("Creation Functions", array API 2025.12), and the conversion of
Python scalars into operands, which every function taking ``array | scalar`` shares."""
from __future__ import annotations

import builtins
import math

import numpy as np

from . import dtypes
from ._array import Array
from .device import Device, get_default_device
from .device import device as as_device
from .errors import DeviceError

__all__ = ["arange", "asarray", "empty", "empty_like", "eye", "from_dlpack", "full", "full_like", "linspace", "ones", "ones_like", "zeros", "zeros_like"]

_PY_KIND = {builtins.bool: "b", int: "i", float: "f"}


def _device(device) -> Device:
    return get_default_device() if device is None else as_device(device)


def _dtype(dtype, device: Device, default=None):
    """The dtype to create: ``dtype`` if given (checked against the device), else
    ``default`` (a dtype, or "float" / "int" for the device's defaults)."""
    dtype = dtypes.as_dtype(dtype) if dtype is not None else (
        device.default_float if default == "float" else dtypes.int64 if default == "int" else default)
    device.check_dtype(dtype)
    return dtype


def scalar_dtype(value, device: Device):
    """The dtype a Python scalar takes on its own: bool, int64 or the default float."""
    kind = _PY_KIND.get(type(value))
    if kind is None:
        if isinstance(value, (builtins.bool, np.bool_)):
            return dtypes.bool
        if isinstance(value, (int, np.integer)):
            return dtypes.int64
        if isinstance(value, (float, np.floating)):
            return device.default_float
        raise TypeError(f"expected an array or a Python scalar, got {type(value).__name__}")
    return dtypes.bool if kind == "b" else dtypes.int64 if kind == "i" else device.default_float


def scalar_operand(value, dtype, device: Device):
    """The compute dtype of an array of ``dtype`` combined with the Python scalar
    ``value`` (the standard's "Mixing arrays with Python scalars"): the array's dtype,
    except a float with an integer array, which computes in the default float. A bool
    mixes only with bool arrays; an int must fit an integer dtype (OverflowError)."""
    kind = _PY_KIND.get(type(value)) or (
        "b" if isinstance(value, np.bool_) else "i" if isinstance(value, np.integer)
        else "f" if isinstance(value, np.floating) else None)
    if kind is None:
        raise TypeError(f"expected a hal array or a Python scalar, got {type(value).__name__}")
    if (kind == "b") != (dtype == dtypes.bool):
        raise TypeError(f"a Python {type(value).__name__} does not mix with a {dtype} array")
    if kind == "i" and dtype.kind in "iu":
        lo, hi = dtypes.iinfo_bounds(dtype)
        if not lo <= value <= hi:
            raise OverflowError(f"{value} does not fit in {dtype}")
    if kind == "f" and dtype.kind in "iu":
        return device.default_float
    return dtype


def operand(value, dtype, device: Device):
    """``value`` (an Array on ``device`` or a Python scalar) as a payload or a scalar
    that can be written into an array of ``dtype``."""
    if isinstance(value, Array):
        if value._device != device:
            raise DeviceError(f"cannot write an array on {value._device} into one on {device}")
        return value._data
    if dtype != dtypes.bool and isinstance(value, (builtins.bool, np.bool_)):
        raise TypeError(f"a Python bool cannot be written into a {dtype} array")
    if dtype == dtypes.bool and not isinstance(value, (builtins.bool, np.bool_)):
        raise TypeError(f"only a Python bool can be written into a bool array, got {value!r}")
    scalar_operand(value, dtype, device)  # raises on a kind mismatch or an overflow
    return dtype.type(value).item()


def asarray(obj, /, *, dtype=None, device=None, copy=None) -> Array:
    """Convert ``obj`` (a hal array, a NumPy array, anything exporting DLPack or the
    buffer protocol, a Python scalar or nested sequence) to an array on ``device``.

    Python floats take the device's default float dtype (float64 where the device has
    it, else float32); an array's own dtype is kept, and a dtype the device lacks is
    an UnsupportedDTypeError. ``copy=False`` raises ValueError where a copy is needed.
    """
    if isinstance(obj, Array):
        target = obj._device if device is None else as_device(device)
        out = obj
        if target != obj._device:
            if copy is False:
                raise ValueError(f"copy=False, but the array lives on {obj._device}, not {target}")
            out = obj.to_device(target)
        if dtype is not None and dtypes.as_dtype(dtype) != out.dtype:
            if copy is False:
                raise ValueError("copy=False, but changing the dtype needs a copy")
            from ._data_type import astype
            return astype(out, dtype)
        if copy and out is obj:
            return Array._new(target.impl("copy")(target, obj._data) if target.family != "numpy"
                              else obj._data.copy(), target)
        return out
    device = _device(device)
    host = _to_numpy(obj, dtype, device, copy)
    device.check_dtype(host.dtype)
    if device.family == "numpy":
        return Array._new(host, device)
    if copy is False:
        raise ValueError(f"copy=False, but host data must be copied to {device}")
    return Array._new(device.from_host(host), device)


def _to_numpy(obj, dtype, device: Device, copy) -> np.ndarray:
    explicit = dtypes.as_dtype(dtype) if dtype is not None else None
    if isinstance(obj, np.ndarray) or hasattr(obj, "__dlpack__") or hasattr(obj, "__array_interface__") \
            or isinstance(obj, (bytes, bytearray, memoryview)):
        host = np.from_dlpack(obj) if hasattr(obj, "__dlpack__") and not isinstance(obj, np.ndarray) \
            else np.asarray(obj)
        if explicit is not None and host.dtype != explicit:
            if copy is False:
                raise ValueError("copy=False, but changing the dtype needs a copy")
            return host.astype(explicit)
        dtypes.as_dtype(host.dtype)
        return np.array(host, copy=True) if copy else host
    try:
        host = np.array(obj, dtype=explicit)
    except (OverflowError, ValueError, TypeError) as e:
        raise type(e)(f"cannot convert {type(obj).__name__} to an array: {e}") from None
    if explicit is None:
        if host.dtype == np.uint64 or host.dtype == object:  # NumPy's pick for large Python ints
            _check_default_int(obj)
        if host.dtype == np.float64:
            host = host.astype(device.default_float, copy=False)
        elif host.dtype == object:
            raise TypeError("cannot convert a ragged or mixed-type sequence to an array")
        dtypes.as_dtype(host.dtype)
    return host


def _check_default_int(obj) -> None:
    """Python ints take the default integer dtype, int64, as the standard says: an
    OverflowError for one that does not fit (where NumPy would pick uint64 or object)."""
    try:
        np.array(obj, dtype=np.int64)
    except OverflowError:
        raise OverflowError("a Python int in the data does not fit the default integer dtype int64; "
                            "pass dtype=hal.uint64 for values up to 2**64 - 1") from None
    except (TypeError, ValueError):
        pass  # not all ints: the caller reports what it is


def empty(shape, *, dtype=None, device=None) -> Array:
    device = _device(device)
    return Array._new(device.empty(_shape(shape), _dtype(dtype, device, "float")), device)


def full(shape, fill_value, *, dtype=None, device=None) -> Array:
    device = _device(device)
    dtype = _dtype(dtype, device, scalar_dtype(fill_value, device))
    value = fill_value if dtype != dtypes.bool else builtins.bool(fill_value)
    return Array._new(device.impl("full")(device, _shape(shape), dtype, dtype.type(value).item()), device)


def zeros(shape, *, dtype=None, device=None) -> Array:
    return full(shape, 0, dtype=dtype or _dtype(None, _device(device), "float"), device=device)


def ones(shape, *, dtype=None, device=None) -> Array:
    return full(shape, 1, dtype=dtype or _dtype(None, _device(device), "float"), device=device)


def empty_like(x: Array, /, *, dtype=None, device=None) -> Array:
    return empty(x.shape, dtype=dtype or x.dtype, device=device or x.device)


def full_like(x: Array, /, fill_value, *, dtype=None, device=None) -> Array:
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device)


def zeros_like(x: Array, /, *, dtype=None, device=None) -> Array:
    return full(x.shape, 0, dtype=dtype or x.dtype, device=device or x.device)


def ones_like(x: Array, /, *, dtype=None, device=None) -> Array:
    return full(x.shape, 1, dtype=dtype or x.dtype, device=device or x.device)


def arange(start, /, stop=None, step=1, *, dtype=None, device=None) -> Array:
    """``[start, stop)`` in steps of ``step``, computed on the device as
    ``start + i * step``."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("arange: step must not be zero")
    device = _device(device)
    is_int = all(isinstance(v, int) for v in (start, stop, step))
    dtype = _dtype(dtype, device, dtypes.int64 if is_int else "float")
    n = max(0, math.ceil((stop - start) / step)) if not is_int else max(0, -(-(stop - start) // step))
    return Array._new(device.impl("arange")(device, n, start, step, dtype), device)


def linspace(start, stop, /, num: int, *, dtype=None, device=None, endpoint: bool = True) -> Array:
    if num < 0:
        raise ValueError(f"linspace: num must be non-negative, got {num}")
    device = _device(device)
    dtype = _dtype(dtype, device, "float")
    if dtype.kind != "f":
        raise TypeError(f"linspace returns a floating dtype, not {dtype}")
    step = (stop - start) / max(num - 1 if endpoint else num, 1)
    out = Array._new(device.impl("arange")(device, num, start, step, dtype), device)
    if endpoint and num > 1:
        out[-1] = float(stop)
    return out


def eye(n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype=None, device=None) -> Array:
    device = _device(device)
    n_cols = n_rows if n_cols is None else n_cols
    dtype = _dtype(dtype, device, "float")
    return Array._new(device.impl("eye")(device, n_rows, n_cols, k, dtype), device)


def from_dlpack(x, /, *, device=None, copy=None) -> Array:
    """An array from any DLPack exporter (NumPy, hal, ...): on the cpu without a copy
    where possible, then moved to ``device`` if one is named."""
    if isinstance(x, Array):
        return asarray(x, device=device, copy=copy)
    kwargs = {"copy": copy} if copy is not None else {}
    host = np.from_dlpack(x, **kwargs)
    return asarray(host, device=device, copy=None if copy is None else copy)


def _shape(shape) -> tuple:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise ValueError(f"a shape is a tuple of non-negative integers, got {shape}")
    return shape
