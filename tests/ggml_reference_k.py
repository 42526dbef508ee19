"""llama.cpp's K-quant products (ggml-cpu, x86 AVX2 build) in NumPy: the reference
ops/qdot_k.py must match bit for bit.

Written from ggml's definitions, independently of the kernels. Activations are
quantized per 256 as ``quantize_row_q8_K``; each product sums exact integers per
super-block, then makes ggml's float roundings in ggml's order:
- Q4_K as the repacked ``gemv/gemm_q4_K_8x8_q8_K`` (x86 repacks every Q4_K weight
  whose rows are a multiple of 8): integers for the scaled quants and for the mins,
  ``acc = fma(isum, dw*dx, acc)``, ``accm = fma(imin, dmin*dx, accm)``, the row ``acc -
  accm``; the gemm (rows of x in fours) adds them per 64 values, the gemv (the n % 4
  rows left) per super-block;
- Q6_K as ``vec_dot_q6_K_q8_K``: eight integer lanes per super-block (lane k: bytes
  4k..4k+3 of each 32, scaled, minus 32 * the lane's two bsums times their scales),
  ``acc[k] = fma(dw*dx, lane, acc[k])``, then ggml's 8-lane tree; from 8 rows of x on,
  as ggml's tiled kernel (ggml-cpu/tiled): ``acc = fma(dw * isum, dx, acc)``.
"""
import numpy as np

from ggml_reference import fma

f16, f32 = np.float16, np.float32
QK = 256


