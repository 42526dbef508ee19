"""Quantized linear for the K-quants the way llama.cpp computes it: activations quantized
to 8 bits per super-block of 256, integer dot products with the weight's super-blocks
(Q4_K, Q5_K, Q6_K).

llama.cpp's x86 CPU path fixes every rounding, and these kernels make the same ones in
the same order on every device (tests/ggml_reference_k.py states them in NumPy and
tests/test_qdot_k.py checks the kernels against it bit for bit):

- activations, ggml's ``quantize_row_q8_K``: per 256 values, ``max`` the first value of
  largest magnitude, ``iscale = -127 / max``, ``q = min(127, rint(iscale * x))``,
  ``d = 1 / iscale`` (f32, not rounded to f16), and ``bsums``: the sums of q per 16;
- Q4_K, as ggml's repacked ``gemv/gemm_q4_K_8x8_q8_K`` (x86 repacks every Q4_K weight
  whose row count is a multiple of 8, so every model's): exact integers ``isum = sum_j
  sc_j * (q_j . q8_j)`` and ``imin = sum_j m_j * (bsums of j)``, accumulated as ``acc =
  fma(isum, d_w * d_x, acc)``, ``accm = fma(imin, dmin_w * d_x, accm)``, the row's result
  ``acc - accm``; per 64 values for rows of x in fours (the gemm takes the first n - n %
  4 rows of a product), per super-block for the rest (the gemv);
- Q5_K and Q6_K, up to 7 rows of x, as ggml's ``vec_dot_q5_K_q8_K / q6_K_q8_K``: eight
  integer lanes per super-block (lane k: bytes 4k..4k+3 of every 32 values times their
  scale; Q6_K's quants taken unsigned and ``32 * (bsums[2k] sc[2k] + bsums[2k+1]
  sc[2k+1])`` subtracted), ``acc[k] = fma(d_x * d_w, lane_k, acc[k])``, summed ``((a0 +
  a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))``; Q5_K's mins ``m = fma(imin, -(d_x *
  dmin_w), m)`` added last;
- Q5_K and Q6_K, 8 or more rows of x, as ggml's tiled kernels (ggml-cpu/tiled): per
  super-block ``acc = fma(d_w * isum, d_x, acc)`` (Q5_K: ``fma(fma(-dmin_w, imin, d_w *
  isum), d_x, acc)``).

The integers are exact in any order, so the C target's AVX2 path (ggml's byte products:
``maddubs`` then ``madd`` by the scales), the same instructions through clang's x86
builtins on an x86 OpenCL (PoCL) and the portable path (one product at a time) give the
same bits. No weight is ever decoded to floats. From 16 rows of x on a CPU with AVX-512
(the C target, PoCL), the rows sit in the lanes of vectors instead (``qdot_k_tokens``: 16
rows per vector, each 4 bytes of a weight row broadcast once for all of them; same
integers, same float steps per row).
"""
from __future__ import annotations

import functools

import numpy as np

from hal.dispatch import register

from .quant import _HELPERS, INTEGER_DOT_K, TYPES
from .launch import flat_group, pointer, program

QK = 256

_QUANTIZE = r"""
/* The C target on x86 with AVX2 in intrinsics: GCC vectorizes neither the float max nor
   the rounding to bytes. */
#if !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && defined(__AVX2__)
#include <immintrin.h>
#define QUANTIZE_AVX2 1
#endif
/* One work-item per super-block of 256 activations (x contiguous, cols a multiple of 256). */
KERNEL void quantize_q8k(GLOBAL i8 *q, GLOBAL f32 *d, GLOBAL i16 *bsums, GLOBAL const f32 *x, i64 x_off,
                         i64 blocks) {
    i64 b = GLOBAL_ID(0);
    if (b >= blocks) return;
    GLOBAL const f32 *xb = x + x_off + b * 256;
    /* the largest magnitude, then the first value that has it (two loops: PoCL vectorizes
       them, 4x faster than one loop that updates both) */
    f32 amax = 0.0f, top = 0.0f;
#if QUANTIZE_AVX2
    __m256 sign = _mm256_set1_ps(-0.0f), m = _mm256_setzero_ps();
    for (int j = 0; j < 256; j += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)), m);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));  /* max: any order */
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
    for (int j = 0; j < 256; j += 8) {
        __m256 hit = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)), _mm256_set1_ps(amax), _CMP_EQ_OQ);
        int bits = _mm256_movemask_ps(hit);
        if (bits) { top = xb[j + __builtin_ctz(bits)]; break; }
    }
#else
    for (int j = 0; j < 256; j++) {
        f32 a = fabs(xb[j]);
        amax = a > amax ? a : amax;
    }
    for (int j = 0; j < 256; j++)
        if (fabs(xb[j]) == amax) { top = xb[j]; break; }
#endif
    f32 iscale = amax != 0.0f ? DIV_RN(-127.0f, top) : 0.0f;
#if QUANTIZE_AVX2
    __m256 scale = _mm256_set1_ps(iscale);
    for (int h = 0; h < 8; h++) {  /* 32 values: rint, at most 127, to bytes; bsums of the two 16s */
        __m256i v[4];
        for (int k = 0; k < 4; k++) {
            __m256 r = _mm256_round_ps(_mm256_mul_ps(scale, _mm256_loadu_ps(xb + 32 * h + 8 * k)),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            v[k] = _mm256_min_epi32(_mm256_cvtps_epi32(r), _mm256_set1_epi32(127));
        }
        __m256i lo = _mm256_packs_epi32(v[0], v[1]), hi = _mm256_packs_epi32(v[2], v[3]);  /* lane-interleaved */
        __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(lo, hi),
                                                    _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + b * 256 + 32 * h), bytes);
        __m256i pairs = _mm256_hadd_epi32(_mm256_madd_epi16(lo, _mm256_set1_epi16(1)),
                                          _mm256_madd_epi16(hi, _mm256_set1_epi16(1)));
        __m128i sums = _mm_add_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
        sums = _mm_hadd_epi32(sums, sums);  /* the first 16's sum, the second's */
        bsums[b * 16 + 2 * h] = (i16)_mm_cvtsi128_si32(sums);
        bsums[b * 16 + 2 * h + 1] = (i16)_mm_extract_epi32(sums, 1);
    }
#else
    for (int g = 0; g < 16; g++) {
        i32 sum = 0;
        for (int j = 16 * g; j < 16 * g + 16; j++) {
            i32 v = (i32)rint(iscale * xb[j]);
            v = v < 127 ? v : 127;
            q[b * 256 + j] = (i8)v;
            sum += v;
        }
        bsums[b * 16 + g] = (i16)sum;
    }
#endif
    d[b] = amax != 0.0f ? DIV_RN(1.0f, iscale) : 0.0f;
}
"""

# x's super-blocks laid out for qdot_k_tokens: rows of x in groups of TOKENS (the last
# padded with zeros), and for each group and super-block, lane k (bytes 4k .. 4k + 3) of
# the TOKENS rows side by side (64 lanes), their d side by side, then for each 32 values j
# the rows' bsums 2j, 2j + 1 as the two halves of an i32, side by side.
_TOKENS_LAYOUT = r"""
/* One work-item per super-block of a padded group, from quantize_q8k's layout. */
KERNEL void tokens_layout(GLOBAL i8 *tq, GLOBAL f32 *td, GLOBAL i32 *tpairs, GLOBAL const i8 *q, GLOBAL const f32 *d,
                          GLOBAL const i16 *bsums, i64 n, i64 nb) {
    i64 b = GLOBAL_ID(0), t = b / nb, block = b % nb, g = t / TOKENS, tt = t % TOKENS;
    if (g * TOKENS >= n) return;
    i64 at = (g * nb + block) * TOKENS;  /* (b = t * nb + block: the row's super-block in q, d, bsums) */
    for (int k = 0; k < 64; k++)
        for (int j = 0; j < 4; j++) tq[(at * 64 + k * TOKENS + tt) * 4 + j] = t < n ? q[b * 256 + 4 * k + j] : 0;
    td[at + tt] = t < n ? d[b] : 0.0f;
    for (int j = 0; j < 8; j++)
        tpairs[at * 8 + j * TOKENS + tt] = t < n ? (i32)((u32)(u16)bsums[b * 16 + 2 * j]
                                                        | ((u32)(u16)bsums[b * 16 + 2 * j + 1] << 16)) : 0;
}
"""

