"""Sorting functions ("Sorting Functions", array API 2025.12): sort, argsort; and
searchsorted, which shares their kernels."""
from __future__ import annotations

from .. import dtypes
from .array import Array, checked, same_device
from .creation import asarray, common_dtype
from .data_type import astype
from ..shapes import normalize_axis

__all__ = ["argsort", "searchsorted", "sort"]

_SORTABLE = (dtypes.bool,) + dtypes.REAL


def _sort(name: str, x, axis: int, descending: bool, stable: bool) -> Array:
    if checked(x, name).dtype not in _SORTABLE:
        raise TypeError(f"{name} requires real-valued (or bool) dtypes, got {x.dtype}: "
                        f"complex numbers have no order")
    if x.ndim == 0:
        raise ValueError(f"{name} needs at least one dimension; got a 0-d array")
    axis = normalize_axis(axis, x.ndim)
    return Array._new(x._device.impl(name)(x._device, x._data, axis, descending, stable), x._device)


def sort(x: Array, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Array:
    """A sorted copy of ``x`` along ``axis`` (NaNs last, first when ``descending``).
    hal's sorts are always stable."""
    return _sort("sort", x, axis, descending, stable)


def argsort(x: Array, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Array:
    """The int64 indices that sort ``x`` along ``axis``; equal values keep their
    original order, ascending or descending."""
    return _sort("argsort", x, axis, descending, stable)


def searchsorted(x1: Array, x2, /, *, side: str = "left", sorter: Array | None = None) -> Array:
    """Indices at which to insert ``x2`` (an array or a Python scalar) into the sorted
    1-D ``x1`` to keep it sorted ("Searching Functions"); int64, ``x2``'s shape. With
    ``sorter``, ``x1[sorter]`` is the sorted array."""
    if checked(x1, "searchsorted").ndim != 1:
        raise ValueError(f"searchsorted needs a 1-D x1, got shape {x1.shape}")
    if side not in ("left", "right"):
        raise ValueError(f"side is 'left' or 'right', not {side!r}")
    if x1.dtype not in dtypes.REAL:
        raise TypeError(f"searchsorted requires real-valued dtypes, got {x1.dtype}")
    device, dtype = common_dtype("searchsorted", x1, x2)
    if sorter is not None:
        same_device(x1, sorter)
        if sorter.dtype not in dtypes.INTEGER or sorter.shape != x1.shape:
            raise ValueError(f"sorter must be an integer array of x1's shape {x1.shape}, "
                             f"got {sorter.dtype} {sorter.shape}")
        sorter = astype(sorter, dtypes.int64, copy=False)._data
    x1, x2 = astype(x1, dtype, copy=False), (astype(x2, dtype, copy=False) if isinstance(x2, Array)
                                             else asarray(x2, dtype=dtype, device=device))
    return Array._new(device.impl("searchsorted")(device, x1._data, x2._data, side, sorter), device)
