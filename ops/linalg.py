"""matmul: general (GEMM, batched), matrix-vector (GEMV) and the choice between them,
each a tunable implementation (hal.autotune) whose configuration is looked up per
device, dtype and shape bucket at call time.

Kernels (one source each, for every target):

- ``block``: each work-item computes an RM x RN block of the output, RN contiguous
  columns, from registers: per k one row segment of ``b`` (a vector load on CPUs'
  OpenCL) and RM values of ``a``. Interior blocks run without bounds checks; the
  ragged edge takes a guarded loop. What PoCL and the C target vectorize well.
  ``PACK`` (a bit mask: 1 ``b``, 2 ``a``) first copies an operand into k-major panels
  of RN columns (RM rows), so each work-item streams consecutive addresses.
- ``tiled``: TS x TS output tiles staged through local memory, each work-item a
  WPT x WPT block; what GPUs want.
- ``gemv``: ``a`` (M, K) times a vector: each work-item folds RM rows over KV
  independent lanes of contiguous k (vectorizable without reassociating a sum), then
  adds its lanes.

On the cpu the library call (NumPy's BLAS) is the only candidate for floats (see
``CPU_SPACE``); the kernels run there too (the C target) and are verified by the tests.
Operands are read through their strides (``a`` and the batch dimensions of both);
unpacked, ``b`` is copied when its columns are not contiguous. Complex operands are four real
products of their real and imaginary parts (``Strided.components`` views, no copy).
float16 (storage only) runs the same kernels with ``HALF``: operands are half words
decoded to float32 as they are read (packing decodes once), sums are float32, and each
result is rounded to float16 once when stored."""
from __future__ import annotations

import math

import numpy as np

from hal import autotune
from hal.dispatch import register
from hal.shapes import broadcast_shapes

from .launch import C_TYPE, group, pointer, program, run_elementwise

F16 = np.dtype(np.float16)

MAC_SOURCE = """
/* acc + x * y: for floats one fused multiply-add, written out because no target fuses
   on its own (the dialect turns contraction off so every device rounds alike); unfused
   each step of the inner product is two instructions and two roundings. */
#if FUSED
#define MAC(x, y, acc) fma((x), (y), (acc))
#else
#define MAC(x, y, acc) ((acc) + (x) * (y))
#endif
""" + """
/* Storage: with HALF operands and results are IEEE half words (u16), decoded into T
   (f32) as they are read and rounded once when the result is stored; else T itself. */
#if HALF
#define S u16
#define LD(v) half_to_f32(v)
#define ST(v) ((u16)f32_to_half(v))
#else
#define S T
#define LD(v) (v)
#define ST(v) (v)
#endif
"""

