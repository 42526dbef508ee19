"""Creation functions ("Creation Functions", array API 2025.12), and the conversion of
Python scalars into operands, which every function taking ``array | scalar`` shares."""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import dtypes
from .array import Array, same_device
from ..device import Device, device_or_default
from ..device import device as as_device
from ..errors import DeviceError

__all__ = ["arange", "asarray", "empty", "empty_like", "eye", "from_dlpack", "full", "full_like", "linspace",
           "meshgrid", "ones", "ones_like", "tril", "triu", "zeros", "zeros_like"]

_PY_KIND = {builtins.bool: "b", int: "i", float: "f", complex: "c"}


def _dtype(dtype, device: Device, default=None, storage: bool = False):
    """The dtype to create: ``dtype`` if given (checked against the device), else
    ``default`` (a dtype, or "float" / "int" for the device's defaults). ``storage``:
    also a storage-only dtype (float16), which every device holds as 16-bit words."""
    dtype = (dtypes.as_storage_dtype if storage else dtypes.as_dtype)(dtype) if dtype is not None else (
        device.default_float if default == "float" else dtypes.int64 if default == "int" else default)
    device.check_dtype(dtype)
    return dtype


def default_complex(device: Device):
    """The complex dtype of the device's default float's precision."""
    return dtypes.complex128 if device.default_float == dtypes.float64 else dtypes.complex64


def _scalar_kind(value):
    kind = _PY_KIND.get(type(value))
    if kind is None:
        kind = ("b" if isinstance(value, (builtins.bool, np.bool_)) else "i" if isinstance(value, (int, np.integer))
                else "f" if isinstance(value, (float, np.floating))
                else "c" if isinstance(value, (complex, np.complexfloating)) else None)
    if kind is None:
        raise TypeError(f"expected a hal array or a Python scalar, got {type(value).__name__}")
    return kind


def scalar_dtype(value, device: Device):
    """The dtype a Python scalar takes on its own: bool, int64, the default float or
    the default complex."""
    kind = _scalar_kind(value)
    return (dtypes.bool if kind == "b" else dtypes.int64 if kind == "i" else device.default_float if kind == "f"
            else default_complex(device))


def scalar_operand(value, dtype, device: Device):
    """The compute dtype of an array of ``dtype`` combined with the Python scalar
    ``value`` (the standard's "Mixing arrays with Python scalars"): the array's dtype,
    except a complex with a real floating array, which computes in the complex dtype
    of the array's precision, and a float with an integer array, which computes in the
    default float. Where the standard leaves it open, hal refuses a complex with an
    integer array (TypeError). A bool mixes only with bool arrays; an int must fit an
    integer dtype (OverflowError)."""
    kind = _scalar_kind(value)
    if dtype in dtypes.STORAGE_ONLY:
        raise dtypes.storage_only_error(dtype, f"a {dtype} array with a Python {type(value).__name__}")
    if (kind == "b") != (dtype == dtypes.bool):
        raise TypeError(f"a Python {type(value).__name__} does not mix with a {dtype} array")
    if kind == "i" and dtype.kind in "iu":
        lo, hi = dtypes.iinfo_bounds(dtype)
        if not lo <= value <= hi:
            raise OverflowError(f"{value} does not fit in {dtype}")
    if kind == "f" and dtype.kind in "iu":
        return device.default_float
    if kind == "c" and dtype.kind in "iu":
        raise TypeError(f"a Python complex does not mix with a {dtype} array")
    if kind == "c" and dtype.kind == "f":
        return dtypes.complex64 if dtype == dtypes.float32 else dtypes.complex128
    return dtype