# ggml's get_scale_min_k4 in integers: the 6-bit scale and min of sub-block j.
_SCALE_MIN = r"""
#ifndef ALIKE  /* 1: every row in the order of one row alone (no WIDE rows) */
#define ALIKE 0
#endif
KINLINE void scale_min6(i32 j, GLOBAL const u8 *q, i32 *sc, i32 *mn) {
    if (j < 4) { *sc = q[j] & 63; *mn = q[j + 4] & 63; }
    else { *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4); *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4); }
}
"""

# Q4_K/Q5_K on the AVX2 path: d, dmin, each sub-block's 6-bit scale in every 16-bit lane of
# sc[j] (for madd), and each min twice (bsums 2j, 2j+1: madd with the 16 bsums).
_K4_SCALES = r"""
INLINE void k4_scales(const u8 *b, f32 *d, f32 *dmin, __m256i *sc, __m256i *mins) {
    u32 w[3];  /* scale_min6 for all 8 sub-blocks at once, 4 bytes to a word */
    memcpy(w, b + 4, 12);
    u32 s_lo = w[0] & 0x3f3f3f3fu, m_lo = w[1] & 0x3f3f3f3fu;
    u32 s_hi = (w[2] & 0x0f0f0f0fu) | (((w[0] >> 6) & 0x03030303u) << 4);
    u32 m_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | (((w[1] >> 6) & 0x03030303u) << 4);
    __m128i mins8 = _mm_set_epi32(0, 0, (int)m_hi, (int)m_lo);
    __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)s_hi, (int)s_lo)));
    for (int j = 0; j < 8; j++) sc[j] = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)(0x0100 + 0x0202 * j)));
    *mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins8, mins8));
    *d = load_half(b); *dmin = load_half(b + 2);
}
"""

# Q5_K's float steps: vec_dot_q5_K_q8_K's eight lanes (fma(d_x * d_w, lane, acc[k])) and the
# mins' scalar fma(imin, -(d_x * dmin_w), m) (GCC contracts ggml's ``summs += dmin * imin``),
# the row tree(acc) + m; from 8 rows of x ggml's tiled kernel: per super-block
# fma(fma(-dmin_w, imin, d_w * isum), d_x, acc). (``flane``: the lanes as floats, which the
# vector paths convert in one instruction; ``isum``: their exact integer sum.)
_Q5_K_ACCUMULATE = r"""
#define WIDE(t, n) (!ALIKE && (n) >= 8)
typedef struct { f32 a[8], m; } Acc;
KINLINE void q5_accumulate(const f32 *flane, i32 isum, i32 imin, f32 d, f32 dmin, f32 dx, i32 wide, Acc *a) {
    if (wide) {
        a->a[0] = fma(fma(-dmin, (f32)imin, d * (f32)isum), dx, a->a[0]);
        return;
    }
    UNROLLED for (int j = 0; j < 8; j++) a->a[j] = fma(dx * d, flane[j], a->a[j]);
    a->m = fma((f32)imin, -(dx * dmin), a->m);
}
"""

# Q4_K's float steps, as ggml's repacked kernels: the mat-vec (gemv) adds each super-block
# once (``isum``, ``imin``: exact integers), the matrix kernel (gemm, for rows of x in
# fours: ``wide``) each 64 values (``fsum``, ``fmin``: the integers per 64 as floats, which
# the vector paths convert in one instruction).
_Q4_K_ACCUMULATE = r"""
/* (FOURS: n is a multiple of 4, so every row is wide; known, the compiler drops the rest:
   1.06x faster at n=64 on the C target, 1.15x on PoCL) */
#ifndef FOURS
#define FOURS 0
#endif
#define WIDE(t, n) (!ALIKE && (FOURS || (t) < (n) - (n) % 4))
typedef struct { f32 a, m; } Acc;
KINLINE void accumulate(const f32 *fsum, const f32 *fmin, i32 isum, i32 imin, f32 d, f32 dmin, i32 wide, Acc *a) {
    if (wide) {
        UNROLLED for (int p = 0; p < 4; p++) {
            a->a = fma(fsum[p], d, a->a);
            a->m = fma(fmin[p], dmin, a->m);
        }
    } else {
        a->a = fma((f32)isum, d, a->a);
        a->m = fma((f32)imin, dmin, a->m);
    }
}
"""

# Per type: ``Block`` (a weight super-block, decoded once for the NT rows of x),
# ``Acc`` (one row of x's running sums), decode_block, block_dot, acc_zero, acc_result.
# The portable versions, one product at a time:
# The 8 lanes (lane m: products 4m..4m+3) of a sub-block's 32 quants, decoded from bytes q
# (and h, the high bits) by the type's QUANT, with 32 activations x. On OpenCL as vectors
# (16-bit products, pairs, then lanes: PoCL's vectorizer does not find the scalar loop's
# lanes); elsewhere one product at a time.
_SUB_LANES = r"""
#ifdef __OPENCL_VERSION__
INLINE void sub_lanes(GLOBAL const u8 *q, GLOBAL const u8 *h, i32 s1, i32 s2, GLOBAL const i8 *x, i32 *lane) {
    uchar16 q0 = vload16(0, q), q1 = vload16(1, q), h0 = vload16(0, h), h1 = vload16(1, h);
    short16 p0 = convert_short16(QUANT(q0, h0, s1, s2)) * convert_short16(vload16(0, x));
    short16 p1 = convert_short16(QUANT(q1, h1, s1, s2)) * convert_short16(vload16(1, x));
    short8 a0 = p0.even + p0.odd, a1 = p1.even + p1.odd;  /* |pair| <= 2 * 63 * 127: 16 bits */
    vstore8((int8)(convert_int4(a0.even) + convert_int4(a0.odd), convert_int4(a1.even) + convert_int4(a1.odd)), 0,
            lane);
}
#else
INLINE void sub_lanes(GLOBAL const u8 *q, GLOBAL const u8 *h, i32 s1, i32 s2, GLOBAL const i8 *x, i32 *lane) {
    for (int m = 0; m < 8; m++) lane[m] = 0;
    for (int l = 0; l < 32; l++) lane[l / 4] += (i32)QUANT(q[l], h[l], s1, s2) * (i32)x[l];
}
#endif
"""

# Each type's quant from its bytes (scalars or OpenCL vectors alike: OpenCL wants the
# constants as wide as the vector's elements).
_QUANT = {
    "Q4_K": "#define QUANT(q, h, s1, s2) (((q) >> (u8)(s1)) & (u8)15)\n",
    "Q5_K": "#define QUANT(q, h, s1, s2) ((((q) >> (u8)(s1)) & (u8)15) | ((((h) >> (u8)(s2)) & (u8)1) << (u8)4))\n",
    "Q6_K": "#define QUANT(q, h, s1, s2) ((((q) >> (u8)(s1)) & (u8)15) | ((((h) >> (u8)(s2)) & (u8)3) << (u8)4))\n",
}