BLOCK_SOURCE = MAC_SOURCE + """
/* Packed panels hold T (decoded once by the pack kernel), unpacked operands S. */
#if PACK & 2
#define SA T
#else
#define SA S
#endif
#if PACK & 1
#define SB T
#else
#define SB S
#endif
KERNEL void gemm_block(GLOBAL S *c, i64 c_off, GLOBAL const SA *a, i64 a_off, i64 sab, i64 sam, i64 sak,
                       GLOBAL const SB *b, i64 b_off, i64 sbb, i64 sbk, i64 M, i64 N, i64 K) {
    i64 col0 = GLOBAL_ID(0) * RN, row0 = GLOBAL_ID(1) * RM, batch = GLOBAL_ID(2);
    if (row0 >= M || col0 >= N) return;
/* Packed operands (``pack``: panels of RM rows of a / RN columns of b, k-major) are
   read at strides known when compiling, which the vectorizer needs. */
#if PACK & 2
    a += a_off + batch * sab + (row0 / RM) * K * RM;
#define A_AT(i, k) a[(k) * RM + (i)]
#else
    a += a_off + batch * sab + row0 * sam;
#define A_AT(i, k) LD(a[(i) * sam + (k) * sak])
#endif
#if PACK & 1
    b += b_off + batch * sbb + (col0 / RN) * K * RN;
#define B_AT(k, j) b[(k) * RN + (j)]
#else
    b += b_off + batch * sbb + col0;
#define B_AT(k, j) LD(b[(k) * sbk + (j)])
#endif
    c += c_off + (batch * M + row0) * N + col0;
    i64 rows = M - row0 < RM ? M - row0 : RM, cols = N - col0 < RN ? N - col0 : RN;
    T acc[RM][RN];
/* Unrolled whole, the block lives in registers (PoCL's LLVM otherwise vectorizes the
   RN loop and keeps acc in memory: a load and a store per multiply-add, 2x slower). */
#pragma unroll
    for (int i = 0; i < RM; i++)
#pragma unroll
        for (int j = 0; j < RN; j++) acc[i][j] = 0;
    if (rows == RM && cols == RN) {  /* interior: fixed trip counts, unrolled and vectorized */
        for (i64 k = 0; k < K; k++) {
            T bv[RN];
#pragma unroll
            for (int j = 0; j < RN; j++) bv[j] = B_AT(k, j);
#pragma unroll
            for (int i = 0; i < RM; i++) {
                T av = A_AT(i, k);
#pragma unroll
                for (int j = 0; j < RN; j++) acc[i][j] = MAC(av, bv[j], acc[i][j]);
            }
        }
    } else {
        for (i64 k = 0; k < K; k++)
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) acc[i][j] = MAC(A_AT(i, k), B_AT(k, j), acc[i][j]);
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) c[i * N + j] = ST(acc[i][j]);
}
"""

PACK_SOURCE = MAC_SOURCE + """
KERNEL void pack(GLOBAL T *p, GLOBAL const S *x, i64 x_off, i64 sxb, i64 sxk, i64 sxj, i64 K, i64 N, i64 panels) {
    i64 j = GLOBAL_ID(0), k = GLOBAL_ID(1), batch = GLOBAL_ID(2);
    if (j >= panels * W || k >= K) return;
    p[((batch * panels + j / W) * K + k) * W + j % W] = j < N ? LD(x[x_off + batch * sxb + k * sxk + j * sxj]) : (T)0;
}
"""

TILED_SOURCE = MAC_SOURCE + """
KERNEL void gemm_tiled(GLOBAL S *c, i64 c_off, GLOBAL const S *a, i64 a_off, i64 sab, i64 sam, i64 sak,
                       GLOBAL const S *b, i64 b_off, i64 sbb, i64 sbk, i64 sbn, i64 M, i64 N, i64 K) {
    LOCAL T ta[TS][TS + 1];
    LOCAL T tb[TS][TS + 1];
    const i64 LS = TS / WPT;
    i64 lx = LOCAL_ID(0), ly = LOCAL_ID(1), lid = ly * LS + lx;
    i64 col0 = GROUP_ID(0) * TS, row0 = GROUP_ID(1) * TS, batch = GROUP_ID(2);
    a += a_off + batch * sab;
    b += b_off + batch * sbb;
    T acc[WPT][WPT];
    for (int i = 0; i < WPT; i++)
        for (int j = 0; j < WPT; j++) acc[i][j] = 0;
    for (i64 k0 = 0; k0 < K; k0 += TS) {
        for (i64 t = lid; t < TS * TS; t += LS * LS) {
            i64 r = t / TS, q = t % TS;
            ta[r][q] = (row0 + r < M && k0 + q < K) ? LD(a[(row0 + r) * sam + (k0 + q) * sak]) : (T)0;
            tb[r][q] = (k0 + r < K && col0 + q < N) ? LD(b[(k0 + r) * sbk + (col0 + q) * sbn]) : (T)0;
        }
        BARRIER();
        for (int k = 0; k < TS; k++)
            for (int i = 0; i < WPT; i++)
                for (int j = 0; j < WPT; j++) acc[i][j] = MAC(ta[ly + i * LS][k], tb[k][lx + j * LS], acc[i][j]);
        BARRIER();
    }
    for (int i = 0; i < WPT; i++)
        for (int j = 0; j < WPT; j++) {
            i64 row = row0 + ly + i * LS, col = col0 + lx + j * LS;
            if (row < M && col < N) c[c_off + (batch * M + row) * N + col] = ST(acc[i][j]);
        }
}
"""

