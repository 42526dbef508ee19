"""Running sums and products along the rows of a 2-D array (prefix scans), as kernels on
buffer devices: cumulative_sum and cumulative_prod, and the "flags -> exclusive sum ->
scatter" step of every op whose output size depends on the data (nonzero, unique,
boolean masks).

The scan is work-efficient in three steps. ``scan_blocks``: each work-group scans one
block of a row (each work-item folds ``items`` consecutive values serially, the group
scans those partial results in local memory, then each item writes its running values)
and writes the block's total. The totals of a row are scanned the same way (recursively,
exclusive). ``add_back`` then folds each block's exclusive total into its values.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from hal.dispatch import register
from hal.memory import Strided

from .copy import copy
from .reduction import fill_identity
from .launch import C_TYPE, convert, flat_group, program

_WG = 256        # work-items per group scanning a long row
_ITEMS = 8       # values each work-item folds serially in a long row
_SHORT = 256     # rows at most this long are scanned serially, one work-item per row


def _combine_and_identity(op: str, dtype: np.dtype) -> tuple[str, str]:
    """The C expression combining ``a`` and ``b`` (the earlier value first) and the
    identity, for ``op`` in ``dtype`` (complex values are structs: their helpers)."""
    t = C_TYPE[dtype]
    if dtype.kind == "c":
        return ((f"{t}_add(a, b)", f"{t}_make(0, 0)") if op == "sum" else (f"{t}_mul(a, b)", f"{t}_make(1, 0)"))
    return ("a + b", f"(({t})0)") if op == "sum" else ("a * b", f"(({t})1)")


@lru_cache(maxsize=None)
def scan_source(in_dtype: np.dtype, out_dtype: np.dtype, op: str) -> str:
    """Kernels ``scan_blocks`` and ``add_back`` (see the module docstring); ``WG`` (a define)
    sizes the local array: the largest work-group ``scan_blocks`` is launched with."""
    t = C_TYPE[out_dtype]
    combine, identity = _combine_and_identity(op, out_dtype)
    load = convert("p[c * x_cs]", in_dtype, out_dtype)
    return f"""
INLINE {t} combine({t} a, {t} b) {{ return {combine}; }}
KERNEL void scan_blocks(GLOBAL {t} *out, i64 out_off, i64 out_rs, GLOBAL {t} *totals,
                        GLOBAL const {C_TYPE[in_dtype]} *x, i64 x_off, i64 x_rs, i64 x_cs,
                        i64 cols, i64 items, i64 nblocks, i64 exclusive) {{
    LOCAL {t} partial[WG];
    i64 g = GROUP_ID(0), lid = LOCAL_ID(0), wg = LOCAL_SIZE(0);
    i64 row = g / nblocks, block = g % nblocks;
    i64 begin = (block * wg + lid) * items;
    i64 end = begin + items < cols ? begin + items : cols;
    GLOBAL const {C_TYPE[in_dtype]} *p = x + x_off + row * x_rs;
    {t} acc = {identity};
    for (i64 c = begin; c < end; c++) acc = combine(acc, {load});
    partial[lid] = acc;
    BARRIER();
    for (i64 step = 1; step < wg; step *= 2) {{  /* inclusive scan of the items' folds */
        {t} earlier = lid >= step ? partial[lid - step] : {identity};
        BARRIER();
        if (lid >= step) partial[lid] = combine(earlier, partial[lid]);
        BARRIER();
    }}
    {t} run = lid > 0 ? partial[lid - 1] : {identity};
    GLOBAL {t} *o = out + out_off + row * out_rs;
    for (i64 c = begin; c < end; c++) {{
        {t} v = {load};
        if (exclusive) {{ o[c] = run; run = combine(run, v); }}
        else {{ run = combine(run, v); o[c] = run; }}
    }}
    if (lid == wg - 1) totals[g] = partial[wg - 1];
}}
KERNEL void add_back(GLOBAL {t} *out, i64 out_off, i64 out_rs, GLOBAL const {t} *offsets,
                     i64 nblocks, i64 block_size, i64 cols, i64 n) {{
    i64 i = GLOBAL_ID(0);
    if (i >= n) return;
    i64 row = i / cols, c = i % cols, b = c / block_size;
    if (b == 0) return;  /* the first block of a row has nothing before it */
    GLOBAL {t} *o = out + out_off + row * out_rs + c;
    *o = combine(offsets[row * nblocks + b], *o);
}}
"""


def scan_rows(device, x: Strided, out_dtype, op: str = "sum", exclusive: bool = False) -> Strided:
    """The running ``op`` ("sum" or "prod") along each row of the 2-D ``x`` (any strides),
    as a new contiguous (rows, cols) array of ``out_dtype``: inclusive (``out[r, j]``
    folds ``x[r, :j+1]``) or exclusive (folds ``x[r, :j]``, the identity at ``j = 0``).
    Values are converted to ``out_dtype`` before they are combined."""
    out_dtype = np.dtype(out_dtype)
    out = device.empty(x.shape, out_dtype)
    scan_rows_into(device, x, out, op, exclusive)
    return out


def local_size(device) -> int:
    """``WG``, the local array's size in every launch of a scan (so one build serves all)."""
    return min(_WG, device.info.max_work_group)