# The portable versions (OpenCL, CUDA, C without AVX2), by sub-block lanes:
_PORTABLE = {
    "Q4_K": r"""
typedef struct { GLOBAL const u8 *q; f32 d, dmin; i32 sc[8], mn[8]; } Block;
KINLINE void decode_block(GLOBAL const u8 *b, Block *k) {
    k->d = load_half(b); k->dmin = load_half(b + 2); k->q = b + 16;
    for (int j = 0; j < 8; j++) scale_min6(j, b + 4, &k->sc[j], &k->mn[j]);
}
KINLINE void block_dot(const Block *k, GLOBAL const i8 *qx, f32 dx, GLOBAL const i16 *bs, i32 wide, Acc *a) {
    i32 isum[4] = {0, 0, 0, 0}, imin[4] = {0, 0, 0, 0}, l[8];  /* per 64 values */
    for (int j = 0; j < 8; j++) {
        sub_lanes(k->q + (j / 2) * 32, k->q, (j & 1) * 4, 0, qx + 32 * j, l);
        isum[j / 2] += k->sc[j] * (((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])));
        imin[j / 2] += k->mn[j] * ((i32)bs[2 * j] + (i32)bs[2 * j + 1]);
    }
    f32 fsum[4], fmin[4];
    for (int p = 0; p < 4; p++) { fsum[p] = (f32)isum[p]; fmin[p] = (f32)imin[p]; }
    accumulate(fsum, fmin, isum[0] + isum[1] + isum[2] + isum[3], imin[0] + imin[1] + imin[2] + imin[3],
               k->d * dx, k->dmin * dx, wide, a);
}
""",
    "Q6_K": r"""
typedef struct { GLOBAL const u8 *b; f32 d; i32 sc[16]; } Block;
typedef struct { f32 a[8]; } Acc;
KINLINE void decode_block(GLOBAL const u8 *b, Block *k) {
    k->b = b; k->d = load_half(b + 208);
    for (int j = 0; j < 16; j++) k->sc[j] = (i32)(i8)b[192 + j];
}
KINLINE void block_dot(const Block *k, GLOBAL const i8 *qx, f32 dx, GLOBAL const i16 *bs, i32 wide, Acc *a) {
    i32 lane[8], l[8];
    for (int m = 0; m < 8; m++) lane[m] = 0;
    for (int i = 0; i < 8; i++) {  /* sub-block i: quadrant i % 4 of half i / 4 */
        sub_lanes(k->b + 64 * (i / 4) + 32 * (i & 1), k->b + 128 + 32 * (i / 4), 4 * ((i % 4) / 2), 2 * (i % 4),
                  qx + 32 * i, l);
        for (int m = 0; m < 8; m++) lane[m] += k->sc[2 * i + m / 4] * l[m];
    }
    for (int m = 0; m < 8; m++) lane[m] -= 32 * ((i32)bs[2 * m] * k->sc[2 * m] + (i32)bs[2 * m + 1] * k->sc[2 * m + 1]);
    if (wide) {
        a->a[0] = fma(k->d * (f32)(lane[0] + lane[1] + lane[2] + lane[3] + lane[4] + lane[5] + lane[6] + lane[7]), dx,
                      a->a[0]);
        return;
    }
    f32 d = dx * k->d;
    for (int m = 0; m < 8; m++) a->a[m] = fma(d, (f32)lane[m], a->a[m]);
}
""",
    "Q5_K": r"""
typedef struct { GLOBAL const u8 *qh, *q; f32 d, dmin; i32 sc[8], mn[8]; } Block;
KINLINE void decode_block(GLOBAL const u8 *b, Block *k) {
    k->d = load_half(b); k->dmin = load_half(b + 2); k->qh = b + 16; k->q = b + 48;
    for (int j = 0; j < 8; j++) scale_min6(j, b + 4, &k->sc[j], &k->mn[j]);
}
KINLINE void block_dot(const Block *k, GLOBAL const i8 *qx, f32 dx, GLOBAL const i16 *bs, i32 wide, Acc *a) {
    i32 lane[8], l[8], imin = 0;
    for (int m = 0; m < 8; m++) lane[m] = 0;
    for (int j = 0; j < 8; j++) {
        sub_lanes(k->q + (j / 2) * 32, k->qh, (j & 1) * 4, j, qx + 32 * j, l);
        for (int m = 0; m < 8; m++) lane[m] += k->sc[j] * l[m];
        imin += k->mn[j] * ((i32)bs[2 * j] + (i32)bs[2 * j + 1]);
    }
    f32 flane[8];
    for (int m = 0; m < 8; m++) flane[m] = (f32)lane[m];
    q5_accumulate(flane, lane[0] + lane[1] + lane[2] + lane[3] + lane[4] + lane[5] + lane[6] + lane[7], imin, k->d,
                  k->dmin, dx, wide, a);
}
""",
}

_ACC = {
    "Q4_K": r"""
KINLINE void acc_zero(Acc *a) { a->a = 0.0f; a->m = 0.0f; }
KINLINE f32 acc_result(const Acc *a, i32 wide) { return a->a - a->m; }
""",
    "Q5_K": r"""
KINLINE void acc_zero(Acc *a) { for (int j = 0; j < 8; j++) a->a[j] = 0.0f; a->m = 0.0f; }
#define A(k) a->a[k]
KINLINE f32 acc_result(const Acc *a, i32 wide) {
    return wide ? A(0) : (((A(0) + A(4)) + (A(2) + A(6))) + ((A(1) + A(5)) + (A(3) + A(7)))) + a->m;
}
#undef A
""",
    "Q6_K": r"""
KINLINE void acc_zero(Acc *a) { for (int j = 0; j < 8; j++) a->a[j] = 0.0f; }
/* llama.cpp multiplies 8 or more rows of x by a Q6_K weight in its "tiled" kernels: one
   float sum per row, fma(d_w * isum, d_x, acc) per super-block */
#define WIDE(t, n) (!ALIKE && (n) >= 8)
#define A(k) a->a[k]
KINLINE f32 acc_result(const Acc *a, i32 wide) {
    return wide ? A(0) : ((A(0) + A(4)) + (A(2) + A(6))) + ((A(1) + A(5)) + (A(3) + A(7)));
}
#undef A
""",
}

# The C target on an x86 CPU with AVX2: a super-block's quants as eight vectors of 32
# bytes, byte products summed in pairs (maddubs: the weight unsigned, at most 63 * 127
# * 2 per pair, no saturation), pairs of those times the scales (madd); integers, exact.
_AVX2 = {
    "Q4_K": r"""
typedef struct { __m256i q[8], sc[8], mins; f32 d, dmin; } Block;
KINLINE void decode_block(const u8 *b, Block *k) {
    const __m256i m15 = _mm256_set1_epi8(15);
    for (int j = 0; j < 4; j++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * j));
        k->q[2 * j] = _mm256_and_si256(v, m15);
        k->q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m15);
    }
    k4_scales(b, &k->d, &k->dmin, k->sc, &k->mins);
}
KINLINE void block_dot(const Block *k, const i8 *qx, f32 dx, const i16 *bs, i32 wide, Acc *a) {
    __m256i part[4];  /* per 64 values: 8 lanes each */
    for (int p = 0; p < 4; p++) {
        __m256i lo = _mm256_maddubs_epi16(k->q[2 * p], _mm256_loadu_si256((const __m256i *)(qx + 64 * p)));
        __m256i hi = _mm256_maddubs_epi16(k->q[2 * p + 1], _mm256_loadu_si256((const __m256i *)(qx + 64 * p + 32)));
        part[p] = _mm256_add_epi32(_mm256_madd_epi16(lo, k->sc[2 * p]), _mm256_madd_epi16(hi, k->sc[2 * p + 1]));
    }
    /* the four parts' lane sums: hadd within 128-bit halves, then the halves */
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(part[0], part[1]), _mm256_hadd_epi32(part[2], part[3]));
    __m256i m = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bs), k->mins);  /* lane j: sub-block j */
    m = _mm256_hadd_epi32(m, m);  /* parts 0, 1 (low half), 2, 3 (high half) */
    __m128i isum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    __m128i imin = _mm_unpacklo_epi64(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    f32 fsum[4], fmin[4];
    _mm_storeu_ps(fsum, _mm_cvtepi32_ps(isum));
    _mm_storeu_ps(fmin, _mm_cvtepi32_ps(imin));
    __m128i totals = _mm_hadd_epi32(isum, imin);  /* integers: any order */
    totals = _mm_hadd_epi32(totals, totals);
    accumulate(fsum, fmin, _mm_cvtsi128_si32(totals), _mm_extract_epi32(totals, 1), k->d * dx, k->dmin * dx, wide,
               a);
}
""",
    "Q6_K": r"""
typedef struct { __m256i q[8], sc[8], sc16; f32 d; } Block;
typedef struct { f32 a[8]; } Acc;
KINLINE void decode_block(const u8 *b, Block *k) {
    const __m256i m15 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    const i8 *sc = (const i8 *)(b + 192);
    k->d = load_half(b + 208);
    for (int h = 0; h < 2; h++) {
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(b + 64 * h));
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(b + 64 * h + 32));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
        /* the two high bits of quadrant k sit at bits 2k, 2k+1 of qh: move them to bits 4, 5 */
        k->q[4 * h] = _mm256_or_si256(_mm256_and_si256(l0, m15), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
        k->q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m15),
                                          _mm256_and_si256(_mm256_slli_epi16(qh, 2), _mm256_set1_epi8(48)));
        k->q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m15),
                                          _mm256_and_si256(qh, _mm256_set1_epi8(48)));
        k->q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m15),
                                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), _mm256_set1_epi8(48)));
    }
    for (int i = 0; i < 8; i++)  /* bytes 0-15 of sub-block i scale by sc[2i], 16-31 by sc[2i+1] */
        k->sc[i] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * i + 1]), _mm_set1_epi16(sc[2 * i]));
    k->sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
}
KINLINE void block_dot(const Block *k, const i8 *qx, f32 dx, const i16 *bs, i32 wide, Acc *a) {
    __m256i lanes = _mm256_setzero_si256();
    for (int i = 0; i < 8; i++) {
        __m256i pairs = _mm256_maddubs_epi16(k->q[i], _mm256_loadu_si256((const __m256i *)(qx + 32 * i)));
        lanes = _mm256_add_epi32(lanes, _mm256_madd_epi16(pairs, k->sc[i]));
    }
    __m256i offset = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bs), k->sc16);
    lanes = _mm256_sub_epi32(lanes, _mm256_slli_epi32(offset, 5));
    if (wide) {
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(lanes), _mm256_extracti128_si256(lanes, 1));
        s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
        a->a[0] = fma(k->d * (f32)_mm_cvtsi128_si32(_mm_add_epi32(s4, _mm_shuffle_epi32(s4, 1))), dx, a->a[0]);
        return;
    }
    __m256 acc = _mm256_fmadd_ps(_mm256_set1_ps(dx * k->d), _mm256_cvtepi32_ps(lanes), _mm256_loadu_ps(a->a));
    _mm256_storeu_ps(a->a, acc);
}
""",
    "Q5_K": r"""
typedef struct { __m256i q[8], sc[8], mins; f32 d, dmin; } Block;
KINLINE void decode_block(const u8 *b, Block *k) {
    const __m256i m15 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 16));
    for (int j = 0; j < 4; j++) {  /* the fifth bit of sub-block s is bit s of qh */
        __m256i v = _mm256_loadu_si256((const __m256i *)(b + 48 + 32 * j));
        __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one);
        __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one);
        k->q[2 * j] = _mm256_or_si256(_mm256_and_si256(v, m15), _mm256_slli_epi16(h0, 4));
        k->q[2 * j + 1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m15), _mm256_slli_epi16(h1, 4));
    }
    k4_scales(b, &k->d, &k->dmin, k->sc, &k->mins);
}
KINLINE void block_dot(const Block *k, const i8 *qx, f32 dx, const i16 *bs, i32 wide, Acc *a) {
    __m256i lanes = _mm256_setzero_si256();
    for (int j = 0; j < 8; j++) {
        __m256i pairs = _mm256_maddubs_epi16(k->q[j], _mm256_loadu_si256((const __m256i *)(qx + 32 * j)));
        lanes = _mm256_add_epi32(lanes, _mm256_madd_epi16(pairs, k->sc[j]));
    }
    __m256i m = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bs), k->mins);
    __m256i pairs = _mm256_hadd_epi32(lanes, m);  /* the sums of the lanes and of m: integers, any order */
    __m128i totals = _mm_add_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
    totals = _mm_hadd_epi32(totals, totals);
    f32 flane[8];
    _mm256_storeu_ps(flane, _mm256_cvtepi32_ps(lanes));
    q5_accumulate(flane, _mm_cvtsi128_si32(totals), _mm_extract_epi32(totals, 1), k->d, k->dmin, dx, wide, a);
}
""",
}