def common_dtype(name: str, x1, x2, *others: Array, kind: str | None = None) -> tuple:
    """(device, dtype) of ``x1`` and ``x2``, arrays (of dtypes of ``kind``) or Python
    scalars, one at least an array, on one device with ``others``: the arrays' promoted
    dtype, or a scalar's with the array (``scalar_operand``)."""
    arrays = [a for a in (x1, x2) if isinstance(a, Array)]
    if not arrays:
        raise TypeError(f"{name}: x1 or x2 must be a hal array")
    device = same_device(*others, *arrays)
    if kind is not None:
        for a in arrays:
            dtypes.check_kind(a.dtype, kind, name)
    if len(arrays) == 2:
        return device, dtypes.result_type(x1.dtype, x2.dtype)
    return device, scalar_operand(x2 if arrays[0] is x1 else x1, arrays[0].dtype, device)


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
    if scalar_operand(value, dtype, device).kind == "c" and dtype.kind != "c":
        raise TypeError(f"a Python complex cannot be written into a {dtype} array")
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
        if dtype is not None and dtypes.as_storage_dtype(dtype) != out.dtype:
            if copy is False:
                raise ValueError("copy=False, but changing the dtype needs a copy")
            from .data_type import astype
            return astype(out, dtype)
        if copy and out is obj:
            return Array._new(target.copy(obj._data), target)
        return out
    device = device_or_default(device)
    host = _to_numpy(obj, dtype, device, copy)
    device.check_dtype(host.dtype)
    data = device.from_host(host)
    if copy is False and data is not host:
        raise ValueError(f"copy=False, but host data must be copied to {device}")
    return Array._new(data, device)


def _to_numpy(obj, dtype, device: Device, copy) -> np.ndarray:
    explicit = dtypes.as_storage_dtype(dtype) if dtype is not None else None
    if isinstance(obj, np.ndarray) or hasattr(obj, "__dlpack__") or hasattr(obj, "__array_interface__") \
            or isinstance(obj, (bytes, bytearray, memoryview)):
        host = np.from_dlpack(obj) if hasattr(obj, "__dlpack__") and not isinstance(obj, np.ndarray) \
            else np.asarray(obj)
        if explicit is not None and host.dtype != explicit:
            if copy is False:
                raise ValueError("copy=False, but changing the dtype needs a copy")
            return host.astype(explicit)
        dtypes.as_storage_dtype(host.dtype)
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
        elif host.dtype == np.complex128:
            host = host.astype(default_complex(device), copy=False)
        elif host.dtype == object:
            raise TypeError("cannot convert a ragged or mixed-type sequence to an array")
        dtypes.as_storage_dtype(host.dtype)
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
    device = device_or_default(device)
    return Array._new(device.empty(_shape(shape), _dtype(dtype, device, "float", storage=True)), device)


def full(shape, fill_value, *, dtype=None, device=None) -> Array:
    device = device_or_default(device)
    dtype = _dtype(dtype, device, scalar_dtype(fill_value, device), storage=True)
    if dtype == dtypes.float16:
        if _scalar_kind(fill_value) not in "bif":
            raise TypeError(f"full: a float16 array is filled with a real number, not {fill_value!r}")
        return Array._new(device.impl("full_float16")(device, _shape(shape), float(fill_value)), device)
    value = fill_value if dtype != dtypes.bool else builtins.bool(fill_value)
    return Array._new(device.impl("full")(device, _shape(shape), dtype, dtype.type(value).item()), device)


def zeros(shape, *, dtype=None, device=None) -> Array:
    return full(shape, 0, dtype=dtype or _dtype(None, device_or_default(device), "float"), device=device)


