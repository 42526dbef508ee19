"""Sorting and binary search: sort, argsort, searchsorted, isin. On buffer backends the
sorted axis is moved last and made contiguous, then a bitonic network sorts each row of
(key, original index) pairs in global-memory passes: ties compare by index, so the sort
is stable, and rows are padded to a power of two with pairs that compare after every
real one (the padding's keys are never read as keys). On the cpu they are NumPy.

Order: NaNs compare greater than every number (NumPy sorts them last); a descending
sort is the exact reverse of that order, except that ties still keep their original
order (the standard's ``stable``)."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from hal.dispatch import register
from hal.memory import contiguous_strides

from .copy import full
from .launch import C_TYPE, convert, flat_group, program, real_dtype

_GROUP = 256


@lru_cache(maxsize=None)
def order_helpers(dtype: np.dtype) -> str:
    """``lt(a, b)``: a comes before b in ascending order, NaNs last (complex numbers by
    real part, then imaginary part, as NumPy); ``eq(a, b)``: a equals b."""
    t = C_TYPE[dtype]
    if dtype.kind == "c":
        r = C_TYPE[real_dtype(dtype)]
        return f"""INLINE int flt({r} a, {r} b) {{ return a < b || (b != b && a == a); }}
INLINE int lt({t} a, {t} b) {{ return flt(a.re, b.re) || (!flt(b.re, a.re) && flt(a.im, b.im)); }}
INLINE int eq({t} a, {t} b) {{ return {t}_eq(a, b); }}
"""
    less = "a < b || (b != b && a == a)" if dtype.kind == "f" else "a < b"
    return f"INLINE int lt({t} a, {t} b) {{ return {less}; }}\nINLINE int eq({t} a, {t} b) {{ return a == b; }}\n"


@lru_cache(maxsize=None)
def sort_source(dtype: np.dtype) -> str:
    """Kernels ``sort_init`` (rows of ``n`` keys into padded rows of ``p`` pairs),
    ``sort_step`` (one compare-exchange pass ``(k, j)`` of the bitonic network over
    global memory, one work-item per pair) and ``sort_block`` (every pass ``j < block``
    of the stages ``k_first..k_last``, in local memory: one work-group per block of
    ``block <= 2 * WG`` pairs), ascending or ``descending``."""
    t = C_TYPE[dtype]
    return order_helpers(dtype) + f"""
