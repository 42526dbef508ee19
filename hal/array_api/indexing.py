"""Normalizing ``x[key]`` keys: integers, slices, ``...`` and ``None`` (the standard's
"Indexing", single-axis and multi-axis basic indexing)."""
from __future__ import annotations

import operator

import numpy as np


def normalize_key(key, shape: tuple) -> tuple:
    """``key`` as a tuple of ints, slices and None, one int or slice per dimension,
    with ``...`` expanded and integers checked against the shape."""
    key = key if isinstance(key, tuple) else (key,)
    ellipses = sum(k is Ellipsis for k in key)
    if ellipses > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    for k in key:
        if not (k is None or k is Ellipsis or isinstance(k, slice) or _is_int(k)):
            raise IndexError(f"hal indexes with integers, slices, '...' and None; got {type(k).__name__} "
                             f"(boolean and integer array indexing come with the full array API)")
    consumed = sum(k is not None and k is not Ellipsis for k in key)
    if consumed > len(shape):
        raise IndexError(f"too many indices ({consumed}) for an array of {len(shape)} dimensions")
    if ellipses:
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:at] + (slice(None),) * (len(shape) - consumed) + key[at + 1:]
    else:
        key = key + (slice(None),) * (len(shape) - consumed)
    out, dim = [], 0
    for k in key:
        if k is None or isinstance(k, slice):
            out.append(k)
            dim += k is not None
            continue
        k, n = operator.index(k), shape[dim]
        if not -n <= k < n:
            raise IndexError(f"index {k} is out of bounds for axis {dim} with size {n}")
        out.append(k % n)
        dim += 1
    return tuple(out)


def _is_int(k) -> bool:
    """A Python or NumPy integer (``x[np.int64(1)]``, as NumPy and the standard's
    ``__index__`` take it), not a bool or an array."""
    if isinstance(k, bool) or (hasattr(k, "shape") and not isinstance(k, np.integer)):
        return False
    try:
        operator.index(k)
        return True
    except TypeError:
        return False


# -- array indices: "Boolean Array Indexing" and "Integer Array Indexing" ----------------
def advanced_kind(key) -> str | None:
    """"mask" for a sole boolean array index, "integer" for a tuple of integers and
    integer arrays (at least one array), "beside" for one 1-D boolean array beside other
    parts (NumPy's ``x[:, mask]``: hal/numpy_protocols.py), None for basic indexing."""
    from .array import Array
    parts = key if isinstance(key, tuple) else (key,)
    arrays = [k for k in parts if isinstance(k, Array)]
    if not arrays:
        return None
    if any(a.dtype == np.bool_ for a in arrays):
        if len(parts) != 1 and len(arrays) == 1 and arrays[0].ndim == 1:
            return "beside"
        if len(parts) != 1:
            raise IndexError("a boolean array index must be the sole index (no integers, slices, "
                             "'...' or None beside it)")
        return "mask"
    if any(a.dtype.kind not in "iu" for a in arrays):
        raise IndexError(f"array indices must be integer or bool arrays, not {arrays[0].dtype}")
    return "integer"


def check_mask(mask, shape: tuple) -> None:
    """The standard's rules: ``mask`` has at most ``len(shape)`` dimensions, each equal
    to the indexed one or 0."""
    if mask.ndim > len(shape) or any(m not in (n, 0) for m, n in zip(mask.shape, shape)):
        raise IndexError(f"a boolean index of shape {mask.shape} does not match an array of shape {shape}")


def integer_key(key, shape: tuple) -> list:
    """``key`` (integers and integer arrays, an optional trailing ``...``) as a list of
    one entry per leading dimension indexed; integers are bounds-checked."""
    from .array import Array
    parts = list(key) if isinstance(key, tuple) else [key]
    if parts and parts[-1] is Ellipsis:
        parts.pop()
    for k in parts:
        if not (isinstance(k, Array) or _is_int(k)):
            raise IndexError("hal combines integer arrays only with integers (and a trailing '...'): "
                             f"got {type(k).__name__}; index in two steps instead")
    if len(parts) > len(shape):
        raise IndexError(f"too many indices ({len(parts)}) for an array of {len(shape)} dimensions")
    return [k if isinstance(k, Array) else normalize_key(k, shape[d:d + 1])[0] for d, k in enumerate(parts)]
