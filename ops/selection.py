"""Selection: compaction (nonzero, unique), gather (take, take_along_axis, integer and
boolean array indexing) and scatter (their assignments).

Ops whose output size depends on the data compute everything on the device: flags,
an inclusive scan of the flags (``ops.scan.scan_rows``) that gives each selected
element its output position, then a scatter; only the total (the scan's last value)
is read back, with ``device.read_size``, to shape the result.

Gathers and scatters see arrays as (outer, n, inner) along one axis; indices are
normalized on the device (negative ones count from the end) and clamped into
``[0, n)``: the standard leaves out-of-range indices unspecified, and a kernel must
never read or write out of bounds. On the cpu these ops are NumPy.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from hal.dispatch import register

from .copy import astype
from .scan import local_size, scan_rows, scan_source
from .sorting import order_helpers, sort_rows
from .launch import C_TYPE, apart, build_together, built, flat_group, program, run_elementwise

_I64 = np.dtype(np.int64)
# Gathers and scatters only move values: one kernel per element size serves every dtype.
_STORAGE = {1: "u8", 2: "u16", 4: "u32", 8: "u64", 16: "c128"}


def _launch(device, source: str, name: str, n: int, *args, **defines):
    if n:
        program(device, source, name, **defines)((n,), flat_group(device, 256), *args)


def _positions(device, flags):
    """The inclusive scan of the 1-D bool ``flags`` (a selected element's output
    position plus one) and the number of selected elements."""
    scan = scan_rows(device, flags.reshaped((1, flags.size)), _I64)
    return scan, device.read_size(scan.view((), (), flags.size - 1))


@lru_cache(maxsize=None)
def nonzero_source(ndim: int) -> str:
    """Kernel ``nonzero``: each selected flat index ``i`` writes its coordinates in the
    shape ``d0..d{ndim-1}`` into row ``d`` of the (ndim, count) output."""
    dims = ", ".join(f"i64 d{d}" for d in range(ndim))
    unravel = " ".join(f"out[{d} * count + at] = r % d{d}; r /= d{d};" for d in reversed(range(ndim)))
    return f"""
KERNEL void nonzero(GLOBAL i64 *out, i64 count, GLOBAL const u8 *flags, GLOBAL const i64 *pos,
                    i64 n, {dims}) {{
    i64 i = GLOBAL_ID(0);
    if (i >= n || !flags[i]) return;
    i64 at = pos[i] - 1, r = i;
    {unravel}
}}
"""


@register("nonzero", on=("buffer",))
def nonzero(device, x):
    """The coordinates of the nonzero elements of ``x`` in row-major order, as one
    (ndim, count) int64 array."""
    flags = astype(device, x, np.dtype(np.bool_))  # (the conversion's kernel, not one of its own)
    if x.size == 0:
        return device.empty((x.ndim, 0), _I64)
    flags = flags.reshaped((x.size,))
    if device.batch_builds and not built(device, (nonzero_source(x.ndim), "nonzero")):
        _build_masking(device, x.ndim)
    pos, count = _positions(device, flags)
    out = device.empty((x.ndim, count), _I64)
    _launch(device, nonzero_source(x.ndim), "nonzero", x.size if count else 0,
            out.buf, count, flags.buf, pos.buf, x.size, *x.shape)
    return out


def _build_masking(device, ndim: int) -> None:
    """On a device whose builds are mostly a fixed cost (``device.batch_builds``), what
    a boolean mask's first use builds, in one program: the scan of its flags, the
    coordinates of its ``ndim``, and the gathers and scatters of 4- and 8-byte values
    (a scikit-learn fit built three programs for them, now one)."""
    scan = scan_source(np.dtype(np.bool_), _I64, "sum")
    gathers = [gather_source(t) for t in ("u32", "u64")]
    build_together(device, ("masking", ndim), [
        (scan, apart(scan, ("combine",), 0), {"WG": local_size(device)}),
        (nonzero_source(ndim), nonzero_source(ndim), {}),
        *[(g, apart(g, ("source",), j), {}) for j, g in enumerate(gathers, 1)]])


for _op, _numpy in {  # the cpu's: NumPy (integer-array indexing is optional: where a backend has
        # none, hal composes it from take and scatter; NumPy's own is vectorized and checks bounds)
        "nonzero": lambda device, x: np.stack(np.nonzero(x)).astype(np.int64).reshape(x.ndim, -1),
        "getitem_integer": lambda device, x, indices: x[indices + (Ellipsis,)],
        "gather": lambda device, x, idx: np.take_along_axis(
            x, np.broadcast_to(idx, (x.shape[0], idx.shape[1], x.shape[2])), 1),
        "where_into": lambda device, x, condition, value: np.copyto(x, value, where=condition)}.items():
    register(_op, on=("cpu",))(_numpy)


@register("setitem_integer", on=("cpu",))
def setitem_integer_cpu(device, x, indices: tuple, value):
    x[indices + (Ellipsis,)] = value


@lru_cache(maxsize=None)
def gather_source(t: str) -> str:
    """Kernels over (outer, m, inner) index positions ``idx`` (any strides) into the
    contiguous (outer, n, inner) ``x``: ``gather`` reads ``x`` into a contiguous
    output, ``scatter`` writes a strided ``value`` into ``x``."""
    return f"""
