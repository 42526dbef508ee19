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

import functools
from dataclasses import dataclass

import numpy as np

from hal import autotune
from hal.dispatch import register

from .launch import cpu_device, flat_group, pointer, program


@dataclass(frozen=True)
class QuantType:
    name: str
    qk: int            # values per block
    block_bytes: int
    sub: int           # values decoded per unit
    decode: str        # body of ``decode(b, s, v)``: unit ``s`` of the block at ``b`` into ``v[SUB]``
    scales: tuple = () # byte offsets of the f16 scales in a block (for random test blocks)


# Reading f16 / bf16 / f32 from bytes: blocks are only 2-byte aligned (Q8_0 is 34 bytes),
# so scalars are assembled from bytes (half_to_f32 and f32_from_bits are dialect words).
_HELPERS = r"""
INLINE u32 load_u16(GLOBAL const u8 *p) { return (u32)p[0] | ((u32)p[1] << 8); }
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
    # Float types have no blocks: a unit is SUB consecutive values (see ``defines``).
    QuantType("F32", 1, 4, 1, """
    for (int j = 0; j < SUB; j++) v[j] = f32_from_bits(load_u16(b + 4 * j) | (load_u16(b + 4 * j + 2) << 16));"""),
    QuantType("F16", 1, 2, 1, """
    for (int j = 0; j < SUB; j++) v[j] = load_half(b + 2 * j);"""),
    QuantType("BF16", 1, 2, 1, """
    for (int j = 0; j < SUB; j++) v[j] = f32_from_bits(load_u16(b + 2 * j) << 16);"""),
    QuantType("Q8_0", 32, 34, 32, """
    f32 d = load_half(b);
    for (int j = 0; j < 32; j++) v[j] = (f32)(i8)b[2 + j];
    for (int j = 0; j < 32; j++) v[j] *= d;  /* a separate pass: 25% faster on the C target */""", (0,)),
    QuantType("Q4_0", 32, 18, 32, """
    f32 d = load_half(b);
    for (int j = 0; j < 16; j++) {
        u8 q = b[2 + j];
        v[j] = (f32)((i32)(q & 15) - 8) * d;
        v[j + 16] = (f32)((i32)(q >> 4) - 8) * d;
    }""", (0,)),
    QuantType("Q4_1", 32, 20, 32, """
    f32 d = load_half(b), m = load_half(b + 2);
    for (int j = 0; j < 16; j++) {
        u8 q = b[4 + j];
        v[j] = (f32)(q & 15) * d + m;
        v[j + 16] = (f32)(q >> 4) * d + m;
    }""", (0, 2)),
    # Q4_0/Q4_1 plus a fifth bit per value: bit j of the 32 bits qh is value j's.
    QuantType("Q5_0", 32, 22, 32, """
    f32 d = load_half(b);
    u32 qh = load_u16(b + 2) | (load_u16(b + 4) << 16);
    for (int j = 0; j < 16; j++) {
        u8 q = b[6 + j];
        v[j] = (f32)((i32)((q & 15) | (((qh >> j) & 1) << 4)) - 16) * d;
        v[j + 16] = (f32)((i32)((q >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16) * d;
    }""", (0,)),
    QuantType("Q5_1", 32, 24, 32, """
    f32 d = load_half(b), m = load_half(b + 2);
    u32 qh = load_u16(b + 4) | (load_u16(b + 6) << 16);
    for (int j = 0; j < 16; j++) {
        u8 q = b[8 + j];
        v[j] = (f32)((q & 15) | (((qh >> j) & 1) << 4)) * d + m;
        v[j + 16] = (f32)((q >> 4) | (((qh >> (j + 16)) & 1) << 4)) * d + m;
    }""", (0, 2)),
    # 256 values: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], f16 d.
    # Unit s (32 values) is quadrant k of half n; 16 values share a scale.
    QuantType("Q6_K", 256, 210, 32, """
    i32 n = s / 4, k = s % 4, lo_shift = (k / 2) * 4, hi_shift = 2 * k;
    f32 d = load_half(b + 208);
    GLOBAL const u8 *ql = b + n * 64 + (k & 1) * 32, *qh = b + 128 + n * 32;
    GLOBAL const i8 *sc = (GLOBAL const i8 *)(b + 192 + n * 8 + 2 * k);
    for (int h = 0; h < 2; h++) {
        f32 ds = d * (f32)sc[h];
        for (int l = 16 * h; l < 16 * h + 16; l++)
            v[l] = ds * (f32)((i32)(((ql[l] >> lo_shift) & 15) | (((qh[l] >> hi_shift) & 3) << 4)) - 32);
    }""", (208,)),
    # 256 values: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, qs[128] (4 bits).
    QuantType("Q4_K", 256, 144, 32, """
    f32 sc, mn;
    scale_min_k4(s, b + 4, &sc, &mn);
    f32 d = load_half(b) * sc, m = load_half(b + 2) * mn;
    GLOBAL const u8 *q = b + 16 + (s / 2) * 32;
    i32 shift = (s & 1) * 4;
    for (int l = 0; l < 32; l++) v[l] = d * (f32)((q[l] >> shift) & 15) - m;""", (0, 2)),
    # Q4_K plus qh[32]: bit s of qh[l] is the fifth bit of value l of unit s.
    QuantType("Q5_K", 256, 176, 32, """
    f32 sc, mn;
    scale_min_k4(s, b + 4, &sc, &mn);
    f32 d = load_half(b) * sc, m = load_half(b + 2) * mn;
    GLOBAL const u8 *qh = b + 16, *q = b + 48 + (s / 2) * 32;
    i32 shift = (s & 1) * 4;
    for (int l = 0; l < 32; l++) v[l] = d * (f32)(((q[l] >> shift) & 15) | (((qh[l] >> s) & 1) << 4)) - m;""", (0, 2)),
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
    i64 nt = n - t0 < NT ? n - t0 : NT;
    /* LANES running sums per row of x, folded once at the end: with LANES == SUB the
       products of a unit add into a vector of sums (no per-unit horizontal sum). */
    f32 acc[NT][LANES];
    for (int t = 0; t < NT; t++)
        for (int k = 0; k < LANES; k++) acc[t][k] = 0.0f;
    if (row < rows) {
        GLOBAL const u8 *wr = w + w_off + row * (cols / QK) * BLOCK_BYTES;
        GLOBAL const f32 *xu = x + x_off + t0 * cols;
        for (i64 u = lid; u < units; u += wg) {
            f32 v[SUB];
            decode(wr + (u / UPB) * BLOCK_BYTES, (i32)(u % UPB), v);
            for (i64 t = 0; t < nt; t++) {
                GLOBAL const f32 *xr = xu + t * cols + u * SUB;
                for (int j = 0; j < SUB; j++) acc[t][j % LANES] += v[j] * xr[j];
            }
        }
    }
    for (int t = 0; t < NT; t++) {
        f32 sum = 0.0f;
        for (int k = 0; k < LANES; k++) sum += acc[t][k];
        partial[ly][lid][t] = sum;
    }
    BARRIER();
    for (i64 step = wg / 2; step > 0; step /= 2) {
        if (lid < step)
            for (int t = 0; t < NT; t++) partial[ly][lid][t] += partial[ly][lid + step][t];
        BARRIER();
    }
    if (lid == 0 && row < rows)
        for (i64 t = 0; t < nt; t++) out[out_off + (t0 + t) * rows + row] = partial[ly][0][t];
}
"""


def source(qtype: QuantType) -> str:
    """The dequantize and linear kernels of one type."""
    decode = f"INLINE void decode(GLOBAL const u8 *b, i32 s, f32 *v) {{{qtype.decode}\n}}\n"
    return _HELPERS + decode + _KERNELS


def defines(qtype: QuantType, cols: int, lanes: int = 1, **extra) -> dict:
    """The kernels' constants. A float type's unit is 32 values where rows allow it (1
    otherwise): a "block" of 32 values without a header. ``lanes``: running sums per
    row of x in ``linear``, at most SUB (which it must divide)."""
    if qtype.qk == 1:
        sub = 32 if cols % 32 == 0 else 1
        qk, block_bytes = sub, sub * qtype.block_bytes
    else:
        sub, qk, block_bytes = qtype.sub, qtype.qk, qtype.block_bytes
    return {"QK": qk, "BLOCK_BYTES": block_bytes, "SUB": sub, "LANES": min(lanes, sub), **extra}


def row_bytes(qtype: QuantType, cols: int) -> int:
    return cols // qtype.qk * qtype.block_bytes


# ---------------------------------------------------------------- launch parameters

# linear's configuration (autotuned per device, type and shape bucket): WG work-items
# fold each weight row, ROWS rows per group, NT rows of x share each decoded unit,
# LANES running sums per row of x. The defaults follow the device: on a CPU (PoCL, the
# C target) one work-item per row with vector-wide sums (PoCL's best by 4-6x on this
# machine); on a GPU a work-group per row.
CPU_LIKE = {"decode": {"WG": 1, "ROWS": 16, "NT": 1, "LANES": 32},
            "prefill": {"WG": 1, "ROWS": 4, "NT": 8, "LANES": 32}}
GPU_LIKE = {"decode": {"WG": 32, "ROWS": 4, "NT": 1, "LANES": 1},
            "prefill": {"WG": 32, "ROWS": 2, "NT": 8, "LANES": 1}}
_CPU_BLAS_ROWS = 16         # from this many rows of x, the cpu dequantizes tiles for BLAS
_CPU_TILE_ROWS = 1024       # weight rows dequantized at once for BLAS


def _phase(n: int) -> str:
    return "decode" if n <= 2 else "prefill"


def default_config(device, key) -> dict:
    _, (n, _rows, _cols) = key
    p = dict((CPU_LIKE if device.info.kind == "cpu" else GPU_LIKE)[_phase(n)])
    while p["WG"] * p["ROWS"] > device.info.max_work_group and p["ROWS"] > 1:
        p["ROWS"] //= 2
    return p


def config_space(device, key) -> list:
    _, (n, _rows, _cols) = key
    limit = min(256, device.info.max_work_group)
    return [{"WG": wg, "ROWS": rows, "NT": nt, "LANES": lanes}
            for wg in (1, 4, 16, 32, 64) for rows in (1, 4, 16) for lanes in (1, 32)
            for nt in ((1,) if _phase(n) == "decode" else (4, 8, 16)) if wg * rows <= limit]


def tuning_key(name: str, n: int, rows: int, cols: int) -> tuple:
    return (f"float32,{name}", (autotune.bucket(n), autotune.bucket(rows), autotune.bucket(cols)))


# ---------------------------------------------------------------- ops

def _dequantize_rows(device, ggml_type: str, raw, shape: tuple, ids=None):
    """The rows of the (rows, cols) weight ``raw`` at ``ids`` (a contiguous int64
    payload, or None for every row) as a new float32 (nrows, cols) payload."""
    qtype = TYPES[ggml_type]
    rows, cols = shape
    nrows = rows if ids is None else ids.shape[0]
    out = device.empty((nrows, cols), np.dtype(np.float32))
    consts = defines(qtype, cols, WG=1, ROWS=1, NT=1)
    total = nrows * (cols // consts["SUB"])
    if total:
        index = raw if ids is None else ids
        program(device, source(qtype), "dequantize", **consts)(
            (total,), flat_group(device), pointer(device, out), *device.kernel_args(raw),
            pointer(device, index), int(ids is not None), rows, nrows, cols)
    return out


@register("quant_dequantize", on=("cpu", "buffer"))
def dequantize(device, w):
    return _dequantize_rows(device, w.ggml_type, w.raw, w.shape)


@register("quant_embedding", on=("buffer",))
def embedding(device, w, ids):
    """``ids``: a contiguous 1-D int64 payload; returns (len(ids), cols) float32 (a row
    for an id out of range is NaN: checking would read the ids back)."""
    return _dequantize_rows(device, w.ggml_type, w.raw, w.shape, ids)


@register("quant_embedding", on=("cpu",))
def embedding_cpu(device, w, ids):
    """``embedding`` with NumPy's bounds check: ids are already in host memory."""
    if ids.size and (ids.min() < 0 or ids.max() >= w.shape[0]):
        raise IndexError(f"embedding: ids must be in [0, {w.shape[0]}), got values in [{ids.min()}, {ids.max()}]")
    return embedding(device, w, ids)


@register("quant_linear", on=("cpu",))
def linear_cpu(device, x, weights) -> list:
    """x (n, cols) contiguous float32 @ w.T for each w: the C kernel for a few rows of x
    (decode), BLAS over dequantized tiles of w for many (prefill)."""
    return [_linear_cpu(device, x, w) for w in weights]


def _linear_cpu(device, x, w):
    n, (rows, cols) = x.shape[0], w.shape
    if n < _CPU_BLAS_ROWS:  # (all kernels: a decode step must be capturable, hal.llama)
        config = {"WG": 1, "ROWS": 1, "NT": 1 if n == 1 else 4, "LANES": 32}
        out = device.empty((n, rows), np.dtype(np.float32))
        return linear_into(device, config, out, x, w.raw, w.ggml_type)
    out = np.empty((n, rows), np.float32)
    stride = row_bytes(TYPES[w.ggml_type], cols)
    for r0 in range(0, rows, _CPU_TILE_ROWS):
        r1 = min(rows, r0 + _CPU_TILE_ROWS)
        tile = _dequantize_rows(device, w.ggml_type, w.raw[r0 * stride:r1 * stride], (r1 - r0, cols))
        out[:, r0:r1] = x @ tile.T  # (matmul's out= into a column slice skips BLAS)
    return out


@register("quant_linear", on=("buffer",))
def linear(device, x, weights) -> list:
    n, outs = x.shape[0], []
    for w in weights:
        config = autotune.choose(device, f"quant_linear_{w.ggml_type}", tuning_key(w.ggml_type, n, *w.shape))
        out = device.empty((n, w.shape[0]), np.dtype(np.float32))
        outs.append(linear_into(device, config, out, x, w.raw, w.ggml_type))
    return outs


def linear_into(device, p: dict, out, x, raw, ggml_type: str):
    """out (n, rows) = x (n, cols) @ w.T for the weight bytes ``raw`` with launch
    configuration ``p``."""
    qtype = TYPES[ggml_type]
    (n, rows), cols = out.shape, x.shape[1]
    if out.size == 0:
        return out
    tiles = -(-n // p["NT"])
    prog = program(device, source(qtype), "linear",
                   **defines(qtype, cols, p["LANES"], WG=p["WG"], ROWS=p["ROWS"], NT=p["NT"]))
    prog((p["WG"], -(-rows // p["ROWS"]) * p["ROWS"], tiles), (p["WG"], p["ROWS"], 1),
         *device.kernel_args(out, x, raw), rows, cols, n)
    return out


# ---------------------------------------------------------------- autotuning

def random_raw(qtype: QuantType, rows: int, cols: int, rng) -> np.ndarray:
    """Valid random weight bytes: random quants, small positive f16 scales."""
    if qtype.qk == 1:
        values = rng.standard_normal((rows, cols)).astype(np.float32)
        if qtype.name == "F16":
            return values.astype(np.float16).view(np.uint8).reshape(-1)
        if qtype.name == "BF16":
            return (values.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(-1)
        return values.view(np.uint8).reshape(-1)
    blocks = rng.integers(0, 256, (rows * cols // qtype.qk, qtype.block_bytes), dtype=np.uint8)
    for offset in qtype.scales:
        scale = rng.uniform(1e-3, 2e-2, len(blocks)).astype(np.float16)
        blocks[:, offset:offset + 2] = scale.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(-1)


def linear_problem(qtype: QuantType, key, ragged, rng) -> tuple:
    """A tuning problem of a quant_linear key (ops/qdot.py's too): x and the weight bytes."""
    _, (n, rows, cols) = key
    n, rows = (n + (n > 1), rows + 3) if ragged else (n, rows)
    return rng.standard_normal((n, cols)).astype(np.float32), random_raw(qtype, rows, cols, rng)


def _declare(qtype: QuantType) -> None:
    def reference(x, raw):
        cpu = cpu_device()
        rows = raw.size // row_bytes(qtype, x.shape[1])
        w = _dequantize_rows(cpu, qtype.name, raw, (rows, x.shape[1]))
        return (x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.float32)

    def work(key):
        _, (n, rows, cols) = key
        return 2 * n * rows * cols, rows * row_bytes(qtype, cols) + 4 * n * (cols + rows)

    autotune.declare(autotune.Tunable(
        op=f"quant_linear_{qtype.name}", version=1, space=config_space, default=default_config,
        run=lambda device, config, out, x, raw: linear_into(device, config, out, x, raw, qtype.name),
        reference=reference, problem=functools.partial(linear_problem, qtype), work=work,
        # SmolLM2-135M's projections, decode and a 64-token prefill (none where the device
        # has a quant_linear of its own, as the cpu: fixed configurations)
        presets=lambda device: [] if device.library("quant_linear") else [
            tuning_key(qtype.name, n, rows, cols) for n in (1, 64)
            for rows, cols in ((1536, 576), (576, 1536)) if cols % qtype.qk == 0]))


# Types whose products are computed in integers over 8-bit activations (as llama.cpp),
# per 32 (ops/qdot.py) or per 256 (ops/qdot_k.py): hal.nn.linear never takes the float
# path below for them, so they declare no float tunables.
INTEGER_DOT = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")
INTEGER_DOT_K = ("Q4_K", "Q5_K", "Q6_K")

for _qtype in TYPES.values():
    if _qtype.name not in INTEGER_DOT + INTEGER_DOT_K:
        _declare(_qtype)
