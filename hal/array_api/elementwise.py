"""Elementwise functions ("Element-wise Functions", array API 2025.12), plus ``where``.

Each function is generated from its definition in ``ops/elementwise.py`` (dtype rule,
NumPy reference, kernel expression): it checks the operands, promotes their dtypes as
the standard says, and calls the device's implementation. ``clip`` (the one ternary
function, whose bounds are optional and do not take part in promotion) is written out.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from hal.ops.elementwise import OPS, Elementwise

from .. import dtypes
from .array import Array, checked, same_device
from .creation import common_dtype, scalar_operand
from ..shapes import broadcast_shapes

__all__ = list(OPS) + ["where"]


def _result(op: Elementwise, compute, device):
    """(compute dtype, result dtype) of ``op`` on operands promoted to ``compute``."""
    if op.result == "float" and compute.kind not in "fc":
        compute = device.default_float
    return compute, op.out_dtype(compute)


def _unary(op: Elementwise):
    def fn(x: Array, /) -> Array:
        device, data = checked(x, op.name, op.kind)._device, x._data
        compute, out = _result(op, data.dtype, device)
        return Array._new(device.impl(op.name)(device, compute, out, data)(data), device)
    return fn


def _binary(op: Elementwise):
    checked = {}  # (device id, each operand's dtype, shape, strides) -> the device's run for them

    def fn(x1, x2, /) -> Array:
        if type(x1) is Array and type(x2) is Array and x1._device is x2._device:
            # The hot path: two arrays on one device, laid out as arrays checked before.
            device, a, b = x1._device, x1._data, x2._data
            run = checked.get((id(device), a.dtype, a.shape, a.strides, b.dtype, b.shape, b.strides))
            if run is not None:
                return Array._new(run(a, b), device)
        if isinstance(x1, Array):
            device, a = x1._device, x1._data
            if isinstance(x2, Array):
                if x2._device is not device:
                    same_device(x1, x2)
                b = x2._data
                promoted = dtypes.result_type(a.dtype, b.dtype)
            else:
                b, promoted = x2, scalar_operand(x2, a.dtype, device)
        elif isinstance(x2, Array):
            device, b, a = x2._device, x2._data, x1
            promoted = scalar_operand(x1, b.dtype, device)
        else:
            raise TypeError(f"{op.name} expects at least one hal array, got {type(x1).__name__} "
                            f"and {type(x2).__name__}")
        dtypes.check_kind(promoted, op.kind, op.name)
        compute, out = _result(op, promoted, device)
        run = device.impl(op.name)(device, compute, out, a, b)  # the device's run for this layout
        # (kept for arrays, where the compute dtype is not a default float, which can change)
        if isinstance(x1, Array) and isinstance(x2, Array) and compute == promoted:
            checked[id(device), a.dtype, a.shape, a.strides, b.dtype, b.shape, b.strides] = run
        return Array._new(run(a, b), device)
    return fn


def _define(op: Elementwise):
    fn = (_unary if op.nin == 1 else _binary)(op)
    fn.__name__ = fn.__qualname__ = op.name
    fn.__doc__ = (f"{op.name} elementwise, as the array API standard (2025.12) specifies; "
                  f"reference semantics: numpy.{op.ufunc.__name__}. Accepts {op.kind} dtypes.")
    return fn


globals().update({name: _define(op) for name, op in OPS.items() if op.nin < 3})


def clip(x: Array, /, min=None, max=None) -> Array:
    """``x`` clamped to ``[min, max]`` elementwise (array API "clip"): bounds are arrays
    or Python scalars, broadcast with ``x``; the result keeps ``x``'s dtype (bounds do
    not take part in promotion), and NaN in ``x`` or a bound gives NaN. An integer
    array's scalar bounds clamp to the integers the dtype admits."""
    device, dtype = checked(x, "clip", "real numeric")._device, x.dtype
    operands = (x._data, *[_bound(x, b, lower) for b, lower in ((min, True), (max, False))])
    run = device.impl("clip")(device, dtype, dtype, *operands)
    return Array._new(run(*operands), device)


def _bound(x: Array, value, lower: bool):
    """A clip bound as a payload of ``x``'s dtype or a Python scalar (None: unbounded)."""
    dtype, device = x.dtype, x._device
    if isinstance(value, Array):
        same_device(x, value)
        if value.dtype != dtype:
            return device.impl("astype")(device, value._data, dtype)
        return value._data
    if value is None:
        value = -math.inf if lower else math.inf
    if isinstance(value, (builtins.bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"clip bounds are hal arrays or Python ints and floats, not {type(value).__name__}")
    if dtype.kind == "f":
        return float(value)
    if math.isnan(value):
        raise ValueError(f"clip: a NaN bound of a {dtype} array")
    if math.isfinite(value):  # the integers within a float bound
        value = math.ceil(value) if lower else math.floor(value)
    lo, hi = dtypes.iinfo_bounds(dtype)
    return lo if value < lo else hi if value > hi else int(value)


def where(condition: Array, x1, x2, /) -> Array:
    """Elements of ``x1`` where ``condition`` is true, else of ``x2`` (array API
    "Searching Functions"); ``x1`` or ``x2`` may be Python scalars."""
    if not isinstance(condition, Array) or condition.dtype != dtypes.bool:
        raise TypeError("where: condition must be a bool hal array")
    device, dtype = common_dtype("where", x1, x2, condition)
    values = [v._data if isinstance(v, Array) else v for v in (x1, x2)]
    shape = broadcast_shapes(condition.shape, *(v.shape for v in (x1, x2) if isinstance(v, Array)))
    return Array._new(device.impl("where")(device, dtype, shape, condition._data, *values), device)

