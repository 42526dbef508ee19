"""Utility functions ("Utility Functions", array API 2025.12): all, any, diff."""
from __future__ import annotations

import operator

from .. import dtypes
from .array import Array, checked
from .elementwise import subtract
from .manipulation import concat
from .statistical import _reduce
from ..shapes import normalize_axis

__all__ = ["all", "any", "diff"]


def all(x: Array, /, *, axis=None, keepdims: bool = False) -> Array:
    """"all" (2025.12): whether every element along ``axis`` is nonzero (NaN counts as
    nonzero); True over an empty selection."""
    return _reduce("all", x, axis, keepdims, dtypes.bool)


def any(x: Array, /, *, axis=None, keepdims: bool = False) -> Array:
    """"any" (2025.12): whether some element along ``axis`` is nonzero; False over an
    empty selection."""
    return _reduce("any", x, axis, keepdims, dtypes.bool)


def diff(x: Array, /, *, axis: int = -1, n: int = 1, prepend=None, append=None) -> Array:
    """"diff" (2025.12): the ``n``-th forward difference ``out[i] = x[i+1] - x[i]``
    along ``axis``, of ``prepend``, ``x`` and ``append`` joined along it."""
    checked(x, "diff", "numeric")
    axis = normalize_axis(operator.index(axis), x.ndim)
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"diff: n must be >= 0, got {n}")
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = concat(parts, axis=axis)
    before = (slice(None),) * axis
    for _ in range(n):
        x = subtract(x[before + (slice(1, None),)], x[before + (slice(None, -1),)])
    return x