# OpenCL on an x86 CPU with AVX2 (PoCL: its clang defines __x86_64__, __AVX2__): the C
# target's byte products through clang's builtins (maddubs then madd by the scales; PoCL's
# vectorizer does not find them in the portable lanes: 3-4x slower).
_BUILTIN_HELPERS = r"""
typedef char bytes32 __attribute__((ext_vector_type(32)));
typedef uchar ubytes32 __attribute__((ext_vector_type(32)));
#define JOIN16(lo, hi) __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, \
                                               17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31)
KINLINE ubytes32 load_ubytes(GLOBAL const u8 *p) { return JOIN16(vload16(0, p), vload16(1, p)); }
/* lane k: the products of bytes 4k..4k+3 of w (unsigned, < 64) and x, pairs times s */
KINLINE int8 scaled_lanes(ubytes32 w, GLOBAL const i8 *x, short16 s) {
    bytes32 xv = JOIN16(vload16(0, x), vload16(1, x));
    return __builtin_ia32_pmaddwd256(__builtin_ia32_pmaddubsw256(__builtin_astype(w, bytes32), xv), s);
}
KINLINE i32 sum8(int8 v) { int4 s = v.lo + v.hi; return (s.x + s.z) + (s.y + s.w); }
KINLINE f32 half_f16c(GLOBAL const u8 *p) {
    return __builtin_ia32_vcvtph2ps((short8)((short)load_u16(p), 0, 0, 0, 0, 0, 0, 0))[0];
}
/* Q4_K/Q5_K: d, dmin, each sub-block's 6-bit scale in every 16-bit lane of sc[j], and each
   min twice (bsums 2j, 2j+1: madd with the 16 bsums gives lane j = min_j * both) */
KINLINE void k4_header(GLOBAL const u8 *b, f32 *d, f32 *dmin, short16 *sc, short16 *mins) {
    uint4 w = as_uint4(vload16(0, b));  /* d, dmin; then scale_min6 of all 8 sub-blocks, 4 bytes to a word */
    uint2 s = (uint2)(w.y & 0x3f3f3f3fu, (w.w & 0x0f0f0f0fu) | (((w.y >> 6) & 0x03030303u) << 4));
    uint2 m = (uint2)(w.z & 0x3f3f3f3fu, ((w.w >> 4) & 0x0f0f0f0fu) | (((w.z >> 6) & 0x03030303u) << 4));
    uchar8 s8 = as_uchar8(s), m8 = as_uchar8(m);
    UNROLLED for (int j = 0; j < 8; j++) sc[j] = (short16)((short)s8[j]);
    *mins = convert_short16(__builtin_shufflevector(m8, m8, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    float4 dd = __builtin_ia32_vcvtph2ps(as_short8((uint4)(w.x, 0, 0, 0)));
    *d = dd.x; *dmin = dd.y;
}
"""

