"""Quantized weights in their GGUF block layout: dequantize, embedding (dequantized
rows at token ids) and linear (``x @ w.T``) reading the blocks directly.

A weight is a (rows, cols) matrix stored as the file stores it: row-major, each row
``cols / QK`` blocks of ``BLOCK_BYTES`` bytes (ggml's ``block_q8_0``, ``block_q4_K``, ...).
Every kernel decodes one *unit* at a time into registers: ``SUB`` consecutive values of
a row (32 for the quantized types, a sub-block of the 256-value K-quant super-blocks;
1 for the float types), so no float copy of the matrix is ever made.

The same sources serve every target: on the cpu they compile to C (one work-item per
group), on OpenCL the mat-vec folds a row with a work-group. Layouts follow ggml's
``dequantize_row_*`` definitions (ggml-quants.c), checked against
``gguf.quants.dequantize`` in tests/test_quant.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hal.dispatch import register

from .templates import program


@dataclass(frozen=True)
class QuantType:
    name: str
    qk: int            # values per block
    block_bytes: int
    sub: int           # values decoded per unit
    decode: str        # body of ``decode(b, s, v)``: unit ``s`` of the block at ``b`` into ``v[SUB]``


# Reading f16 / bf16 / f32 from bytes: blocks are only 2-byte aligned (Q8_0 is 34 bytes),
# so scalars are assembled from bytes, and bits become floats through each target's cast.
_HELPERS = r"""
INLINE f32 f32_from_bits(u32 u) {
#if defined(__OPENCL_VERSION__)
    return as_float(u);
#elif defined(__CUDACC__)
    return __uint_as_float(u);
#else
    union { u32 u; f32 f; } c; c.u = u; return c.f;
#endif
}
INLINE u32 load_u16(GLOBAL const u8 *p) { return (u32)p[0] | ((u32)p[1] << 8); }
INLINE f32 half_to_f32(u32 h) {
    u32 sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
    if (e == 0) {  /* zero or subnormal: m * 2^-24, exact in f32 */
        f32 x = (f32)m * 5.9604644775390625e-8f;
        return sign ? -x : x;
    }
    if (e == 31) return f32_from_bits(sign | 0x7F800000u | (m << 13));
    return f32_from_bits(sign | ((e + 112u) << 23) | (m << 13));
}
INLINE f32 load_half(GLOBAL const u8 *p) { return half_to_f32(load_u16(p)); }
/* ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j of a Q4_K/Q5_K block. */
INLINE void scale_min_k4(i32 j, GLOBAL const u8 *q, f32 *sc, f32 *mn) {
    if (j < 4) { *sc = (f32)(q[j] & 63); *mn = (f32)(q[j + 4] & 63); }
    else {
        *sc = (f32)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *mn = (f32)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}
"""

TYPES = {t.name: t for t in (
    QuantType("F32", 1, 4, 1, """
    v[0] = f32_from_bits(load_u16(b) | (load_u16(b + 2) << 16));"""),
    QuantType("F16", 1, 2, 1, """
    v[0] = load_half(b);"""),
    QuantType("BF16", 1, 2, 1, """
    v[0] = f32_from_bits(load_u16(b) << 16);"""),
    QuantType("Q8_0", 32, 34, 32, """
    f32 d = load_half(b);
    for (int j = 0; j < 32; j++) v[j] = (f32)(i8)b[2 + j] * d;"""),
    QuantType("Q4_0", 32, 18, 32, """
    f32 d = load_half(b);
    for (int j = 0; j < 16; j++) {
        u8 q = b[2 + j];
        v[j] = (f32)((i32)(q & 15) - 8) * d;
        v[j + 16] = (f32)((i32)(q >> 4) - 8) * d;
    }"""),
    QuantType("Q4_1", 32, 20, 32, """
    f32 d = load_half(b), m = load_half(b + 2);
    for (int j = 0; j < 16; j++) {
        u8 q = b[4 + j];
        v[j] = (f32)(q & 15) * d + m;
        v[j + 16] = (f32)(q >> 4) * d + m;
    }"""),
    # 256 values: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], f16 d.
    # Unit s (32 values) is quadrant k of half n; 16 values share a scale.
    QuantType("Q6_K", 256, 210, 32, """
    i32 n = s / 4, k = s % 4;
    f32 d = load_half(b + 208);
    GLOBAL const u8 *ql = b + n * 64 + (k & 1) * 32, *qh = b + 128 + n * 32;
    GLOBAL const u8 *sc = b + 192 + n * 8 + 2 * k;
    for (int l = 0; l < 32; l++) {
        i32 lo = (k < 2) ? (ql[l] & 15) : (ql[l] >> 4);
        i32 q = (lo | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
        v[l] = d * (f32)(i8)sc[l / 16] * (f32)q;
    }"""),
    # 256 values: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, qs[128] (4 bits).
    QuantType("Q4_K", 256, 144, 32, """
    f32 sc, mn;
    scale_min_k4(s, b + 4, &sc, &mn);
    f32 d = load_half(b) * sc, m = load_half(b + 2) * mn;
    GLOBAL const u8 *q = b + 16 + (s / 2) * 32;
    for (int l = 0; l < 32; l++) v[l] = d * (f32)((s & 1) ? (q[l] >> 4) : (q[l] & 15)) - m;"""),
    # Q4_K plus qh[32]: bit s of qh[l] is the fifth bit of value l of unit s.
    QuantType("Q5_K", 256, 176, 32, """
    f32 sc, mn;
    scale_min_k4(s, b + 4, &sc, &mn);
    f32 d = load_half(b) * sc, m = load_half(b + 2) * mn;
    GLOBAL const u8 *qh = b + 16, *q = b + 48 + (s / 2) * 32;
    for (int l = 0; l < 32; l++) {
        i32 lo = (s & 1) ? (q[l] >> 4) : (q[l] & 15);
        v[l] = d * (f32)(lo + (((qh[l] >> s) & 1) << 4)) - m;
    }"""),
)}

_KERNELS = r"""
/* Unit u of a row: block u / UPB, unit u % UPB inside it. */
#define UPB (QK / SUB)

/* Rows (or rows at ``ids``) of the weight, dequantized: one work-item per unit. */
KERNEL void dequantize(GLOBAL f32 *out, GLOBAL const u8 *w, i64 w_off, GLOBAL const i64 *ids,
                       i64 use_ids, i64 wrows, i64 nrows, i64 cols) {
    i64 i = GLOBAL_ID(0), units = cols / SUB;
    if (i >= nrows * units) return;
    i64 r = i / units, u = i % units, row = use_ids ? ids[r] : r;
    GLOBAL f32 *o = out + r * cols + u * SUB;
    if (row < 0 || row >= wrows) {  /* an id out of range reads as NaN, never out of bounds */
        for (int j = 0; j < SUB; j++) o[j] = 0.0f / 0.0f;
        return;
    }
    f32 v[SUB];
    decode(w + w_off + row * (cols / QK) * BLOCK_BYTES + (u / UPB) * BLOCK_BYTES, (i32)(u % UPB), v);
    for (int j = 0; j < SUB; j++) o[j] = v[j];
}

/* out (n, rows) = x (n, cols) @ w.T. Group (., ROWS, 1): LOCAL_SIZE(0) work-items share
   the units of each of ROWS rows, for NT consecutive rows of x; each unit is decoded
   once into registers and used for all NT of them, then the group folds its partial
   sums in local memory (LOCAL_SIZE(0) a power of two, at most WG). */
KERNEL void linear(GLOBAL f32 *out, i64 out_off, GLOBAL const f32 *x, i64 x_off,
                   GLOBAL const u8 *w, i64 w_off, i64 rows, i64 cols, i64 n) {
    LOCAL f32 partial[ROWS][WG][NT];
    i64 lid = LOCAL_ID(0), wg = LOCAL_SIZE(0), ly = LOCAL_ID(1);
    i64 row = GLOBAL_ID(1), t0 = GROUP_ID(2) * NT, units = cols / SUB;
    f32 acc[NT];
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    if (row < rows) {
        GLOBAL const u8 *wr = w + w_off + row * (cols / QK) * BLOCK_BYTES;
        for (i64 u = lid; u < units; u += wg) {
            f32 v[SUB];
            decode(wr + (u / UPB) * BLOCK_BYTES, (i32)(u % UPB), v);
            for (int t = 0; t < NT; t++) {
                if (t0 + t >= n) break;
                GLOBAL const f32 *xr = x + x_off + (t0 + t) * cols + u * SUB;
                f32 dot = 0.0f;
                for (int j = 0; j < SUB; j++) dot += v[j] * xr[j];
                acc[t] += dot;
            }
        }
    }
    for (int t = 0; t < NT; t++) partial[ly][lid][t] = acc[t];
    BARRIER();
    for (i64 step = wg / 2; step > 0; step /= 2) {
        if (lid < step)
            for (int t = 0; t < NT; t++) partial[ly][lid][t] += partial[ly][lid + step][t];
        BARRIER();
    }
    if (lid == 0 && row < rows)
        for (int t = 0; t < NT && t0 + t < n; t++) out[out_off + (t0 + t) * rows + row] = partial[ly][0][t];
}
"""


def source(qtype: QuantType) -> str:
    """The dequantize and linear kernels of one type."""
    decode = f"INLINE void decode(GLOBAL const u8 *b, i32 s, f32 *v) {{{qtype.decode}\n}}\n"
    return _HELPERS + decode + _KERNELS


def defines(qtype: QuantType, **extra) -> dict:
    return {"QK": qtype.qk, "BLOCK_BYTES": qtype.block_bytes, "SUB": qtype.sub, **extra}


def row_bytes(qtype: QuantType, cols: int) -> int:
    return cols // qtype.qk * qtype.block_bytes


# ---------------------------------------------------------------- launch parameters

# Decode (a few rows of x): WG work-items fold each weight row; ROWS rows per group.
# Prefill: NT rows of x per group share each decoded unit. Fixed sizes: PoCL compiles
# again for every work-group size. TODO: tunable through hal/autotune.py once it lands.
MATVEC = {"WG": 16, "ROWS": 4, "NT": 1}
MATMUL = {"WG": 16, "ROWS": 4, "NT": 8}
_GROUP = 64                 # dequantize / embedding work-group
_CPU_BLAS_ROWS = 16         # from this many rows of x, the cpu dequantizes tiles for BLAS
_CPU_TILE_ROWS = 1024       # weight rows dequantized at once for BLAS


def _params(device, n: int) -> dict:
    p = dict(MATVEC if n <= 2 else MATMUL)
    while p["WG"] * p["ROWS"] > device.info.max_work_group and p["ROWS"] > 1:
        p["ROWS"] //= 2
    return p


def _pointer(device, payload):
    return payload if device.family == "numpy" else payload.buf


def _offset(device, payload) -> int:
    return 0 if device.family == "numpy" else payload.offset


# ---------------------------------------------------------------- ops

def _dequantize_rows(device, ggml_type: str, raw, shape: tuple, ids=None, nrows=None):
    """The rows of the (rows, cols) weight ``raw`` at ``ids`` (a contiguous int64
    payload, or None for every row) as a new float32 (nrows, cols) payload."""
    qtype = TYPES[ggml_type]
    rows, cols = shape
    nrows = rows if ids is None else ids.shape[0]
    out = device.empty((nrows, cols), np.dtype(np.float32))
    total = nrows * (cols // qtype.sub)
    if total:
        group = None if device.family == "numpy" else (min(_GROUP, device.info.max_work_group),)
        index = raw if ids is None else ids
        program(device, source(qtype), "dequantize", **defines(qtype, WG=1, ROWS=1, NT=1))(
            (total,), group, _pointer(device, out), _pointer(device, raw), _offset(device, raw),
            _pointer(device, index), int(ids is not None), rows, nrows, cols)
    return out


@register("quant_dequantize", on=("cpu", "buffer"))
def dequantize(device, w):
    return _dequantize_rows(device, w.ggml_type, w.raw, w.shape)


@register("quant_embedding", on=("cpu", "buffer"))
def embedding(device, w, ids):
    """``ids``: a contiguous 1-D int64 payload; returns (len(ids), cols) float32."""
    return _dequantize_rows(device, w.ggml_type, w.raw, w.shape, ids)


@register("quant_linear", on=("cpu",))
def linear_cpu(device, x, w):
    """x (n, cols) contiguous float32 @ w.T: the C kernel for a few rows of x (decode),
    BLAS over dequantized tiles of w for many (prefill)."""
    n, (rows, cols) = x.shape[0], w.shape
    if w.ggml_type == "F32":
        return x @ w.raw.view(np.float32).reshape(rows, cols).T
    if n < _CPU_BLAS_ROWS:
        return _linear_kernel(device, x, w, {"WG": 1, "ROWS": 1, "NT": 1 if n == 1 else 4})
    out = np.empty((n, rows), np.float32)
    stride = row_bytes(TYPES[w.ggml_type], cols)
    for r0 in range(0, rows, _CPU_TILE_ROWS):
        r1 = min(rows, r0 + _CPU_TILE_ROWS)
        tile = _dequantize_rows(device, w.ggml_type, w.raw[r0 * stride:r1 * stride], (r1 - r0, cols))
        np.matmul(x, tile.T, out=out[:, r0:r1])
    return out


@register("quant_linear", on=("buffer",))
def linear(device, x, w):
    return _linear_kernel(device, x, w, _params(device, x.shape[0]))


def _linear_kernel(device, x, w, p: dict):
    qtype = TYPES[w.ggml_type]
    n, (rows, cols) = x.shape[0], w.shape
    out = device.empty((n, rows), np.dtype(np.float32))
    if out.size == 0:
        return out
    tiles = -(-n // p["NT"])
    prog = program(device, source(qtype), "linear", **defines(qtype, **p))
    if device.family == "numpy":
        prog((1, rows, tiles), None, out, 0, x, 0, w.raw, 0, rows, cols, n)
    else:
        prog((p["WG"], -(-rows // p["ROWS"]) * p["ROWS"], tiles), (p["WG"], p["ROWS"], 1),
             out.buf, out.offset, x.buf, x.offset, w.raw.buf, w.raw.offset, rows, cols, n)
    return out
