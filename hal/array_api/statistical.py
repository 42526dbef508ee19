"""Statistical functions ("Statistical Functions", array API 2025.12): sum, prod, max,
min, mean, std, var, cumulative_sum, cumulative_prod."""
from __future__ import annotations

import math
import operator

from .. import dtypes
from .array import Array, checked
from .data_type import astype
from .elementwise import sqrt
from ..shapes import normalize_axes, normalize_axis

__all__ = ["cumulative_prod", "cumulative_sum", "max", "mean", "min", "prod", "std", "sum", "var"]


def _accumulator(x: Array, dtype):
    """The ``dtype`` keyword's rule (sum, prod, cumulative_sum, cumulative_prod): integers
    narrower than the default integer accumulate in it (unsigned: uint64), bool counts as
    the default integer, floats and complex stay."""
    if dtype is not None:
        return dtypes.as_dtype(dtype)
    if x.dtype == dtypes.bool or x.dtype in dtypes.SIGNED:
        return dtypes.int64
    if x.dtype in dtypes.UNSIGNED:
        return dtypes.uint64
    return x.dtype


def _reduce(name: str, x: Array, axis, keepdims: bool, dtype) -> Array:
    checked(x, name, "any")  # (float16 is storage-only)
    axes = normalize_axes(axis, x.ndim)
    if name in ("max", "min") and any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"{name} of an empty selection has no identity; it is undefined")
    x._device.check_dtype(dtype)
    return Array._new(x._device.impl(name)(x._device, x._data, axes, keepdims, dtype), x._device)


def sum(x: Array, /, *, axis=None, dtype=None, keepdims: bool = False) -> Array:
    """"sum" (2025.12): the empty sum is 0; ``dtype`` per the standard's accumulation rule."""
    checked(x, "sum", "any")  # bool too: summing a mask counts it
    return _reduce("sum", x, axis, keepdims, _accumulator(x, dtype))


def prod(x: Array, /, *, axis=None, dtype=None, keepdims: bool = False) -> Array:
    """"prod" (2025.12): the empty product is 1; ``dtype`` as for sum."""
    checked(x, "prod", "numeric")  # unlike sum, no meaning for a mask
    return _reduce("prod", x, axis, keepdims, _accumulator(x, dtype))


def max(x: Array, /, *, axis=None, keepdims: bool = False) -> Array:
    """"max" (2025.12): NaN propagates; an empty selection is a ValueError."""
    checked(x, "max", "real numeric")
    return _reduce("max", x, axis, keepdims, x.dtype)


def min(x: Array, /, *, axis=None, keepdims: bool = False) -> Array:
    """"min" (2025.12): NaN propagates; an empty selection is a ValueError."""
    checked(x, "min", "real numeric")
    return _reduce("min", x, axis, keepdims, x.dtype)


def _float_dtype(x: Array):
    """Statistics of integers are computed in the device's default float."""
    return x.dtype if x.dtype in dtypes.FLOATING else x._device.default_float


def mean(x: Array, /, *, axis=None, keepdims: bool = False) -> Array:
    """"mean" (2025.12): accumulated in the result's floating dtype (integers take the
    device's default float); NaN (NaN + NaN j) over an empty selection."""
    checked(x, "mean", "numeric")
    count = math.prod(x.shape[a] for a in normalize_axes(axis, x.ndim))
    total = _reduce("sum", x, axis, keepdims, _float_dtype(x))
    return total / count if count else total * float("nan")


def _variance(name: str, x: Array, axis, correction, keepdims: bool) -> Array:
    """The mean squared deviation from the mean, divided by ``M - correction``; composed
    of device ops (mean, subtract, multiply, sum), so no data leaves the device."""
    checked(x, name, "real numeric")
    if not isinstance(correction, (int, float)) or isinstance(correction, bool):
        raise TypeError(f"{name}: correction is an int or a float, not {type(correction).__name__}")
    axes = normalize_axes(axis, x.ndim)
    if x.dtype not in dtypes.FLOATING:
        x = astype(x, _float_dtype(x))
    centered = x - mean(x, axis=axes, keepdims=True)
    total = sum(centered * centered, axis=axes, keepdims=keepdims)
    dof = math.prod(x.shape[a] for a in axes) - correction
    return total / dof if dof > 0 else total * float("nan")  # the standard: NaN if M - c <= 0


def var(x: Array, /, *, axis=None, correction=0.0, keepdims: bool = False) -> Array:
    """"var" (2025.12)."""
    return _variance("var", x, axis, correction, keepdims)


def std(x: Array, /, *, axis=None, correction=0.0, keepdims: bool = False) -> Array:
    """"std" (2025.12): the square root of var."""
    return sqrt(_variance("std", x, axis, correction, keepdims))


def _cumulative(name: str, x: Array, axis, dtype, include_initial: bool) -> Array:
    checked(x, name, "any" if name == "cumulative_sum" else "numeric")
    if x.ndim == 0:
        raise ValueError(f"{name} needs an array of at least one dimension")
    if axis is None:
        if x.ndim > 1:
            raise ValueError(f"{name} of a {x.ndim}-dimensional array needs an axis")
        axis = 0
    axis = normalize_axis(operator.index(axis), x.ndim)
    dtype = _accumulator(x, dtype)
    x._device.check_dtype(dtype)
    out = x._device.impl(name)(x._device, x._data, axis, dtype, bool(include_initial))
    return Array._new(out, x._device)


def cumulative_sum(x: Array, /, *, axis=None, dtype=None, include_initial: bool = False) -> Array:
    """"cumulative_sum" (2025.12): running sums along ``axis`` (optional for 1-D
    arrays), with a leading 0 if ``include_initial``; ``dtype`` as for sum."""
    return _cumulative("cumulative_sum", x, axis, dtype, include_initial)


def cumulative_prod(x: Array, /, *, axis=None, dtype=None, include_initial: bool = False) -> Array:
    """"cumulative_prod" (2025.12): running products along ``axis``, with a leading 1 if
    ``include_initial``; ``dtype`` as for prod."""
    return _cumulative("cumulative_prod", x, axis, dtype, include_initial)