INLINE i64 source(GLOBAL const i64 *idx, i64 i_off, i64 s0, i64 s1, i64 s2,
                  i64 o, i64 j, i64 r, i64 n, i64 inner) {{
    i64 k = idx[i_off + o * s0 + j * s1 + r * s2];
    k = k < 0 ? k + n : k;
    k = k < 0 ? 0 : k >= n ? n - 1 : k;  /* out of range: unspecified, but in bounds */
    return (o * n + k) * inner + r;
}}
KERNEL void gather(GLOBAL {t} *out, GLOBAL const {t} *x, i64 x_off, GLOBAL const i64 *idx, i64 i_off,
                   i64 s0, i64 s1, i64 s2, i64 m, i64 n, i64 inner, i64 total) {{
    i64 t = GLOBAL_ID(0);
    if (t >= total) return;
    i64 r = t % inner, j = (t / inner) % m, o = t / (inner * m);
    out[t] = x[x_off + source(idx, i_off, s0, s1, s2, o, j, r, n, inner)];
}}
KERNEL void scatter(GLOBAL {t} *x, i64 x_off, GLOBAL const i64 *idx, i64 i_off, i64 s0, i64 s1, i64 s2,
                    GLOBAL const {t} *v, i64 v_off, i64 v0, i64 v1, i64 v2,
                    i64 m, i64 n, i64 inner, i64 total) {{
    i64 t = GLOBAL_ID(0);
    if (t >= total) return;
    i64 r = t % inner, j = (t / inner) % m, o = t / (inner * m);
    x[x_off + source(idx, i_off, s0, s1, s2, o, j, r, n, inner)] = v[v_off + o * v0 + j * v1 + r * v2];
}}
"""


@register("gather", on=("buffer",))
def gather(device, x, idx):
    """``out[o, j, r] = x[o, idx[o, j, r], r]`` for the (outer, n, inner) ``x`` and the
    (outer, m, inner) view ``idx``."""
    outer, n, inner = x.shape
    m = idx.shape[1]
    x = device.contiguous(x)
    out = device.empty((outer, m, inner), x.dtype)
    _launch(device, gather_source(_STORAGE[x.dtype.itemsize]), "gather", out.size if n else 0,
            out.buf, x.buf, x.offset, idx.buf, idx.offset, *idx.strides, m, n, inner, out.size)
    return out


@register("scatter", on=("buffer",))
def scatter(device, x, idx, value):
    """``x[o, idx[o, j, r], r] = value[o, j, r]`` into the (outer, n, inner) view ``x``
    (written in place); ``value`` is a view of idx's shape or a scalar. Duplicate
    indices: one of their values lands, which one is unspecified (as the standard)."""
    outer, n, inner = x.shape
    m = idx.shape[1]
    if not x.writable:
        raise ValueError("cannot write into a broadcast view: its elements share memory")
    target = device.contiguous(x)
    if not hasattr(value, "buf"):
        value = run_elementwise(device, "x0", device.empty((1, 1, 1), x.dtype), [value], [x.dtype])
    value = value.broadcast((outer, m, inner))
    _launch(device, gather_source(_STORAGE[x.dtype.itemsize]), "scatter", outer * m * inner if n else 0,
            target.buf, target.offset, idx.buf, idx.offset, *idx.strides,
            value.buf, value.offset, *value.strides, m, n, inner, outer * m * inner)
    if target is not x:
        run_elementwise(device, "x0", x, [target], [x.dtype])


@register("scatter", on=("cpu",))
def scatter_cpu(device, x, idx, value):
    shape = (x.shape[0], idx.shape[1], x.shape[2])
    np.put_along_axis(x, np.broadcast_to(idx, shape), np.broadcast_to(value, shape), 1)


@register("where_into", on=("buffer",))
def where_into(device, x, condition, value):
    """``x[condition] = value`` in place where ``value`` is the same for every selected
    row (a scalar, or broadcast over them): no compaction needed."""
    if not x.writable:
        raise ValueError("cannot write into a broadcast view: its elements share memory")
    run_elementwise(device, "x0 ? x1 : x2", x, [condition, value, x],
                    [np.dtype(np.bool_), x.dtype, x.dtype])


@lru_cache(maxsize=None)
def unique_source(dtype: np.dtype) -> str:
    """Kernels over the sorted values ``s`` (and their original indices ``perm``):
    ``unique_mark`` flags the first of each run of equal values (every NaN differs from
    every value, itself included, so each NaN is a run); ``unique_scatter`` writes each
    run's value, first index and start, and each element's run number (the inverse);
    ``unique_counts`` turns starts into counts."""
    t = C_TYPE[dtype]
    return order_helpers(dtype) + f"""