GEMV_SOURCE = MAC_SOURCE + """
KERNEL void gemv(GLOBAL S *y, i64 y_off, GLOBAL const S *a, i64 a_off, i64 sab, i64 sam,
                 GLOBAL const S *x, i64 x_off, i64 sxb, i64 sxk, i64 M, i64 K) {
    i64 row0 = GLOBAL_ID(0) * RM, batch = GLOBAL_ID(1);
    if (row0 >= M) return;
    a += a_off + batch * sab + row0 * sam;
    x += x_off + batch * sxb;
    y += y_off + batch * M + row0;
    i64 rows = M - row0 < RM ? M - row0 : RM, body = K / KV * KV;
    T acc[RM][KV];
    for (int i = 0; i < RM; i++)
        for (int v = 0; v < KV; v++) acc[i][v] = 0;
    if (rows == RM && sxk == 1) {
        for (i64 k = 0; k < body; k += KV) {
            T xv[KV];
            for (int v = 0; v < KV; v++) xv[v] = LD(x[k + v]);
            for (int i = 0; i < RM; i++)
                for (int v = 0; v < KV; v++) acc[i][v] = MAC(LD(a[i * sam + k + v]), xv[v], acc[i][v]);
        }
    } else {
        for (i64 k = 0; k < body; k += KV)
            for (int i = 0; i < rows; i++)
                for (int v = 0; v < KV; v++) acc[i][v] = MAC(LD(a[i * sam + k + v]), LD(x[(k + v) * sxk]), acc[i][v]);
    }
    for (int i = 0; i < rows; i++) {
        T sum = 0;
        for (int v = 0; v < KV; v++) sum += acc[i][v];
        for (i64 k = body; k < K; k++) sum = MAC(LD(a[i * sam + k]), LD(x[k * sxk]), sum);
        y[i] = ST(sum);
    }
}
"""


@register("matmul", on=("cpu",))
def matmul_cpu(device, a, b):
    """NumPy's BLAS: the only candidate on the cpu (``CPU_SPACE``), so nothing is looked
    up per call (a small product costs what NumPy's does). float16 is tuned as on the
    other devices (``CPU_HALF_GEMM``): NumPy's own float16 matmul is a slow loop."""
    return matmul(device, a, b) if a.dtype is F16 else np.matmul(a, b)


def reference(a, b):
    """``a @ b`` on host arrays; float16 as float32 math on the decoded halves with one
    rounding at the end (what cuBLAS's HGEMM with float32 compute gives)."""
    if a.dtype == F16:
        product = np.matmul(a.astype(np.float32), b.astype(np.float32))
        with np.errstate(over="ignore"):  # beyond 65504 is infinity, as the kernels store it
            return product.astype(F16)
    return np.matmul(a, b)


@register("matmul", on=("buffer",))
def matmul(device, a, b):
    """``a`` (..., M, K) @ ``b`` (..., K, N), both at least 2-D, batch dims broadcast
    (payloads of any device: also the cpu's float16)."""
    if a.dtype.kind == "c":
        return _complex_matmul(device, a, b)
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    (m, k), n = a.shape[-2:], b.shape[-1]
    if k == 0:  # (float16: zero words)
        return device.impl("full")(device, batch + (m, n), a.dtype, 0)
    a, b = (_batched(device, x, batch) for x in (a, b))
    out = device.empty((math.prod(batch), m, n), a.dtype)
    if out.size:  # as configured for this device, dtype and shape bucket
        op, config = _plan(device, a, b)
        (gemv_into if op == "gemv" else gemm_into)(device, config, out, a, b)
    return device.reshape(out, batch + (m, n))