_BUILTINS = {
    "Q4_K": r"""
typedef struct { ubytes32 q[8]; short16 sc[8], mins; f32 d, dmin; } Block;
KINLINE void decode_block(GLOBAL const u8 *b, Block *k) {
    UNROLLED for (int j = 0; j < 4; j++) {
        ubytes32 v = load_ubytes(b + 16 + 32 * j);
        k->q[2 * j] = v & (uchar)15;
        k->q[2 * j + 1] = v >> (uchar)4;
    }
    k4_header(b, &k->d, &k->dmin, k->sc, &k->mins);
}
KINLINE void block_dot(const Block *k, GLOBAL const i8 *qx, f32 dx, GLOBAL const i16 *bs, i32 wide, Acc *a) {
    int8 part[4];  /* per 64 values */
    UNROLLED for (int p = 0; p < 4; p++)
        part[p] = scaled_lanes(k->q[2 * p], qx + 64 * p, k->sc[2 * p])
                + scaled_lanes(k->q[2 * p + 1], qx + 64 * p + 32, k->sc[2 * p + 1]);
    /* the four parts' lane sums at once: pairs, then fours, then eights (as hadd does) */
    int8 p01 = (int8)(part[0].even + part[0].odd, part[1].even + part[1].odd);
    int8 p23 = (int8)(part[2].even + part[2].odd, part[3].even + part[3].odd);
    int8 quads = (int8)(p01.even + p01.odd, p23.even + p23.odd);
    int4 sums = quads.even + quads.odd;
    int8 m = __builtin_ia32_pmaddwd256(vload16(0, bs), k->mins);  /* lane j: sub-block j */
    int4 mins = m.even + m.odd;
    float4 vs = convert_float4(sums), vm = convert_float4(mins);
    f32 fsum[4] = {vs.x, vs.y, vs.z, vs.w}, fmin[4] = {vm.x, vm.y, vm.z, vm.w};
    int2 totals = (int2)(sums.x + sums.y + sums.z + sums.w, mins.x + mins.y + mins.z + mins.w);
    accumulate(fsum, fmin, totals.x, totals.y, k->d * dx, k->dmin * dx, wide, a);
}
""",
    "Q5_K": r"""
typedef struct { ubytes32 q[8]; short16 sc[8], mins; f32 d, dmin; } Block;
KINLINE void decode_block(GLOBAL const u8 *b, Block *k) {
    ubytes32 qh = load_ubytes(b + 16);
    UNROLLED for (int j = 0; j < 4; j++) {  /* the fifth bit of sub-block s is bit s of qh */
        ubytes32 v = load_ubytes(b + 48 + 32 * j);
        k->q[2 * j] = (v & (uchar)15) | (((qh >> (uchar)(2 * j)) & (uchar)1) << (uchar)4);
        k->q[2 * j + 1] = (v >> (uchar)4) | (((qh >> (uchar)(2 * j + 1)) & (uchar)1) << (uchar)4);
    }
    k4_header(b, &k->d, &k->dmin, k->sc, &k->mins);
}
KINLINE void block_dot(const Block *k, GLOBAL const i8 *qx, f32 dx, GLOBAL const i16 *bs, i32 wide, Acc *a) {
    int8 lanes = (int8)(0);
    UNROLLED for (int j = 0; j < 8; j++) lanes += scaled_lanes(k->q[j], qx + 32 * j, k->sc[j]);
    float8 fl = convert_float8(lanes);
    f32 flane[8] = {fl.s0, fl.s1, fl.s2, fl.s3, fl.s4, fl.s5, fl.s6, fl.s7};
    q5_accumulate(flane, sum8(lanes), sum8(__builtin_ia32_pmaddwd256(vload16(0, bs), k->mins)), k->d, k->dmin, dx,
                  wide, a);
}
""",
    "Q6_K": r"""
typedef struct { ubytes32 q[8]; short16 sc[8], sc16; f32 d; } Block;
typedef struct { f32 a[8]; } Acc;
KINLINE void decode_block(GLOBAL const u8 *b, Block *k) {
    UNROLLED for (int h = 0; h < 2; h++) {  /* the two high bits of quadrant k: bits 2k, 2k+1 of qh */
        ubytes32 l0 = load_ubytes(b + 64 * h), l1 = load_ubytes(b + 64 * h + 32), qh = load_ubytes(b + 128 + 32 * h);
        k->q[4 * h] = (l0 & (uchar)15) | ((qh & (uchar)3) << (uchar)4);
        k->q[4 * h + 1] = (l1 & (uchar)15) | (((qh >> (uchar)2) & (uchar)3) << (uchar)4);
        k->q[4 * h + 2] = (l0 >> (uchar)4) | (((qh >> (uchar)4) & (uchar)3) << (uchar)4);
        k->q[4 * h + 3] = (l1 >> (uchar)4) | ((qh >> (uchar)6) << (uchar)4);
    }
    GLOBAL const char *sc = (GLOBAL const char *)(b + 192);
    UNROLLED for (int i = 0; i < 8; i++)  /* bytes 0-15 of sub-block i scale by sc[2i], 16-31 by sc[2i+1] */
        k->sc[i] = (short16)((short8)((short)sc[2 * i]), (short8)((short)sc[2 * i + 1]));
    k->sc16 = convert_short16(vload16(0, sc));
    k->d = half_f16c(b + 208);
}
KINLINE void block_dot(const Block *k, GLOBAL const i8 *qx, f32 dx, GLOBAL const i16 *bs, i32 wide, Acc *a) {
    int8 lanes = (int8)(0);
    UNROLLED for (int i = 0; i < 8; i++) lanes += scaled_lanes(k->q[i], qx + 32 * i, k->sc[i]);
    lanes -= __builtin_ia32_pmaddwd256(vload16(0, bs), k->sc16) * 32;
    if (wide) {
        a->a[0] = fma(k->d * (f32)sum8(lanes), dx, a->a[0]);
        return;
    }
    vstore8(fma((float8)(dx * k->d), convert_float8(lanes), vload8(0, a->a)), 0, a->a);
}
""",
}

_DOT = r"""
/* PoCL keeps a loop with a variable count (and its accumulators) in memory: there a fixed
   count, a short tile repeating its last row; the C target is 1.1-1.3x faster without */
#ifdef __OPENCL_VERSION__
#define TILE_ROWS NT
#else
#define TILE_ROWS nt
#endif
/* out (n, rows) = x @ w.T from x's super-blocks (q, d, bsums). Work-item (row, tile): one
   weight row against NT consecutive rows of x, each super-block decoded once for all NT. */
KERNEL void qdot_k(GLOBAL f32 *out, i64 out_off, GLOBAL const i8 *xq, i64 xq_off, GLOBAL const f32 *xd,
                   i64 xd_off, GLOBAL const i16 *xs, i64 xs_off, GLOBAL const u8 *w, i64 w_off, i64 rows,
                   i64 cols, i64 n) {
    i64 row = GLOBAL_ID(0), t0 = GLOBAL_ID(1) * NT, nb = cols / 256;
    if (row >= rows || t0 >= n) return;
    i64 nt = n - t0 < NT ? n - t0 : NT;
    Acc acc[NT];
    UNROLLED for (int t = 0; t < NT; t++) acc_zero(&acc[t]);
    GLOBAL const u8 *wr = w + w_off + row * nb * BLOCK_BYTES;
    for (i64 b = 0; b < nb; b++) {
        Block k;
        decode_block(wr + b * BLOCK_BYTES, &k);
        UNROLLED for (int t = 0; t < TILE_ROWS; t++) {
            i64 tx = t0 + (t < nt ? t : nt - 1), xb = tx * nb + b;
            block_dot(&k, xq + xq_off + xb * 256, xd[xd_off + xb], xs + xs_off + xb * 16, WIDE(tx, n), &acc[t]);
        }
    }
    for (i64 t = 0; t < nt; t++) out[out_off + (t0 + t) * rows + row] = acc_result(&acc[t], WIDE(t0 + t, n));
}
"""


