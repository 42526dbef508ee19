"""Indexing functions ("Indexing Functions", array API 2025.12): take,
take_along_axis; and nonzero, the compaction that boolean-mask indexing is built on."""
from __future__ import annotations

import math

from .. import dtypes
from .array import Array, checked, same_device
from .data_type import astype
from .indexing import check_mask, integer_key
from .manipulation import broadcast_to, reshape
from ..shapes import broadcast_shapes, normalize_axis

__all__ = ["nonzero", "take", "take_along_axis"]


def nonzero(x: Array, /) -> tuple:
    """The int64 indices of the nonzero (true) elements of ``x``, one array per
    dimension, in row-major order ("Searching Functions"). A 0-d ``x`` is a ValueError."""
    if checked(x, "nonzero").ndim == 0:
        raise ValueError("nonzero of a 0-d array is not defined; use nonzero(reshape(x, (1,)))")
    coords = Array._new(x._device.impl("nonzero")(x._device, x._data), x._device)
    return tuple(coords[d] for d in range(x.ndim))


def _indices(name: str, x: Array, indices: Array) -> Array:
    if not isinstance(x, Array) or not isinstance(indices, Array):
        raise TypeError(f"{name} expects hal arrays")
    same_device(x, indices)
    if indices.dtype not in dtypes.INTEGER:
        raise TypeError(f"{name} requires integer indices, got {indices.dtype}")
    return astype(indices, dtypes.int64, copy=False)


def gather(x: Array, axis: int, indices: Array) -> Array:
    """``x`` with ``axis`` replaced by the positions ``indices`` (an int64 array of
    ``x``'s rank, broadcast against it except along ``axis``)."""
    n = x.shape[axis]
    shape = list(broadcast_shapes(x.shape[:axis] + (1,) + x.shape[axis + 1:],
                                  indices.shape[:axis] + (1,) + indices.shape[axis + 1:]))
    m = shape[axis] = indices.shape[axis]
    outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
    if n == 0 and outer * m * inner:
        raise IndexError(f"cannot take indices from an empty axis {axis} of shape {x.shape}")
    x3 = reshape(broadcast_to(x, tuple(shape[:axis] + [n] + shape[axis + 1:])), (outer, n, inner))
    if all(k == 1 for a, k in enumerate(indices.shape) if a != axis):  # take: broadcast, no copy
        idx = broadcast_to(reshape(indices, (1, m, 1)), (outer, m, inner))
    else:
        idx = reshape(broadcast_to(indices, tuple(shape)), (outer, m, inner))
    out = x._device.impl("gather")(x._device, x3._data, idx._data)
    return reshape(Array._new(out, x._device), tuple(shape))


def take(x: Array, indices: Array, /, *, axis: int | None = None) -> Array:
    """Elements of ``x`` at the 1-D ``indices`` along ``axis`` (optional for 1-D ``x``);
    negative indices count from the end. Out-of-range indices are unspecified by the
    standard: NumPy raises IndexError on the cpu; kernels clamp them into range."""
    indices = _indices("take", x, indices)
    if indices.ndim != 1:
        raise ValueError(f"take requires 1-D indices, got shape {indices.shape}")
    if axis is None:
        if x.ndim != 1:
            raise ValueError(f"take needs an axis for a {x.ndim}-D array")
        axis = 0
    axis = normalize_axis(axis, x.ndim)
    view = reshape(indices, (1,) * axis + (indices.size,) + (1,) * (x.ndim - axis - 1))
    return gather(x, axis, view)


def take_along_axis(x: Array, indices: Array, /, *, axis: int = -1) -> Array:
    """``out[..., j, ...] = x[..., indices[..., j, ...], ...]`` along ``axis``; ``x`` and
    ``indices`` (same rank) broadcast against each other elsewhere."""
    indices = _indices("take_along_axis", x, indices)
    if indices.ndim != x.ndim:
        raise ValueError(f"take_along_axis needs indices of x's rank {x.ndim}, got shape {indices.shape}")
    if x.ndim == 0:
        raise ValueError("take_along_axis needs at least one dimension")
    return gather(x, normalize_axis(axis, x.ndim), indices)


# -- x[key] and x[key] = value with array indices (the standard's "Indexing") ------------
def getitem_array(x: Array, key, kind: str) -> Array:
    """``x[key]`` for a boolean mask (``kind="mask"``) or integer arrays ("integer")."""
    if kind == "mask":
        x, mask = _masked(x, key)
        rest = x.shape[mask.ndim:]
        if mask.size == 0:
            return Array._new(x._device.empty((0,) + rest, x.dtype), x._device)
        rows = nonzero(reshape(mask, (-1,)))[0]
        return take(reshape(x, (mask.size,) + rest), rows, axis=0)
    parts = integer_key(key, x.shape)
    _index_shape(parts)
    native = x._device.library("getitem_integer")  # NumPy's own, with its bounds checks
    if native is not None:
        return Array._new(native(x._device, x._data, tuple(_payload(k) for k in parts)), x._device)
    flat, rest = _flat_index(x, parts), x.shape[len(parts):]
    out = take(reshape(x, (-1,) + rest), reshape(flat, (-1,)), axis=0)
    return reshape(out, flat.shape + rest)


