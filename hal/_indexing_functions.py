"""Indexing functions ("Indexing Functions", array API 2025.12): take,
take_along_axis; and nonzero, the compaction that boolean-mask indexing is built on."""
from __future__ import annotations

import math

from . import dtypes
from ._array import Array, same_device
from ._data_type import astype
from ._manipulation import broadcast_to, reshape
from .shapes import broadcast_shapes, normalize_axis

__all__ = ["nonzero", "take", "take_along_axis"]


def nonzero(x: Array, /) -> tuple:
    """The int64 indices of the nonzero (true) elements of ``x``, one array per
    dimension, in row-major order ("Searching Functions"). A 0-d ``x`` is a ValueError."""
    if not isinstance(x, Array):
        raise TypeError(f"nonzero expects a hal array, got {type(x).__name__}")
    if x.ndim == 0:
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