# Many rows of x on a CPU (prefill, batched decode; 8 rows or more, so every row but
# Q4_K's last n % 4 takes llama.cpp's matrix kernels' float steps): the TOKENS rows of a
# group in the lanes of vectors of VT rows, each weight lane (4 bytes) broadcast once for
# all of them (on the C target with AVX-512 VNNI one vpdpbusd per lane and 16 rows), and
# a super-block's scales and float steps vector operations. Each row's integers are the
# ones above (exact in any order) and its float steps the same operations in the same
# order, so the bits are unchanged, and no row depends on another.
_TOKEN_LANES = r"""
#if !defined(__OPENCL_VERSION__) && !defined(__CUDACC__)
#define C_TARGET 1
#elif defined(__OPENCL_VERSION__) && defined(__x86_64__) && defined(__AVX512BW__) && TOKENS % 16 == 0 && !SCALAR
#define CL_X86 16
typedef char cl_bytes __attribute__((ext_vector_type(64)));
typedef short cl_shorts __attribute__((ext_vector_type(32)));
#define CL_INT int16
#define CL_FLOAT float16
#define CL_LOAD vload16
#define CL_STORE vstore16
#define CL_CONVERT convert_float16
#define CL_MADD __builtin_ia32_pmaddwd512
#define CL_MADDUBS __builtin_ia32_pmaddubsw512
#elif defined(__OPENCL_VERSION__) && defined(__x86_64__) && defined(__AVX2__) && TOKENS % 8 == 0 && !SCALAR
#define CL_X86 8
typedef char cl_bytes __attribute__((ext_vector_type(32)));
typedef short16 cl_shorts;
#define CL_INT int8
#define CL_FLOAT float8
#define CL_LOAD vload8
#define CL_STORE vstore8
#define CL_CONVERT convert_float8
#define CL_MADD __builtin_ia32_pmaddwd256
#define CL_MADDUBS __builtin_ia32_pmaddubsw256
#endif
#if C_TARGET && !SCALAR && TOKENS % 16 == 0 && defined(__AVX512BW__) && defined(__FMA__)
#define VT 16
typedef __m512i ti32;
typedef __m512 tf32;
#define ti_zero _mm512_setzero_si512
#define ti_set1 _mm512_set1_epi32
#define ti_load(p) _mm512_loadu_si512((const void *)(p))
#define ti_add _mm512_add_epi32
#define ti_sub _mm512_sub_epi32
#define ti_mul _mm512_mullo_epi32
#define ti_madd16 _mm512_madd_epi16
#define ti_shl5(v) _mm512_slli_epi32((v), 5)
#define ti_float _mm512_cvtepi32_ps
#define tf_set1 _mm512_set1_ps
#define tf_load _mm512_loadu_ps
#define tf_store _mm512_storeu_ps
#define tf_zero _mm512_setzero_ps
#define tf_mul _mm512_mul_ps
#define tf_fma _mm512_fmadd_ps
#ifdef __AVX512VNNI__
#define ti_dot4 _mm512_dpbusd_epi32
#else
#define ti_dot4(acc, w, x) \
    _mm512_add_epi32((acc), _mm512_madd_epi16(_mm512_maddubs_epi16((w), (x)), _mm512_set1_epi16(1)))
#endif
#elif C_TARGET && !SCALAR && TOKENS % 8 == 0 && defined(__AVX2__) && defined(__FMA__)
#define VT 8
typedef __m256i ti32;
typedef __m256 tf32;
#define ti_zero _mm256_setzero_si256
#define ti_set1 _mm256_set1_epi32
#define ti_load(p) _mm256_loadu_si256((const __m256i *)(p))
#define ti_add _mm256_add_epi32
#define ti_sub _mm256_sub_epi32
#define ti_mul _mm256_mullo_epi32
#define ti_madd16 _mm256_madd_epi16
#define ti_shl5(v) _mm256_slli_epi32((v), 5)
#define ti_float _mm256_cvtepi32_ps
#define tf_set1 _mm256_set1_ps
#define tf_load _mm256_loadu_ps
#define tf_store _mm256_storeu_ps
#define tf_zero _mm256_setzero_ps
#define tf_mul _mm256_mul_ps
#define tf_fma _mm256_fmadd_ps
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define ti_dot4 _mm256_dpbusd_epi32
#elif defined(__AVXVNNI__)
#define ti_dot4 _mm256_dpbusd_avx_epi32
#else  /* (weights < 64, |x| <= 127: a pair's sum fits maddubs' 16 bits) */
#define ti_dot4(acc, w, x) \
    _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((w), (x)), _mm256_set1_epi16(1)))
#endif
#elif CL_X86
/* OpenCL on an x86 CPU (PoCL): the same instructions through clang's builtins (no VNNI:
   PoCL targets its CPU as Skylake-AVX512), VT rows (512 bits where the CPU has AVX-512BW) */
#define VT CL_X86
typedef CL_INT ti32;
typedef CL_FLOAT tf32;
#define ti_zero() ((ti32)(0))
#define ti_set1(v) ((ti32)(v))
#define ti_load(p) CL_LOAD(0, (GLOBAL const int *)(p))
#define ti_add(a, b) ((a) + (b))
#define ti_sub(a, b) ((a) - (b))
#define ti_mul(a, b) ((a) * (b))
#define ti_madd16(a, b) CL_MADD(__builtin_astype((a), cl_shorts), __builtin_astype((b), cl_shorts))
#define ti_shl5(v) ((v) << 5)
#define ti_float(v) CL_CONVERT(v)
#define tf_set1(v) ((tf32)(v))
#define tf_load(p) CL_LOAD(0, (p))
#define tf_store(p, v) CL_STORE((v), 0, (p))
#define tf_zero() ((tf32)(0.0f))
#define tf_mul(a, b) ((a) * (b))
#define tf_fma fma
#define ti_dot4(acc, w, x) \
    ((acc) + CL_MADD(CL_MADDUBS(__builtin_astype((w), cl_bytes), __builtin_astype((x), cl_bytes)), (cl_shorts)(1)))
#else  /* any other target (or SCALAR): one row to a "vector", the same integers and float steps */
#define VT 1
typedef i32 ti32;
typedef f32 tf32;
INLINE i32 load_i32(GLOBAL const i8 *p) {
    return (i32)((u32)(u8)p[0] | ((u32)(u8)p[1] << 8) | ((u32)(u8)p[2] << 16) | ((u32)(u8)p[3] << 24));
}
/* acc + the products of w's 4 unsigned bytes with x's 4 signed ones (vpdpbusd) */
INLINE i32 ti_dot4(i32 acc, i32 w, i32 x) {
    for (int k = 0; k < 4; k++) acc += (i32)(u8)((u32)w >> (8 * k)) * (i32)(i8)((u32)x >> (8 * k));
    return acc;
}
/* the products of the two i16 halves of a and b, summed (vpmaddwd) */
INLINE i32 ti_madd16(i32 a, i32 b) {
    return (i32)(i16)(u32)a * (i32)(i16)(u32)b + (i32)(i16)((u32)a >> 16) * (i32)(i16)((u32)b >> 16);
}
#define ti_zero() 0
#define ti_set1(v) ((i32)(v))
#define ti_load(p) load_i32((GLOBAL const i8 *)(p))  /* (little-endian, as every target here) */
#define ti_add(a, b) ((a) + (b))
#define ti_sub(a, b) ((a) - (b))
#define ti_mul(a, b) ((a) * (b))
#define ti_shl5(v) ((v) * 32)
#define ti_float(v) ((f32)(v))
#define tf_set1(v) (v)
#define tf_load(p) (*(p))
#define tf_store(p, v) (*(p) = (v))
#define tf_zero() 0.0f
#define tf_mul(a, b) ((a) * (b))
#define tf_fma fma
#endif

/* A weight super-block unpacked once for every row of x: its 256 quants as bytes (sub-block
   i: bytes 32i .. 32i + 31, unsigned; read as 64 lanes of 4), integer scales, mins, d, dmin. */
typedef struct { u32 q[64]; i32 sc[16], mn[8]; f32 d, dmin; } Unpacked;
#if K_AVX2
KINLINE void unpack_quants(GLOBAL const u8 *b, u32 *q) {
    Block k;
    decode_block(b, &k);
    for (int i = 0; i < 8; i++) _mm256_storeu_si256((__m256i *)(q + 8 * i), k.q[i]);
}
#elif K_BUILTINS
KINLINE void unpack_quants(GLOBAL const u8 *b, u32 *q) {
    Block k;
    decode_block(b, &k);
    UNROLLED for (int i = 0; i < 8; i++) vstore8(__builtin_astype(k.q[i], uint8), 0, q + 8 * i);
}
#else
KINLINE void unpack_quants(GLOBAL const u8 *b, u32 *q) {
    u8 *bytes = (u8 *)q;
    for (int i = 0; i < 8; i++) {
        GLOBAL const u8 *lo, *hi;
        i32 s1, s2;
        SUB_BYTES(i, lo, hi, s1, s2);
        for (int l = 0; l < 32; l++) bytes[32 * i + l] = QUANT(lo[l], hi[l], s1, s2);
    }
}
#endif

/* Lanes k .. k + count - 1 of the weights times x's, per row: exact integers. */
KINLINE ti32 lanes_dot(const u32 *wq, GLOBAL const i8 *qx, int k, int count) {
    ti32 s = ti_zero();
    for (int c = k; c < k + count; c++) s = ti_dot4(s, ti_set1((i32)wq[c]), ti_load(qx + c * TOKENS * 4));
    return s;
}
/* a pair of i16 (lo, hi) as one i32, for ti_madd16 with a pair of bsums */
#define PAIR(lo, hi) ((i32)((u32)(u16)(i16)(lo) | ((u32)(u16)(i16)(hi) << 16)))
"""

# The bytes and shifts of each type's sub-block i in super-block b (the portable QUANT's
# arguments, as in block_dot), for qdot_k_tokens' portable unpacking.
_SUB_BYTES = {
    "Q4_K": "#define SUB_BYTES(i, lo, hi, s1, s2) (lo = b + 16 + 32 * ((i) / 2), hi = lo, s1 = 4 * ((i) & 1), "
            "s2 = 0)\n",
    "Q5_K": "#define SUB_BYTES(i, lo, hi, s1, s2) (lo = b + 48 + 32 * ((i) / 2), hi = b + 16, s1 = 4 * ((i) & 1), "
            "s2 = (i))\n",
    "Q6_K": "#define SUB_BYTES(i, lo, hi, s1, s2) (lo = b + 64 * ((i) / 4) + 32 * ((i) & 1), "
            "hi = b + 128 + 32 * ((i) / 4), s1 = 4 * (((i) % 4) / 2), s2 = 2 * ((i) % 4))\n",
}

# Q4_K's and Q5_K's super-block header: d, dmin and eight 6-bit scale/min pairs.
_UNPACK_SCALE_MIN6 = r"""
KINLINE void unpack(GLOBAL const u8 *b, Unpacked *u) {
    unpack_quants(b, u->q);
    for (int j = 0; j < 8; j++) scale_min6(j, b + 4, &u->sc[j], &u->mn[j]);
    u->d = load_half(b); u->dmin = load_half(b + 2);
}
"""