KERNEL void unique_mark(GLOBAL u8 *flags, GLOBAL const {t} *s, i64 n) {{
    i64 i = GLOBAL_ID(0);
    if (i >= n) return;
    flags[i] = (u8)(i == 0 || !eq(s[i], s[i - 1]));
}}
KERNEL void unique_scatter(GLOBAL {t} *values, GLOBAL i64 *first, GLOBAL i64 *inverse, GLOBAL i64 *starts,
                           GLOBAL const {t} *s, GLOBAL const i64 *perm, GLOBAL const u8 *flags,
                           GLOBAL const i64 *run, i64 n) {{
    i64 i = GLOBAL_ID(0);
    if (i >= n) return;
    i64 g = run[i] - 1;
    inverse[perm[i]] = g;
    if (!flags[i]) return;
    values[g] = s[i];
    first[g] = perm[i];
    starts[g] = i;
}}
KERNEL void unique_counts(GLOBAL i64 *counts, GLOBAL const i64 *starts, i64 k, i64 n) {{
    i64 g = GLOBAL_ID(0);
    if (g >= k) return;
    counts[g] = (g + 1 < k ? starts[g + 1] : n) - starts[g];
}}
"""


@register("unique", on=("buffer",))
def unique(device, x):
    """(values, first indices, inverse indices (flat), counts) of the flattened ``x``,
    values in ascending order, NaNs last and each its own value."""
    n = x.size
    if n == 0:
        empty = device.empty((0,), _I64)
        return device.empty((0,), x.dtype), empty, empty, empty
    flat = device.contiguous(x).reshaped((1, n))
    s, perm = sort_rows(device, flat, False)
    source = unique_source(x.dtype)
    flags = device.empty((n,), np.dtype(np.bool_))
    _launch(device, source, "unique_mark", n, flags.buf, s.buf, n)
    run, k = _positions(device, flags)
    values, first, starts, counts = (device.empty((k,), d) for d in (x.dtype, _I64, _I64, _I64))
    inverse = device.empty((n,), _I64)
    _launch(device, source, "unique_scatter", n, values.buf, first.buf, inverse.buf, starts.buf,
            s.buf, perm.buf, flags.buf, run.buf, n)
    _launch(device, source, "unique_counts", k, counts.buf, starts.buf, k, n)
    return values, first, inverse, counts


@register("unique", on=("cpu",))
def unique_cpu(device, x):
    flat = x.reshape(-1)
    perm = np.argsort(flat, kind="stable")
    s = flat[perm]
    flags = np.ones(s.shape, bool)
    flags[1:] = s[1:] != s[:-1]  # NaN != NaN: each NaN is its own value
    run = np.cumsum(flags) - 1
    inverse = np.empty(flat.shape, np.int64)
    inverse[perm] = run
    starts = np.flatnonzero(flags)
    counts = np.diff(np.append(starts, flat.size)).astype(np.int64)
    return s[starts], perm[starts].astype(np.int64), inverse, counts


@register("flat_index", on=("buffer",))
def flat_index(device, shape, parts, sizes):
    """The row-major position of each index tuple among dimensions of ``sizes``:
    ``parts`` are index arrays (broadcast to ``shape``) or ints, one per dimension;
    negative entries count from their axis's end. One elementwise launch; the sizes are
    arguments, so one kernel serves every shape."""
    k = len(parts)
    expr = "0"
    for j in range(k):
        expr = f"({expr}) * x{k + j} + (x{j} < 0 ? x{j} + x{k + j} : x{j})"
    return run_elementwise(device, expr, device.empty(shape, _I64), list(parts) + list(sizes), [_I64] * (2 * k))
