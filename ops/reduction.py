"""Reductions over axes: sum, prod, max, min. On buffer backends the reduced axes are
moved last and made contiguous, then the row-reduction template folds each row with
one work-group; a long row over few outputs is folded in two passes so every compute
unit has work."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from hal.dispatch import register

from .copy import copy
from .templates import C_TYPE, program, run_elementwise

# name -> (the NumPy ufunc whose reduce is the reference, combine expression, identity)
REDUCTIONS = {
    "sum": (np.add, "a + b", "0"),
    "prod": (np.multiply, "a * b", "1"),
    "max": (np.maximum, "(a != a || a > b) ? a : b", None),
    "min": (np.minimum, "(a != a || a < b) ? a : b", None),
}
# Integers need no NaN check, and "a != a" on them is a compiler warning that pyopencl
# shows the user.
_INTEGER_COMBINE = {"max": "a > b ? a : b", "min": "a < b ? a : b"}
_WG = 256          # work-items folding one row on a device with work-groups
_SPLIT_ROWS = 64   # fewer output rows than this and long rows: fold in two passes


@lru_cache(maxsize=None)
def reduction_source(in_t: str, acc_t: str, out_t: str, combine: str, init: str) -> str:
    """A kernel ``reduce``: work-group ``g`` folds segment ``g % chunks`` (``chunk``
    values) of row ``g / chunks`` of a contiguous (rows, cols) array.

    Each work-item folds a strided slice of the segment, then the group folds its
    partial results in local memory (``WG`` items, a power of two). With a work-group of
    one item (the C target) the same code folds the whole segment in one item.
    ``combine`` is an expression of ``a`` and ``b``; ``init`` may read ``p[begin]``."""
    return f"""
INLINE {acc_t} combine({acc_t} a, {acc_t} b) {{ return {combine}; }}
KERNEL void reduce(GLOBAL {out_t} *out, i64 out_off, GLOBAL const {in_t} *x, i64 x_off,
                   i64 cols, i64 chunk, i64 chunks) {{
    LOCAL {acc_t} partial[WG];
    i64 g = GROUP_ID(0), lid = LOCAL_ID(0), wg = LOCAL_SIZE(0);
    i64 begin = (g % chunks) * chunk, end = begin + chunk < cols ? begin + chunk : cols;
    GLOBAL const {in_t} *p = x + x_off + (g / chunks) * cols;
    {acc_t} acc = {init};
    for (i64 c = begin + lid; c < end; c += wg) acc = combine(acc, ({acc_t})p[c]);
    partial[lid] = acc;
    BARRIER();
    for (i64 step = wg / 2; step > 0; step /= 2) {{
        if (lid < step) partial[lid] = combine(partial[lid], partial[lid + step]);
        BARRIER();
    }}
    if (lid == 0) out[out_off + g] = ({out_t})partial[0];
}}
"""


def _cpu(name: str):
    reduce = REDUCTIONS[name][0].reduce

    def impl(device, x, axes, keepdims, dtype):
        out = reduce(x, axes, dtype, None, keepdims)  # ufunc.reduce: np.sum without its dispatch layers
        return out if type(out) is np.ndarray else np.asarray(out)
    return impl


def _kernel(name: str):
    _, float_combine, identity = REDUCTIONS[name]
    int_combine = _INTEGER_COMBINE.get(name, float_combine)

    def impl(device, x, axes, keepdims, dtype):
        combine = float_combine if dtype.kind == "f" else int_combine
        kept = [a for a in range(x.ndim) if a not in axes]
        out_shape = tuple(x.shape[a] for a in kept)
        rows, cols = math.prod(out_shape), math.prod(x.shape[a] for a in axes)
        moved = x.permute(tuple(kept) + tuple(axes))
        if not moved.contiguous:
            moved = copy(device, moved)
        out = device.empty(out_shape, dtype)
        if rows and cols:
            _reduce_rows(device, combine, identity, moved, rows, cols, out)
        elif rows:
            run_elementwise(device, "x0", out, [int(identity)], [dtype])
        if keepdims:
            out = out.view([1 if a in axes else n for a, n in enumerate(x.shape)],
                           _expand(out.strides, axes, x.ndim), out.offset)
        return out
    return impl


def _expand(strides, axes, ndim):
    it = iter(strides)
    return [0 if a in axes else next(it) for a in range(ndim)]


def _reduce_rows(device, combine, identity, x, rows, cols, out):
    """Fold ``rows`` contiguous rows of ``cols`` values of ``x`` into ``out``."""
    wg = min(_WG, device.info.max_work_group, 1 << (cols - 1).bit_length())
    if rows < _SPLIT_ROWS and cols > 16 * wg and wg > 1:
        chunk = max(16 * wg, -(-cols * rows // (4 * _SPLIT_ROWS)))
        chunks = -(-cols // chunk)
        partial = device.empty((rows, chunks), out.dtype)
        _launch(device, combine, identity, x, rows, cols, chunk, chunks, partial, wg)
        x, cols = partial, chunks
        wg = min(wg, 1 << (cols - 1).bit_length())
    _launch(device, combine, identity, x, rows, cols, cols, 1, out, wg)


def _launch(device, combine, identity, x, rows, cols, chunk, chunks, out, wg):
    acc = C_TYPE[out.dtype]
    init = f"({acc}){identity}" if identity is not None else f"({acc})p[begin]"
    source = reduction_source(C_TYPE[x.dtype], acc, acc, combine, init)
    program(device, source, "reduce", WG=wg)((rows * chunks * wg,), (wg,), out.buf, out.offset,
                                             x.buf, x.offset, cols, chunk, chunks)


for _name in REDUCTIONS:
    register(_name, on=("cpu",), kind="library")(_cpu(_name))
    register(_name, on=("buffer",))(_kernel(_name))