/* Whether pair a goes before pair b: padding (index >= n) last, then by key, then by index. */
INLINE int before({t} ka, i64 ia, {t} kb, i64 ib, i64 n, i64 descending) {{
    if ((ia >= n) != (ib >= n)) return ib >= n;
    if (ia >= n) return ia < ib;
    int a_first = descending ? lt(kb, ka) : lt(ka, kb);
    int b_first = descending ? lt(ka, kb) : lt(kb, ka);
    return a_first || (!b_first && ia < ib);
}}
KERNEL void sort_init(GLOBAL {t} *keys, GLOBAL i64 *idx, GLOBAL const {t} *x, i64 x_off,
                      i64 rows, i64 n, i64 p) {{
    i64 t = GLOBAL_ID(0);
    if (t >= rows * p) return;
    i64 r = t / p, c = t % p;
    keys[t] = c < n ? x[x_off + r * n + c] : {convert('0', np.dtype(np.int64), dtype)};
    idx[t] = c;
}}
KERNEL void sort_step(GLOBAL {t} *keys, GLOBAL i64 *idx, i64 rows, i64 n, i64 p, i64 k, i64 j,
                      i64 descending) {{
    i64 t = GLOBAL_ID(0), pairs = p / 2;
    if (t >= rows * pairs) return;
    i64 q = t % pairs, i = 2 * j * (q / j) + q % j, l = i + j;
    GLOBAL {t} *kr = keys + (t / pairs) * p;
    GLOBAL i64 *ir = idx + (t / pairs) * p;
    {t} ka = kr[i], kb = kr[l];
    i64 ia = ir[i], ib = ir[l];
    int swap = (i & k) == 0 ? before(kb, ib, ka, ia, n, descending) : before(ka, ia, kb, ib, n, descending);
    if (swap) {{ kr[i] = kb; kr[l] = ka; ir[i] = ib; ir[l] = ia; }}
}}
KERNEL void sort_block(GLOBAL {t} *keys, GLOBAL i64 *idx, i64 n, i64 p, i64 block,
                       i64 k_first, i64 k_last, i64 descending) {{
    LOCAL {t} lk[2 * WG];
    LOCAL i64 li[2 * WG];
    i64 lid = LOCAL_ID(0), wg = LOCAL_SIZE(0), blocks = p / block;
    i64 first = (GROUP_ID(0) % blocks) * block;  /* the block's position in its row */
    i64 base = (GROUP_ID(0) / blocks) * p + first;
    for (i64 e = lid; e < block; e += wg) {{ lk[e] = keys[base + e]; li[e] = idx[base + e]; }}
    BARRIER();
    for (i64 k = k_first; k <= k_last; k *= 2) {{
        for (i64 j = (k < block ? k : block) / 2; j > 0; j /= 2) {{
            for (i64 q = lid; q < block / 2; q += wg) {{
                i64 i = 2 * j * (q / j) + q % j, l = i + j;
                {t} ka = lk[i], kb = lk[l];
                i64 ia = li[i], ib = li[l];
                int swap = ((first + i) & k) == 0 ? before(kb, ib, ka, ia, n, descending)
                                                  : before(ka, ia, kb, ib, n, descending);
                if (swap) {{ lk[i] = kb; lk[l] = ka; li[i] = ib; li[l] = ia; }}
            }}
            BARRIER();
        }}
    }}
    for (i64 e = lid; e < block; e += wg) {{ keys[base + e] = lk[e]; idx[base + e] = li[e]; }}
}}
"""


def sort_rows(device, x, descending: bool):
    """Sort each row of the (rows, n) array ``x``: (sorted keys, original indices), two
    (rows, n) views of padded (rows, p) buffers."""
    rows, n = x.shape
    x = device.contiguous(x)
    p = 1 << max(n - 1, 0).bit_length()
    keys, idx = device.empty((rows, p), x.dtype), device.empty((rows, p), np.dtype(np.int64))
    if rows and n:
        source = sort_source(x.dtype)
        group = min(_GROUP, device.info.max_work_group)
        program(device, source, "sort_init", WG=group)((rows * p,), (group,), keys.buf, idx.buf,
                                                       x.buf, x.offset, rows, n, p)
        step = program(device, source, "sort_step", WG=group)
        local = program(device, source, "sort_block", WG=group)
        block = min(p, 2 * group)
        blocks = (rows * p // block * group,), (group,)
        local(*blocks, keys.buf, idx.buf, n, p, block, 2, block, int(descending))  # sorted blocks
        k = 2 * block
        while k <= p:  # merge them: long strides in global memory, the rest in local
            j = k // 2
            while j >= block:
                step((rows * p // 2,), (group,), keys.buf, idx.buf, rows, n, p, k, j, int(descending))
                j //= 2
            local(*blocks, keys.buf, idx.buf, n, p, block, k, k, int(descending))
            k *= 2
    return keys.view((rows, n), (p, 1), 0), idx.view((rows, n), (p, 1), 0)


def _sort_axis(device, x, axis: int, descending: bool, want: int):
    """Sort ``x`` along ``axis``: the sorted values (``want=0``) or the indices (1), as a
    view in ``x``'s axis order."""
    order = tuple(a for a in range(x.ndim) if a != axis) + (axis,)
    moved = x.permute(order)
    rows, n = math.prod(moved.shape[:-1]), moved.shape[-1]
    flat = device.contiguous(moved).reshaped((rows, n))
    result = sort_rows(device, flat, descending)[want]
    p = result.strides[0]
    strides = tuple(s * p for s in contiguous_strides(moved.shape[:-1])) + (1,)
    back = result.view(moved.shape, strides, 0)
    return back.permute(tuple(np.argsort(order)))


@register("sort", on=("buffer",))
def sort(device, x, axis, descending, stable):
    return _sort_axis(device, x, axis, descending, 0)


@register("argsort", on=("buffer",))
def argsort(device, x, axis, descending, stable):
    return _sort_axis(device, x, axis, descending, 1)


@register("argsort", on=("cpu",))
def argsort_cpu(device, x, axis, descending, stable):
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    # Reversing an ascending sort of the reversed axis keeps ties in their original order.
    flipped = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return (x.shape[axis] - 1) - np.flip(flipped, axis)


