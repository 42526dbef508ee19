"""Manipulation functions ("Manipulation Functions", array API 2025.12). Reshapes,
permutations, broadcasts and squeezes are views where the data allows; concat and stack
write each input into a slice of the result on the device."""
from __future__ import annotations

import math

import numpy as np

from . import dtypes
from ._array import Array, same_device
from .shapes import broadcast_shapes, normalize_axis

__all__ = ["broadcast_arrays", "broadcast_to", "concat", "expand_dims", "matrix_transpose", "permute_dims", "reshape", "squeeze", "stack"]


def _numpy(x: Array) -> bool:
    return x._device.family == "numpy"


def reshape(x: Array, /, shape, *, copy: bool | None = None) -> Array:
    shape = _infer(tuple(shape), x.size, x.shape)
    if _numpy(x):
        data = x._data.reshape(shape, copy=copy)
    else:
        data = None if copy else x._data.reshaped(shape)
        if data is None:
            if copy is False:
                raise ValueError(f"reshape of this {x.shape} view to {shape} needs a copy, and copy=False")
            data = x._device.impl("copy")(x._device, x._data).reshaped(shape)
    return Array._new(data, x._device)


def _infer(shape: tuple, size: int, old: tuple) -> tuple:
    if shape.count(-1) > 1 or any(n < -1 for n in shape):
        raise ValueError(f"invalid shape {shape}: one -1 at most, and no other negative sizes")
    known = math.prod(n for n in shape if n != -1)
    if -1 in shape:
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape an array of shape {old} into {shape}")
        shape = tuple(size // known if n == -1 else n for n in shape)
    if math.prod(shape) != size:
        raise ValueError(f"cannot reshape an array of shape {old} (size {size}) into {shape}")
    return shape


def permute_dims(x: Array, /, axes: tuple) -> Array:
    axes = tuple(normalize_axis(a, x.ndim) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"axes {axes} are not a permutation of the {x.ndim} dimensions")
    data = np.transpose(x._data, axes) if _numpy(x) else x._data.permute(axes)
    return Array._new(data, x._device)


def matrix_transpose(x: Array, /) -> Array:
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose needs at least 2 dimensions, got shape {x.shape}")
    return permute_dims(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def expand_dims(x: Array, /, axis: int = 0) -> Array:
    axis = normalize_axis(axis, x.ndim + 1)
    return x[(slice(None),) * axis + (None, ...)]


def squeeze(x: Array, /, axis) -> Array:
    axes = {normalize_axis(a, x.ndim) for a in ((axis,) if isinstance(axis, int) else axis)}
    if any(x.shape[a] != 1 for a in axes):
        raise ValueError(f"cannot squeeze axes {sorted(axes)} of shape {x.shape}: only size-1 axes go")
    return x[tuple(0 if a in axes else slice(None) for a in range(x.ndim))]


def broadcast_to(x: Array, /, shape) -> Array:
    shape = tuple(shape)
    if broadcast_shapes(x.shape, shape) != shape:
        raise ValueError(f"cannot broadcast shape {x.shape} to {shape}")
    data = np.broadcast_to(x._data, shape) if _numpy(x) else x._data.broadcast(shape)
    return Array._new(data, x._device)


def broadcast_arrays(*arrays: Array) -> list[Array]:
    shape = broadcast_shapes(*(a.shape for a in arrays))
    return [broadcast_to(a, shape) for a in arrays]


def concat(arrays, /, *, axis: int | None = 0) -> Array:
    """Join arrays along an existing axis (``axis=None``: flattened first)."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("concat needs at least one array")
    device = same_device(*arrays)
    if axis is None:
        arrays, axis = [reshape(a, (-1,)) for a in arrays], 0
    ndim = arrays[0].ndim
    if ndim == 0 or any(a.ndim != ndim for a in arrays):
        raise ValueError(f"concat needs arrays of one rank >= 1, got shapes {[a.shape for a in arrays]}")
    axis = normalize_axis(axis, ndim)
    rest = {a.shape[:axis] + a.shape[axis + 1:] for a in arrays}
    if len(rest) > 1:
        raise ValueError(f"concat along axis {axis}: shapes {[a.shape for a in arrays]} differ elsewhere")
    dtype = arrays[0].dtype
    for a in arrays[1:]:
        dtype = dtypes.result_type(dtype, a.dtype)
    shape = list(arrays[0].shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    out = Array._new(device.empty(tuple(shape), dtype), device)
    start = 0
    for a in arrays:
        out[(slice(None),) * axis + (slice(start, start + a.shape[axis]),)] = a
        start += a.shape[axis]
    return out


def stack(arrays, /, *, axis: int = 0) -> Array:
    """Join arrays of one shape along a new axis."""
    arrays = list(arrays)
    if not arrays or len({a.shape for a in arrays}) != 1:
        raise ValueError(f"stack needs arrays of one shape, got {[a.shape for a in arrays]}")
    axis = normalize_axis(axis, arrays[0].ndim + 1)
    return concat([expand_dims(a, axis=axis) for a in arrays], axis=axis)