# Per type: the scales, and a super-block's product with VT rows of x (``qx``, ``dx``, ``bs``: the rows'
# quants, d and bsum pairs in the tokens layout) into ``TAcc``; ``tokens_result`` the rows'
# results (``t``: the first row's index).
_TOKENS_TYPE = {
    "Q4_K": _UNPACK_SCALE_MIN6 + r"""
/* (a, m): the matrix kernel's sums, per 64 values; (na, nm): the mat-vec's, per super-block,
   for the last n % 4 rows */
typedef struct { tf32 a, m, na, nm; } TAcc;
KINLINE void tokens_zero(TAcc *a) { a->a = a->m = a->na = a->nm = tf_zero(); }
KINLINE void tokens_block(const Unpacked *u, GLOBAL const i8 *qx, GLOBAL const f32 *dx, GLOBAL const i32 *bs, TAcc *a) {
    tf32 d = tf_mul(tf_set1(u->d), tf_load(dx)), dmin = tf_mul(tf_set1(u->dmin), tf_load(dx));
    ti32 isum = ti_zero(), imin = ti_zero();
    for (int p = 0; p < 4; p++) {  /* 64 values: sub-blocks 2p, 2p + 1 */
        ti32 s = ti_add(ti_mul(lanes_dot(u->q, qx, 16 * p, 8), ti_set1(u->sc[2 * p])),
                        ti_mul(lanes_dot(u->q, qx, 16 * p + 8, 8), ti_set1(u->sc[2 * p + 1])));
        ti32 m = ti_add(ti_madd16(ti_load(bs + 2 * p * TOKENS), ti_set1(PAIR(u->mn[2 * p], u->mn[2 * p]))),
                        ti_madd16(ti_load(bs + (2 * p + 1) * TOKENS),
                                  ti_set1(PAIR(u->mn[2 * p + 1], u->mn[2 * p + 1]))));
        a->a = tf_fma(ti_float(s), d, a->a);
        a->m = tf_fma(ti_float(m), dmin, a->m);
        isum = ti_add(isum, s);
        imin = ti_add(imin, m);
    }
    if (!FOURS) {
        a->na = tf_fma(ti_float(isum), d, a->na);
        a->nm = tf_fma(ti_float(imin), dmin, a->nm);
    }
}
KINLINE void tokens_result(const TAcc *a, f32 *out, i64 t, i64 n) {
    f32 s[4][VT];
    tf_store(s[0], a->a); tf_store(s[1], a->m); tf_store(s[2], a->na); tf_store(s[3], a->nm);
    for (int r = 0; r < VT; r++) out[r] = WIDE(t + r, n) ? s[0][r] - s[1][r] : s[2][r] - s[3][r];
}
""",
    "Q5_K": _UNPACK_SCALE_MIN6 + r"""
typedef struct { tf32 a; } TAcc;
KINLINE void tokens_zero(TAcc *a) { a->a = tf_zero(); }
KINLINE void tokens_block(const Unpacked *u, GLOBAL const i8 *qx, GLOBAL const f32 *dx, GLOBAL const i32 *bs, TAcc *a) {
    ti32 isum = ti_zero(), imin = ti_zero();
    for (int j = 0; j < 8; j++) {
        isum = ti_add(isum, ti_mul(lanes_dot(u->q, qx, 8 * j, 8), ti_set1(u->sc[j])));
        imin = ti_add(imin, ti_madd16(ti_load(bs + j * TOKENS), ti_set1(PAIR(u->mn[j], u->mn[j]))));
    }
    tf32 block = tf_fma(tf_set1(-u->dmin), ti_float(imin), tf_mul(tf_set1(u->d), ti_float(isum)));
    a->a = tf_fma(block, tf_load(dx), a->a);
}
KINLINE void tokens_result(const TAcc *a, f32 *out, i64 t, i64 n) { tf_store(out, a->a); }
""",
    "Q6_K": r"""
KINLINE void unpack(GLOBAL const u8 *b, Unpacked *u) {
    unpack_quants(b, u->q);
    for (int j = 0; j < 16; j++) u->sc[j] = (i32)(i8)b[192 + j];
    u->d = load_half(b + 208);
}
typedef struct { tf32 a; } TAcc;
KINLINE void tokens_zero(TAcc *a) { a->a = tf_zero(); }
KINLINE void tokens_block(const Unpacked *u, GLOBAL const i8 *qx, GLOBAL const f32 *dx, GLOBAL const i32 *bs, TAcc *a) {
    ti32 isum = ti_zero(), offset = ti_zero();
    for (int i = 0; i < 8; i++) {  /* sub-block i: its first 16 values scale by sc[2i], the next by sc[2i + 1] */
        isum = ti_add(isum, ti_add(ti_mul(lanes_dot(u->q, qx, 8 * i, 4), ti_set1(u->sc[2 * i])),
                                   ti_mul(lanes_dot(u->q, qx, 8 * i + 4, 4), ti_set1(u->sc[2 * i + 1]))));
        offset = ti_add(offset, ti_madd16(ti_load(bs + i * TOKENS), ti_set1(PAIR(u->sc[2 * i], u->sc[2 * i + 1]))));
    }
    isum = ti_sub(isum, ti_shl5(offset));  /* the quants were taken unsigned: 32 * (bsums . scales) */
    a->a = tf_fma(tf_mul(tf_set1(u->d), ti_float(isum)), tf_load(dx), a->a);
}
KINLINE void tokens_result(const TAcc *a, f32 *out, i64 t, i64 n) { tf_store(out, a->a); }
""",
}

_DOT_TOKENS = r"""
/* out (n, rows) = x @ w.T, x laid out by tokens_layout. Work-item (row, group of
   TOKENS rows of x): each super-block unpacked once for the group. */
KERNEL void qdot_k_tokens(GLOBAL f32 *out, i64 out_off, GLOBAL const i8 *xq, i64 xq_off, GLOBAL const f32 *xd,
                          i64 xd_off, GLOBAL const i32 *xs, i64 xs_off, GLOBAL const u8 *w, i64 w_off, i64 rows,
                          i64 cols, i64 n) {
    i64 row = GLOBAL_ID(0), g = GLOBAL_ID(1), nb = cols / 256, t0 = g * TOKENS;
    if (row >= rows || t0 >= n) return;
    GLOBAL const u8 *wr = w + w_off + row * nb * BLOCK_BYTES;
    TAcc acc[TOKENS / VT];
    for (int h = 0; h < TOKENS / VT; h++) tokens_zero(&acc[h]);
    for (i64 b = 0; b < nb; b++) {
        Unpacked u;
        unpack(wr + b * BLOCK_BYTES, &u);
        i64 at = (g * nb + b) * TOKENS;  /* the group's super-block b */
        for (int h = 0; h < TOKENS / VT; h++)
            tokens_block(&u, xq + xq_off + at * 256 + h * VT * 4, xd + xd_off + at + h * VT,
                         xs + xs_off + at * 8 + h * VT, &acc[h]);
    }
    f32 sums[TOKENS];
    for (int h = 0; h < TOKENS / VT; h++) tokens_result(&acc[h], sums + h * VT, t0 + h * VT, n);
    for (i64 t = 0; t < TOKENS && t0 + t < n; t++) out[out_off + (t0 + t) * rows + row] = sums[t];
}
"""


_AVX2_TARGET = "!defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && defined(__AVX2__) && defined(__FMA__)"
_BUILTIN_TARGET = "defined(__OPENCL_VERSION__) && defined(__x86_64__) && defined(__AVX2__) && defined(__F16C__)"

# PoCL keeps loops over an array of accumulators (and the array) in memory unless told,
# and does not inline a work-item's big helpers (Block then goes through memory)
_OPENCL_HINTS = ("#ifdef __OPENCL_VERSION__\n#define UNROLLED _Pragma(\"unroll\")\n"
             "#define KINLINE INLINE __attribute__((always_inline))\n"
             "#else\n#define UNROLLED\n#define KINLINE INLINE\n#endif\n")