def scan_rows_into(device, x: Strided, out: Strided, op: str = "sum", exclusive: bool = False) -> None:
    """``scan_rows`` writing into ``out``, a (rows, cols) view whose columns are
    contiguous (any row stride): how cumulative_sum leaves room for include_initial."""
    if op not in ("sum", "prod"):
        raise ValueError(f"scan_rows: op is 'sum' or 'prod', not {op!r}")
    rows, cols = x.shape
    if rows == 0 or cols == 0:
        return
    full = local_size(device)
    wg = 1 if cols <= _SHORT else full
    items = cols if cols <= _SHORT else _ITEMS if wg > 1 else _SHORT
    block = wg * items
    nblocks = -(-cols // block)
    totals = device.empty((rows, nblocks), out.dtype)
    source = scan_source(x.dtype, out.dtype, op)
    program(device, source, "scan_blocks", WG=full)(
        (rows * nblocks * wg,), (wg,), out.buf, out.offset, out.strides[0], totals.buf,
        x.buf, x.offset, x.strides[0], x.strides[1], cols, items, nblocks, int(exclusive))
    if nblocks == 1:
        return
    offsets = scan_rows(device, totals, out.dtype, op, exclusive=True)
    n = rows * cols
    program(device, source, "add_back", WG=full)(
        (n,), flat_group(device, 256), out.buf, out.offset, out.strides[0], offsets.buf, nblocks,
        block, cols, n)


# ---------------------------------------------------------------- cumulative_sum, cumulative_prod

_IDENTITY = {"sum": 0, "prod": 1}


def _cpu(op: str):
    fold = np.cumsum if op == "sum" else np.cumprod

    def impl(device, x, axis, dtype, include_initial):
        out = fold(x, axis=axis, dtype=dtype)
        if include_initial:
            first = np.full(x.shape[:axis] + (1,) + x.shape[axis + 1:], _IDENTITY[op], dtype)
            out = np.concatenate([first, out], axis=axis)
        return out
    return impl


def _kernel(op: str):
    def impl(device, x, axis, dtype, include_initial):
        """Move ``axis`` last, scan the (rows, cols) view into a contiguous result (after a
        column of the identity if ``include_initial``), and move the axis back."""
        order = tuple(a for a in range(x.ndim) if a != axis) + (axis,)
        moved = x.permute(order)
        rows, cols = math.prod(moved.shape[:-1]), moved.shape[-1]
        flat = moved.reshaped((rows, cols)) or copy(device, moved).reshaped((rows, cols))
        width = cols + include_initial
        out = device.empty(moved.shape[:-1] + (width,), dtype)
        if include_initial:
            fill_identity(device, out, _IDENTITY[op])
        table = out.view((rows, width), (width, 1), out.offset)
        scan_rows_into(device, flat, table.getitem((slice(None), slice(int(include_initial), None))), op)
        return out.permute(tuple(order.index(a) for a in range(x.ndim)))
    return impl


for _op in ("sum", "prod"):
    register(f"cumulative_{_op}", on=("cpu",))(_cpu(_op))
    register(f"cumulative_{_op}", on=("buffer",))(_kernel(_op))