@register("sort", on=("cpu",))
def sort_cpu(device, x, axis, descending, stable):
    out = np.sort(x, axis=axis, kind="stable")
    return np.flip(out, axis).copy() if descending else out


@lru_cache(maxsize=None)
def search_source(dtype: np.dtype) -> str:
    """Kernels over one value of ``v`` per work-item, binary-searching the sorted ``a``
    (through ``sorter`` unless ``direct``): ``search`` writes the insertion index
    (after equal values if ``right``), ``member`` whether the value is in ``a``."""
    t = C_TYPE[dtype]
    return order_helpers(dtype) + f"""
INLINE i64 at(GLOBAL const i64 *sorter, i64 s_off, i64 i, i64 n) {{
    if (s_off < 0) return i;  /* no sorter */
    i64 s = sorter[s_off + i];
    return s < 0 ? 0 : s >= n ? n - 1 : s;  /* a bad sorter must not read out of bounds */
}}
INLINE i64 find(GLOBAL const {t} *a, i64 n, GLOBAL const i64 *sorter, i64 s_off, {t} x, i64 right) {{
    i64 lo = 0, hi = n;
    while (lo < hi) {{
        i64 mid = lo + (hi - lo) / 2;
        {t} y = a[at(sorter, s_off, mid, n)];
        if (right ? !lt(x, y) : lt(y, x)) lo = mid + 1; else hi = mid;
    }}
    return lo;
}}
KERNEL void search(GLOBAL i64 *out, GLOBAL const {t} *a, i64 a_off, i64 n,
                   GLOBAL const i64 *sorter, i64 s_off, GLOBAL const {t} *v, i64 v_off, i64 m,
                   i64 right) {{
    i64 t = GLOBAL_ID(0);
    if (t >= m) return;
    out[t] = find(a + a_off, n, sorter, s_off, v[v_off + t], right);
}}
KERNEL void member(GLOBAL u8 *out, GLOBAL const {t} *a, i64 a_off, i64 n,
                   GLOBAL const i64 *sorter, i64 s_off, GLOBAL const {t} *v, i64 v_off, i64 m,
                   i64 invert) {{
    i64 t = GLOBAL_ID(0);
    if (t >= m) return;
    {t} x = v[v_off + t];
    i64 i = find(a + a_off, n, sorter, s_off, x, 0);
    out[t] = (u8)((i < n && eq(a[a_off + at(sorter, s_off, i, n)], x)) != (invert != 0));
}}
"""


def _search(device, kernel: str, out, a, sorter, v, last):
    a, v = device.contiguous(a), device.contiguous(v)
    if sorter is not None:
        sorter = device.contiguous(sorter)
    m = v.size
    if m:
        s_buf, s_off = (sorter.buf, sorter.offset) if sorter is not None else (a.buf, -1)
        program(device, search_source(a.dtype), kernel)(
            (m,), flat_group(device, _GROUP), out.buf, a.buf, a.offset, a.size, s_buf, s_off, v.buf,
            v.offset, m, last)
    return out


@register("searchsorted", on=("buffer",))
def searchsorted(device, x1, x2, side, sorter):
    """Insertion indices of ``x2`` (same dtype as the 1-D ``x1``) into sorted ``x1``."""
    out = device.empty(x2.shape, np.dtype(np.int64))
    return _search(device, "search", out, x1, sorter, x2, int(side == "right"))


@register("isin", on=("buffer",))
def isin(device, x1, x2, invert):
    """Membership of each element of ``x1`` in ``x2`` (one dtype): binary search in a
    sorted copy of ``x2``."""
    out = device.empty(x1.shape, np.dtype(np.bool_))
    if x2.size == 0:
        return full(device, x1.shape, out.dtype, bool(invert))
    keys = sort_rows(device, device.contiguous(x2).reshaped((1, x2.size)), False)[0]
    return _search(device, "member", out, keys, None, x1, int(invert))


for _op, _numpy in {  # the cpu's: NumPy
        "searchsorted": lambda device, x1, x2, side, sorter: np.asarray(
            np.searchsorted(x1, x2, side=side, sorter=sorter), np.int64),
        "isin": lambda device, x1, x2, invert: np.isin(x1, x2, invert=invert)}.items():
    register(_op, on=("cpu",))(_numpy)