def ones(shape, *, dtype=None, device=None) -> Array:
    return full(shape, 1, dtype=dtype or _dtype(None, device_or_default(device), "float"), device=device)


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
    device = device_or_default(device)
    is_int = all(isinstance(v, int) for v in (start, stop, step))
    dtype = _dtype(dtype, device, dtypes.int64 if is_int else "float")
    n = max(0, math.ceil((stop - start) / step)) if not is_int else max(0, -(-(stop - start) // step))
    return Array._new(device.impl("arange")(device, n, start, step, dtype), device)


def linspace(start, stop, /, num: int, *, dtype=None, device=None, endpoint: bool = True) -> Array:
    """"linspace": ``num`` evenly spaced values from ``start`` to ``stop``, computed on
    the device as ``start + i * step``; complex endpoints give the default complex."""
    if num < 0:
        raise ValueError(f"linspace: num must be non-negative, got {num}")
    device = device_or_default(device)
    is_complex = isinstance(start, complex) or isinstance(stop, complex)
    dtype = _dtype(dtype, device, default_complex(device) if is_complex else "float")
    if dtype.kind not in "fc" or (is_complex and dtype.kind != "c"):
        raise TypeError(f"linspace of {type(start).__name__} and {type(stop).__name__} cannot return {dtype}")
    if dtype.kind == "c":  # real and imaginary parts are two real linspaces, written into its components
        start, stop, real = complex(start), complex(stop), np.finfo(dtype).dtype
        out = empty((num,), dtype=dtype, device=device)
        parts = Array._new(device.components(out._data), device)
        parts[..., 0], parts[..., 1] = (linspace(getattr(start, p), getattr(stop, p), num, dtype=real, device=device,
                                                 endpoint=endpoint) for p in ("real", "imag"))
        return out
    step = (stop - start) / max(num - 1 if endpoint else num, 1)
    out = Array._new(device.impl("arange")(device, num, start, step, dtype), device)
    if endpoint and num > 1:
        out[-1] = float(stop)
    return out


def eye(n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype=None, device=None) -> Array:
    device = device_or_default(device)
    n_cols = n_rows if n_cols is None else n_cols
    dtype = _dtype(dtype, device, "float")
    return Array._new(device.impl("eye")(device, n_rows, n_cols, k, dtype), device)


def from_dlpack(x, /, *, device=None, copy=None) -> Array:
    """"from_dlpack": an array from any DLPack exporter (NumPy, hal, ...), on the
    exporter's device unless ``device`` names another (the data then moves, which
    ``copy=False`` forbids); host memory is shared where ``copy`` allows."""
    if isinstance(x, Array):
        return asarray(x, device=device, copy=copy)
    kwargs = {"copy": copy} if copy is not None else {}
    host = np.from_dlpack(x, **kwargs)
    return asarray(host, device="cpu" if device is None else device, copy=copy)


def meshgrid(*arrays: Array, indexing: str = "xy") -> tuple:
    """"meshgrid": coordinate arrays from 1-D arrays of one dtype ("xy": the first two
    output axes swapped, as for Cartesian plots; "ij": matrix indexing), written out on
    the device from broadcast views."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing is 'xy' or 'ij', not {indexing!r}")
    if any(not isinstance(a, Array) or a.ndim != 1 for a in arrays):
        raise ValueError("meshgrid takes 1-D hal arrays")
    if len({a.dtype for a in arrays}) > 1:
        raise TypeError(f"meshgrid takes arrays of one dtype, got {[str(a.dtype) for a in arrays]}")
    from .manipulation import broadcast_to, reshape
    sizes = [a.size for a in arrays]
    if indexing == "xy" and len(arrays) > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, a in enumerate(arrays):
        axis = (1 - i if i < 2 else i) if indexing == "xy" and len(arrays) > 1 else i
        shape = tuple(a.size if d == axis else 1 for d in range(len(arrays)))
        out.append(asarray(broadcast_to(reshape(a, shape), tuple(sizes)), copy=True))
    return tuple(out)


def _triangle(x: Array, k: int, name: str, keep) -> Array:
    if not isinstance(x, Array) or x.ndim < 2:
        raise ValueError(f"{name} takes a hal array of at least 2 dimensions")
    from .elementwise import subtract, where
    m, n = x.shape[-2:]
    rows = arange(m, device=x.device)[:, None]
    cols = arange(n, device=x.device)[None, :]
    return where(keep(subtract(cols, rows), k), x, x.dtype.type(0).item())


def tril(x: Array, /, *, k: int = 0) -> Array:
    """"tril": the elements on and below the ``k``-th diagonal (column - row <= k) of
    each matrix, zeros elsewhere; a where over index masks on the device."""
    from .elementwise import less_equal
    return _triangle(x, k, "tril", less_equal)


def triu(x: Array, /, *, k: int = 0) -> Array:
    """"triu": the elements on and above the ``k``-th diagonal (column - row >= k)."""
    from .elementwise import greater_equal
    return _triangle(x, k, "triu", greater_equal)


def _shape(shape) -> tuple:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise ValueError(f"a shape is a tuple of non-negative integers, got {shape}")
    return shape
