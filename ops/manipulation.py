"""repeat with an array of counts: the one manipulation whose output size depends on
the data. On buffer backends an inclusive scan of the counts (``ops.scan.scan_rows``)
gives each element its end position; only the total is read back (``read_size``), and
a kernel writes each element ``count`` times from its start position. The other
manipulation functions are views or the copy/assign kernels (hal/_manipulation.py)."""
from __future__ import annotations

import numpy as np

from hal.dispatch import register

from .scan import scan_rows
from .launch import C_TYPE, flat_group, program

REPEAT = """
KERNEL void repeat(GLOBAL T *out, GLOBAL const T *x, i64 x_off, GLOBAL const C *counts, i64 c_off, i64 c_stride,
                   GLOBAL const i64 *ends, i64 n, i64 inner, i64 total, i64 items) {
    i64 g = GLOBAL_ID(0);
    if (g >= items) return;
    i64 j = g % inner, i = (g / inner) % n, o = g / (inner * n);
    i64 count = (i64)counts[c_off + i * c_stride];
    i64 start = ends[i] - count;
    T value = x[x_off + g];
    for (i64 r = 0; r < count; r++) out[(o * total + start + r) * inner + j] = value;
}
"""


for _op, _numpy in {  # the cpu's: NumPy
        "concat": lambda device, xs, axis, dtype: np.concatenate([x.astype(dtype, copy=False) for x in xs], axis=axis),
        "repeat": lambda device, x, counts, axis: np.repeat(x, counts, axis=axis)}.items():
    register(_op, on=("cpu",))(_numpy)


@register("repeat", on=("buffer",))
def repeat(device, x, counts, axis):
    """``x`` with element ``i`` along ``axis`` repeated ``counts[i]`` times (``counts``
    1-D of length ``x.shape[axis]``, integer, any strides)."""
    n = x.shape[axis]
    inner = int(np.prod(x.shape[axis + 1:]))
    if n == 0:
        return device.empty(x.shape, x.dtype)
    ends = scan_rows(device, counts.view((1, n), (0, counts.strides[0]), counts.offset), np.dtype(np.int64))
    total = device.read_size(ends.view((), (), n - 1))
    out = device.empty(x.shape[:axis] + (total,) + x.shape[axis + 1:], x.dtype)
    items = x.size
    if items and total:
        x = device.contiguous(x)
        prog = program(device, REPEAT, "repeat", T=C_TYPE[x.dtype], C=C_TYPE[counts.dtype])
        prog((items,), flat_group(device, 256), out.buf, x.buf, x.offset, counts.buf, counts.offset,
             counts.strides[0], ends.buf, n, inner, total, items)
    return out
