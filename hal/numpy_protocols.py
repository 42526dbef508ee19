"""NumPy's dispatch protocols on hal arrays: NumPy code runs on the array's own device.

- ``__array_ufunc__`` (NEP 13, https://numpy.org/neps/nep-0013-ufunc-overrides.html):
  a NumPy ufunc with an array API counterpart runs as that hal function, with ``out=``,
  ``where=`` and ``dtype=``, and the methods ``reduce``, ``accumulate`` and ``outer``
  where hal has the op.
- ``__array_function__`` (NEP 18, https://numpy.org/neps/nep-0018-array-function-protocol.html):
  the NumPy functions hal has dispatch to it, creation functions too through NEP 35's
  ``like=`` (https://numpy.org/neps/nep-0035-array-creation-dispatch-with-array-function.html).

``TABLE``, written once, drives both: NumPy ufunc or function -> the hal function (a
name in the hal namespace, ``"linalg.inv"``, ``"Array.shape"``) and, for functions, an
adapter from NumPy's signature to hal's. Anything not in it returns ``NotImplemented``,
so NumPy raises its TypeError: a hal array is never pulled to the host behind the
caller's back (an explicit ``numpy.asarray(x)`` still copies it there). NumPy arrays
mixed with hal arrays are refused the same way: move data explicitly with
``hal.asarray``. A keyword of NumPy's that hal cannot honour is a TypeError naming it.
"""
from __future__ import annotations

import functools
import math
import operator
import string
import types
from dataclasses import dataclass
from typing import Callable

import numpy as np

import hal  # (partly initialised while hal/array_api/array.py imports this module: used at call time only)

from .array_api.array import Array

_OPERANDS = (Array, int, float, complex, np.generic)  # hal arrays and scalars (bool is an int)
_UNSET = object()


@dataclass(frozen=True)
class Ufunc:
    """A NumPy ufunc's hal counterpart, and the reductions its methods map to."""
    hal: str
    reduce: str | None = None      # ufunc.reduce -> this hal reduction
    accumulate: str | None = None  # ufunc.accumulate -> this hal cumulative function
    adapt: Callable | None = None  # adapt(hal_function, *inputs): a ufunc composed of hal functions


@dataclass(frozen=True)
class Function:
    """A NumPy function's hal counterpart; ``adapt(hal_function, *args, **kwargs)`` takes
    NumPy's arguments (None: they are hal's too)."""
    hal: str
    adapt: Callable | None = None
    creation: bool = False  # NEP 35: adapt(hal_function, device, ...) with the device of like=
    host_parameters: bool = False  # NumPy arrays among the arguments are parameters (quantiles), not data


def resolve(path: str):
    """The hal object a table entry names ("sum", "linalg.inv", "Array.shape"); AttributeError if hal lacks it."""
    obj = hal
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


# -- adapters: NumPy's signatures onto hal's ---------------------------------------------

def _refuse(func: str, **given) -> None:
    """TypeError for a NumPy keyword hal does not honour, given a value other than its
    default (unset, None, False or 0; True for ``where``)."""
    for name, value in given.items():
        if value is _UNSET or value is None or (name == "where" and value is True):
            continue
        if not (type(value) in (bool, int) and not value):
            raise TypeError(f"numpy.{func} on hal arrays does not take {name}={value!r}")


def _into(result: Array, out):
    """NumPy's ``out=``: the result written into ``out`` (a hal array, same device), which is returned."""
    if out is None:
        return result
    if isinstance(out, tuple):
        (out,) = out
    if not isinstance(out, Array):
        raise TypeError(f"out= must be a hal array here, not {type(out).__name__}")
    if result.dtype != out.dtype:
        if not np.can_cast(result.dtype, out.dtype, "same_kind"):
            raise TypeError(f"cannot write a {result.dtype} result into a {out.dtype} out= array (same_kind casting)")
        result = hal.astype(result, out.dtype)
    out[...] = result
    return out


def _flat(x: Array) -> Array:
    return hal.reshape(x, (-1,))


def _on(like: Array, value):
    """``value`` (a hal array, or Python data given alongside one) as an array on ``like``'s device."""
    return value if isinstance(value, Array) else hal.asarray(value, device=like.device)


def _promote(*operands):
    """NumPy's result dtype of ``operands`` (NEP 50: Python scalars weak, NumPy scalars
    not; None is left out) and the operands in it: arrays cast (an UnsupportedDTypeError
    where the device lacks it), scalars as Python numbers of it."""
    dtype = np.result_type(*(v.dtype if isinstance(v, Array) else v for v in operands if v is not None))
    return dtype, [v if v is None or isinstance(v, Array) and v.dtype == dtype else hal.astype(v, dtype)
                   if isinstance(v, Array) else dtype.type(v).item() for v in operands]


def _float64(a):
    """An integer or bool array as numpy.linalg takes it: in float64 (hal's error where the device lacks it)."""
    return hal.astype(a, hal.float64) if isinstance(a, Array) and a.dtype.kind in "biu" else a


def _inexact(adapt):
    """numpy.linalg's solvers, decompositions and norms, of integers and bools in float64 as NumPy's."""
    def inexact(fn, *args, **kwargs):
        args = [_float64(a) for a in args]
        return fn(*args, **kwargs) if adapt is None else adapt(fn, *args, **kwargs)
    return inexact


_OF_BOOLS = {"max": "any", "min": "all"}  # (hal's max and min take no bools; NumPy's are "or" and "and")


def _boolean_reduction(fn, a: Array, dtype):
    """The reduction NumPy computes for ``fn`` on ``a``: of bools, max and min as any and
    all, and products counted in int64 (NumPy's default integer)."""
    if a.dtype != hal.bool:
        return fn, a
    if fn.__name__ in _OF_BOOLS:
        return getattr(hal, _OF_BOOLS[fn.__name__]), a
    return fn, hal.astype(a, hal.int64) if fn is hal.prod else a


def _reduction(fn, a, axis=None, dtype=None, out=None, keepdims=False, initial=_UNSET, where=True):
    """sum, prod, max, min: with ``initial`` or ``where``, the ufunc's reduce (``_reduce``)."""
    if initial is not _UNSET or where is not True:
        ufunc = _REDUCING_UFUNC[fn.__name__]
        return _reduce(ufunc, fn, resolve(TABLE[ufunc].hal), a, _axis(axis), dtype, out, keepdims, initial, where)
    fn, a = _boolean_reduction(fn, a, dtype)
    kwargs = {"dtype": dtype} if dtype is not None else {}
    return _into(fn(a, axis=_axis(axis), keepdims=keepdims, **kwargs), out)


def _extremum(fn, a, axis=None, out=None, keepdims=False, initial=_UNSET, where=True):
    return _reduction(fn, a, axis, None, out, keepdims, initial, where)


_REDUCING_UFUNC = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}


def _mean(fn, a, axis=None, dtype=None, out=None, keepdims=False, *, where=_UNSET):
    """numpy.mean (of bools: the fraction true, in float64 where the device has it, as
    NumPy's); with ``where``, the mean of the elements it selects (NaN where it selects none);
    with a float ``dtype``, computed in it, as NumPy's."""
    if a.dtype == hal.bool:
        a = hal.astype(a, _real(a.device))
    if dtype is not None and np.dtype(dtype).kind in "fc":
        a = hal.astype(a, dtype)
    if where is _UNSET or where is True:
        result = fn(a, axis=_axis(axis), keepdims=keepdims)
    else:
        result, _ = _masked_mean(a, where, _axis(axis), keepdims)
    return _into(result if dtype is None else hal.astype(result, dtype), out)


def _masked_mean(a: Array, where, axis, keepdims: bool):
    """The mean over ``axis`` of the elements ``where`` selects (NumPy's ``_mean`` with
    ``where=``: their sum over their count, in a float dtype), and that count."""
    if not isinstance(where, Array) or where.dtype != hal.bool:
        raise TypeError("where= must be a bool hal array on the array's device")
    mask = hal.broadcast_to(where, a.shape)
    real = a.dtype if a.dtype.kind in "fc" else _real(a.device)
    count = hal.sum(mask, axis=axis, keepdims=keepdims, dtype=np.finfo(real).dtype)  # (complex: its real dtype)
    total = hal.sum(hal.where(mask, hal.astype(a, real), 0), axis=axis, keepdims=keepdims)
    return total / count, count


def _spread(fn, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=_UNSET, mean=_UNSET,
            correction=_UNSET):
    """numpy.std / var; with ``where`` (or of complex values, which hal's std and var do
    not take), NumPy's formula: the elements' absolute deviations from their mean,
    squared and summed, over their count less ``ddof``."""
    _refuse("std/var", dtype=dtype, mean=mean)
    a = _float64(a) if a.dtype == hal.bool else a  # (NumPy's spread of bools: in float64)
    correction = ddof if correction is _UNSET else correction
    if where is _UNSET or where is True:
        if a.dtype.kind != "c":
            return _into(fn(a, axis=_axis(axis), correction=correction, keepdims=keepdims), out)
        where = hal.ones_like(a, dtype=hal.bool)
    centre, count = _masked_mean(a, where, _axis(axis), True)
    deviation = hal.abs(hal.astype(a, centre.dtype) - centre)
    squares = hal.sum(hal.where(hal.broadcast_to(where, a.shape), deviation * deviation, 0), axis=_axis(axis),
                      keepdims=True)
    variance = squares / hal.astype(count - correction, squares.dtype)
    if not keepdims:
        variance = hal.squeeze(variance, axis=tuple(range(a.ndim)) if axis is None else _axis(axis))
    return _into(hal.sqrt(variance) if fn is hal.std else variance, out)


def _nan_reduction(fn, a, axis=None, dtype=None, out=None, keepdims=False, initial=_UNSET, where=True):
    """nansum, nanprod: NaNs count as the identity (0, 1), as NumPy defines them."""
    identity = 1 if fn is hal.prod else 0
    cleaned = hal.where(hal.isnan(a), identity, a) if a.dtype.kind in "fc" else a
    return _reduction(fn, cleaned, axis, dtype, out, keepdims, initial, where)


def _nanmean(fn, a, axis=None, dtype=None, out=None, keepdims=False, *, where=_UNSET):
    """nanmean: the mean of the non-NaN elements (NaN where there are none)."""
    _refuse("nanmean", where=where)
    present = ~hal.isnan(a)
    total = hal.sum(hal.where(present, a, 0), axis=_axis(axis), keepdims=keepdims)
    result = total / hal.sum(present, axis=_axis(axis), keepdims=keepdims)
    return _into(result if dtype is None else hal.astype(result, dtype), out)


def _nan_spread(fn, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=_UNSET, mean=_UNSET,
                correction=_UNSET):
    """nanvar, nanstd: the variance of the non-NaN elements about their mean, divided by
    their count less ``ddof`` (NaN where that is not positive)."""
    _refuse("nanvar/nanstd", dtype=dtype, where=where, mean=mean)
    correction = ddof if correction is _UNSET else correction
    present = ~hal.isnan(a)
    count = hal.sum(present, axis=_axis(axis), keepdims=True, dtype=a.dtype)
    centered = hal.where(present, a - hal.sum(hal.where(present, a, 0), axis=_axis(axis), keepdims=True) / count, 0)
    dof = count - correction
    variance = hal.sum(centered * centered, axis=_axis(axis), keepdims=True) / hal.where(dof > 0, dof, float("nan"))
    if not keepdims:
        variance = hal.squeeze(variance, axis=tuple(range(a.ndim)) if axis is None else _axis(axis))
    return _into(hal.sqrt(variance) if fn is hal.std else variance, out)


def _nan_extremum(fn, a, axis=None, out=None, keepdims=False, initial=_UNSET, where=True):
    """nanmax, nanmin: NaNs skipped; NaN where a slice is all NaN (NumPy also warns)."""
    if a.dtype.kind not in "fc":
        return _extremum(fn, a, axis, out, keepdims, initial, where)
    present = ~hal.isnan(a)
    skipped = hal.where(present, a, float("-inf") if fn is hal.max else float("inf"))
    result = _extremum(fn, skipped, axis, None, keepdims, initial, where)
    return _into(hal.where(hal.any(present, axis=_axis(axis), keepdims=keepdims), result, float("nan")), out)


def _logical(fn, a, axis=None, out=None, keepdims=False, *, where=_UNSET):
    _refuse("all/any", where=where)
    return _into(fn(a, axis=_axis(axis), keepdims=keepdims), out)


def _arg(fn, a, axis=None, out=None, *, keepdims=False):
    a = hal.astype(a, hal.uint8) if a.dtype == hal.bool else a  # (NumPy's False < True; hal's take no bools)
    return _into(fn(a, axis=axis, keepdims=keepdims), out)


_DISCRETE_QUANTILES = {"lower": np.floor, "higher": np.ceil, "nearest": np.around}  # (NumPy's rounding of q * (n - 1))


def _quantile(fn, a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
              weights=None, interpolation=None):
    """numpy.quantile with NumPy's "linear" method (Hyndman & Fan's type 7) and its four
    discontinuous variants: sort along ``axis`` on the device, then at ``q * (n - 1)`` "linear" interpolates
    between the two sorted values around it, "midpoint" takes their mean (the value
    itself where it is one), "lower", "higher" and "nearest" (half to even) take one, in
    ``a``'s dtype. Several axes are moved last and flattened into one. The quantiles
    (host numbers or a NumPy array, as NumPy takes them) lead the result's shape."""
    _refuse("quantile", weights=weights, interpolation=interpolation,
            method=None if method in ("linear", "midpoint", *_DISCRETE_QUANTILES) else method)
    if isinstance(q, Array):
        raise TypeError("numpy.quantile on hal arrays takes q as Python numbers (host data), not a hal array")
    shape = a.shape
    axes = tuple(range(a.ndim)) if axis is None else tuple(ax % a.ndim for ax in (_axis(axis) if isinstance(
        axis, (tuple, list)) else (axis,)))
    if len(axes) == 1:
        (axis,) = axes
    else:  # (several axes: moved last and flattened into one)
        moved = hal.moveaxis(a, axes, tuple(range(a.ndim - len(axes), a.ndim)))
        a = hal.reshape(moved, moved.shape[:a.ndim - len(axes)] + (-1,))
        axis = a.ndim - 1
    fractions = np.asarray(q, dtype=np.float64)
    if np.any((fractions < 0) | (fractions > 1)):
        raise ValueError("quantiles must be in [0, 1] (percentiles in [0, 100])")
    positions = fractions.reshape(-1) * (a.shape[axis] - 1)
    ordered = fn(a, axis=axis)
    if method in _DISCRETE_QUANTILES:
        chosen = _DISCRETE_QUANTILES[method](positions).astype(np.int64)
        result = hal.moveaxis(hal.take(ordered, hal.asarray(chosen, device=a.device), axis=axis), axis, 0)
    else:
        result = _interpolated(ordered, axis, positions, q, midpoint=method == "midpoint")
    kept = tuple(1 if i in axes else n for i, n in enumerate(shape)) if keepdims else \
        tuple(n for i, n in enumerate(shape) if i not in axes)
    return _into(hal.reshape(result, fractions.shape + kept), out)


