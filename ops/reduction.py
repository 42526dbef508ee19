"""Reductions over axes: sum, prod, max, min, all, any, count_nonzero, and the (value,
index) reductions argmax and argmin. On buffer backends the reduced axes are moved last
and made contiguous, then a row-reduction template folds each row with one work-group;
a long row over few outputs is folded in two passes so every compute unit has work.
The work-group size of the row folds is tunable (hal.autotune op "reduce_rows", per
dtype and (rows, cols) bucket); argmax/argmin keep the default, or on a CPU device fold
with one work-item per group (``_arg_group``).

Complex sums reduce the ``components()`` view (real kernels, no copy); complex
products combine with the ``c64_mul``/``c128_mul`` helpers."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from hal import autotune
from hal.dispatch import register
from hal.memory import Strided

from .launch import C_TYPE, apart, build_together, built, convert, program, run_elementwise

# name -> (the NumPy ufunc whose reduce is the reference, combine expression, identity)
REDUCTIONS = {
    "sum": (np.add, "a + b", "0"),
    "prod": (np.multiply, "a * b", "1"),
    "max": (np.maximum, "(a != a || a > b) ? a : b", None),
    "min": (np.minimum, "(a != a || a < b) ? a : b", None),
    "all": (np.logical_and, "a && b", "1"),
    "any": (np.logical_or, "a || b", "0"),
}
# Integers need no NaN check, and "a != a" on them is a compiler warning that pyopencl
# shows the user.
_INTEGER_COMBINE = {"max": "a > b ? a : b", "min": "a < b ? a : b"}
# A sum or product accumulated in bool is NumPy's logical or / and.
_BOOL_AS = {"sum": "any", "prod": "all"}
_WG = 256          # work-items folding one row on a device with work-groups
_SPLIT_ROWS = 64   # fewer output rows than this and long rows: fold in two passes
_SERIAL = 32       # rows at most this long are folded by one work-item
_SERIAL_CHUNK = 4096  # a first pass's chunk where one work-item folds each


@lru_cache(maxsize=None)
def reduction_source(in_t: str, acc_t: str, out_t: str, combine: str, init: str, load: str = "") -> str:
    """A kernel ``reduce``: work-group ``g`` folds segment ``g % chunks`` (``chunk``
    values) of row ``g / chunks`` of a contiguous (rows, cols) array.

    Each work-item folds a strided slice of the segment, then the group folds its
    partial results in local memory (``WG`` items, a power of two). With a work-group of
    one item (the C target) the same code folds the whole segment in one item.
    ``combine`` is an expression of ``a`` and ``b``; ``load`` of ``v`` (an input value,
    default: a cast to the accumulator, none between equal types, which complex structs
    need); ``init`` may read ``p[begin]``."""
    # (the default spelled as ``convert`` spells it, so that a second pass over partial
    # results and a first pass over values of the accumulator's type are one kernel)
    load = load or ("(v)" if in_t == acc_t else f"({acc_t})v")
    store = "partial[0]" if out_t == acc_t else f"({out_t})partial[0]"
    return f"""
