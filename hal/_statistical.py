"""Statistical functions ("Statistical Functions", array API 2025.12): sum, prod, max,
min, mean, with ``axis`` and ``keepdims``."""
from __future__ import annotations

import math

from . import dtypes
from ._array import Array
from .shapes import normalize_axes

__all__ = ["max", "mean", "min", "prod", "sum"]


def _accumulator(x: Array, dtype):
    """sum and prod accumulate small integers in the default integer of their signedness
    (the standard's rule), floats in their own dtype."""
    if dtype is not None:
        return dtypes.as_dtype(dtype)
    if x.dtype == dtypes.bool or x.dtype in dtypes.SIGNED:
        return dtypes.int64
    if x.dtype in dtypes.UNSIGNED:
        return dtypes.uint64
    return x.dtype


def _reduce(name: str, x: Array, axis, keepdims: bool, dtype) -> Array:
    if not isinstance(x, Array):
        raise TypeError(f"{name} expects a hal array, got {type(x).__name__}")
    axes = normalize_axes(axis, x.ndim)
    if name in ("max", "min") and any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"{name} of an empty selection has no identity; it is undefined")
    x._device.check_dtype(dtype)
    return Array._new(x._device.impl(name)(x._device, x._data, axes, keepdims, dtype), x._device)


def sum(x: Array, /, *, axis=None, dtype=None, keepdims: bool = False) -> Array:
    dtypes.check_kind(x.dtype, "any", "sum")  # bool too: summing a mask counts it
    return _reduce("sum", x, axis, keepdims, _accumulator(x, dtype))


def prod(x: Array, /, *, axis=None, dtype=None, keepdims: bool = False) -> Array:
    dtypes.check_kind(x.dtype, "numeric", "prod")  # unlike sum, no meaning for a mask
    return _reduce("prod", x, axis, keepdims, _accumulator(x, dtype))


def max(x: Array, /, *, axis=None, keepdims: bool = False) -> Array:
    dtypes.check_kind(x.dtype, "real numeric", "max")
    return _reduce("max", x, axis, keepdims, x.dtype)


def min(x: Array, /, *, axis=None, keepdims: bool = False) -> Array:
    dtypes.check_kind(x.dtype, "real numeric", "min")
    return _reduce("min", x, axis, keepdims, x.dtype)


def mean(x: Array, /, *, axis=None, keepdims: bool = False) -> Array:
    """The arithmetic mean, accumulated in the result's floating dtype (integers take
    the device's default float); NaN over an empty selection."""
    dtypes.check_kind(x.dtype, "numeric", "mean")
    dtype = x.dtype if x.dtype.kind == "f" else x._device.default_float
    count = math.prod(x.shape[a] for a in normalize_axes(axis, x.ndim))
    total = _reduce("sum", x, axis, keepdims, dtype)
    return total / count if count else total * float("nan")