def _interpolated(ordered: Array, axis: int, positions, q, midpoint: bool) -> Array:
    """The sorted values at fractional ``positions`` along ``axis``, interpolated
    linearly, or half-way for ``midpoint``, rounding as NumPy's ``_lerp`` does (the
    difference in ``ordered``'s dtype; from the upper value where the weight is at
    least 1/2); the positions lead the result's axes."""
    below = np.floor(positions).astype(np.int64)
    above = np.minimum(below + 1, ordered.shape[axis] - 1)
    real = ordered.dtype if ordered.dtype.kind == "f" else ordered.device.default_float
    dtype = np.result_type(real, q if isinstance(q, (int, float)) else np.asarray(q))  # (NEP 50: a Python q is weak)
    low, high = (hal.take(ordered, hal.asarray(i, device=ordered.device), axis=axis) for i in (below, above))
    low, high, difference = (hal.astype(v, dtype) for v in (low, high, high - low))
    fraction = np.where(positions != below, 0.5, 0.0) if midpoint else positions - below
    shape = (-1,) + (1,) * (ordered.ndim - axis - 1)
    # (both weights rounded to dtype from float64, as NumPy's 1 - t is: a weak Python float)
    weight, rest = (hal.asarray(w.reshape(shape), dtype=dtype, device=ordered.device) for w in (fraction, 1 - fraction))
    upper = hal.asarray((fraction >= 0.5).reshape(shape), device=ordered.device)
    result = hal.where(upper, high - difference * rest, low + difference * weight)
    return hal.moveaxis(result, axis, 0)  # (q, the other axes)


def _percentile(fn, a, q, *args, **kwargs):
    return _quantile(fn, a, q / 100 if isinstance(q, (int, float)) else np.asarray(q) / 100, *args, **kwargs)