INLINE {acc_t} combine({acc_t} a, {acc_t} b) {{ return {combine}; }}
INLINE {acc_t} load({in_t} v) {{ return {load}; }}
KERNEL void reduce(GLOBAL {out_t} *out, i64 out_off, GLOBAL const {in_t} *x, i64 x_off,
                   i64 cols, i64 chunk, i64 chunks) {{
    LOCAL {acc_t} partial[WG];
    i64 g = GROUP_ID(0), lid = LOCAL_ID(0), wg = LOCAL_SIZE(0);
    i64 begin = (g % chunks) * chunk, end = begin + chunk < cols ? begin + chunk : cols;
    GLOBAL const {in_t} *p = x + x_off + (g / chunks) * cols;
    {acc_t} acc = {init};
    for (i64 c = begin + lid; c < end; c += wg) acc = combine(acc, load(p[c]));
    partial[lid] = acc;
    BARRIER();
    for (i64 step = wg / 2; step > 0; step /= 2) {{
        if (lid < step) partial[lid] = combine(partial[lid], partial[lid + step]);
        BARRIER();
    }}
    if (lid == 0) out[out_off + g] = {store};
}}
"""


@lru_cache(maxsize=None)
def arg_reduction_source(t: str, better: str) -> str:
    """A kernel ``argreduce``: the (value, index) fold of ``reduce``. ``better`` is an
    expression of ``va, ia, vb, ib``: whether (vb, ib) replaces (va, ia). Indices come
    from ``xi`` (a first pass's output) when ``has_index``, else are the columns."""
    return f"""
INLINE int better({t} va, i64 ia, {t} vb, i64 ib) {{ return {better}; }}
KERNEL void argreduce(GLOBAL {t} *out_v, GLOBAL i64 *out_i, GLOBAL const {t} *x, i64 x_off,
                      GLOBAL const i64 *xi, i64 has_index, i64 cols, i64 chunk, i64 chunks) {{
    LOCAL {t} pv[WG];
    LOCAL i64 pi[WG];
    i64 g = GROUP_ID(0), lid = LOCAL_ID(0), wg = LOCAL_SIZE(0);
    i64 begin = (g % chunks) * chunk, end = begin + chunk < cols ? begin + chunk : cols;
    i64 row = (g / chunks) * cols;
    GLOBAL const {t} *p = x + x_off + row;
    {t} bv = p[begin];
    i64 bi = has_index ? xi[row + begin] : begin;
    for (i64 c = begin + lid; c < end; c += wg) {{
        i64 i = has_index ? xi[row + c] : c;
        if (better(bv, bi, p[c], i)) {{ bv = p[c]; bi = i; }}
    }}
    pv[lid] = bv;
    pi[lid] = bi;
    BARRIER();
    for (i64 step = wg / 2; step > 0; step /= 2) {{
        if (lid < step && better(pv[lid], pi[lid], pv[lid + step], pi[lid + step])) {{
            pv[lid] = pv[lid + step];
            pi[lid] = pi[lid + step];
        }}
        BARRIER();
    }}
    if (lid == 0) {{ out_v[g] = pv[0]; out_i[g] = pi[0]; }}
}}
"""


def _better(name: str, dtype: np.dtype) -> str:
    """argmax/argmin's order: the first occurrence wins a tie; NaN (floats) beats every
    number and the first NaN wins, as NumPy."""
    cmp = ">" if name == "argmax" else "<"
    plain = f"vb {cmp} va || (vb == va && ib < ia)"
    if dtype.kind != "f":
        return plain
    return f"(va != va) ? (vb != vb && ib < ia) : (vb != vb || {plain})"


# ---------------------------------------------------------------- cpu (NumPy)

def _cpu(name: str):
    reduce = REDUCTIONS[name][0].reduce

    def impl(device, x, axes, keepdims, dtype):
        out = reduce(x, axes, dtype, None, keepdims)  # ufunc.reduce: np.sum without its dispatch layers
        return out if type(out) is np.ndarray else np.asarray(out)
    return impl


register("count_nonzero", on=("cpu",))(lambda device, x, axes, keepdims: np.asarray(
    np.count_nonzero(x, axis=axes, keepdims=keepdims), np.int64))


def _arg_cpu(name: str):
    fn = getattr(np, name)

    def impl(device, x, axis, keepdims):
        return np.asarray(fn(x, axis=axis, keepdims=keepdims), np.int64)
    return impl


# ---------------------------------------------------------------- buffer devices

def _kernel(name: str):
    def impl(device, x, axes, keepdims, dtype):
        kind = _BOOL_AS.get(name, name) if dtype == np.bool_ else name
        if dtype.kind == "c" and name == "sum":
            return _complex_sum(device, x, axes, keepdims, dtype)
        _, combine, identity = REDUCTIONS[kind]
        if dtype.kind in "iub":
            combine = _INTEGER_COMBINE.get(kind, combine)
        if dtype.kind == "c":  # prod: complex values are structs with helper functions
            combine = f"{C_TYPE[dtype]}_mul(a, b)"
        return reduce_axes(device, x, axes, keepdims, dtype, combine, identity, convert("v", x.dtype, dtype))
    return impl


def _complex_sum(device, x, axes, keepdims, dtype):
    """Sum the real and imaginary parts as real arrays (``components()``), then see the
    contiguous (..., 2) result as complex."""
    if x.dtype != dtype:
        x = device.impl("astype")(device, x, dtype)
    parts = x.components()
    out = reduce_axes(device, parts, axes, False, parts.dtype, "a + b", "0", "")
    whole = Strided(out.buf, out.shape[:-1], dtype, None, out.offset // 2)
    return _keep_dims(whole, x.ndim, axes) if keepdims else whole


@register("count_nonzero", on=("buffer",))
def count_nonzero(device, x, axes, keepdims):
    load = f"(i64){convert('v', x.dtype, np.dtype(np.bool_))}"
    return reduce_axes(device, x, axes, keepdims, np.dtype(np.int64), "a + b", "0", load)


def _moved_rows(device, x, axes):
    """``x`` with the reduced axes last, contiguous, and the output's shape."""
    kept = [a for a in range(x.ndim) if a not in axes]
    moved = device.contiguous(x.permute(tuple(kept) + tuple(axes)))
    return moved, tuple(x.shape[a] for a in kept), math.prod(x.shape[a] for a in axes)


def reduce_axes(device, x, axes, keepdims, dtype, combine, identity, load):
    """Fold ``axes`` of ``x`` with ``combine`` into a new array of ``dtype``: each value
    is ``load``ed (an expression of ``v``), ``identity`` (None: the row's first value)
    is what an empty row folds to."""
    moved, out_shape, cols = _moved_rows(device, x, axes)
    rows = math.prod(out_shape)
    out = device.empty(out_shape, dtype)
    if rows and cols:
        _reduce_rows(device, combine, identity, load, moved, rows, cols, out)
    elif rows:
        fill_identity(device, out, identity)
    return _keep_dims(out, x.ndim, axes) if keepdims else out


def fill_identity(device, out, identity):
    """Fill the contiguous ``out`` with ``identity`` (a number or its C literal)."""
    if out.dtype.kind == "c":  # the identity's real part, a zero imaginary part
        run_elementwise(device, f"(i % 2 == 0) ? {identity} : 0", out.components(), [], [])
    else:
        run_elementwise(device, "x0", out, [int(identity)], [out.dtype])


def _keep_dims(out, ndim, axes):
    it = iter(out.strides)
    strides = [0 if a in axes else next(it) for a in range(ndim)]
    it = iter(out.shape)
    return out.view([1 if a in axes else next(it) for a in range(ndim)], strides, out.offset)


def _full_group(device):
    """The work-group size of long rows, a power of two; also the local arrays' size
    (``WG``) of every launch, so one build serves both group sizes."""
    return 1 << (min(_WG, device.info.max_work_group).bit_length() - 1)


def _group_size(device, cols, full=None):
    """One of two fixed sizes (PoCL compiles a kernel again for every work-group size):
    short rows are folded serially by one work-item, longer ones by a work-group of
    ``full`` (default: ``_full_group``)."""
    return 1 if cols <= _SERIAL else full or _full_group(device)


def _chunking(device, rows, cols, full=None):
    """(chunk, chunks) of a first pass over long rows of few outputs, or None. (Groups of
    one item fold a chunk of at least _SERIAL_CHUNK values each.)"""
    wg = _group_size(device, cols, full)
    least = 16 * wg if wg > 1 else _SERIAL_CHUNK
    if rows < _SPLIT_ROWS and cols > least:
        chunk = max(least, -(-cols * rows // (4 * _SPLIT_ROWS)))
        return chunk, -(-cols // chunk)
    return None


def _reduce_rows(device, combine, identity, load, x, rows, cols, out, full=None):
    """Fold ``rows`` contiguous rows of ``cols`` values of ``x`` into ``out`` with
    work-groups of ``full`` items (default: the tuned size for this shape)."""
    if full is None:
        key = (x.dtype.name, (autotune.bucket(rows), autotune.bucket(cols)))
        full = autotune.choose(device, "reduce_rows", key)["WG"]
    split = _chunking(device, rows, cols, full)
    if split:
        chunk, chunks = split
        partial = device.empty((rows, chunks), out.dtype)
        _launch(device, combine, identity, load, x, rows, cols, chunk, chunks, partial, full)
        x, cols, load = partial, chunks, ""
    _launch(device, combine, identity, load, x, rows, cols, cols, 1, out, full)


def _launch(device, combine, identity, load, x, rows, cols, chunk, chunks, out, full):
    source = _fold_text(combine, identity, load, x.dtype, out.dtype)
    if device.batch_builds and not built(device, (source, "reduce", ("WG", full))):
        _build_common(device, full)
    wg = _group_size(device, chunk, full)
    program(device, source, "reduce", WG=full)((rows * chunks * wg,), (wg,), out.buf, out.offset,
                                             x.buf, x.offset, cols, chunk, chunks)


def _fold_text(combine, identity, load, in_dtype, out_dtype) -> str:
    acc = C_TYPE[out_dtype]
    if identity is None:
        init = "load(p[begin])"
    elif out_dtype.kind == "c":
        init = f"{acc}_make({identity}, 0)"
    else:
        init = f"({acc}){identity}"
    return reduction_source(C_TYPE[in_dtype], acc, acc, combine, init, load)


def _build_common(device, full: int) -> None:
    """On a device whose builds are mostly a fixed cost (``device.batch_builds``), the
    reductions that array code uses most, built in one program with ``WG=full`` before
    the first of them runs: each of sum, prod, max and min over each floating dtype,
    float32 summed in float64, and bool's all and any (a scikit-learn fit uses six of
    them: one build instead of six)."""
    floats = [d for d in map(np.dtype, ("float32", "float64")) if d in device.dtypes]
    common = [(name, d, d) for d in floats for name in ("sum", "prod", "max", "min")]
    common += [("sum", floats[0], floats[1])] if len(floats) == 2 else []
    common += [(name, np.dtype(np.bool_), np.dtype(np.bool_)) for name in ("all", "any")]
    sources = dict.fromkeys(_fold_text(*REDUCTIONS[name][1:], convert("v", i, o), i, o) for name, i, o in common)
    build_together(device, ("reduce", full), [(s, apart(s, ("combine", "load"), j), {"WG": full})
                                              for j, s in enumerate(sources)])


def _arg_kernel(name: str):
    def impl(device, x, axis, keepdims):
        axes = tuple(range(x.ndim)) if axis is None else (axis,)
        moved, out_shape, cols = _moved_rows(device, x, axes)
        rows = math.prod(out_shape)
        out = device.empty(out_shape, np.dtype(np.int64))
        if rows:
            source = arg_reduction_source(C_TYPE[x.dtype], _better(name, x.dtype))
            values, indices, split = moved, None, _chunking(device, rows, cols, _arg_group(device))
            if split:
                chunk, chunks = split
                values, indices = _arg_launch(device, source, moved, None, rows, cols, chunk, chunks)
                cols = chunks
            _arg_launch(device, source, values, indices, rows, cols, cols, 1, out)
        return _keep_dims(out, x.ndim, axes) if keepdims else out
    return impl


def _arg_group(device) -> int:
    """argmax/argmin's group size: on a CPU device one item, no barriers (PoCL, 262,144
    values: 0.75 -> 0.35 ms; the order of a (value, index) fold does not change its
    result), else the default."""
    return 1 if device.info.kind == "cpu" else _full_group(device)


def _arg_launch(device, source, x, indices, rows, cols, chunk, chunks, out_i=None):
    """One (value, index) pass; returns the values and indices it wrote."""
    out_v = device.empty((rows, chunks), x.dtype)
    if out_i is None:
        out_i = device.empty((rows, chunks), np.dtype(np.int64))
    wg = _group_size(device, chunk, _arg_group(device))
    program(device, source, "argreduce", WG=_full_group(device))(
        (rows * chunks * wg,), (wg,), out_v.buf, out_i.buf, x.buf, x.offset,
        (x if indices is None else indices).buf, int(indices is not None), cols, chunk, chunks)
    return out_v, out_i


for _name in REDUCTIONS:
    register(_name, on=("cpu",))(_cpu(_name))
    register(_name, on=("buffer",))(_kernel(_name))
for _name in ("argmax", "argmin"):
    register(_name, on=("cpu",))(_arg_cpu(_name))
    register(_name, on=("buffer",))(_arg_kernel(_name))


def _sum_rows_into(device, config, out, x):
    """The tuning candidate: ``out`` (rows,) = row sums of the contiguous ``x`` (rows, cols)."""
    _reduce_rows(device, "a + b", "0", "", x, x.shape[0], x.shape[1], out, full=config["WG"])


def _rows_problem(key, ragged, rng):
    rows, cols = key[1]
    if ragged:  # keep long rows long: the two-pass split is what a wrong chunking breaks
        rows, cols = max(1, min(rows, 37) - 2), max(2, min(cols, 20000) - 3)
    return (rng.standard_normal((rows, cols)).astype(key[0]),)


def _rows_work(key):
    rows, cols = key[1]
    return rows * cols, np.dtype(key[0]).itemsize * rows * (cols + 1)


def _rows_default(device, key):
    """Small groups where the OpenCL device is a CPU (PoCL runs a group's items one after
    another on one core, so a wide group only adds a longer fold in local memory; 16
    measured fastest there for every shape), the widest elsewhere."""
    return {"WG": min(16, _full_group(device)) if device.info.kind == "cpu" else _full_group(device)}


def _rows_presets(device):
    """Rows of a 576-wide model (norms of 1 or 64 tokens, its 1536-wide MLP) and of its
    49152-entry vocabulary, and a square case (none where the device sums through a
    library of its own, as the cpu through NumPy)."""
    if device.library("sum"):
        return []
    return [("float32", (autotune.bucket(r), autotune.bucket(c)))
            for r, c in ((1, 576), (64, 576), (64, 1536), (1, 49152), (1024, 1024))]


REDUCE_ROWS = autotune.declare(autotune.Tunable(
    op="reduce_rows",
    space=lambda device, key: [{"WG": wg} for wg in (16, 32, 64, 128, 256, 512)
                               if wg <= _full_group(device) * 2 and wg <= device.info.max_work_group],
    default=_rows_default,
    run=_sum_rows_into, reference=lambda x: x.sum(axis=1), problem=_rows_problem, work=_rows_work,
    presets=_rows_presets, bound="memory"))