_plans: dict = {}


def _plan(device, a, b):
    """(op, config) for ``a`` (..., M, K) @ ``b`` (..., K, N), memoized per call
    signature: the per-call cost of a small matmul stays one dict lookup (bucketing and
    the autotuner's own memo cost microseconds)."""
    key = (device.name, a.dtype.char, a.shape, b.shape, a.strides, b.strides, autotune.generation())
    try:
        return _plans[key]
    except KeyError:
        pass
    if len(_plans) > 4096:
        _plans.clear()
    nbatch = math.prod(broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    (m, k), n = a.shape[-2:], b.shape[-1]
    plan = _plans[key] = _config(device, a.dtype, nbatch, m, n, k, device.element_strides(a)[-1],
                                 device.element_strides(b)[-2])
    return plan


def _config(device, dtype, nbatch, m, n, k, a_k_stride, b_k_stride):
    """("gemv" or "gemm", its configuration): matrix-vector products (one output column
    from rows of ``a``, or one output row from a ``b`` stored transposed) are gemv."""
    if k > 1 and ((n == 1 and a_k_stride == 1) or (m == 1 and b_k_stride == 1 and n > 1)):
        rows = m if n == 1 else n
        return "gemv", autotune.choose(device, "gemv", _key(dtype, nbatch, rows, k))
    return "gemm", autotune.choose(device, "gemm", _key(dtype, nbatch, m, n, k))


def _key(dtype, *sizes):
    """The tuning key of a GEMM (nbatch, m, n, k) or a mat-vec (nbatch, rows, k)."""
    return (np.dtype(dtype).name, tuple(autotune.bucket(d) for d in sizes))


def gemm_into(device, config, out, a, b):
    """``out`` (B, M, N), contiguous, = ``a`` (B, M, K) @ ``b`` (B, K, N) as ``config`` says."""
    nbatch, m, k = a.shape
    n = b.shape[2]
    kind = config["kind"]
    if kind == "library":
        device.impl("gemm_blas")(device, out, a, b)
        return
    T, fused, storage = _types(a.dtype)
    pack = config.get("PACK", 0)
    if kind == "block" and pack & 1:
        b = _pack(device, b, config["RN"])
    elif kind == "block" and device.element_strides(b)[2] != 1:
        b = device.contiguous(b)
    if kind == "block" and pack & 2:
        a = _pack(device, device.permute(a, (0, 2, 1)), config["RM"])
    (sab, sam, sak), (sbb, sbk, sbn) = device.element_strides(a), device.element_strides(b)
    if kind == "block":
        rm, rn = config["RM"], config["RN"]
        prog = program(device, BLOCK_SOURCE, "gemm_block", T=T, FUSED=fused, HALF=storage, RM=rm, RN=rn, PACK=pack)
        grid = (-(-n // rn), -(-m // rm), nbatch)
        prog(grid, group(device, (config["WX"], config["WY"], 1)), *device.kernel_args(out), *device.kernel_args(a),
             sab, sam, sak, *device.kernel_args(b), sbb, sbk, m, n, k)
    else:
        ts, wpt = config["TS"], config["WPT"]
        ls = ts // wpt
        prog = program(device, TILED_SOURCE, "gemm_tiled", T=T, FUSED=fused, HALF=storage, TS=ts, WPT=wpt)
        grid = (-(-n // ts) * ls, -(-m // ts) * ls, nbatch)
        prog(grid, (ls, ls, 1), *device.kernel_args(out), *device.kernel_args(a), sab, sam, sak,
             *device.kernel_args(b), sbb, sbk, sbn, m, n, k)


def _types(dtype):
    """(accumulator C type, whether to fuse multiply-adds, whether operands are float16
    words): float16 accumulates in float32, with fused multiply-adds as float32 does."""
    if dtype == F16:
        return "f32", True, True
    return C_TYPE[dtype], dtype.kind == "f", False


@register("gemm_blas", on=("cpu",))
def gemm_blas(device, out, a, b):
    """``out = a @ b`` through the host's BLAS (NumPy): the cpu's "library" configurations."""
    if a.dtype == F16:
        out[...] = reference(a, b)
    else:
        np.matmul(a, b, out=out)


def _pack(device, x, width):
    """``x`` (B, K, N) rearranged as (B, panels, K, width): each panel of ``width``
    columns k-major and zero-padded, so a work-item streams its operand from consecutive
    addresses (rows of a power-of-two length put every k in the same cache set).
    ``a`` is packed through its transposed view, in panels of RM rows. float16 is
    decoded into float32 panels here, once, rather than in the product's inner loop."""
    nbatch, k, n = x.shape
    panels = -(-n // width)
    T, _, storage = _types(x.dtype)
    packed = device.empty((nbatch, panels * k, width), np.dtype(np.float32) if storage else x.dtype)
    prog = program(device, PACK_SOURCE, "pack", T=T, HALF=storage, W=width)
    prog((panels * width, k, nbatch), group(device, (16 if _fits(device, 16) else 1, 1, 1)), pointer(device, packed),
         *device.kernel_args(x), *device.element_strides(x), k, n, panels)
    return packed


def gemv_into(device, config, out, a, b):
    """``out`` (B, M, N) = ``a`` @ ``b`` where N == 1 (rows of ``a`` times a column of
    ``b``) or M == 1 and ``b`` has contiguous columns (rows of ``b``ᵀ times ``a``'s row)."""
    nbatch, m, k = a.shape
    n = b.shape[2]
    if config["kind"] == "library":
        device.impl("gemm_blas")(device, out, a, b)
        return
    (sab, sam, sak), (sbb, sbk, sbn) = device.element_strides(a), device.element_strides(b)
    if n == 1 and sak == 1:  # matrix a, vector b[:, :, 0]
        rows, matrix, (s_batch, s_row), vector, (v_batch, v_k) = m, a, (sab, sam), b, (sbb, sbk)
    else:                    # matrix b^T (its columns are contiguous), vector a[:, 0, :]
        rows, matrix, (s_batch, s_row), vector, (v_batch, v_k) = n, b, (sbb, sbn), a, (sab, sak)
    rm, kv = config["RM"], config["KV"]
    T, fused, storage = _types(a.dtype)
    prog = program(device, GEMV_SOURCE, "gemv", T=T, FUSED=fused, HALF=storage, RM=rm, KV=kv)
    prog((-(-rows // rm), nbatch), group(device, (config["WX"], 1)), *device.kernel_args(out),
         *device.kernel_args(matrix), s_batch, s_row, *device.kernel_args(vector), v_batch, v_k, rows, k)


# --- tunable declarations ----------------------------------------------------------------

def _fits(device, items: int) -> bool:
    return items <= device.info.max_work_group


def _blas(device) -> bool:
    """Whether ``device`` multiplies through a BLAS of its own (NumPy's on the cpu)."""
    return device.library("gemm_blas") is not None


CPU_SPACE = [{"kind": "library"}]
"""On the cpu float32 and float64 stay with BLAS (float16: see ``CPU_HALF_GEMM``). The C target's kernels (``gemm_into`` runs them
there, the tests verify them) were candidates, but on this shared 2-core machine every
tuning run measured OpenBLAS 3-100x slower than it runs alone (its threads and the
kernels' threads hand the cores back and forth), so the choice flipped from run
to run, while in quiet measurements BLAS wins at every size tried."""


BLOCKS = ((6, 32), (4, 32), (8, 16), (12, 16), (2, 64))
"""Register blocks (RM x RN) for matrices, best first on PoCL. Its LLVM vectorizes for
AVX-512 CPUs 8 wide (ymm, 32 registers): 6 x 32 is 24 accumulators and leaves room for
the loads; 8 x 32 and 8 x 64 spill (measured 35% slower) and are left out."""

AVX2_BLOCK = (6, 16)
"""The default block where the CPU has AVX2 but not AVX-512: 16 ymm registers, which
6 x 32's 24 accumulators overflow; 6 x 16 is 12 accumulators, two loads of ``b`` and a
broadcast of ``a`` (the register plan of BLIS's Haswell SGEMM micro-kernel). Not
measured on an AVX2 host (this one has AVX-512, and its PoCL ignores
POCL_LLVM_CPU_NAME): tuning there measures it first, as the incumbent, against BLOCKS."""


def _register_block(device) -> tuple:
    """RM x RN for an OpenCL CPU device (PoCL runs on the host's cores): by the host's
    vector registers, read from its CPU flags at run time (hal.summation.host_order)."""
    from hal.summation import host_order
    return BLOCKS[0] if device.info.kind != "cpu" or host_order() == "avx512" else AVX2_BLOCK


CPU_HALF_GEMM = [{"kind": "library"}] + [
    {"kind": "block", "RM": rm, "RN": rn, "WX": 1, "WY": 1, "PACK": pack} for rm, rn in ((6, 32), (1, 64)) for pack in (0, 3)]
"""float16 on the cpu: BLAS's SGEMM needs both operands decoded to float32 first (NumPy
converts at about 1 ns an element here), which a product reusing each element few times
does not repay; the C target's kernels read the halves themselves. Measured here
(GFLOP/s, library vs 6x32 block): 1x576x1536 0.5 vs 26 (1x64), 64x576x1536 38 vs 46,
256^3 2-51 vs 79 (BLAS's threads vs PoCL's), 512^3 103 vs 79, 1024^3 80 vs 43."""

HALF_REUSE_FOR_BLAS = 128
"""Flops per element moved (m n k / (m k + k n + m n)) from which the cpu's float16
default is BLAS on decoded operands rather than a kernel on the halves (512^3: 171)."""


def _gemm_space(device, key):
    """Register blocks (``b`` packed, unpacked, both packed) and local-memory tiles on
    buffer devices."""
    if _blas(device):
        return CPU_HALF_GEMM if key[0] == "float16" else CPU_SPACE
    if key[1][1] == 1:
        packs, blocks, groups = (0, 1, 3), ((1, 64), (1, 32), (1, 16)), ((4, 1), (16, 1), (1, 1))
    else:
        packs, blocks, groups = (1, 0, 3), BLOCKS, ((1, 8), (1, 4), (1, 16), (1, 1))
    space = [{"kind": "block", "RM": rm, "RN": rn, "WX": wx, "WY": wy, "PACK": pack}
             for pack in packs for rm, rn in blocks for wx, wy in groups if _fits(device, wx * wy)]
    itemsize = max(np.dtype(key[0]).itemsize, 4)  # local tiles hold float16 decoded, as float32
    space += [{"kind": "tiled", "TS": ts, "WPT": wpt} for ts, wpt in ((16, 2), (16, 4), (32, 4), (32, 2), (64, 8))
              if _fits(device, (ts // wpt) ** 2) and 2 * ts * (ts + 1) * itemsize <= device.info.local_memory]
    return space


def _gemm_default(device, key):
    """NumPy on the cpu; local-memory tiles on GPUs; where the OpenCL device is a CPU (or
    simulates one), register blocks: 6 x 32 for matrices (6 x 16 on AVX2 hosts, ``AVX2_BLOCK``), with ``b`` packed from 1024
    rows of ``a`` on (packing copies all of ``b``: on PoCL it paid from there, and at
    2048 unpacked rows of a power-of-two length thrashed the cache, 94 vs 63 GFLOP/s),
    1 x 64 straight from memory for a single row (packing would copy as much as the
    product reads). float16 matrices pack both operands: the panels hold them decoded,
    where unpacked each work-item decodes its scalar loads of ``a`` in the inner loop
    (on PoCL at n=1024: 87 GFLOP/s packed, 55 with ``b`` alone packed, 45 unpacked)."""
    if _blas(device):
        return _cpu_half_default(device, key) if key[0] == "float16" else {"kind": "library"}
    if device.info.kind in ("gpu", "accelerator") and _fits(device, 64):
        return {"kind": "tiled", "TS": 16, "WPT": 2}
    m = key[1][1]
    if m == 1:
        return _fit_group(device, {"kind": "block", "RM": 1, "RN": 64, "WX": 4, "WY": 1, "PACK": 0})
    pack = 3 if key[0] == "float16" else 1 if m >= 1024 else 0
    rm, rn = _register_block(device)
    return _fit_group(device, {"kind": "block", "RM": rm, "RN": rn, "WX": 1, "WY": 8, "PACK": pack})


def _cpu_half_default(device, key):
    """With AVX-512 (the cpu's ``vector_bits``), BLAS from ``HALF_REUSE_FOR_BLAS``; with AVX2
    (16 vector registers, which the 6 x 32 block overflows) BLAS for every product of two
    rows or more: on an AMD EPYC (Zen 3) 2.6-5.7x faster than the best block at 256^3,
    64x2048x512, 8x128x128x64 and 576x1536x576 (``python benchmarks/tuning_gain.py
    --device cpu``: 2.4-7.9x over 6 x 32)."""
    _, m, n, k = key[1]
    if m > 1 and device.info.vector_bits < 512 or m * n * k >= HALF_REUSE_FOR_BLAS * (m * k + k * n + m * n):
        return {"kind": "library"}
    return {"kind": "block", "RM": 1, "RN": 64, "WX": 1, "WY": 1, "PACK": 0} if m == 1 else \
        {"kind": "block", "RM": 6, "RN": 32, "WX": 1, "WY": 1, "PACK": 0}


def _fit_group(device, config: dict) -> dict:
    """``config`` with its work-group halved until the device takes it (a device may run
    work-groups of one item, as tests/vendor_backend's does)."""
    while not _fits(device, config["WX"] * config["WY"]):
        config = {**config, "WY": config["WY"] // 2} if config["WY"] > 1 else {**config, "WX": config["WX"] // 2}
    return config


CPU_HALF_GEMV = [{"kind": "library"}] + [{"kind": "rows", "RM": rm, "KV": kv, "WX": 1} for rm in (1, 2, 4) for kv in (8, 32)]
"""float16 mat-vec on the cpu: decoding the matrix for BLAS costs more than the product."""


def _gemv_space(device, key):
    if _blas(device):
        return CPU_HALF_GEMV if key[0] == "float16" else CPU_SPACE
    return [{"kind": "rows", "RM": rm, "KV": kv, "WX": wx}
            for rm in (1, 2, 4) for kv in (8, 16, 32) for wx in (16, 64) if _fits(device, wx)]


def _gemv_default(device, key):
    """float16 rows in fours (each x lane decoded once serves four rows): on the C target
    with 32 lanes where the cpu has AVX-512 (15-22 GB/s of weights vs 4 with 2 x 8), 8
    with AVX2 (an AMD EPYC: 1.05-1.26x faster than 32); on PoCL with 8 (11 vs 7)."""
    half = key[0] == "float16"
    if _blas(device):
        lanes = 32 if device.info.vector_bits >= 512 else 8
        return {"kind": "rows", "RM": 4, "KV": lanes, "WX": 1} if half else {"kind": "library"}
    return {"kind": "rows", "RM": 4 if half else 2, "KV": 8, "WX": 16 if _fits(device, 16) else 1}


def _ragged(d: int) -> int:
    """A size of the same kind as ``d`` (1 stays 1) that fills no tile or vector: the
    edge paths of every candidate run during verification."""
    return d if d <= 1 else max(2, min(d, 100) - 3)


def _gemm_problem(key, ragged, rng):
    nbatch, m, n, k = (_ragged(d) for d in key[1]) if ragged else key[1]
    nbatch = min(nbatch, 3) if ragged else nbatch
    dtype = np.dtype(key[0])
    return (rng.standard_normal((nbatch, m, k)).astype(dtype), rng.standard_normal((nbatch, k, n)).astype(dtype))


def _gemm_work(key):
    nbatch, m, n, k = key[1]
    return 2 * nbatch * m * n * k, np.dtype(key[0]).itemsize * nbatch * (m * k + k * n + m * n)


def _as_gemm(key):
    """A mat-vec's key as the key of the same product as a GEMM (n = 1)."""
    nbatch, rows, k = key[1]
    return key[0], (nbatch, rows, 1, k)


def _gemm_presets(device):
    """Square GEMMs, the LLaMA-sized products (a 576-wide model: 1 or 64 tokens times
    the 576 x 1536 MLP and the 576 x 49152 vocabulary projection) and attention-like batches."""
    shapes = [(1, n, n, n) for n in (256, 512, 1024, 2048)]
    shapes += [(1, 1, 1536, 576), (1, 64, 1536, 576), (1, 1, 49152, 576), (8, 128, 128, 64)]
    return [_key(dtype, *s) for dtype in (np.float32, F16) for s in shapes]


GEMM = autotune.declare(autotune.Tunable(
    op="gemm", version=3, space=_gemm_space, default=_gemm_default, run=gemm_into, reference=reference,
    problem=_gemm_problem, work=_gemm_work, presets=_gemm_presets))
GEMV = autotune.declare(autotune.Tunable(
    op="gemv", space=_gemv_space, default=_gemv_default, run=gemv_into, reference=reference,
    problem=lambda key, ragged, rng: _gemm_problem(_as_gemm(key), ragged, rng),
    work=lambda key: _gemm_work(_as_gemm(key)), bound="memory",
    presets=lambda device: [_key(dtype, *s) for dtype in (np.float32, F16)
                            for s in ((1, 1536, 576), (1, 576, 1536), (1, 49152, 576))]))


def _batched(device, x, batch):
    """``x`` as a 3-D (prod(batch), rows, cols) view, copying only when the batch
    dimensions cannot be flattened."""
    x = device.broadcast(x, batch + x.shape[-2:])
    shape = (math.prod(batch),) + x.shape[-2:]
    # (a view where a unit batch dimension comes or goes)
    view = device.reshape(x, shape) if len(batch) < 2 else None
    return device.reshape(device.contiguous(x), shape) if view is None else view


def _parts(x):
    """The real and imaginary parts of the complex ``x`` as real strided views."""
    comps = x.components()
    whole = (slice(None),) * x.ndim
    return comps.getitem(whole + (0,)), comps.getitem(whole + (1,))


def _complex_matmul(device, a, b):
    """(ar + i ai)(br + i bi) = (ar br - ai bi) + i (ar bi + ai br): four real matmuls
    combined into the real and imaginary parts of the result."""
    (ar, ai), (br, bi) = _parts(a), _parts(b)
    real = matmul(device, ar, br), matmul(device, ai, bi)
    imag = matmul(device, ar, bi), matmul(device, ai, br)
    out = device.empty(real[0].shape, a.dtype)
    out_re, out_im = _parts(out)
    run_elementwise(device, "x0 - x1", out_re, list(real), [ar.dtype, ar.dtype])
    run_elementwise(device, "x0 + x1", out_im, list(imag), [ar.dtype, ar.dtype])
    return out