def _median(fn, a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The 0.5 quantile; of an empty axis NaN, as NumPy's median (and as the mean is: Dask
    infers its metadata from zero-size chunks)."""
    axes = range(a.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    if not math.prod(a.shape[ax] for ax in axes):
        real = a.dtype if a.dtype.kind == "f" else a.device.default_float
        return _into(hal.mean(hal.astype(a, real), axis=_axis(axis), keepdims=keepdims), out)
    return _quantile(fn, a, 0.5, axis, out, keepdims=keepdims)


def _nanmedian(fn, a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The median of the non-NaN elements over ``axis`` (one, several or all; NaN where
    there are none): the axes moved last and flattened into one, sorted there on the
    device (NaNs last), the one or two middle values of each slice's leading non-NaN
    run taken, two averaged as NumPy's ``(a + b) / 2``."""
    axes = tuple(range(a.ndim)) if axis is None else tuple(
        int(ax) % a.ndim for ax in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    if a.dtype.kind not in "fc" or not math.prod(a.shape[ax] for ax in axes):  # (no NaNs; nothing to take)
        return _median(fn, a, axes, out, keepdims=keepdims)
    kept = [n for i, n in enumerate(a.shape) if i not in axes]
    moved = hal.moveaxis(a, axes, tuple(range(len(kept), a.ndim)))
    ordered = fn(hal.reshape(moved, tuple(kept) + (-1,)), axis=-1)
    count = hal.sum(~hal.isnan(ordered), axis=-1, keepdims=True, dtype=hal.int64)
    low, high = (hal.take_along_axis(ordered, hal.maximum(i, 0), axis=-1) for i in ((count - 1) // 2, count // 2))
    shape = tuple(1 if i in axes else n for i, n in enumerate(a.shape)) if keepdims else tuple(kept)
    return _into(hal.reshape((low + high) / 2, shape), out)


def _nanquantile(fn, a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
                 weights=None, interpolation=None):
    """numpy.nanquantile, method "linear": each slice's quantiles of its non-NaN values
    (NaN where there are none). Sorted on the device (NaNs last), each slice's positions
    ``q * (count - 1)`` computed there, the values around them interpolated as NumPy's
    ``_lerp`` does."""
    _refuse("nanquantile", weights=weights, interpolation=interpolation,
            method=None if method == "linear" else method)
    if isinstance(q, Array):
        raise TypeError("numpy.nanquantile on hal arrays takes q as Python numbers (host data), not a hal array")
    fractions = np.asarray(q, dtype=np.float64)
    if np.any((fractions < 0) | (fractions > 1)):
        raise ValueError("quantiles must be in [0, 1] (percentiles in [0, 100])")
    axes = tuple(range(a.ndim)) if axis is None else tuple(
        int(ax) % a.ndim for ax in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    if a.dtype.kind not in "fc" or not math.prod(a.shape[ax] for ax in axes):
        return _quantile(fn, a, q, axis, out, method=method, keepdims=keepdims)
    kept = [n for i, n in enumerate(a.shape) if i not in axes]
    ordered = fn(hal.reshape(hal.moveaxis(a, axes, tuple(range(len(kept), a.ndim))), tuple(kept) + (-1,)), axis=-1)
    # (as NumPy: a Python q is weak, NEP 50: positions in float64, the interpolation in a's
    # dtype with the weight rounded to it; a NumPy q's dtype joins a's for both)
    weak = type(q) in (int, float)
    compute = a.dtype if weak else np.result_type(a.dtype, np.asarray(q).dtype)
    compute = compute if compute != np.float64 or a.device.info.fp64 else a.dtype
    positions = _real(a.device) if weak else compute
    last = hal.astype(hal.sum(~hal.isnan(ordered), axis=-1, keepdims=True, dtype=hal.int64) - 1, positions)
    results = []
    for fraction in fractions.reshape(-1):
        position = hal.maximum(last * float(fraction), 0.0)  # (no values: position 0, which holds a NaN)
        below = hal.floor(position)
        low, high = (hal.take_along_axis(ordered, hal.astype(i, hal.int64), axis=-1)
                     for i in (below, hal.minimum(below + 1, hal.maximum(last, 0.0))))
        low, high, difference = (hal.astype(v, compute) for v in (low, high, high - low))
        weight = position - below
        upper = weight >= 0.5
        weight, rest = hal.astype(weight, compute), hal.astype(1 - weight, compute)
        results.append(hal.where(upper, high - difference * rest, low + difference * weight))
    shape = tuple(1 if i in axes else n for i, n in enumerate(a.shape)) if keepdims else tuple(kept)
    return _into(hal.reshape(hal.stack(results), fractions.shape + shape), out)


def _nanpercentile(fn, a, q, *args, **kwargs):
    return _nanquantile(fn, a, q / 100 if isinstance(q, (int, float)) else np.asarray(q) / 100, *args, **kwargs)


def _bincount(fn, x, weights=None, minlength=0):
    """numpy.bincount on the device: ``x`` sorted, each value's run found with
    ``searchsorted``; with ``weights``, the differences of their running sums in that
    order (float64 where the device has it, as NumPy's). The length (``max(x) + 1``)
    and the sign of ``min(x)`` are read from the device as sizes (CuPy reads them too)."""
    if x.ndim != 1 or x.dtype.kind not in "iu":
        raise TypeError(f"numpy.bincount takes a 1-D array of integers, not {x.ndim}-D {x.dtype}")
    if x.size and _read_size(hal.min(x)) < 0:
        raise ValueError("numpy.bincount: x must hold no negative values")
    length = max(_read_size(hal.max(x)) + 1 if x.size else 0, operator.index(minlength))
    order = hal.argsort(x)
    ends = fn(hal.take(x, order), hal.arange(length + 1, dtype=x.dtype, device=x.device), side="left")
    if weights is None:
        return hal.astype(ends[1:] - ends[:-1], hal.int64)
    return _sums_between(hal.take(_on(x, weights), order), ends, x.device)


def _read_size(x: Array) -> int:
    """A 0-d integer array's value, read as an output size (hal.stats' ``size_reads``)."""
    return x.device.read_size(x._data)


def _sums_between(values: Array, ends: Array, device) -> Array:
    """The sums of ``values[ends[i]:ends[i + 1]]``, as differences of running sums."""
    real = hal.float64 if device.info.fp64 else device.default_float
    running = hal.concat([hal.zeros(1, dtype=real, device=device), hal.cumulative_sum(hal.astype(values, real))])
    at = hal.take(running, ends)
    return at[1:] - at[:-1]


def _histogram(fn, a, bins=10, range=None, density=None, weights=None):
    """numpy.histogram on the device. The edges are NumPy's own (``histogram_bin_edges``
    on the data's extremes, read from the device, or on ``range``); a value falls in bin
    ``i`` where ``edges[i] <= v < edges[i + 1]`` (the last bin closed), which is where
    NumPy's binning puts it; values outside the edges, and NaNs, are left out."""
    if isinstance(bins, str):
        raise TypeError(f"numpy.histogram on hal arrays takes bins as a count or edges, not {bins!r}")
    if isinstance(bins, Array):
        raise TypeError("numpy.histogram on hal arrays takes bin edges as host data (a list or NumPy array)")
    values = _flat(a)
    extremes = np.array([float(hal.min(values)), float(hal.max(values))] if values.size and range is None
                        else [], dtype=a.dtype)
    edges = np.histogram_bin_edges(extremes, bins=bins, range=range)
    order = hal.argsort(values)
    device_edges = hal.asarray(edges, device=a.device)
    ends = hal.concat([fn(hal.take(values, order), device_edges[:-1], side="left"),
                       fn(hal.take(values, order), device_edges[-1:], side="right")])
    counts = hal.astype(ends[1:] - ends[:-1], hal.int64) if weights is None else \
        _sums_between(hal.take(_flat(_on(a, weights)), order), ends, a.device)
    if density:
        widths = hal.asarray(np.diff(edges), dtype=a.device.default_float, device=a.device)
        counts = counts / (hal.sum(counts) * widths)
    return counts, edges


def _average(fn, a, axis=None, weights=None, returned=False, *, keepdims=False):
    """The mean, or ``sum(a * w) / sum(w)`` over ``axis`` (1-D weights lie along it),
    in NumPy's dtype (integers average as float64, or the device's float without it)."""
    if weights is None:
        result = fn(a if a.dtype.kind in "fc" else hal.astype(a, _real(a.device)), axis=_axis(axis), keepdims=keepdims)
        count = hal.full_like(result, a.size // max(result.size, 1))
        return (result, count) if returned else result
    weights = _on(a, weights)
    if weights.shape != a.shape:
        if axis is None or weights.ndim != 1 or isinstance(axis, (tuple, list)):
            raise TypeError("numpy.average: weights differ in shape from a; give 1-D weights with one axis")
        weights = hal.reshape(weights, tuple(-1 if d == axis % a.ndim else 1 for d in range(a.ndim)))
    dtype = np.result_type(a.dtype, weights.dtype, *(["f8"] if a.dtype.kind in "iub" else []))
    dtype = dtype if dtype != np.float64 or a.device.info.fp64 else np.dtype(_real(a.device))
    total = hal.sum(hal.astype(a, dtype) * hal.astype(weights, dtype), axis=_axis(axis), keepdims=keepdims)
    scale = hal.sum(hal.broadcast_to(hal.astype(weights, dtype), a.shape), axis=_axis(axis), keepdims=keepdims)
    return (total / scale, scale) if returned else total / scale


def _real(device):
    return hal.float64 if device.info.fp64 else device.default_float


def _cov(fn, m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    """The covariance of ``m``'s rows (variables; columns with ``rowvar=False``) and
    ``y``'s, in float64 where the device has it, as NumPy's: centred, then one matmul."""
    _refuse("cov", fweights=fweights, aweights=aweights)
    rows = [hal.reshape(v, (1, -1)) if v.ndim < 2 else v for v in (m, *([] if y is None else [_on(m, y)]))]
    if not rowvar:
        rows = [r if r.shape[0] == 1 else hal.matrix_transpose(r) for r in rows]
    x = hal.astype(hal.concat(rows, axis=0) if len(rows) > 1 else rows[0], dtype or _real(m.device))
    dof = x.shape[1] - (ddof if ddof is not None else 0 if bias else 1)
    centred = x - hal.mean(x, axis=1, keepdims=True)
    product = fn(centred, hal.conj(hal.matrix_transpose(centred)) if x.dtype.kind == "c" else
                 hal.matrix_transpose(centred)) / dof
    return hal.squeeze(product, axis=tuple(d for d in range(2) if product.shape[d] == 1)) if 1 in product.shape \
        else product


def _corrcoef(fn, x, y=None, rowvar=True, *, dtype=None):
    """The covariance scaled by the outer product of the standard deviations, clipped to [-1, 1]."""
    c = _cov(hal.matmul, x, y, rowvar, dtype=dtype)
    if c.ndim == 0:
        return c / c
    deviation = hal.sqrt(hal.real(hal.linalg.diagonal(c)) if c.dtype.kind == "c" else hal.linalg.diagonal(c))
    scaled = c / hal.reshape(deviation, (-1, 1)) / hal.reshape(deviation, (1, -1))
    return hal.clip(scaled, -1, 1) if scaled.dtype.kind != "c" else scaled


def _ptp(fn, a, axis=None, out=None, keepdims=False):
    return _into(fn(a, axis=_axis(axis), keepdims=keepdims) - hal.min(a, axis=_axis(axis), keepdims=keepdims), out)


def _isclose(fn, a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """NumPy's closeness, ``|a - b| <= atol + rtol * |b|``, elementwise on the device
    (either operand may be a Python or NumPy scalar)."""
    close = fn(a - b) <= atol + rtol * _elementwise(fn, abs, b)
    close = hal.logical_or(close, a == b)  # (equal infinities)
    if equal_nan:
        close = hal.logical_or(close, hal.logical_and(_elementwise(hal.isnan, math.isnan, a),
                                                      _elementwise(hal.isnan, math.isnan, b)))
    return close


def _elementwise(fn, scalar_fn, value):
    """``fn`` of a hal array, ``scalar_fn`` of a scalar."""
    return fn(value) if isinstance(value, Array) else scalar_fn(value)


def _allclose(fn, a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A 0-d bool hal array (``bool(...)`` reads it), not a Python bool: no hidden transfer."""
    return fn(_isclose(hal.abs, a, b, rtol, atol, equal_nan))


def _array_equal(fn, a1, a2, equal_nan=False):
    if a1.shape != a2.shape:
        return hal.asarray(False, device=a1.device)
    equal = a1 == a2
    if equal_nan:
        equal = hal.logical_or(equal, hal.logical_and(hal.isnan(a1), hal.isnan(a2)))
    return fn(equal)


def _inner(fn, a, b):
    _, (a, b) = _promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return hal.multiply(a, b)
    return fn(a, b, axes=((a.ndim - 1,), (b.ndim - 1,)))


def _cross(fn, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    _, (a, b) = _promote(a, b)
    result = fn(hal.moveaxis(a, axisa, -1), hal.moveaxis(b, axisb, -1), axis=-1)
    return hal.moveaxis(result, -1, axisc)


def _diag(fn, v, k=0):
    """A 2-D array's ``k``-th diagonal, or a square matrix with 1-D ``v`` on it."""
    if v.ndim == 2:
        return fn(v, offset=k)
    if v.ndim != 1:
        raise ValueError("Input must be 1- or 2-d.")
    n = v.shape[0] + abs(k)
    padding = hal.zeros(abs(k), dtype=v.dtype, device=v.device)
    columns = hal.concat([padding, v] if k > 0 else [v, padding])  # (the value for each column's element)
    on_diagonal = hal.eye(n, k=k, dtype=hal.int8, device=v.device) != 0
    return hal.where(on_diagonal, hal.reshape(columns, (1, n)), hal.zeros((), dtype=v.dtype, device=v.device))


def _vdot(fn, a, b):
    return fn(_flat(a), _flat(b))  # (vecdot conjugates its first operand, as vdot does)


def _argwhere(fn, a):
    """The indices of the nonzero elements, a row each (of a 0-d array: no columns, as NumPy's)."""
    if a.ndim == 0:
        return _argwhere(fn, hal.reshape(a, (1,)))[:, :0]
    return hal.stack(fn(a), axis=1)


def _flatnonzero(fn, a):
    return fn(_flat(a))[0]


def _diagonal(fn, a, offset=0, axis1=0, axis2=1):
    return fn(hal.moveaxis(a, (axis1, axis2), (-2, -1)), offset=offset)


def _atleast(ndim: int):
    """atleast_1d / atleast_2d, NumPy's shapes: () -> (1,) or (1, 1), (n,) -> (1, n)."""
    def adapt(fn, *arys):
        shaped = [a if a.ndim >= ndim else fn(a, (1,) * (ndim - a.ndim) + a.shape) for a in arys]
        return shaped[0] if len(shaped) == 1 else tuple(shaped)
    return adapt


def _count_nonzero(fn, a, axis=None, *, keepdims=False):
    return fn(a, axis=_axis(axis), keepdims=keepdims)


def _cumulative(fn, a, axis=None, dtype=None, out=None, *, include_initial=False):
    if a.dtype == hal.bool and fn is hal.cumulative_prod:
        a = hal.astype(a, hal.int64)  # (NumPy's products of bools count in int64)
    if axis is None and a.ndim != 1:
        a, axis = _flat(a), 0
    return _into(fn(a, axis=axis, dtype=dtype, include_initial=include_initial), out)


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _diff(fn, a, n=1, axis=-1, prepend=None, append=None):
    """numpy.diff; of bools, NumPy's: whether neighbours differ (``not_equal``), as int8
    differences that are nonzero."""
    if a.dtype != hal.bool:
        return fn(a, n=n, axis=axis, prepend=prepend, append=append)
    prepend, append = (None if v is None else hal.astype(_on(a, v), hal.int8) for v in (prepend, append))
    differences = hal.astype(a, hal.int8)
    for _ in range(n):  # (each step's differences as bools again, as NumPy's repeated not_equal)
        differences = hal.astype(fn(differences, axis=axis, prepend=prepend, append=append) != 0, hal.int8)
        prepend = append = None
    return hal.astype(differences, hal.bool)


def _sort(fn, a, axis=-1, kind=None, order=None, *, stable=None):
    _refuse("sort", order=order)
    if axis is None:
        a, axis = _flat(a), 0
    return fn(a, axis=axis, stable=True)  # (hal's sorts are stable: every NumPy kind's result)


def _partition(fn, a, kth, axis=-1, kind="introselect", order=None):
    """numpy.partition / argpartition as a full sort on the device: a sorted array meets
    their contract (each kth element where sorting puts it, none larger before it, none
    smaller after), though NumPy's own order of the other elements differs."""
    _refuse("partition", order=order)
    if axis is None:
        a, axis = _flat(a), 0
    n = a.shape[axis]
    for k in np.atleast_1d(np.asarray(kth)).tolist():
        if not -n <= k < n:
            raise ValueError(f"kth(={k}) out of bounds ({n})")
    return fn(a, axis=axis, stable=True)


def _searchsorted(fn, a, v, side="left", sorter=None):
    return fn(a, _on(a, v), side=side, sorter=None if sorter is None else _on(a, sorter))


def _unique(fn, ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *, equal_nan=True,
            sorted=True):
    """numpy.unique of the flattened array, as the standard's unique_all (sorted, as
    NumPy's; each value's first index in the flattened array, the inverse in ``ar``'s
    shape, as NumPy 2; unlike NumPy's default ``equal_nan``, each NaN is its own value)."""
    if axis is not None:
        raise TypeError(f"numpy.unique on hal arrays does not take axis={axis!r} (it flattens)")
    if not (return_index or return_inverse or return_counts):
        return hal.unique_values(_flat(ar))
    values, first, inverse, counts = fn(ar)
    wanted = (values,) + ((first,) if return_index else ()) + ((inverse,) if return_inverse else ())
    return wanted + ((counts,) if return_counts else ())


def _nan_arg(fn, a, axis=None, out=None, *, keepdims=False):
    """nanargmax, nanargmin: NaNs skipped; an all-NaN slice is NumPy's ValueError (which
    costs reading back one bool)."""
    if a.dtype.kind not in "fc":
        return _arg(fn, a, axis, out, keepdims=keepdims)
    missing = hal.isnan(a)
    result = fn(hal.where(missing, float("-inf") if fn is hal.argmax else float("inf"), a), axis=axis,
                keepdims=keepdims)
    if bool(hal.any(hal.all(missing, axis=axis))):
        raise ValueError("All-NaN slice encountered")
    return _into(result, out)


def _strides(shape, order: str) -> list:
    """The element strides of a C ("C") or Fortran ("F") ordered array of ``shape``."""
    if order not in ("C", "F"):
        raise ValueError(f"order must be 'C' or 'F', not {order!r}")
    dims = list(shape) if order == "C" else list(shape)[::-1]
    strides = [math.prod(dims[i + 1:]) for i in range(len(dims))]
    return strides if order == "C" else strides[::-1]


def _unravel_index(fn, indices, shape, order="C"):
    """numpy.unravel_index on the device: one int64 coordinate array per dimension of
    ``shape``; an index outside it is NumPy's ValueError (reading back one bool)."""
    shape = _shape(shape)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"only int indices permitted, not {indices.dtype}")
    indices = hal.astype(indices, hal.int64)
    if bool(hal.any((indices < 0) | (indices >= math.prod(shape)))):
        raise ValueError(f"index out of bounds for an array of size {math.prod(shape)}")
    return tuple(indices // stride % n for stride, n in zip(_strides(shape, order), shape))


def _ravel_multi_index(fn, multi_index, dims, mode="raise", order="C"):
    """numpy.ravel_multi_index on the device (mode "raise": a coordinate outside ``dims``
    is NumPy's ValueError, reading back one bool)."""
    _refuse("ravel_multi_index", mode=None if mode == "raise" else mode)
    dims = _shape(dims)
    if len(multi_index) != len(dims):
        raise ValueError(f"parameter multi_index must be a sequence of length {len(dims)}")
    like = next(k for k in multi_index if isinstance(k, Array))
    coords = [hal.astype(_on(like, k), hal.int64) for k in multi_index]
    if bool(hal.any(hal.stack([hal.any((c < 0) | (c >= n)) for c, n in zip(coords, dims)]))):
        raise ValueError("invalid entry in coordinates array")
    return sum(c * stride for c, stride in zip(coords, _strides(dims, order)))


def _interp(fn, x, xp, fp, left=None, right=None, period=None):
    """numpy.interp on the device: for each x, the segment of the increasing ``xp`` it
    falls in (the last ``xp[j] <= x``, by searchsorted) and NumPy's formula,
    ``(fp[j+1] - fp[j]) / (xp[j+1] - xp[j]) * (x - xp[j]) + fp[j]``, in float64 (the
    device's default float where it lacks fp64); ``left``/``right`` outside ``xp``."""
    _refuse("interp", period=period)
    like = next(v for v in (x, xp, fp) if isinstance(v, Array))
    real = like.device.default_float
    x, xp, fp = (hal.astype(_on(like, v), np.result_type(real, _on(like, v).dtype)) for v in (x, xp, fp))
    if xp.ndim != 1 or fp.shape != xp.shape or not xp.shape[0]:
        raise ValueError("interp needs xp and fp 1-D, of one non-zero length")
    first, last = fp[0], fp[-1]
    left, right = (first if left is None else left), (last if right is None else right)
    if xp.shape[0] == 1:
        inside = hal.broadcast_to(first, x.shape)
    else:
        j = hal.clip(fn(xp, x, side="right") - 1, 0, xp.shape[0] - 2)
        x0, x1, y0, y1 = (hal.reshape(hal.take(v, _flat(k), axis=0), x.shape) for v in (xp, fp) for k in (j, j + 1))
        slope = (y1 - y0) / (x1 - x0)
        inside = hal.where(x == xp[-1], last, slope * (x - x0) + y0)
    outside = hal.where(x < xp[0], left, hal.where(x > xp[-1], right, inside))
    return hal.where(hal.isnan(x), x, outside)


def _isin(fn, element, test_elements, assume_unique=False, invert=False, *, kind=None):
    """numpy.isin; test elements given as host data (a list, a NumPy array: Dask's
    chunks of them) move to ``element``'s device, as index data does."""
    return fn(element, _on(element, test_elements), invert=invert)


def _where(fn, condition, x=_UNSET, y=_UNSET):
    if x is _UNSET and y is _UNSET:
        return hal.nonzero(condition)
    dtype, (x, y) = _promote(x, y)
    if not isinstance(x, Array) and not isinstance(y, Array):  # (two scalars: hal's where wants an array)
        x = hal.asarray(x, dtype=dtype, device=condition.device)
    return fn(condition, x, y)


def _take(fn, a, indices, axis=None, out=None, mode="raise"):
    _refuse("take", mode=None if mode == "raise" else mode)
    if axis is None:
        a, axis = _flat(a), 0
    return _into(fn(a, _on(a, indices), axis=axis), out)


def _take_along_axis(fn, arr, indices, axis=-1):
    if axis is None:
        arr, axis = _flat(arr), 0
    return fn(arr, indices, axis=axis)


def _clip(fn, a, a_min=_UNSET, a_max=_UNSET, out=None, *, min=_UNSET, max=_UNSET, **ufunc_kwargs):
    _refuse("clip", **ufunc_kwargs)
    low = min if a_min is _UNSET else a_min
    high = max if a_max is _UNSET else a_max
    _, (a, low, high) = _promote(a, *(None if v is _UNSET else v for v in (low, high)))  # (NumPy's dtype)
    return _into(fn(a, low, high), out)


def _nan_to_num(fn, x, copy=True, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced (by default with 0 and the dtype's largest and
    smallest finite values), elementwise on the device; integers are returned as they are."""
    if x.dtype.kind != "f":
        return x
    largest = float(np.finfo(x.dtype).max)
    x = fn(hal.isnan(x), nan, x)
    x = fn(x == float("inf"), largest if posinf is None else posinf, x)
    return fn(x == float("-inf"), -largest if neginf is None else neginf, x)


def _real_part(fn, val):
    """NumPy's real: of a real array, the array itself (the standard's real takes complex only)."""
    return fn(val) if val.dtype.kind == "c" else val


def _imaginary_part(fn, val):
    return fn(val) if val.dtype.kind == "c" else hal.zeros_like(val)


def _nan_cumulative(fn, a, axis=None, dtype=None, out=None):
    """nancumsum, nancumprod: NaNs count as the identity (0, 1), as NumPy defines them."""
    identity = 1 if fn is hal.cumulative_prod else 0
    cleaned = hal.where(hal.isnan(a), identity, a) if a.dtype.kind in "fc" else a
    return _cumulative(fn, cleaned, axis, dtype, out)


def _pad(fn, array, pad_width, mode="constant", *, constant_values=0):
    """numpy.pad with a constant (``constant_values``: one value, or one per side of
    each axis as NumPy takes it): the array written into a filled one, on its device."""
    if mode != "constant":
        raise TypeError(f"numpy.pad on hal arrays takes mode='constant', not {mode!r}")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (array.ndim, 2))
    values = np.broadcast_to(np.asarray(constant_values, dtype=object), (array.ndim, 2))
    if (widths < 0).any():
        raise ValueError("index can't contain negative values")
    out = hal.empty(tuple(int(n + lo + hi) for n, (lo, hi) in zip(array.shape, widths)), dtype=array.dtype,
                    device=array.device)
    for axis in reversed(range(array.ndim)):  # (the first axis's values win in the corners, as in NumPy)
        for side, (start, stop) in enumerate(((0, widths[axis][0]), (out.shape[axis] - widths[axis][1],
                                                                    out.shape[axis]))):
            out[(slice(None),) * axis + (slice(int(start), int(stop)),)] = values[axis][side]
    out[tuple(slice(int(lo), int(lo) + n) for n, (lo, _) in zip(array.shape, widths))] = array
    return out


def _round(fn, a, decimals=0, out=None):
    """numpy.round as NumPy computes it (``PyArray_Round``): ``rint(a * 10**d) / 10**d``,
    or ``rint(a / 10**-d) * 10**-d`` for negative ``decimals``, the factor a Python
    float (weak: in ``a``'s dtype); integers are returned as they are for ``d >= 0``."""
    decimals = operator.index(decimals)
    if a.dtype.kind in "iub":
        if decimals < 0:
            raise TypeError(f"numpy.round on hal integer arrays takes decimals >= 0, not {decimals}")
        return _into(a, out)
    if decimals == 0:
        return _into(fn(a), out)
    factor = 10.0 ** abs(decimals)
    return _into(fn(a * factor) / factor if decimals > 0 else fn(a / factor) * factor, out)


def _fix(fn, x, out=None):
    """numpy.fix: rounded towards zero (numpy.trunc, integers kept as they are)."""
    return _into(np.trunc(x), out)


def _concatenate(fn, arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if axis is None:
        arrays, axis = [_flat(a) for a in arrays], 0
    result = fn(_promote(*arrays)[1], axis=axis)
    return _into(result if dtype is None else hal.astype(result, dtype), out)


def _stack(fn, arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    result = fn(_promote(*arrays)[1], axis=axis)
    return _into(result if dtype is None else hal.astype(result, dtype), out)


def _block(fn, arrays):
    """numpy.block: nested lists joined innermost along the last axis, each level out
    along the axis before; the arrays given leading axes of length 1 up to the depth."""
    leaves = []
    depth = _nesting(arrays, leaves)
    if not leaves or not all(isinstance(a, Array) for a in leaves):
        raise TypeError("numpy.block on hal arrays takes nested lists of hal arrays")
    ndim = max(depth, *(a.ndim for a in leaves))
    promoted = iter(_promote(*leaves)[1])

    def join(item, level: int):
        if isinstance(item, list):
            return fn([join(part, level + 1) for part in item], axis=level - depth)
        leaf = next(promoted)
        return hal.reshape(leaf, (1,) * (ndim - leaf.ndim) + leaf.shape)
    return join(arrays, 0) if isinstance(arrays, list) else arrays


def _nesting(item, leaves: list) -> int:
    """How deep ``item``'s lists nest (all branches alike, as NumPy requires); its arrays appended to ``leaves``."""
    if not isinstance(item, list):
        leaves.append(item)
        return 0
    if not item:
        raise ValueError("numpy.block: lists cannot be empty")
    depths = {_nesting(part, leaves) for part in item}
    if len(depths) != 1:
        raise ValueError("numpy.block: list depths are mismatched")
    return depths.pop() + 1


def _vstack(fn, tup, *, dtype=None, casting="same_kind"):
    rows = [a if a.ndim >= 2 else hal.reshape(a, (1, -1) if a.ndim else (1, 1)) for a in tup]
    return _concatenate(fn, rows, 0, dtype=dtype)


def _hstack(fn, tup, *, dtype=None, casting="same_kind"):
    parts = [a if a.ndim else hal.reshape(a, (1,)) for a in tup]
    return _concatenate(fn, parts, 0 if parts[0].ndim == 1 else 1, dtype=dtype)


def _column_stack(fn, tup):
    """1-D arrays as columns beside 2-D ones, joined along axis 1."""
    return fn([hal.reshape(a, (-1, 1)) if a.ndim < 2 else a for a in _promote(*tup)[1]], axis=1)


def _dstack(fn, tup):
    """Joined along a third axis: 1-D (n,) arrays as (1, n, 1), 2-D ones as (m, n, 1)."""
    depth = {0: (1, 1, 1), 1: (1, -1, 1)}
    return fn([hal.reshape(a, depth[a.ndim]) if a.ndim < 2 else hal.expand_dims(a, axis=2) if a.ndim == 2 else a
               for a in _promote(*tup)[1]], axis=2)


def _append(fn, arr, values, axis=None):
    values = _on(arr, values)
    return fn([_flat(arr), _flat(values)]) if axis is None else fn([arr, values], axis=axis)


def _pieces(a: Array, indices_or_sections, axis: int, equal: bool) -> list:
    """numpy.split's views of ``a`` along ``axis``: at the given indices (slice bounds,
    as NumPy takes them), or in that many sections (for array_split the first ones one
    longer where they do not divide the axis)."""
    if not -a.ndim <= axis < a.ndim:
        raise np.exceptions.AxisError(f"axis {axis} is out of bounds for array of dimension {a.ndim}")
    axis %= a.ndim
    n = a.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.")
        if equal and n % sections:
            raise ValueError("array split does not result in an equal division")
        each, extra = divmod(n, sections)
        bounds = [0] + [each * k + min(k, extra) for k in range(1, sections + 1)]
    else:
        bounds = [0, *(operator.index(i) for i in indices_or_sections), n]
    before = (slice(None),) * axis
    return [a[before + (slice(lo, hi),)] for lo, hi in zip(bounds, bounds[1:])]


def _split(fn, ary, indices_or_sections, axis=0):
    return _pieces(ary, indices_or_sections, axis, equal=True)


def _array_split(fn, ary, indices_or_sections, axis=0):
    return _pieces(ary, indices_or_sections, axis, equal=False)


def _hsplit(fn, ary, indices_or_sections):
    if ary.ndim == 0:
        raise ValueError("hsplit only works on arrays of 1 or more dimensions")
    return _pieces(ary, indices_or_sections, 1 if ary.ndim > 1 else 0, equal=True)


def _vsplit(fn, ary, indices_or_sections):
    if ary.ndim < 2:
        raise ValueError("vsplit only works on arrays of 2 or more dimensions")
    return _pieces(ary, indices_or_sections, 0, equal=True)


def _reshape(fn, a, shape=None, order="C", *, newshape=None, copy=None):
    """numpy.reshape; ``order="F"`` reads and writes the elements first index fastest:
    the reversed axes reshaped to the reversed shape, reversed back."""
    _refuse("reshape", order=None if order in ("C", "F") else order)
    shape = _shape(newshape if shape is None else shape)
    if order == "F":
        return hal.permute_dims(fn(hal.permute_dims(a, tuple(reversed(range(a.ndim)))), shape[::-1], copy=copy),
                                tuple(reversed(range(len(shape)))))
    return fn(a, shape, copy=copy)


def _ravel(fn, a, order="C"):
    _refuse("ravel", order=None if order == "C" else order)
    return fn(a, (-1,))


def _transpose(fn, a, axes=None):
    return fn(a, tuple(reversed(range(a.ndim))) if axes is None else tuple(axes))


def _swapaxes(fn, a, axis1, axis2):
    axes = list(range(a.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return fn(a, tuple(axes))


def _squeeze(fn, a, axis=None):
    return fn(a, tuple(i for i, n in enumerate(a.shape) if n == 1) if axis is None else axis)


def _flip(fn, m, axis=None):
    return fn(m, axis=axis)


def _broadcast_to(fn, array, shape, subok=False):
    return fn(array, (shape,) if isinstance(shape, int) else tuple(shape))


def _broadcast_arrays(fn, *args, subok=False):
    return fn(*args)


def _roll(fn, a, shift, axis=None):
    return fn(a, shift, axis=axis)


def _tile(fn, A, reps):
    return fn(A, (reps,) if isinstance(reps, int) else tuple(reps))


def _repeat(fn, a, repeats, axis=None):
    """numpy.repeat; repeats per element given as host data (a list) move to ``a``'s device."""
    return fn(a, repeats if isinstance(repeats, (int, np.integer, Array)) else _on(a, np.asarray(repeats)), axis=axis)


def _triangle(fn, m, k=0):
    return fn(m, k=k)


def _meshgrid(fn, *xi, copy=True, sparse=False, indexing="xy"):
    _refuse("meshgrid", sparse=sparse)
    return fn(*xi, indexing=indexing)


def _copy(fn, a, order="K", subok=False):
    return fn(a, copy=True)


def _astype(fn, x, dtype, /, *, copy=True, device=None):
    _refuse("astype", device=device)
    return fn(x, dtype, copy=copy)


def _like(fn, prototype, dtype=None, order="K", subok=True, shape=None, *, device=None, fill_value=_UNSET):
    """zeros_like and friends: NumPy's ``shape=`` makes the new array from the prototype's device and dtype."""
    _refuse("*_like", device=device)
    args = () if fill_value is _UNSET else (fill_value,)
    if shape is None:
        return fn(prototype, *args, dtype=dtype)
    maker = getattr(hal, fn.__name__.removesuffix("_like"))
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return maker(shape, *args, dtype=prototype.dtype if dtype is None else dtype, device=prototype.device)


def _full_like(fn, a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _like(fn, a, dtype, order, subok, shape, device=device, fill_value=fill_value)


def _size(fn, a, axis=None):
    return a.size if axis is None else a.shape[axis]


def _is_complex(fn, x):
    """iscomplexobj: whether the dtype is complex (read from the array, not its data)."""
    return x.dtype.kind == "c"


def _is_real(fn, x):
    return x.dtype.kind != "c"


def _attribute(name: str):
    def adapt(fn, a):
        return getattr(a, name)
    return adapt


def _result_type(fn, *arrays_and_dtypes):
    """NumPy's promotion, of the arrays' dtypes (it needs no data)."""
    return np.result_type(*(a.dtype if isinstance(a, Array) else a for a in arrays_and_dtypes))


def _of_bools(adapt):
    """A product NumPy takes of bools (dot, einsum, outer, ...), whose result is bool: "or"
    of "and"s; hal's take no bools, so computed in int64, nonzero as True."""
    def adapted(fn, *args, **kwargs):
        arrays = [v for v in args if isinstance(v, Array)] + [v for a in args if isinstance(a, (list, tuple))
                                                              for v in a if isinstance(v, Array)]
        if not arrays or any(v.dtype != hal.bool for v in arrays):
            return adapt(fn, *args, **kwargs)
        counted = [_as_counts(v) for v in args]
        return _into(adapt(fn, *counted, **{k: v for k, v in kwargs.items() if k != "out"}) != 0, kwargs.get("out"))
    return adapted


def _as_counts(value):
    if isinstance(value, (list, tuple)):
        return type(value)(_as_counts(v) for v in value)
    return hal.astype(value, hal.int64) if isinstance(value, Array) else value


def _dot(fn, a, b, out=None):
    _, (a, b) = _promote(a, b)
    if np.ndim(a) == 0 or np.ndim(b) == 0:  # (a scalar operand: NumPy's product)
        return _into(hal.multiply(a, b), out)
    return _into(fn(a, b), out)


def _tensordot(fn, a, b, axes=2):
    _, (a, b) = _promote(a, b)
    return fn(a, b, axes=axes if isinstance(axes, int) else tuple(tuple(ax) if not isinstance(ax, int) else (ax,)
                                                                  for ax in axes))


def _outer(fn, a, b, out=None):
    _, (a, b) = _promote(a, b)
    return _into(fn(_flat(a), _flat(b)), out)


def _trace(fn, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    a = hal.astype(a, hal.int64) if a.dtype == hal.bool and dtype is None else a  # (as sums of bools)
    return _into(fn(hal.moveaxis(a, (axis1, axis2), (-2, -1)), offset=offset, dtype=dtype), out)


def _flip_axis(axis: int, least: int):
    """flipud (axis 0) / fliplr (axis 1), which NumPy defines on arrays of at least 1 and 2 dimensions."""
    def adapt(fn, m):
        if m.ndim < least:
            raise ValueError(f"Input must be >= {least}-d.")
        return fn(m, axis=axis)
    return adapt


def _rot90(fn, m, k=1, axes=(0, 1)):
    """numpy.rot90: ``k`` quarter turns from the first of ``axes`` towards the second, as
    NumPy composes them of flips and a swap."""
    first, second = (ax % m.ndim for ax in axes)
    if len(axes) != 2 or first == second:
        raise ValueError("len(axes) must be 2 and the axes must differ.")
    k %= 4
    if k == 0:
        return m[...]
    if k == 2:
        return fn(m, axis=(first, second))
    order = list(range(m.ndim))
    order[first], order[second] = order[second], order[first]
    return hal.permute_dims(fn(m, axis=second), tuple(order)) if k == 1 else \
        fn(hal.permute_dims(m, tuple(order)), axis=second)


def _atleast_3d(fn, *arys):
    """atleast_3d, NumPy's shapes: () -> (1, 1, 1), (n,) -> (1, n, 1), (m, n) -> (m, n, 1)."""
    shapes = {0: lambda a: (1, 1, 1), 1: lambda a: (1, a.shape[0], 1), 2: lambda a: a.shape + (1,)}
    shaped = [fn(a, shapes[a.ndim](a)) if a.ndim < 3 else a for a in arys]
    return shaped[0] if len(shaped) == 1 else tuple(shaped)


def _kron(fn, a, b):
    """numpy.kron: each element of ``a`` times all of ``b``, the axes interleaved (shapes padded with leading 1s)."""
    _, (a, b) = _promote(a, b)
    ndim = max(a.ndim, b.ndim)
    sa, sb = (1,) * (ndim - a.ndim) + a.shape, (1,) * (ndim - b.ndim) + b.shape
    product = fn(hal.reshape(a, tuple(n for d in sa for n in (d, 1))),
                 hal.reshape(b, tuple(n for d in sb for n in (1, d))))
    return hal.reshape(product, tuple(p * q for p, q in zip(sa, sb)))


def _multi_dot(fn, arrays, *, out=None):
    """numpy.linalg.multi_dot: the products left to right (NumPy may order them otherwise: equal up to rounding)."""
    return _into(functools.reduce(fn, arrays), out)


def _select(fn, condlist, choicelist, default=0):
    """numpy.select: each element from the first choice whose condition holds, else ``default``."""
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    result = default
    for condition, choice in reversed(list(zip(condlist, choicelist))):
        result = fn(condition, choice, result)
    return result if isinstance(result, Array) else fn(condlist[0], result, result)


def _digitize(fn, x, bins, right=False):
    """numpy.digitize as NumPy computes it: ``searchsorted`` on increasing bins (side
    "right", or "left" for ``right=True``), on reversed ones counted from the end for decreasing bins. Their
    direction is read from the host data, or as one bool from a device array."""
    host = bins if not isinstance(bins, Array) else None
    if host is not None:
        steps = np.diff(np.asarray(host))
        if not (np.all(steps >= 0) or np.all(steps <= 0)):
            raise ValueError("bins must be monotonically increasing or decreasing")
    bins = _on(x, bins)
    increasing = bool(np.all(steps >= 0)) if host is not None else bins.shape[0] < 2 or bool(bins[0] <= bins[-1])
    side = "left" if right else "right"
    if increasing:
        return fn(bins, x, side=side)
    return bins.shape[0] - fn(hal.flip(bins), x, side=side)


def _angle(fn, z, deg=False):
    """numpy.angle: ``arctan2(imag, real)`` (of a real array 0 or pi), in degrees with ``deg``."""
    if z.dtype.kind not in "fc":
        z = hal.astype(z, _real(z.device))
    angle = fn(_imaginary_part(hal.imag, z), _real_part(hal.real, z))
    return angle * (180 / math.pi) if deg else angle


def _sliding_window_view(fn, x, window_shape, axis=None, *, subok=False, writeable=False):
    """numpy.lib.stride_tricks.sliding_window_view: a read-only view (no copy) of every
    window of ``window_shape`` along ``axis`` (all axes when None), the windows' own
    axes last, as NumPy's: each windowed axis shortened by its window less one and
    repeated at its stride."""
    _refuse("sliding_window_view", writeable=writeable)
    window = (window_shape,) if isinstance(window_shape, (int, np.integer)) else tuple(window_shape)
    axes = tuple(range(x.ndim)) if axis is None else (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(window) != len(axes):
        raise ValueError("Must provide matching length window_shape and axis")
    shape, strides = list(x.shape), x.device.element_strides(x._data)
    for ax, w in zip(axes, window):
        if not 0 <= w <= shape[ax]:
            raise ValueError("window shape cannot be larger than input array shape")
        shape[ax] -= w - 1
    return Array._new(x.device.strided(x._data, tuple(shape) + window, tuple(strides) + tuple(
        strides[ax] for ax in axes)), x.device)


def _sinc(fn, x):
    """numpy.sinc as NumPy computes it: ``sin(y) / y`` for ``y = pi * x``, 1e-20 standing in for a zero ``x``."""
    y = math.pi * hal.where(x == 0, 1.0e-20, _floating(x))
    return fn(y) / y


def _polyval(fn, p, x):
    """numpy.polyval by Horner's rule, as NumPy's loop (``y = y * x + pv``), in the dtype
    NumPy's arrays promote to (coefficients given as host data are a NumPy array there)."""
    like = x if isinstance(x, Array) else p
    coefficients = p if isinstance(p, Array) else np.asarray(p)
    dtype = np.result_type(_flat(x).dtype if isinstance(x, Array) else np.asarray(x).dtype, coefficients.dtype)
    dtype = dtype if dtype != np.float64 or like.device.info.fp64 else np.dtype(_real(like.device))
    x = hal.astype(_on(like, x), dtype)
    y = hal.zeros_like(x)
    for i in range(coefficients.shape[0]):
        y = fn(y * x, coefficients[i] if isinstance(coefficients, Array) else coefficients[i].item())
    return y


def _trapezoid(fn, y, x=None, dx=1.0, axis=-1):
    """numpy.trapezoid as NumPy computes it: ``sum(d * (y[1:] + y[:-1]) / 2)`` along
    ``axis``, ``d`` the spacing ``dx`` or the differences of ``x`` (1-D: along ``axis``)."""
    axis %= y.ndim
    before = (slice(None),) * axis
    if x is None:
        d = dx
    else:
        x = _on(y, x)
        d = hal.diff(x, axis=-1 if x.ndim == 1 else axis)
        if x.ndim == 1:
            d = hal.reshape(d, (-1,) + (1,) * (y.ndim - axis - 1))
    return fn(d * (y[before + (slice(1, None),)] + y[before + (slice(None, -1),)]) / 2.0, axis=axis)


def _ediff1d(fn, ary, to_end=None, to_begin=None):
    """numpy.ediff1d: the differences of the flattened array, with ``to_begin`` and ``to_end`` around them."""
    flat = _flat(ary)
    parts = [hal.astype(_flat(_on(ary, v)), ary.dtype) for v in (to_begin,) if v is not None]
    parts += [flat[1:] - flat[:-1]] + [hal.astype(_flat(_on(ary, v)), ary.dtype) for v in (to_end,) if v is not None]
    return fn(parts) if len(parts) > 1 else parts[0]


def _compress(fn, condition, a, axis=None, out=None):
    """numpy.compress: the slices along ``axis`` (of the flattened array for None) where ``condition`` holds."""
    if axis is None:
        a, axis = _flat(a), 0
    (chosen,) = hal.nonzero(_flat(_on(a, condition)))
    return _into(fn(a, chosen, axis=axis), out)


def _extract(fn, condition, arr):
    """numpy.extract: the elements of the flattened ``arr`` where the flattened ``condition`` is nonzero."""
    condition = _flat(_on(arr, condition))
    return _flat(arr)[fn(condition if condition.dtype == hal.bool else condition != 0)[0]]


def _lexsort(fn, keys, axis=-1):
    """numpy.lexsort: indices ordering by the last key, ties broken by the ones before
    it: a stable argsort per key, the first key first."""
    keys = list(keys) if not isinstance(keys, Array) else [keys[i] for i in range(keys.shape[0])]
    order = fn(keys[0], axis=axis, stable=True)
    for key in keys[1:]:
        order = hal.take_along_axis(order, fn(hal.take_along_axis(key, order, axis=axis), axis=axis, stable=True),
                                    axis=axis)
    return order


def _diagflat(fn, v, k=0):
    return _diag(fn, _flat(v), k)


def _rollaxis(fn, a, axis, start=0):
    """numpy.rollaxis: ``axis`` moved to before ``start``."""
    axis, start = axis % a.ndim, start % (a.ndim + 1) if -a.ndim <= start <= a.ndim else start
    if not 0 <= start <= a.ndim:
        raise np.exceptions.AxisError(f"start={start} is out of bounds for an array of dimension {a.ndim}")
    start -= axis < start
    return fn(a, axis, start) if axis != start else a[...]


def _einsum(fn, *operands, out=None, dtype=None, order="K", casting="safe", optimize=False):
    """einsum of diagonals, sums, permutations and matmuls: a subscript repeated within
    an operand takes that diagonal ('ii->i', 'ii'); "..." as letters of its own for the axes it stands for
    (the same number in each operand); without "->", NumPy's implicit output ("..."'s
    axes, then the subscripts found once, in alphabetical order); three or more operands contracted
    pairwise, left to right (NumPy may order them otherwise: equal up to rounding).
    ``dtype`` casts the operands, as NumPy computes in it."""
    _refuse("einsum", order=None if order == "K" else order, casting=None if casting == "safe" else casting)
    subscripts, arrays = operands[0], operands[1:]
    if not isinstance(subscripts, str):
        raise TypeError("numpy.einsum on hal arrays takes subscripts as a string ('ij,jk->ik')")
    inputs, explicit, output = subscripts.replace(" ", "").partition("->")
    inputs = inputs.split(",")
    ellipsis = _ellipsis_letters(inputs, arrays, subscripts)
    inputs = [sub.replace("...", ellipsis) for sub in inputs]
    if not explicit:
        letters = "".join(inputs)
        output = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ellipsis))
    output = output.replace("...", ellipsis)
    if len(inputs) != len(arrays) or not arrays:
        raise ValueError(f"numpy.einsum: {subscripts!r} names {len(inputs)} operands, {len(arrays)} given")
    arrays = [hal.astype(a, dtype) for a in arrays] if dtype is not None else _promote(*arrays)[1]
    arrays, inputs = zip(*(_diagonals(a, sub) for a, sub in zip(arrays, inputs)))
    if len(arrays) == 1:
        (sub,), (x,) = inputs, arrays
        x, sub = _sum_lone_axes(x, sub, output)
        return _into(hal.permute_dims(x, tuple(sub.index(c) for c in output)), out)
    x, sub = arrays[0], inputs[0]
    for i in range(1, len(arrays)):  # (each product keeps the subscripts still wanted after it)
        wanted = "".join(inputs[i + 1:]) + output
        kept = output if i == len(arrays) - 1 else "".join(dict.fromkeys(c for c in sub + inputs[i] if c in wanted))
        x, sub = _einsum_pair(fn, (sub, inputs[i]), kept, x, arrays[i]), kept
    return _into(x, out)


def _diagonals(x: Array, subscripts: str):
    """An operand whose subscripts repeat a letter ('ii', 'bii'): each repeat's diagonal
    taken (``linalg.diagonal`` of those two axes, moved last), its letter once, last."""
    for letter in subscripts:
        if subscripts.count(letter) > 1:
            first = subscripts.index(letter)
            second = subscripts.index(letter, first + 1)
            x = hal.linalg.diagonal(hal.moveaxis(x, (first, second), (-2, -1)))
            rest = "".join(c for i, c in enumerate(subscripts) if i not in (first, second))
            return _diagonals(x, rest + letter)
    return x, subscripts


def _ellipsis_letters(inputs, arrays, subscripts) -> str:
    """Letters unused in ``subscripts`` for the axes "..." stands for (one count for every operand that has it)."""
    counts = {a.ndim - len(sub.replace("...", "")) for sub, a in zip(inputs, arrays) if "..." in sub}
    if len(counts) > 1:
        raise TypeError("numpy.einsum on hal arrays: '...' stands for one number of axes in every operand here")
    unused = [c for c in string.ascii_letters if c not in subscripts]
    return "".join(unused[:counts.pop()]) if counts else ""


def _einsum_pair(matmul, inputs, output, a, b):
    """A two-operand einsum as a batched matmul: batch axes (in both and in the output),
    contracted axes (in both, not in the output), and each operand's own axes; an axis
    in one operand only and not in the output is summed first."""
    sa, sb = inputs
    a, sa = _sum_lone_axes(a, sa, sb + output)
    b, sb = _sum_lone_axes(b, sb, sa + output)
    batch = [c for c in sa if c in sb and c in output]
    contract = [c for c in sa if c in sb and c not in output]
    free_a = [c for c in sa if c not in sb]
    free_b = [c for c in sb if c not in sa]
    sizes = {c: n for s, x in ((sa, a), (sb, b)) for c, n in zip(s, x.shape)}

    def prod(letters):
        return math.prod(sizes[c] for c in letters)
    left = hal.reshape(hal.permute_dims(a, tuple(sa.index(c) for c in batch + free_a + contract)),
                       (prod(batch), prod(free_a), prod(contract)))
    right = hal.reshape(hal.permute_dims(b, tuple(sb.index(c) for c in batch + contract + free_b)),
                        (prod(batch), prod(contract), prod(free_b)))
    product = hal.reshape(matmul(left, right), tuple(sizes[c] for c in batch + free_a + free_b))
    order = batch + free_a + free_b
    return hal.permute_dims(product, tuple(order.index(c) for c in output))


def _sum_lone_axes(x: Array, subscripts: str, elsewhere: str):
    lone = tuple(i for i, c in enumerate(subscripts) if c not in elsewhere)
    if not lone:
        return x, subscripts
    return hal.sum(x, axis=lone), "".join(c for i, c in enumerate(subscripts) if i not in lone)


def _qr(fn, a, mode="reduced"):
    """numpy.linalg.qr: modes "reduced" and "complete" as the standard's; "r" the reduced R alone."""
    return fn(a, mode="reduced")[1] if mode == "r" else fn(a, mode=mode)


def _cond(fn, x, p=None):
    """numpy.linalg.cond for ``p`` None, 2 or -2: the ratio of the largest and smallest singular values."""
    if p not in (None, 2, -2):
        raise TypeError(f"numpy.linalg.cond on hal arrays takes p=None, 2 or -2, not p={p!r}")
    s = fn(x)
    largest, smallest = hal.max(s, axis=-1), hal.min(s, axis=-1)
    return smallest / largest if p == -2 else largest / smallest


def _svd(fn, a, full_matrices=True, compute_uv=True, hermitian=False):
    return fn(a, full_matrices=full_matrices) if compute_uv else hal.linalg.svdvals(a)


def _eigh(fn, a, UPLO="L"):
    """numpy.linalg.eigh of the Hermitian matrix ``a``'s lower triangle defines; with
    ``UPLO="U"``, of the one its upper triangle defines: the lower of ``a``'s conjugate transpose."""
    if UPLO not in ("L", "U"):
        raise ValueError(f"UPLO argument must be 'L' or 'U', not {UPLO!r}")
    return fn(a if UPLO == "L" else hal.matrix_transpose(hal.conj(a) if a.dtype.kind == "c" else a))


def _pinv(fn, a, rcond=None, hermitian=False, *, rtol=_UNSET):
    _refuse("linalg.pinv", hermitian=hermitian)
    return fn(a, rtol=rcond if rtol is _UNSET else rtol)


def _matrix_rank(fn, A, tol=None, hermitian=False, *, rtol=None):
    _refuse("linalg.matrix_rank", tol=tol, hermitian=hermitian)
    return fn(A, rtol=rtol)


def _norm(fn, x, ord=None, axis=None, keepdims=False):
    """numpy.linalg.norm: a vector norm over one axis (or all of a 1-D array or, ord
    None, of any array), a matrix norm over two."""
    if axis is None and (ord is None or x.ndim == 1):
        return fn(x, axis=None, keepdims=keepdims, ord=2 if ord is None else ord)
    axis = tuple(range(x.ndim)) if axis is None else axis
    if isinstance(axis, int) or len(axis) == 1:
        return fn(x, axis=axis, keepdims=keepdims, ord=2 if ord is None else ord)
    moved = hal.moveaxis(x, tuple(axis), (-2, -1))
    result = hal.linalg.matrix_norm(moved, keepdims=keepdims, ord="fro" if ord is None else ord)
    return hal.moveaxis(result, (-2, -1), tuple(axis)) if keepdims else result


def _fft_input(fn, a: Array) -> Array:
    """NumPy's fft functions take real input where the standard's take complex (and
    rfft, rfftn, ihfft real floats): the operand converted as NumPy converts it."""
    real_input = fn.__name__ in ("rfft", "rfftn", "ihfft")
    if a.dtype.kind == "c" or (real_input and a.dtype.kind == "f"):
        return a
    real = a.dtype if a.dtype.kind == "f" else a.device.default_float
    return hal.astype(a, real if real_input else np.result_type(real, np.complex64))


def _fft(fn, a, n=None, axis=-1, norm=None, out=None):
    return _into(fn(_fft_input(fn, a), n=n, axis=axis, norm=norm or "backward"), out)


def _fftn(fn, a, s=None, axes=None, norm=None, out=None):
    return _into(fn(_fft_input(fn, a), s=s, axes=axes, norm=norm or "backward"), out)


def _fft2(fn, a, s=None, axes=(-2, -1), norm=None, out=None):
    return _fftn(fn, a, s, axes, norm, out)


def _shift(fn, x, axes=None):
    return fn(x, axes=axes)


def _shape(shape) -> tuple:
    return (shape,) if isinstance(shape, int) else tuple(shape)


def _creation(fn, device, shape, dtype=None, order="C"):
    return fn(_shape(shape), dtype=dtype, device=device)


def _full(fn, device, shape, fill_value, dtype=None, order="C"):
    return fn(_shape(shape), fill_value, dtype=dtype, device=device)


def _array(fn, device, object, dtype=None, *, copy=True, order="K", subok=False, ndmin=0):
    """numpy.array(..., like=x): on x's device; ``ndmin`` prepends axes of length 1."""
    result = fn(object, dtype=dtype, device=device, copy=copy or None)
    return hal.reshape(result, (1,) * (ndmin - result.ndim) + result.shape) if result.ndim < ndmin else result


def _asarray(fn, device, a, dtype=None, order=None, *, copy=None):
    return fn(a, dtype=dtype, device=device, copy=copy)


def _arange(fn, device, start_or_stop, /, stop=None, step=1, dtype=None):
    return fn(start_or_stop, stop, step, dtype=dtype, device=device)


def _eye(fn, device, N, M=None, k=0, dtype=float, order="C"):
    return fn(N, M, k=k, dtype=None if dtype is float else dtype, device=device)


def _identity(fn, device, n, dtype=None):
    return fn(n, dtype=dtype, device=device)


# -- ufuncs composed of hal functions (Ufunc.adapt) ----------------------------------------

def _floating(x):
    """An operand as NumPy's float-only loops take it: integers and bools cast to the device's real float."""
    return hal.astype(x, _real(x.device)) if isinstance(x, Array) and x.dtype.kind in "iub" else x


def _fabs(fn, x):
    """numpy.fabs: the absolute value of a real float (integers as floats, as NumPy's loops take them)."""
    if isinstance(x, Array) and x.dtype.kind == "c":
        raise TypeError("numpy.fabs takes no complex values")
    return fn(_floating(x))


def _exp2(fn, x):
    """numpy.exp2: ``2 ** x`` (2 a weak Python float: in x's float dtype)."""
    return fn(2.0, _floating(x))


def _scaled(factor: float):
    """deg2rad / rad2deg (radians, degrees): ``x * factor``, as NumPy's loops compute them."""
    def adapt(fn, x):
        return fn(_floating(x), factor)
    return adapt


def _nan_ignoring(fn, a, b):
    """numpy.fmax / fmin: maximum / minimum, but a NaN gives way to the other operand (NaN only where both are)."""
    result = fn(a, b)
    for nan, other in ((b, a), (a, b)):
        if isinstance(nan, Array) and nan.dtype.kind in "fc":
            other = hal.astype(other, result.dtype) if isinstance(other, Array) else other
            result = hal.where(hal.isnan(nan), other, result)
    return result


def _fmod(fn, a, b):
    """numpy.fmod, C's remainder (the sign of ``a``): the floored remainder (the sign of
    ``b``) less ``b`` where the two signs differ (an integer's by zero is 0 in both)."""
    r = fn(a, b)
    return hal.where((r != 0) & ((r < 0) != (a < 0)), r - b, r)


def _cbrt(fn, x):
    """numpy.cbrt: the real cube root, ``|x| ** (1/3)`` with ``x``'s sign (exact cubes may differ in the last bit)."""
    return hal.copysign(fn(hal.abs(x), 1.0 / 3.0), x)


def _ldexp(fn, x1, x2):
    """numpy.ldexp: ``x1 * 2 ** x2``, the power of two exact in ``x1``'s float dtype."""
    exponent = hal.astype(x2, x1.dtype) if isinstance(x2, Array) else float(x2)
    return fn(x1, hal.pow(2.0, exponent) if isinstance(exponent, Array) else 2.0 ** exponent)


def _heaviside(fn, x1, x2):
    """numpy.heaviside: 0 where ``x1 < 0``, ``x2`` where it is 0, 1 where it is greater, NaN where it is NaN."""
    step = fn(x1 > 0, 1.0, fn(x1 == 0, x2, hal.zeros_like(x1)))
    return fn(hal.isnan(x1), x1, step) if x1.dtype.kind == "f" else step


def _matvec(fn, matrix, vector):
    """numpy.matvec (NumPy 2.2): ``matrix @ vector`` over the last axes, broadcast over the others."""
    return fn(matrix, hal.expand_dims(vector, axis=-1))[..., 0]


def _vecmat(fn, vector, matrix):
    """numpy.vecmat (NumPy 2.2): ``conj(vector) @ matrix`` over the last axes, broadcast over the others."""
    vector = hal.conj(vector) if vector.dtype.kind == "c" else vector
    return fn(hal.expand_dims(vector, axis=-2), matrix)[..., 0, :]


# -- the table ----------------------------------------------------------------------------

_ELEMENTWISE_SAME_NAME = (
    "add", "subtract", "multiply", "divide", "floor_divide", "remainder", "negative", "positive", "sign", "sqrt",
    "square", "exp", "expm1", "log", "log1p", "log2", "log10", "logaddexp", "sin", "cos", "tan", "sinh", "cosh",
    "tanh", "floor", "ceil", "trunc", "isnan", "isinf", "isfinite", "signbit", "copysign", "hypot", "nextafter",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_not", "logical_xor",
    "bitwise_and", "bitwise_or", "bitwise_xor", "reciprocal", "matmul", "vecdot")

TABLE: dict = {
    **{getattr(np, name): Ufunc(name) for name in _ELEMENTWISE_SAME_NAME},
    np.add: Ufunc("add", reduce="sum", accumulate="cumulative_sum"),
    np.multiply: Ufunc("multiply", reduce="prod", accumulate="cumulative_prod"),
    np.maximum: Ufunc("maximum", reduce="max"),
    np.minimum: Ufunc("minimum", reduce="min"),
    np.logical_and: Ufunc("logical_and", reduce="all", accumulate="cumulative_sum"),
    np.logical_or: Ufunc("logical_or", reduce="any", accumulate="cumulative_sum"),
    np.power: Ufunc("pow"), np.absolute: Ufunc("abs"), np.rint: Ufunc("round"), np.conjugate: Ufunc("conj"),
    np.arcsin: Ufunc("asin"), np.arccos: Ufunc("acos"), np.arctan: Ufunc("atan"), np.arctan2: Ufunc("atan2"),
    np.arcsinh: Ufunc("asinh"), np.arccosh: Ufunc("acosh"), np.arctanh: Ufunc("atanh"),
    np.invert: Ufunc("bitwise_invert"), np.left_shift: Ufunc("bitwise_left_shift"),
    np.right_shift: Ufunc("bitwise_right_shift"),
    np.fabs: Ufunc("abs", adapt=_fabs), np.exp2: Ufunc("pow", adapt=_exp2),
    **{getattr(np, name): Ufunc("multiply", adapt=_scaled(factor)) for names, factor in (
        (("deg2rad", "radians"), math.pi / 180), (("rad2deg", "degrees"), 180 / math.pi)) for name in names},
    np.heaviside: Ufunc("where", adapt=_heaviside),
    np.float_power: Ufunc("pow"),  # (its NumPy loops are float64 and complex128 only)
    np.fmod: Ufunc("remainder", adapt=_fmod), np.cbrt: Ufunc("pow", adapt=_cbrt),
    np.ldexp: Ufunc("multiply", adapt=_ldexp),
    np.fmax: Ufunc("maximum", adapt=_nan_ignoring), np.fmin: Ufunc("minimum", adapt=_nan_ignoring),
    np.matvec: Ufunc("matmul", adapt=_matvec), np.vecmat: Ufunc("matmul", adapt=_vecmat),
    # creation (NEP 35 like=) and the *_like functions
    np.empty: Function("empty", _creation, True), np.zeros: Function("zeros", _creation, True),
    np.ones: Function("ones", _creation, True), np.full: Function("full", _full, True),
    np.array: Function("asarray", _array, True), np.asarray: Function("asarray", _asarray, True),
    np.asanyarray: Function("asarray", _asarray, True), np.ascontiguousarray: Function("asarray", _asarray, True),
    np.arange: Function("arange", _arange, True), np.eye: Function("eye", _eye, True),
    np.identity: Function("eye", _identity, True),
    np.empty_like: Function("empty_like", _like), np.zeros_like: Function("zeros_like", _like),
    np.ones_like: Function("ones_like", _like), np.full_like: Function("full_like", _full_like),
    np.copy: Function("asarray", _copy), np.astype: Function("astype", _astype),
    np.meshgrid: Function("meshgrid", _meshgrid), np.tril: Function("tril", _triangle),
    np.triu: Function("triu", _triangle),
    # attributes and dtypes
    np.shape: Function("Array.shape", _attribute("shape")), np.ndim: Function("Array.ndim", _attribute("ndim")),
    np.size: Function("Array.size", _size),
    np.iscomplexobj: Function("Array.dtype", _is_complex), np.isrealobj: Function("Array.dtype", _is_real),
    np.result_type: Function("result_type", _result_type),
    # elementwise functions that are not ufuncs
    np.real: Function("real", _real_part), np.imag: Function("imag", _imaginary_part), np.clip: Function("clip", _clip),
    np.round: Function("round", _round), np.fix: Function("trunc", _fix), np.around: Function("round", _round),
    np.angle: Function("atan2", _angle),
    np.where: Function("where", _where),
    np.nan_to_num: Function("where", _nan_to_num),
    # manipulation
    np.reshape: Function("reshape", _reshape), np.ravel: Function("reshape", _ravel),
    np.transpose: Function("permute_dims", _transpose), np.permute_dims: Function("permute_dims", _transpose),
    np.swapaxes: Function("permute_dims", _swapaxes), np.moveaxis: Function("moveaxis"),
    np.rollaxis: Function("moveaxis", _rollaxis),
    np.expand_dims: Function("expand_dims"), np.squeeze: Function("squeeze", _squeeze),
    np.lib.stride_tricks.sliding_window_view: Function("Array.__getitem__", _sliding_window_view),
    np.flip: Function("flip", _flip), np.flipud: Function("flip", _flip_axis(0, 1)),
    np.fliplr: Function("flip", _flip_axis(1, 2)), np.rot90: Function("flip", _rot90),
    np.atleast_3d: Function("reshape", _atleast_3d), np.kron: Function("multiply", _of_bools(_kron)),
    np.broadcast_to: Function("broadcast_to", _broadcast_to),
    np.broadcast_arrays: Function("broadcast_arrays", _broadcast_arrays), np.roll: Function("roll", _roll),
    np.tile: Function("tile", _tile), np.repeat: Function("repeat", _repeat), np.pad: Function("full", _pad),
    np.concatenate: Function("concat", _concatenate), np.concat: Function("concat", _concatenate),
    np.stack: Function("stack", _stack), np.block: Function("concat", _block), np.vstack: Function("concat", _vstack),
    np.hstack: Function("concat", _hstack), np.atleast_1d: Function("reshape", _atleast(1)),
    np.atleast_2d: Function("reshape", _atleast(2)), np.unstack: Function("unstack"),
    np.column_stack: Function("concat", _column_stack), np.dstack: Function("concat", _dstack),
    np.append: Function("concat", _append), np.split: Function("Array.__getitem__", _split),
    np.array_split: Function("Array.__getitem__", _array_split), np.hsplit: Function("Array.__getitem__", _hsplit),
    np.vsplit: Function("Array.__getitem__", _vsplit),
    # statistics
    np.sum: Function("sum", _reduction), np.prod: Function("prod", _reduction),
    np.max: Function("max", _extremum), np.amax: Function("max", _extremum),
    np.min: Function("min", _extremum), np.amin: Function("min", _extremum),
    np.mean: Function("mean", _mean), np.std: Function("std", _spread), np.var: Function("var", _spread),
    np.cumsum: Function("cumulative_sum", _cumulative), np.cumprod: Function("cumulative_prod", _cumulative),
    np.cumulative_sum: Function("cumulative_sum", _cumulative),
    np.cumulative_prod: Function("cumulative_prod", _cumulative),
    np.nancumsum: Function("cumulative_sum", _nan_cumulative),
    np.nancumprod: Function("cumulative_prod", _nan_cumulative),
    np.nansum: Function("sum", _nan_reduction), np.nanprod: Function("prod", _nan_reduction),
    np.nanmean: Function("mean", _nanmean), np.nanvar: Function("var", _nan_spread),
    np.nanstd: Function("std", _nan_spread), np.nanmax: Function("max", _nan_extremum),
    np.nanmin: Function("min", _nan_extremum),
    np.median: Function("sort", _median), np.nanmedian: Function("sort", _nanmedian),
    np.nanquantile: Function("sort", _nanquantile, host_parameters=True),
    np.nanpercentile: Function("sort", _nanpercentile, host_parameters=True),
    np.bincount: Function("searchsorted", _bincount),
    np.histogram: Function("searchsorted", _histogram, host_parameters=True),
    np.quantile: Function("sort", _quantile, host_parameters=True),
    np.percentile: Function("sort", _percentile, host_parameters=True), np.ptp: Function("max", _ptp),
    np.average: Function("mean", _average), np.cov: Function("matmul", _cov),
    np.corrcoef: Function("matmul", _corrcoef),
    np.isclose: Function("abs", _isclose), np.allclose: Function("all", _allclose),
    np.array_equal: Function("all", _array_equal),
    np.all: Function("all", _logical), np.any: Function("any", _logical), np.diff: Function("diff", _diff),
    # sorting, searching, sets
    np.sort: Function("sort", _sort), np.argsort: Function("argsort", _sort),
    np.partition: Function("sort", _partition), np.argpartition: Function("argsort", _partition),
    np.argmax: Function("argmax", _arg), np.argmin: Function("argmin", _arg),
    np.nanargmax: Function("argmax", _nan_arg), np.nanargmin: Function("argmin", _nan_arg),
    np.unravel_index: Function("floor_divide", _unravel_index),
    np.ravel_multi_index: Function("add", _ravel_multi_index),
    np.count_nonzero: Function("count_nonzero", _count_nonzero), np.nonzero: Function("nonzero"),
    np.argwhere: Function("nonzero", _argwhere), np.flatnonzero: Function("nonzero", _flatnonzero),
    np.searchsorted: Function("searchsorted", _searchsorted), np.unique: Function("unique_all", _unique),
    **{getattr(np, name): Function(name) for name in (
        "unique_all", "unique_counts", "unique_inverse", "unique_values")},
    np.compress: Function("take", _compress), np.extract: Function("nonzero", _extract),
    np.lexsort: Function("argsort", _lexsort), np.diagflat: Function("linalg.diagonal", _diagflat),
    np.isin: Function("isin", _isin, host_parameters=True), np.interp: Function("searchsorted", _interp),
    np.take: Function("take", _take),
    np.take_along_axis: Function("take_along_axis", _take_along_axis),
    # linear algebra
    np.select: Function("where", _select), np.sinc: Function("sin", _sinc),
    np.polyval: Function("add", _polyval, host_parameters=True), np.trapezoid: Function("sum", _trapezoid),
    np.ediff1d: Function("concat", _ediff1d),
    np.digitize: Function("searchsorted", _digitize, host_parameters=True),
    np.linalg.multi_dot: Function("matmul", _multi_dot),
    np.dot: Function("matmul", _of_bools(_dot)), np.vdot: Function("vecdot", _vdot),
    np.diag: Function("linalg.diagonal", _diag),
    np.tensordot: Function("tensordot", _of_bools(_tensordot)),
    np.outer: Function("linalg.outer", _of_bools(_outer)),
    np.inner: Function("tensordot", _of_bools(_inner)),
    np.cross: Function("linalg.cross", _cross), np.diagonal: Function("linalg.diagonal", _diagonal),
    np.trace: Function("linalg.trace", _trace),
    np.einsum: Function("matmul", _of_bools(_einsum)), np.matrix_transpose: Function("matrix_transpose"),
    **{getattr(np.linalg, name): Function(f"linalg.{name}") for name in (
        "cross", "diagonal", "matmul", "matrix_power", "matrix_transpose", "outer", "tensordot", "trace", "vecdot")},
    **{getattr(np.linalg, name): Function(f"linalg.{name}", _inexact(None)) for name in (
        "cholesky", "det", "eig", "eigvals", "eigvalsh", "inv", "matrix_norm", "slogdet", "solve", "svdvals",
        "vector_norm")},
    np.linalg.qr: Function("linalg.qr", _inexact(_qr)), np.linalg.svd: Function("linalg.svd", _inexact(_svd)),
    np.linalg.eigh: Function("linalg.eigh", _inexact(_eigh)), np.linalg.pinv: Function("linalg.pinv", _inexact(_pinv)),
    np.linalg.matrix_rank: Function("linalg.matrix_rank", _inexact(_matrix_rank)),
    np.linalg.cond: Function("linalg.svdvals", _inexact(_cond)),
    np.linalg.norm: Function("linalg.vector_norm", _inexact(_norm)),
    # fft
    **{getattr(np.fft, name): Function(f"fft.{name}", _fft)
       for name in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft")},
    **{getattr(np.fft, name): Function(f"fft.{name}", _fftn) for name in ("fftn", "ifftn", "rfftn", "irfftn")},
    **{getattr(np.fft, f"{name}2"): Function(f"fft.{name}n", _fft2) for name in ("fft", "ifft", "rfft", "irfft")},
    np.fft.fftshift: Function("fft.fftshift", _shift), np.fft.ifftshift: Function("fft.ifftshift", _shift),
}

_UFUNCS: dict = {}     # ufunc -> (entry, hal function), filled on first use (hal is complete by then)
_FUNCTIONS: dict = {}  # NumPy function -> (adapter or None, hal function, creation?, host parameters?)


def missing() -> list[str]:
    """The hal names in TABLE that hal lacks (tests/test_numpy_protocols.py wants none)."""
    names = []
    for entry in TABLE.values():
        paths = [entry.hal] + ([entry.reduce, entry.accumulate] if isinstance(entry, Ufunc) else [])
        for path in filter(None, paths):
            try:
                resolve(path)
            except AttributeError:
                names.append(path)
    return names


def _resolve_table() -> None:
    for key, entry in TABLE.items():
        try:
            fn = resolve(entry.hal)
        except AttributeError:  # (a missing name is what tests see through missing())
            continue
        if isinstance(entry, Ufunc):
            _UFUNCS[key] = (entry, fn if entry.adapt is None else functools.partial(entry.adapt, fn))
        else:
            _FUNCTIONS[key] = (entry.adapt, fn, entry.creation, entry.host_parameters)


# -- ndarray methods ----------------------------------------------------------------------

# The ndarray methods Dask and xarray call on their chunks (x.squeeze(0), x.astype(t),
# x.sum(axis=...)); each is the NumPy function of that name, so TABLE decides it too.
METHODS = ("all", "any", "argmax", "argmin", "argsort", "astype", "clip", "conj", "conjugate", "copy", "cumprod",
           "cumsum", "dot", "max", "mean", "min", "nonzero", "prod", "ravel", "repeat", "reshape", "round", "squeeze",
           "std", "sum", "swapaxes", "take", "trace", "transpose", "var")


def ndarray_methods() -> dict:
    """Array methods named after NumPy's ndarray methods; NumPy's argument conventions
    (``x.reshape(2, 3)``, ``x.transpose(1, 0)``); and its attributes ``real``, ``imag``
    and ``nbytes``."""
    def method(name):
        func = getattr(np, name)
        if name in ("reshape", "transpose"):
            def call(self, *args, **kwargs):
                shape = args[0] if len(args) == 1 and not isinstance(args[0], int) else args or None
                return func(self, shape, **kwargs) if shape is not None else func(self, **kwargs)
        else:
            def call(self, *args, **kwargs):
                return func(self, *args, **kwargs)
        call.__name__ = name
        call.__doc__ = f"numpy.{name}(x, ...) on this array (hal/numpy_protocols.py)."
        return call
    attributes = {"real": property(np.real, doc="numpy.real(x): x itself where it is real."),
                  "imag": property(np.imag, doc="numpy.imag(x): zeros where x is real."),
                  "nbytes": property(lambda self: self.size * self.dtype.itemsize, doc="The bytes of the elements."),
                  "itemsize": property(lambda self: self.dtype.itemsize, doc="The bytes of one element."),
                  "flat": property(FlatIter, lambda self, value: FlatIter(self).__setitem__(slice(None), value),
                                   doc="NumPy's flatiter: the elements in C order as one axis (FlatIter).")}
    return {**{name: method(name) for name in METHODS}, **attributes, **{f.__name__: f for f in _HOST_METHODS}}


class FlatIter:
    """``x.flat``, as NumPy's and CuPy's flatiter: ``x``'s elements in C order as one
    axis, to index (``x.flat[3]``, ``x.flat[2:7]``, ``x.flat[[0, 5]]``), assign through
    (``x.flat[::2] = 0``, ``x.flat = 0``), iterate and count. Reading gives hal arrays on
    ``x``'s device (0-d for an integer index, as CuPy's; NumPy's gives a scalar), copies
    as NumPy's are; nothing is read to the host. Kept because NumPy code (and CuPy's)
    indexes arrays this way, and it is a reshape and an index: no op of its own."""
    __slots__ = ("base", "_next")

    def __init__(self, base: Array):
        self.base, self._next = base, 0

    def __len__(self) -> int:
        return self.base.size

    def __iter__(self):
        return self  # (NumPy's flatiter is its own iterator)

    def __next__(self) -> Array:
        if self._next >= self.base.size:
            raise StopIteration
        self._next += 1
        return self[self._next - 1]

    def __getitem__(self, key) -> Array:
        return hal.asarray(_flat(self.base)[key], copy=True)

    def __setitem__(self, key, value) -> None:
        """Written through a flat view of ``x``; where ``x`` has none (a strided view), into
        a flat copy, which is written back."""
        try:
            flat = hal.reshape(self.base, (-1,), copy=False)
        except ValueError:
            flat = hal.reshape(self.base, (-1,), copy=True)
            flat[key] = value
            self.base[...] = hal.reshape(flat, self.base.shape)
        else:
            flat[key] = value

    def copy(self) -> Array:
        """flatiter.copy: the elements as a new 1-D array."""
        return hal.reshape(self.base, (-1,), copy=True)


# ndarray's methods that hand data to Python, as float(x) does: an explicit read, of
# one element (item, a 0-d array's format) or of the whole array (tolist)

def __str__(self) -> str:
    """str(x): NumPy's str of the elements (read from the device, as repr reads them)."""
    return str(np.asarray(self))


def tobytes(self, order="C") -> bytes:
    """ndarray.tobytes: the elements' bytes (read from the device)."""
    return np.asarray(self).tobytes(order)


def tolist(self):
    """ndarray.tolist: the elements as nested Python lists of Python scalars (read from the device)."""
    return np.asarray(self).tolist()


def item(self, *args):
    """ndarray.item: one element as a Python scalar (only that element is read): of a
    one-element array, at a flat index, or at one index per axis (given as a tuple or
    as arguments)."""
    if not args:
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        element = hal.reshape(self, ())
    elif len(args) == 1 and isinstance(args[0], (int, np.integer)):
        (index,) = args
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} is out of bounds for size {self.size}")
        element = _flat(self)[int(index)]
    else:
        index = args[0] if len(args) == 1 else args
        if len(index) != self.ndim:
            raise ValueError("incorrect number of indices for array")
        element = self[tuple(index)]
    return np.asarray(element)[()].item()


def __format__(self, spec: str) -> str:
    """format(x, spec) of a 0-d array formats its element, as NumPy's (f"{x:.3f}")."""
    if self.ndim == 0:
        return format(np.asarray(self)[()], spec)
    return object.__format__(self, spec)


def fill(self, value) -> None:
    """ndarray.fill: every element set to ``value``, on the device."""
    self[...] = value


def sort(self, axis=-1, kind=None, order=None, *, stable=None) -> None:
    """ndarray.sort: sorted in place along ``axis`` (numpy.sort's, on the device, written back)."""
    self[...] = np.sort(self, axis=axis, kind=kind, order=order)


def flatten(self, order="C"):
    """ndarray.flatten: a 1-D copy."""
    _refuse("flatten", order=None if order == "C" else order)
    return hal.reshape(self, (-1,), copy=True)


_HOST_METHODS = (__str__, tobytes, tolist, item, __format__, fill, sort, flatten)


# -- NumPy index arrays ------------------------------------------------------------------

def holds_host_index(key) -> bool:
    """Whether ``x[key]`` has a NumPy array or a Python list in its key (``Array.__getitem__``'s
    hook): host index data, which NumPy and CuPy take (``x[[2, 0]]``, ``x[:, [True, False]]``)."""
    return isinstance(key, (np.ndarray, list)) or (
        type(key) is tuple and any(isinstance(k, (np.ndarray, list)) for k in key))


def _host_index(k) -> np.ndarray:
    """A list index as NumPy reads it: an integer or boolean array (an empty list: integers)."""
    return np.asarray(k) if len(k) else np.empty(0, np.intp)


def device_key(x: Array, key) -> tuple:
    """``key`` with its NumPy integer and boolean index arrays moved to ``x``'s device, as
    NumPy duck arrays take them (CuPy does the same: Dask indexes chunks with host
    arrays). Only the index moves, never ``x``'s data; integer arrays are bounds-checked
    on the host first (an IndexError as in NumPy, where kernels would clamp)."""
    parts = key if isinstance(key, tuple) else (key,)
    moved = []
    for k, axis in zip(parts, _indexed_axes(parts, x.ndim)):
        if isinstance(k, list):
            k = _host_index(k)
        if isinstance(k, np.ndarray):
            if k.dtype.kind not in "iub":
                raise IndexError(f"arrays used as indices must be of integer or boolean type, not {k.dtype}")
            if k.dtype.kind != "b" and axis is not None and k.size:
                n = x.shape[axis]
                if k.min() < -n or k.max() >= n:
                    raise IndexError(f"index {k.max() if k.max() >= n else k.min()} is out of bounds for axis "
                                     f"{axis} with size {n}")
            k = hal.asarray(k, device=x.device)
        moved.append(k)
    return tuple(moved)


def getitem(x: Array, key) -> Array:
    """``x[key]`` for a key holding NumPy index arrays: moved to the device, then
    indexed by hal; one integer array among slices, ``None`` and ``...`` (Dask's
    ``x[:, [4, 1]]`` on each chunk) is a basic view and a ``take``, with NumPy's result
    ("Combining advanced and basic indexing": the index's axes in its place, or first
    where integers beside it are split from it by a slice)."""
    parts = device_key(x, key)
    split = _one_index_among_slices(x, parts)
    if split is None:
        return x[parts]  # (hal's own integer-array and mask indexing)
    view, axis, index, first = split
    taken = hal.take(view, _flat(index), axis=axis)
    result = hal.reshape(taken, view.shape[:axis] + index.shape + view.shape[axis + 1:])
    return hal.moveaxis(result, _axes(axis, index), _axes(0, index)) if first else result


def setitem(x: Array, key, value) -> None:
    """``x[key] = value`` for a key holding NumPy index arrays, as ``getitem`` reads:
    one integer array among slices writes through a view whose first axis it indexes."""
    parts = device_key(x, key)
    split = _one_index_among_slices(x, parts)
    if split is None:
        x[parts] = value
        return
    view, axis, index, first = split
    if isinstance(value, Array) and value.ndim:
        value = hal.broadcast_to(value, getitem(x, parts).shape)
        if not first:
            value = hal.moveaxis(value, _axes(axis, index), _axes(0, index))
    hal.moveaxis(view, axis, 0)[index] = value


def index_beside(x: Array, key: tuple, value=_UNSET):
    """``x[key]`` (or ``x[key] = value``) for a key of one 1-D boolean hal array beside
    other parts, as NumPy indexes (``x[:, mask]``; Dask's ``chunk[mask, :]``): among
    slices, ``None`` and ``...``, its nonzero indices taken as ``getitem`` takes them;
    beside integers, an IndexError (index in two steps)."""
    if len(key) == 2 and key[1] is Ellipsis:  # (x[mask, ...] is x[mask])
        key = key[0]
    elif _one_index_among_slices(x, key) is None:
        raise IndexError("a boolean array index goes beside slices, None and '...' only; index in two steps")
    if value is _UNSET:
        return x[key] if isinstance(key, Array) else getitem(x, key)
    if isinstance(key, Array):
        x[key] = value
    else:
        setitem(x, key, value)


def _one_index_among_slices(x: Array, parts: tuple):
    """For a key of one integer (or 1-D boolean) index array among slices, ``None`` and
    ``...``: (the basic view with the array's axis whole, that axis, the integer index,
    whether the index's axes go first); None for keys hal indexes itself."""
    arrays = [i for i, k in enumerate(parts) if isinstance(k, Array)]
    basic = [k for k in parts if isinstance(k, slice) or k is None or k is Ellipsis]
    if len(arrays) != 1 or not basic or parts[-1] is Ellipsis and len(basic) == 1:
        return None
    (at,) = arrays
    index = parts[at]
    if index.dtype == hal.bool:
        if index.ndim != 1:
            raise IndexError("a boolean index beside slices must be 1-D here; index in two steps instead")
        (index,) = hal.nonzero(index)
    view = x[parts[:at] + (slice(None),) + parts[at + 1:]]
    axis = sum(1 for k in parts[:at] if isinstance(k, slice) or k is None) + \
        (x.ndim - sum(1 for k in parts if k is not None and k is not Ellipsis)
         if any(k is Ellipsis for k in parts[:at]) else 0)
    advanced = [i for i, k in enumerate(parts) if i == at or _is_integer(k)]
    return view, axis, index, advanced[-1] - advanced[0] >= len(advanced)  # (split by a slice: first)


def _axes(start: int, index: Array) -> tuple:
    return tuple(range(start, start + index.ndim))


def _is_integer(k) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def _indexed_axes(parts: tuple, ndim: int) -> list:
    """The axis of ``x`` each part of an index indexes (None for ``None`` and ``...``)."""
    consumed = sum(1 for k in parts if k is not None and k is not Ellipsis)
    axes, axis = [], 0
    for k in parts:
        if k is Ellipsis:
            axes.append(None)
            axis += ndim - consumed
        elif k is None:
            axes.append(None)
        else:
            axes.append(axis if axis < ndim else None)
            axis += 1
    return axes


# -- NEP 13 -------------------------------------------------------------------------------

def array_ufunc(ufunc, method: str, inputs: tuple, kwargs: dict):
    """``Array.__array_ufunc__``: the ufunc's hal counterpart on the operands' device."""
    if not _UFUNCS:
        _resolve_table()
    found = _UFUNCS.get(ufunc)
    if found is None:
        return NotImplemented
    for value in inputs:
        if type(value) is not Array and not isinstance(value, _OPERANDS):
            if type(value) is np.ndarray and not value.ndim:  # (a NumPy scalar left of an operator,
                # np.float32(2) < x, arrives 0-d: a scalar, as hal takes NumPy's scalars)
                return array_ufunc(ufunc, method, tuple(_unwrapped(v) for v in inputs), kwargs)
            return NotImplemented  # (a NumPy array: the caller moves it explicitly)
    out = kwargs.get("out")
    if out is not None and not all(isinstance(o, Array) for o in out):
        return NotImplemented
    entry, fn = found
    if method == "__call__":
        return _numpy_typed(ufunc, fn, inputs, None) if not kwargs else _call(ufunc, fn, inputs, dict(kwargs))
    if method == "outer":
        return _call(ufunc, fn, _outer_operands(*inputs), dict(kwargs))
    if method == "reduce" and entry.reduce:
        return _reduce(ufunc, resolve(entry.reduce), fn, *inputs, **kwargs)
    if method == "accumulate" and entry.accumulate:
        return _accumulate(ufunc, resolve(entry.accumulate), *inputs, **kwargs)
    return NotImplemented


def _unwrapped(value):
    """A 0-d NumPy array as its NumPy scalar; anything else as it is."""
    return value[()] if type(value) is np.ndarray and not value.ndim else value


_UFUNC_DEFAULTS = {"casting": "same_kind", "order": "K", "subok": True, "signature": None}


def _call(ufunc, fn, inputs, kwargs: dict):
    """A ufunc call with NumPy's keywords: ``dtype`` (NumPy's loop with that output dtype),
    ``where`` (elsewhere: ``out``'s elements, or zeros without ``out``) and ``out``."""
    out, where, dtype = kwargs.pop("out", None), kwargs.pop("where", True), kwargs.pop("dtype", None)
    for name, default in _UFUNC_DEFAULTS.items():
        if kwargs.get(name, default) == default:
            kwargs.pop(name, None)
    _refuse(ufunc.__name__, **kwargs)  # (whatever is left is a keyword hal cannot honour)
    result = _numpy_typed(ufunc, fn, inputs, dtype)
    if where is True:
        return _into(result, out)
    if where is False or (isinstance(where, Array) and where.dtype != hal.bool):
        raise TypeError("where= must be a bool hal array on the operands' device")
    otherwise = out[0] if out else hal.zeros_like(result)
    return _into(hal.where(where, result, otherwise), out)


def _numpy_typed(ufunc, fn, inputs, dtype):
    """``fn`` of ``inputs`` in the dtypes of NumPy's loop for them (its promotion, NEP 50:
    a Python scalar is weak, a NumPy scalar is not; ``dtype`` fixes the output's): the
    arrays cast to the loop's input dtypes (an UnsupportedDTypeError where the device
    lacks one), scalars as Python numbers of the loop's dtype, the result in its output dtype.
    hal computes no float16 (it stores it): a float16 loop runs in float32 and rounds,
    as NumPy's half loops do. hal's own functions (hal.add) keep the standard's rules."""
    if dtype is None and type(inputs[0]) is Array and _as_is(ufunc, inputs):
        return fn(*inputs)
    loop, computed, boolean = _loop(ufunc, tuple(map(_loop_operand, inputs)), dtype and np.dtype(dtype))
    operands = list(inputs)
    for i, v in enumerate(operands):  # (a plain loop: this runs on every NumPy call on hal arrays)
        if type(v) is Array:
            if v.dtype != computed[i]:
                operands[i] = hal.astype(v, computed[i])
        else:
            operands[i] = loop[i].type(v).item()
    result = (boolean or fn)(*operands)
    wanted = loop[ufunc.nin]
    return result if result.dtype == wanted else hal.astype(result, wanted)


_AS_IS: dict = {}  # (ufunc, dtype) -> whether NumPy's loop for arrays of that dtype is all that dtype


def _as_is(ufunc, inputs) -> bool:
    """Whether ``inputs`` are hal arrays of one dtype whose NumPy loop computes and returns
    that dtype, so hal's function runs them as they are (the common call, kept short: the
    full promotion added ~0.6 us to np.add on the cpu)."""
    first = inputs[0].dtype
    for v in inputs[1:]:
        if type(v) is not Array or v.dtype is not first:
            return False
    found = _AS_IS.get((ufunc, first))
    if found is None:
        loop, _, boolean = _loop(ufunc, (first,) * ufunc.nin, None)
        found = _AS_IS[(ufunc, first)] = boolean is None and all(d == first for d in loop)
    return found


def _loop_operand(value):
    """An operand as ``ufunc.resolve_dtypes`` takes it: a dtype, or a Python scalar's type (weak)."""
    if type(value) is Array:
        return value.dtype
    if type(value) in (int, float, complex):
        return type(value)
    return np.asarray(value).dtype  # (a NumPy scalar, a Python bool: strong)


@functools.lru_cache(maxsize=1024)
def _loop(ufunc, operands: tuple, dtype) -> tuple:
    """NumPy's loop for operands of these dtypes (NumPy's TypeError where it has none:
    numpy.subtract of bools): its dtypes (inputs, then outputs), the dtypes hal computes
    the inputs in, and the hal function for a bool loop hal's counterpart lacks (or None)."""
    signature = {} if dtype is None else {"signature": (None,) * ufunc.nin + (dtype,) * ufunc.nout}
    loop = ufunc.resolve_dtypes(operands + (None,) * ufunc.nout, **signature)
    computed = tuple(hal.float32 if d == hal.float16 else d for d in loop[:ufunc.nin])
    boolean = _BOOLEAN_LOOPS.get(ufunc) if all(d == hal.bool for d in loop) else None
    return loop, computed, boolean


def _identity_of(x):
    return x


def _bools_as_integers(name: str):
    """An order comparison of bools (which hal's, as the standard's, refuses) as NumPy's: False < True."""
    def compare(a, b):
        return getattr(hal, name)(*(hal.astype(v, hal.uint8) if isinstance(v, Array) else v for v in (a, b)))
    return compare


def _bool_products(name: str):
    """matmul / vecdot of bools as NumPy's: "or" of "and"s (counted in int64, nonzero as True)."""
    def product(a, b):
        return getattr(hal, name)(*(hal.astype(v, hal.int64) for v in (a, b))) != 0
    return product


# NumPy's bool loops hal's functions do not take: sums and maxima of bools are "or",
# products and minima "and"; a bool is its own absolute value, floor, ceiling
_BOOLEAN_LOOPS = {
    **dict.fromkeys((np.add, np.maximum, np.fmax), lambda a, b: hal.logical_or(a, b)),
    **dict.fromkeys((np.multiply, np.minimum, np.fmin), lambda a, b: hal.logical_and(a, b)),
    **dict.fromkeys((np.absolute, np.fabs, np.floor, np.ceil, np.trunc, np.rint), _identity_of),
    **{u: _bools_as_integers(u.__name__) for u in (np.less, np.less_equal, np.greater, np.greater_equal)},
    **{u: _bool_products(u.__name__) for u in (np.matmul, np.vecdot)},
}


def _outer_operands(a, b):
    """ufunc.outer's operands: ``a`` gains ``b.ndim`` trailing axes, so broadcasting pairs every element."""
    if not isinstance(a, Array):
        return a, b
    return hal.reshape(a, a.shape + (1,) * getattr(b, "ndim", 0)), b


def _reduce(ufunc, reduction, fn, array, axis=0, dtype=None, out=None, keepdims=False, initial=_UNSET,
            where=True):
    """ufunc.reduce as hal's reduction; ``where`` masks elements out with the ufunc's
    identity (max/min have none: with ``initial``), and ``initial`` joins the result,
    as NumPy defines them; of bools, sums and products count in int64 and the others
    are logical, as NumPy's."""
    if array.dtype == hal.bool:
        if ufunc in (np.add, np.multiply) and dtype is None:
            array = hal.astype(array, hal.int64)
        fn = _BOOLEAN_LOOPS.get(ufunc, fn)
    if where is not True:
        fill = ufunc.identity if ufunc.identity is not None else None if initial is _UNSET else initial
        if fill is None:  # (max/min: initial is idempotent, so it can fill and join the result)
            raise ValueError(f"numpy.{ufunc.__name__}.reduce with where= needs initial= (it has no identity)")
        array = hal.where(where, array, fill)
    axes = _axes_of(array, _axis(axis))
    if initial is not _UNSET and initial is not None and not math.prod(array.shape[ax] for ax in axes):
        # (NumPy's max/min of nothing with initial=: initial; hal's reductions refuse empty ones)
        shape = tuple(1 if ax in axes else n for ax, n in enumerate(array.shape) if keepdims or ax not in axes)
        return _into(hal.full(shape, initial, dtype=array.dtype if dtype is None else dtype, device=array.device), out)
    reduction, array = _boolean_reduction(reduction, array, dtype)
    kwargs = {"dtype": dtype} if dtype is not None and reduction in (hal.sum, hal.prod) else {}
    result = reduction(array, axis=_axis(axis), keepdims=keepdims, **kwargs)
    if dtype is not None and result.dtype != np.dtype(dtype):
        result = hal.astype(result, dtype)
    if initial is not _UNSET and initial is not None:
        result = fn(result, hal.asarray(initial, dtype=result.dtype, device=result.device))
    return _into(result, out)


def _axes_of(array: Array, axis) -> tuple:
    """The axes (non-negative) a reduction over ``axis`` (None, one, a tuple) reduces."""
    axes = range(array.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    return tuple(operator.index(ax) % array.ndim for ax in axes)


def _accumulate(ufunc, cumulative, array, axis=0, dtype=None, out=None):
    """ufunc.accumulate as hal's cumulative function; logical_or's and logical_and's as
    running counts (of trues: any yet; of falses: none yet)."""
    if ufunc in (np.logical_or, np.logical_and):
        counted = array if ufunc is np.logical_or else hal.logical_not(array)
        running = cumulative(hal.astype(counted, hal.int64), axis=axis)
        return _into(running > 0 if ufunc is np.logical_or else running == 0, out)
    return _into(cumulative(array, axis=axis, dtype=dtype), out)


# -- NEP 18 / NEP 35 ----------------------------------------------------------------------

def array_function(func, types: tuple, args: tuple, kwargs: dict, like: Array):
    """``Array.__array_function__``: the NumPy function's hal counterpart, or
    NotImplemented (NumPy then raises TypeError) where hal has none or the call mixes
    in another array type."""
    if not _FUNCTIONS:
        _resolve_table()
    found = _FUNCTIONS.get(func)
    if found is None or not all(issubclass(t, Array) or (found[3] and issubclass(t, np.ndarray)) for t in types):
        return NotImplemented
    adapt, fn, creation, _ = found
    if creation:  # NEP 35: the call came through ``like``, whose device the new array takes
        kwargs.pop("device", None)  # (NumPy's own device= names a NumPy device: "cpu")
        return adapt(fn, like.device, *args, **kwargs)
    return fn(*args, **kwargs) if adapt is None else adapt(fn, *args, **kwargs)


# -- NumPy's names in the hal namespace -----------------------------------------------------

# xarray calls an array's namespace (``__array_namespace__``: hal) as it calls NumPy's or
# CuPy's, with names beyond the standard: ``xp.transpose`` (quantile), ``xp.einsum``
# (xarray.dot), ``xp.pad`` (shift, pad) and ``xp.lib.stride_tricks.sliding_window_view`` (rolling).
# They are NumPy's functions, here on hal arrays through TABLE.

def transpose(a, axes=None):
    """numpy.transpose on a hal array (``hal.permute_dims``)."""
    return np.transpose(a, axes)


def einsum(*operands, **kwargs):
    """numpy.einsum on hal arrays (the cases TABLE's adapter takes)."""
    return np.einsum(*operands, **kwargs)


def pad(array, pad_width, mode="constant", **kwargs):
    """numpy.pad on a hal array (mode "constant")."""
    return np.pad(array, pad_width, mode=mode, **kwargs)


def sliding_window_view(x, window_shape, axis=None, **kwargs):
    """numpy.lib.stride_tricks.sliding_window_view on a hal array (a view on its device)."""
    return np.lib.stride_tricks.sliding_window_view(x, window_shape, axis, **kwargs)


# (xarray's rolling windows call ``xp.lib.stride_tricks.sliding_window_view``)
lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(sliding_window_view=sliding_window_view))


__all__ = ["TABLE", "Function", "Ufunc", "array_function", "array_ufunc", "einsum", "lib", "missing", "pad", "resolve",
           "sliding_window_view", "transpose"]
