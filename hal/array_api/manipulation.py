"""Manipulation functions ("Manipulation Functions", array API 2025.12). Reshapes,
permutations, flips, broadcasts, squeezes and unstacks are views where the data allows
(a flip is a negative stride); concat, stack, roll and tile write into a new array on
the device (copy / assign kernels), and repeat with an array of counts is a kernel."""
from __future__ import annotations

import functools
import itertools
import math
import operator

from .. import dtypes, shapes
from .array import Array, checked, same_device
from .data_type import astype
from ..shapes import normalize_axis

__all__ = ["broadcast_arrays", "broadcast_shapes", "broadcast_to", "concat", "expand_dims", "flip", "moveaxis",
           "permute_dims", "repeat", "reshape", "roll", "squeeze", "stack", "tile", "unstack"]


def _axes(axis, ndim: int) -> tuple:
    """An int or a tuple of ints as unique non-negative axes (in the given order)."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = tuple(normalize_axis(operator.index(a), ndim) for a in axes)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis}")
    return out


def reshape(x: Array, /, shape, *, copy: bool | None = None) -> Array:
    """"reshape": a view where the strides allow, else a copy (ValueError with copy=False)."""
    checked(x, "reshape")
    shape = _infer(tuple(operator.index(n) for n in shape), x.size, x.shape)
    device = x._device
    data = None if copy else device.reshape(x._data, shape)
    if data is None:
        if copy is False:
            raise ValueError(f"reshape of this {x.shape} view to {shape} needs a copy, and copy=False")
        data = device.reshape(device.copy(x._data), shape)
    return Array._new(data, device)


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
    """"permute_dims" (negative axes allowed since 2025.12): a view."""
    checked(x, "permute_dims")
    axes = tuple(normalize_axis(a, x.ndim) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"axes {axes} are not a permutation of the {x.ndim} dimensions")
    return Array._new(x._device.permute(x._data, axes), x._device)


def matrix_transpose(x: Array, /) -> Array:
    """"matrix_transpose" (a linear algebra function; here because ``x.mT`` uses it):
    a view swapping the last two axes."""
    checked(x, "matrix_transpose")
    if x.ndim < 2:
        raise ValueError(f"matrix_transpose needs at least 2 dimensions, got shape {x.shape}")
    return permute_dims(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def moveaxis(x: Array, source, destination, /) -> Array:
    """"moveaxis": the permutation that puts each ``source`` axis at its ``destination``."""
    checked(x, "moveaxis")
    source, destination = _axes(source, x.ndim), _axes(destination, x.ndim)
    if len(source) != len(destination):
        raise ValueError(f"moveaxis: {len(source)} source axes but {len(destination)} destinations")
    rest = iter(a for a in range(x.ndim) if a not in source)
    placed = dict(zip(destination, source))
    return permute_dims(x, tuple(placed[d] if d in placed else next(rest) for d in range(x.ndim)))


def expand_dims(x: Array, /, axis=0) -> Array:
    """"expand_dims": size-1 axes at the positions ``axis`` (an int or, since 2025.12, a
    tuple) of the result; a view."""
    checked(x, "expand_dims")
    ndim = x.ndim + (1 if isinstance(axis, int) else len(axis))
    new = set(_axes(axis, ndim))
    return x[tuple(None if d in new else slice(None) for d in range(ndim))]


def squeeze(x: Array, /, axis) -> Array:
    """"squeeze": drop the size-1 axes ``axis`` (ValueError for a larger one); a view."""
    checked(x, "squeeze")
    axes = set(_axes(axis, x.ndim))
    if any(x.shape[a] != 1 for a in axes):
        raise ValueError(f"cannot squeeze axes {sorted(axes)} of shape {x.shape}: only size-1 axes go")
    return x[tuple(0 if a in axes else slice(None) for a in range(x.ndim))]


def flip(x: Array, /, *, axis=None) -> Array:
    """"flip": a view with negated strides along ``axis`` (every axis if None)."""
    checked(x, "flip")
    axes = set(range(x.ndim) if axis is None else _axes(axis, x.ndim))
    return x[tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(x.ndim))]


def unstack(x: Array, /, *, axis: int = 0) -> tuple:
    """"unstack": the views ``x[..., i, ...]`` along ``axis``."""
    checked(x, "unstack")
    if x.ndim == 0:
        raise ValueError("unstack needs an array of at least 1 dimension")
    axis = normalize_axis(axis, x.ndim)
    return tuple(x[(slice(None),) * axis + (i,)] for i in range(x.shape[axis]))


def broadcast_shapes(*shapes_) -> tuple:
    """"broadcast_shapes" (2025.12): the shape the given shapes broadcast to; ValueError
    if they do not."""
    return shapes.broadcast_shapes(*(tuple(s) for s in shapes_))


def broadcast_to(x: Array, /, shape) -> Array:
    """"broadcast_to": a read-only view (its elements share memory, as NumPy's)."""
    checked(x, "broadcast_to")
    shape = tuple(shape)
    if shapes.broadcast_shapes(x.shape, shape) != shape:
        raise ValueError(f"cannot broadcast shape {x.shape} to {shape}")
    return Array._new(x._device.broadcast(x._data, shape), x._device)


def broadcast_arrays(*arrays: Array) -> tuple:
    """"broadcast_arrays": a tuple (2025.12) of views of one broadcast shape."""
    shape = shapes.broadcast_shapes(*(a.shape for a in arrays))
    return tuple(broadcast_to(a, shape) for a in arrays)


def concat(arrays, /, *, axis: int | None = 0) -> Array:
    """"concat": join arrays along an existing axis (``axis=None``: flattened first),
    each written into its slice of the result on the device."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("concat needs at least one array")
    for a in arrays:
        checked(a, "concat")
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
    dtype = functools.reduce(dtypes.result_type, (a.dtype for a in arrays))
    native = device.library("concat")  # NumPy's on the cpu: it keeps the inputs' memory order
    if native is not None:
        return Array._new(native(device, [a._data for a in arrays], axis, dtype), device)
    shape = list(arrays[0].shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    out = Array._new(device.empty(tuple(shape), dtype), device)
    start = 0
    for a in arrays:
        if a.size:
            at = (slice(None),) * axis + (slice(start, start + a.shape[axis]),)
            out[at] = astype(a, dtype, copy=False)
        start += a.shape[axis]
    return out


def stack(arrays, /, *, axis: int = 0) -> Array:
    """"stack": join arrays of one shape along a new axis."""
    arrays = list(arrays)
    for a in arrays:
        checked(a, "stack")
    if not arrays or len({a.shape for a in arrays}) != 1:
        raise ValueError(f"stack needs arrays of one shape, got {[a.shape for a in arrays]}")
    axis = normalize_axis(axis, arrays[0].ndim + 1)
    return concat([expand_dims(a, axis=axis) for a in arrays], axis=axis)


def roll(x: Array, /, shift, *, axis=None) -> Array:
    """"roll": along each axis, the last ``shift`` elements move to the front
    (``axis=None``: over the flattened array). On buffer devices each block of the
    result is one slice copy from ``x``: two blocks per rolled axis."""
    checked(x, "roll")
    if axis is None:
        if not isinstance(shift, int):
            raise ValueError("roll with axis=None takes one integer shift")
        return reshape(roll(reshape(x, (-1,)), shift, axis=0), x.shape)
    axes = tuple(normalize_axis(a, x.ndim) for a in ((axis,) if isinstance(axis, int) else axis))
    shifts = (shift,) * len(axes) if isinstance(shift, int) else tuple(shift)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(axes)} axes")
    total = dict.fromkeys(axes, 0)
    for a, s in zip(axes, shifts):
        total[a] += operator.index(s)  # an axis named twice rolls by the sum, as NumPy
    out = Array._new(x._device.empty(x.shape, x.dtype), x._device)
    for blocks in itertools.product(*(_roll_blocks(x.shape[a], total.get(a, 0)) if a in total
                                      else [(slice(None), slice(None))] for a in range(x.ndim))):
        target, source = zip(*blocks) if blocks else ((), ())
        if out[target].size:
            out[target] = x[source]
    return out


def _roll_blocks(n: int, shift: int) -> list:
    """(destination, source) slices of one axis rolled by ``shift``."""
    shift = shift % n if n else 0
    blocks = [(slice(shift, None), slice(0, n - shift))]
    return blocks + [(slice(0, shift), slice(n - shift, None))] if shift else blocks


def tile(x: Array, repetitions, /) -> Array:
    """"tile": a broadcast view with a repetition axis before each axis, copied into
    the tiled shape."""
    checked(x, "tile")
    reps = tuple(operator.index(r) for r in repetitions)
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: repetitions must be non-negative, got {reps}")
    ndim = max(x.ndim, len(reps))
    reps = (1,) * (ndim - len(reps)) + reps
    shape = (1,) * (ndim - x.ndim) + x.shape
    spread = reshape(x, tuple(n for s in shape for n in (1, s)))
    wide = broadcast_to(spread, tuple(n for r, s in zip(reps, shape) for n in (r, s)))
    return reshape(wide, tuple(r * s for r, s in zip(reps, shape)), copy=True)


def repeat(x: Array, repeats, /, *, axis: int | None = None) -> Array:
    """"repeat": each element ``repeats`` times along ``axis`` (flattened if None). An
    int is a broadcast view copied; an integer array of counts runs as a kernel, and
    its total (the output size, one integer) is all that is read back."""
    checked(x, "repeat")
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = normalize_axis(axis, x.ndim)
    n = x.shape[axis]
    if isinstance(repeats, Array):
        same_device(x, repeats)
        if repeats.dtype not in dtypes.INTEGER:
            raise TypeError(f"repeat: counts must have an integer dtype, not {repeats.dtype}")
        if repeats.ndim != 1 or repeats.shape[0] not in (1, n):
            raise ValueError(f"repeat: counts of shape {repeats.shape} do not broadcast to ({n},)")
        if repeats.shape[0] == 1 and n != 1:
            repeats = broadcast_to(repeats, (n,))
        device = x._device
        return Array._new(device.impl("repeat")(device, x._data, repeats._data, axis), device)
    repeats = operator.index(repeats)
    if repeats < 0:
        raise ValueError(f"repeat: counts must be non-negative, got {repeats}")
    spread = expand_dims(x, axis=axis + 1)
    wide = broadcast_to(spread, spread.shape[:axis + 1] + (repeats,) + spread.shape[axis + 2:])
    return reshape(wide, x.shape[:axis] + (n * repeats,) + x.shape[axis + 1:], copy=True)
