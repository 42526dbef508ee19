"""Searching functions ("Searching Functions", array API 2025.12): argmax, argmin,
count_nonzero. ``where`` is generated with the elementwise functions, ``nonzero`` lives
with indexing and ``searchsorted`` with sorting, the kernels they are built on."""
from __future__ import annotations

import operator

from .array import Array, checked
from ..shapes import normalize_axes, normalize_axis

__all__ = ["argmax", "argmin", "count_nonzero"]


def _arg(name: str, x: Array, axis, keepdims: bool) -> Array:
    checked(x, name, "real numeric")
    if axis is not None:
        axis = normalize_axis(operator.index(axis), x.ndim)
    if x.size == 0 if axis is None else x.shape[axis] == 0:
        raise ValueError(f"{name} of an empty selection is undefined")
    return Array._new(x._device.impl(name)(x._device, x._data, axis, bool(keepdims)), x._device)


def argmax(x: Array, /, *, axis=None, keepdims: bool = False) -> Array:
    """"argmax" (2025.12): the index of the first maximum along ``axis`` (of the
    flattened array if None), as the default index dtype; NaN counts as the maximum
    (as NumPy)."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x: Array, /, *, axis=None, keepdims: bool = False) -> Array:
    """"argmin" (2025.12): the index of the first minimum; NaN counts as the minimum
    (as NumPy)."""
    return _arg("argmin", x, axis, keepdims)


def count_nonzero(x: Array, /, *, axis=None, keepdims: bool = False) -> Array:
    """"count_nonzero" (2025.12): how many elements along ``axis`` are nonzero (True,
    NaN count), as the default index dtype."""
    checked(x, "count_nonzero", "any")
    axes = normalize_axes(axis, x.ndim)
    return Array._new(x._device.impl("count_nonzero")(x._device, x._data, axes, bool(keepdims)), x._device)
