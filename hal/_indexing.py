"""Normalizing ``x[key]`` keys: integers, slices, ``...`` and ``None`` (the standard's
"Indexing", single-axis and multi-axis basic indexing)."""
from __future__ import annotations

import operator


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
    if isinstance(k, bool) or hasattr(k, "shape"):
        return False
    try:
        operator.index(k)
        return True
    except TypeError:
        return False