def setitem_array(x: Array, key, kind: str, value) -> None:
    """``x[key] = value`` for a boolean mask or integer arrays; ``value`` broadcasts to
    ``x[key]``'s shape. With duplicate integer indices, which value lands is unspecified."""
    from .creation import operand
    if isinstance(value, Array):
        same_device(x, value)
        value = astype(value, x.dtype, copy=False)
    else:
        value = operand(value, x.dtype, x._device)  # checks the scalar's kind and range
    if isinstance(value, Array) and x._device.overlaps(value._data, x._data):
        value = Array._new(x._device.copy(value._data), x._device)  # read before write
    shape = value.shape if isinstance(value, Array) else ()
    if kind == "mask":
        target, mask = _masked(x, key)
        rest = target.shape[mask.ndim:]
        if mask.size and (len(shape) <= len(rest) or shape[0] == 1):  # one value row: no compaction
            _where_into(target, mask, rest, value, shape[1:] if len(shape) > len(rest) else shape)
            return
        rows = nonzero(reshape(mask, (-1,)))[0] if mask.size else None
        _check_value(shape, (0 if rows is None else rows.size,) + rest)
        if rows is not None and rows.size:
            _scatter_rows(target, mask.size, rest, rows, value)
        return
    parts = integer_key(key, x.shape)
    native = x._device.library("setitem_integer")
    if native is not None:
        _check_value(shape, _index_shape(parts) + x.shape[len(parts):])
        native(x._device, x._data, tuple(_payload(k) for k in parts), _payload(value))
        return
    flat, rest = _flat_index(x, parts), x.shape[len(parts):]
    _check_value(shape, flat.shape + rest)
    if flat.size and math.prod(rest):
        _scatter_rows(x, math.prod(x.shape[:len(parts)]), rest, flat, value)


def _payload(k):
    return k._data if isinstance(k, Array) else k


def _check_value(shape: tuple, selection: tuple) -> None:
    if broadcast_shapes(shape, selection) != selection:
        raise ValueError(f"cannot assign an array of shape {shape} to a selection of shape {selection}")


def _masked(x: Array, key):
    """(``x``, mask) with the standard's checks; a 0-d mask indexes a new leading axis."""
    mask = key[0] if isinstance(key, tuple) else key
    same_device(x, mask)
    check_mask(mask, x.shape)
    if mask.ndim == 0:
        return x[None], reshape(mask, (1,))
    return x, mask


def _index_shape(parts: list) -> tuple:
    """The broadcast shape of the index arrays; IndexError if they do not broadcast."""
    try:
        return broadcast_shapes(*(k.shape for k in parts if isinstance(k, Array)))
    except ValueError as e:
        raise IndexError(f"index arrays do not broadcast together: {e}") from None


def _flat_index(x: Array, parts: list) -> Array:
    """The row-major position of each index tuple among ``x``'s leading
    ``len(parts)`` dimensions (negative indices counted from each axis's end)."""
    shape = _index_shape(parts)
    flat = x._device.impl("flat_index")(x._device, shape, [_payload(k) for k in parts], x.shape[:len(parts)])
    return Array._new(flat, x._device)


def _where_into(target: Array, mask: Array, rest: tuple, value, value_rest: tuple) -> None:
    _check_value(value_rest, rest)
    cond = broadcast_to(reshape(mask, mask.shape + (1,) * len(rest)), target.shape)
    if isinstance(value, Array):
        value = broadcast_to(reshape(value, value_rest), target.shape)._data
    target._device.impl("where_into")(target._device, target._data, cond._data, value)


def _scatter_rows(target: Array, rows: int, rest: tuple, index: Array, value) -> None:
    """Write ``value`` (broadcast to ``index.shape + rest``) into rows ``index`` of
    ``target`` seen as ``(rows,) + rest``, in place."""
    device, inner, m = target._device, math.prod(rest), index.size
    view = device.reshape(target._data, (1, rows, inner))  # sharing target's memory, or None
    if view is None:  # no such view of this layout: scatter into a copy, then write it back
        staged = astype(target, target.dtype, copy=True)
        _scatter_rows(staged, rows, rest, index, value)
        target[...] = staged
        return
    idx = broadcast_to(reshape(index, (1, m, 1)), (1, m, inner))
    if isinstance(value, Array):
        value = reshape(broadcast_to(value, index.shape + rest), (1, m, inner))._data
    device.impl("scatter")(device, view, idx._data, value)