@functools.lru_cache(maxsize=None)
def source(ggml_type: str) -> str:
    block = (f"#if {_AVX2_TARGET} && !SCALAR\n#define K_AVX2 1\n#include <immintrin.h>\n" + _K4_SCALES
             + _AVX2[ggml_type]
             + f"#elif {_BUILTIN_TARGET} && !SCALAR\n#define K_BUILTINS 1\n" + _BUILTIN_HELPERS + _BUILTINS[ggml_type]
             + "#else\n" + _QUANT[ggml_type] + _SUB_LANES + _PORTABLE[ggml_type] + "#endif\n")
    accumulate = {"Q4_K": _Q4_K_ACCUMULATE, "Q5_K": _Q5_K_ACCUMULATE}.get(ggml_type, "")
    return _HELPERS + _OPENCL_HINTS + _SCALE_MIN + accumulate + block + _ACC[ggml_type] + _DOT


@functools.lru_cache(maxsize=None)
def tokens_source(ggml_type: str) -> str:
    """The kernels with qdot_k_tokens as well (for x laid out by tokens_layout)."""
    return source(ggml_type) + _SUB_BYTES[ggml_type] + _TOKEN_LANES + _TOKENS_TYPE[ggml_type] + _DOT_TOKENS


def supports(ggml_type: str) -> bool:
    return ggml_type in INTEGER_DOT_K


class Activations:
    """x (n, cols) quantized per 256: int8 ``q`` (n, cols), f32 ``d`` (n, cols / 256),
    int16 ``bsums`` (n, cols / 16) (payloads of ``device``); or with ``tokens`` for
    ``qdot_k_tokens``: rows in groups of ``tokens`` (tokens_layout), ``bsums`` int32
    pairs (padded n, cols / 32)."""
    __slots__ = ("q", "d", "bsums", "shape", "tokens")

    def __init__(self, q, d, bsums, shape, tokens=0):
        self.q, self.d, self.bsums, self.shape, self.tokens = q, d, bsums, shape, tokens


def quantize(device, x, tokens: int = 0) -> Activations:
    """``x``: a contiguous float32 (n, cols) payload, cols a multiple of 256; ``tokens``:
    the layout (0: as x; 8 or 16: qdot_k_tokens')."""
    n, cols = x.shape
    if tokens not in (0, 8, 16):
        raise ValueError(f"qdot_k's tokens layout takes groups of 8 or 16 rows of x, not {tokens}")
    blocks = n * cols // QK
    q = device.empty((n, cols), np.dtype(np.int8))
    d = device.empty((n, cols // QK), np.dtype(np.float32))
    bsums = device.empty((n, cols // 16), np.dtype(np.int16))
    if blocks:
        program(device, _QUANTIZE, "quantize_q8k")(
            (blocks,), flat_group(device), *(pointer(device, a) for a in (q, d, bsums)), *device.kernel_args(x),
            blocks)
    a = Activations(q, d, bsums, (n, cols))
    return _tokens_layout(device, a, tokens) if tokens else a


def _tokens_layout(device, a: Activations, tokens: int) -> Activations:
    """``a`` laid out for qdot_k_tokens: rows in groups of ``tokens``."""
    (n, cols), padded = a.shape, -(-a.shape[0] // tokens) * tokens
    q = device.empty((padded, cols), np.dtype(np.int8))
    d = device.empty((padded, cols // QK), np.dtype(np.float32))
    pairs = device.empty((padded, cols // 32), np.dtype(np.int32))
    if n:
        program(device, _TOKENS_LAYOUT, "tokens_layout", TOKENS=tokens)(
            (padded * cols // QK,), flat_group(device), *(pointer(device, v) for v in (q, d, pairs)),
            *(pointer(device, v) for v in (a.q, a.d, a.bsums)), n, cols // QK)
    return Activations(q, d, pairs, a.shape, tokens)


def default_config(device, n: int, alike: bool = False) -> dict:
    """NT rows of x per work-item (a prefill shares each decoded super-block among 8: 1.1-1.3x
    faster than 4 on the C target; from 16 rows among 16: 1.05-1.1x faster than 8 on the C
    target and PoCL, 32 no better; two rows, a 2-sequence decode step, among both: Gemma's
    shapes 1.2-1.4x faster than one on the C target and PoCL), ROWS weight rows per work-group on buffer devices. From
    16 rows, on a CPU whose kernels hold 16 rows to a vector (AVX-512), TOKENS: 16 rows of
    x in a vector's lanes (qdot_k_tokens; 64 rows of Gemma's shapes: the C target with VNNI
    Q4_K 1.6-1.85x and Q6_K 1.25-1.85x faster than tiles of 16, PoCL Q4_K 1.4-1.8x and Q6_K
    1.1x; 8-row groups gain little there). With AVX2 only, the C target from 8 rows too: 16-row
    groups from 12 rows, 8-row groups below (an AMD EPYC, Zen 3, one thread, Gemma's shapes:
    1.2-1.5x faster than tiles at 16 and 64 rows, 1.25-1.3x at 8, 1.1-1.2x at 12; measured
    on an Intel host's AVX2 path they had gained little). (``SCALAR``: 1 keeps
    the C target and PoCL off their vector paths, for tests of the portable one.) ``alike``
    (ALIKE): every row summed as one row alone is, in llama.cpp's mat-vec order."""
    group = 16 if device.info.max_work_group >= 16 else 1
    config = {"NT": n if n <= 2 else 8 if n < 16 else 16, "ROWS": group, "ALIKE": int(alike)}
    if n >= 16 and not alike and device.info.kind == "cpu" and rows_per_vector(device) == 16:
        config["TOKENS"] = 16
    elif n >= 8 and not alike and device.target == "c" and rows_per_vector(device) == 8:
        config["TOKENS"] = 16 if n >= 12 else 8
    return config


_PROBE = "KERNEL void rows_per_vector(GLOBAL i32 *out) { out[0] = VT; }\n"


@functools.cache
def rows_per_vector(device) -> int:
    """The rows of x one vector of qdot_k_tokens holds for 16-row groups on ``device``, as its
    compiler sees the target (16: AVX-512; 8: AVX2; 1: the portable path)."""
    out = device.empty((1,), np.dtype(np.int32))
    program(device, tokens_source("Q4_K") + _PROBE, "rows_per_vector", NT=1, TOKENS=16, SCALAR=0, BLOCK_BYTES=144,
            FOURS=0)((1,), None, pointer(device, out))
    return int(device.to_host(out)[0])


def dot_into(device, config: dict, out, a: Activations, raw, ggml_type: str):
    """out (n, rows) = the quantized activations ``a`` @ w.T for the weight bytes ``raw``."""
    (n, rows), cols = out.shape, a.shape[1]
    if n == 0 or rows == 0:
        return out
    if a.tokens and n < 8:  # (below 8 rows llama.cpp's Q5_K and Q6_K sums are per lane: not this kernel's)
        raise ValueError(f"qdot_k_tokens takes 8 or more rows of x, not {n}")
    alike = config.get("ALIKE", 0)
    common = {"SCALAR": config.get("SCALAR", 0), "BLOCK_BYTES": TYPES[ggml_type].block_bytes, "ALIKE": alike,
              "FOURS": int(not alike and n >= 4 and n % 4 == 0),
              "HAL_THREADS_MIN_ITEMS": 64}  # (C target) a work-item is a whole row: threads pay from 64
    args = device.kernel_args(out, a.q, a.d, a.bsums, raw) + [rows, cols, n]
    group = config["ROWS"]
    padded = -(-rows // group) * group
    if a.tokens:
        program(device, tokens_source(ggml_type), "qdot_k_tokens", NT=1, TOKENS=a.tokens, **common)(
            (padded, -(-n // a.tokens)), (group, 1), *args)
        return out
    tiles = -(-n // config["NT"])
    program(device, source(ggml_type), "qdot_k", NT=config["NT"], **common)((padded, tiles), (group, 1), *args)
    return out


@register("quant_linear_q8k", on=("cpu", "buffer"))
def linear(device, x, weights, alike) -> list:
    """x (n, cols) contiguous float32 @ w.T for each K-quant w, x quantized once per 256.
    ``alike``: each row's bits as it alone would get (llama.cpp's order changes with the
    number of rows), so that a batched decode step gives each sequence its own tokens."""
    n = x.shape[0]
    config = default_config(device, n, alike)
    a = quantize(device, x, config.get("TOKENS", 0))
    return [dot_into(device, config, device.empty((n, w.shape[0]), np.dtype(np.float32)), a, w.raw, w.ggml_type)
            for w in weights]
