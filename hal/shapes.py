"""Shape arithmetic shared by the namespace and the kernel ops (memoized: it is on
every op's path)."""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def broadcast_shapes(*shapes: tuple) -> tuple:
    """The standard's broadcasting ("Broadcasting", 2025.12); ValueError naming the
    shapes when they do not broadcast."""
    if len(shapes) == 2 and shapes[0] == shapes[1]:  # (most calls: equal shapes)
        return tuple(shapes[0])
    ndim = max(map(len, shapes), default=0)
    out = []
    for i in range(-ndim, 0):
        sizes = {s[i] for s in shapes if len(s) >= -i} - {1}
        if len(sizes) > 1:
            raise ValueError(f"shapes {' and '.join(map(str, shapes))} cannot be broadcast together")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise IndexError(f"axis {axis} is out of bounds for an array of {ndim} dimensions")
    return axis % ndim


@lru_cache(maxsize=4096)
def normalize_axes(axis, ndim: int) -> tuple:
    """``axis`` (None, an int or a tuple) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = tuple(sorted(normalize_axis(a, ndim) for a in axes))
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis}")
    return out