def quantize_q8_K(x):
    """quantize_row_q8_K: q int (n, nb, 256), d float32 (n, nb), bsums int (n, nb, 16)."""
    n, cols = x.shape
    blocks = x.reshape(n, cols // QK, QK)
    absolute = np.abs(blocks)
    first = absolute.argmax(-1)  # ggml keeps the first of equal magnitudes
    amax = absolute.max(-1)
    signed_max = np.take_along_axis(blocks, first[..., None], -1)[..., 0]
    zero = amax == 0
    with np.errstate(divide="ignore"):
        iscale = np.where(zero, f32(1), f32(-127) / np.where(zero, f32(1), signed_max)).astype(f32)
    q = np.minimum(127, np.rint((blocks * iscale[..., None]).astype(f32))).astype(np.int64)
    q[zero] = 0
    d = np.where(zero, f32(0), (f32(1) / iscale).astype(f32)).astype(f32)
    bsums = q.reshape(n, cols // QK, 16, 16).sum(-1)
    return q, d, bsums


def _scale_min_k4(scales):
    """ggml's get_scale_min_k4 over (..., 12) bytes: 6-bit scales and mins (..., 8)."""
    s = scales.astype(np.int64)
    sc, mn = np.empty(s.shape[:-1] + (8,), np.int64), np.empty(s.shape[:-1] + (8,), np.int64)
    sc[..., :4], mn[..., :4] = s[..., 0:4] & 63, s[..., 4:8] & 63
    sc[..., 4:] = (s[..., 8:12] & 15) | ((s[..., 0:4] >> 6) << 4)
    mn[..., 4:] = (s[..., 8:12] >> 4) | ((s[..., 4:8] >> 6) << 4)
    return sc, mn


def _half(b, offset):
    return b[..., offset:offset + 2].copy().view(f16)[..., 0].astype(f32)


def q4_K_weight(raw, rows, cols):
    """Quants (rows, nb, 8, 32) in 0..15, scales and mins (rows, nb, 8), d and dmin."""
    b = np.asarray(raw, np.uint8).reshape(rows, cols // QK, 144)
    qs = b[..., 16:].reshape(rows, -1, 4, 32).astype(np.int64)
    q = np.stack([qs & 15, qs >> 4], 3).reshape(rows, -1, 8, 32)
    sc, mn = _scale_min_k4(b[..., 4:16])
    return q, sc, mn, _half(b, 0), _half(b, 2)


def q5_K_weight(raw, rows, cols):
    """Quants (rows, nb, 8, 32) in 0..31, scales and mins (rows, nb, 8), d and dmin."""
    b = np.asarray(raw, np.uint8).reshape(rows, cols // QK, 176)
    qs = b[..., 48:].reshape(rows, -1, 4, 32).astype(np.int64)
    low = np.stack([qs & 15, qs >> 4], 3).reshape(rows, -1, 8, 32)
    qh = b[..., None, 16:48].astype(np.int64)                          # bit s of qh[l]: sub-block s
    high = (qh >> np.arange(8)[:, None]) & 1
    sc, mn = _scale_min_k4(b[..., 4:16])
    return low | (high << 4), sc, mn, _half(b, 0), _half(b, 2)


def q6_K_weight(raw, rows, cols):
    """Quants (rows, nb, 8, 32) in 0..63 (unsigned: ggml subtracts 32 through bsums),
    int8 scales (rows, nb, 16), d."""
    b = np.asarray(raw, np.uint8).reshape(rows, cols // QK, 210)
    ql = b[..., :128].reshape(rows, -1, 2, 2, 32).astype(np.int64)   # half, which 32, l
    qh = b[..., 128:192].reshape(rows, -1, 2, 32).astype(np.int64)   # half, l
    quads = [((ql[:, :, :, k & 1] >> (4 * (k // 2))) & 15) | (((qh >> (2 * k)) & 3) << 4) for k in range(4)]
    q = np.stack(quads, 3).reshape(rows, -1, 8, 32)                   # sub-block 4 * half + k
    return q, b[..., 192:208].view(np.int8).astype(np.int64), _half(b, 208)


def _tree8(acc):
    a = (acc[..., :4] + acc[..., 4:]).astype(f32)
    a = (a[..., :2] + a[..., 2:]).astype(f32)
    return (a[..., 0] + a[..., 1]).astype(f32)


def qdot_q4_K(x, raw, rows):
    """Rows of x in fours (the first n - n % 4) as ggml's gemm, which adds each 64 values'
    integers into the floats; the rest as its gemv, which adds each super-block's."""
    n, cols = x.shape
    qx, dx, bsums = quantize_q8_K(x)
    q, sc, mn, dw, dmin = q4_K_weight(raw, rows, cols)
    dots = np.einsum("tbjl,rbjl->tbrj", qx.reshape(n, -1, 8, 32), q)
    isum = np.einsum("tbrj,rbj->tbrj", dots, sc).reshape(n, -1, rows, 4, 2).sum(-1)         # per 64 values
    imin = np.einsum("tbj,rbj->tbrj", bsums.reshape(n, -1, 8, 2).sum(-1), mn).reshape(n, -1, rows, 4, 2).sum(-1)
    gemv = np.arange(n) >= n - n % 4
    isum[gemv, ..., 0], imin[gemv, ..., 0] = isum[gemv].sum(-1), imin[gemv].sum(-1)
    isum[gemv, ..., 1:], imin[gemv, ..., 1:] = 0, 0  # (adding 0 leaves a float sum as it is)
    acc, accm = np.zeros((n, rows), f32), np.zeros((n, rows), f32)
    for b in range(cols // QK):
        d, m = (dw[None, :, b] * dx[:, b, None]).astype(f32), (dmin[None, :, b] * dx[:, b, None]).astype(f32)
        for p in range(4):
            acc = fma(isum[:, b, :, p].astype(f32), d, acc)
            accm = fma(imin[:, b, :, p].astype(f32), m, accm)
    return (acc - accm).astype(f32)


def qdot_q6_K(x, raw, rows):
    """One row of x or a few (up to 7) as vec_dot_q6_K_q8_K; 8 or more as ggml's tiled
    matrix kernel: per super-block one integer, ``acc = fma(d_w * isum, d_x, acc)``."""
    n, cols = x.shape
    qx, dx, bsums = quantize_q8_K(x)
    q, sc, dw = q6_K_weight(raw, rows, cols)
    # lane k of sub-block i: bytes 4k..4k+3, scale sc[2i + k // 4]
    dots = np.einsum("tbikm,rbikm->tbrik", qx.reshape(n, -1, 8, 8, 4), q.reshape(rows, -1, 8, 8, 4))
    lane_scale = sc.reshape(rows, -1, 8, 2)[..., np.arange(8) // 4]           # (rows, nb, 8 i, 8 k)
    lanes = np.einsum("tbrik,rbik->tbrk", dots, lane_scale)
    lanes -= 32 * np.einsum("tbkp,rbkp->tbrk", bsums.reshape(n, -1, 8, 2), sc.reshape(rows, -1, 8, 2))
    if n >= 8:
        acc = np.zeros((n, rows), f32)
        for b in range(cols // QK):
            scaled = (dw[None, :, b] * lanes[:, b].sum(-1).astype(f32)).astype(f32)
            acc = fma(scaled, dx[:, b, None], acc)
        return acc
    acc = np.zeros((n, rows, 8), f32)
    for b in range(cols // QK):
        d = (dx[:, b, None] * dw[None, :, b]).astype(f32)
        acc = fma(d[..., None], lanes[:, b].astype(f32), acc)
    return _tree8(acc)


def qdot_q5_K(x, raw, rows):
    """Up to 7 rows of x as vec_dot_q5_K_q8_K: eight lanes (bytes 4k..4k+3 of each 32,
    scaled) ``acc[k] = fma(dx*dw, lane, acc[k])``, the mins ``m = fma(imin, -(dx*dmin), m)``
    (the compiler contracts ggml's ``summs += dmin * imin``), the row tree(acc) + m; 8 or
    more as ggml's tiled kernel: ``acc = fma(fma(-dmin, imin, dw * isum), dx, acc)``."""
    n, cols = x.shape
    qx, dx, bsums = quantize_q8_K(x)
    q, sc, mn, dw, dmin = q5_K_weight(raw, rows, cols)
    dots = np.einsum("tbikm,rbikm->tbrik", qx.reshape(n, -1, 8, 8, 4), q.reshape(rows, -1, 8, 8, 4))
    lanes = np.einsum("tbrik,rbi->tbrk", dots, sc)
    imin = np.einsum("tbj,rbj->tbr", bsums.reshape(n, -1, 8, 2).sum(-1), mn)
    if n >= 8:
        acc = np.zeros((n, rows), f32)
        for b in range(cols // QK):
            scaled = (dw[None, :, b] * lanes[:, b].sum(-1).astype(f32)).astype(f32)
            acc = fma(fma(-dmin[None, :, b], imin[:, b].astype(f32), scaled), dx[:, b, None], acc)
        return acc
    acc, m = np.zeros((n, rows, 8), f32), np.zeros((n, rows), f32)
    for b in range(cols // QK):
        d = (dx[:, b, None] * dw[None, :, b]).astype(f32)
        acc = fma(d[..., None], lanes[:, b].astype(f32), acc)
        m = fma(imin[:, b].astype(f32), -(dx[:, b, None] * dmin[None, :, b]).astype(f32), m)
    return (_tree8(acc) + m).astype(f32)


QDOT = {"Q4_K": qdot_q4_K, "Q5_K": qdot_q5_K, "Q6_K": qdot_q6_K}


def qdot(x, raw, ggml_type, rows):
    return QDOT[ggml_type](x, raw, rows)
