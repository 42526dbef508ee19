"""Quantized linear the way llama.cpp computes it: activations quantized to 8 bits per
block of 32, integer dot products with the weight's blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0).

llama.cpp's CPU path (ggml-cpu's x86 ``quantize_row_q8_0/q8_1`` and
``ggml_vec_dot_q4_0_q8_0 / q4_1_q8_1 / q5_0_q8_0 / q5_1_q8_1 / q8_0_q8_0``) fixes every
rounding, and these kernels make the same ones in the same order on every device, so a model gives
llama.cpp's logits bit for bit (tests/test_qdot.py checks them against a NumPy
emulation, and tests/test_llama.py against llama.cpp's greedy tokens):

- a block of activations x[32]: ``d = amax / 127`` stored as f16, ``q = rint(x * (127 /
  amax))`` (ties to even) as int8; for Q4_1 and Q5_1 weights also ``s = f16(d * sum(q))``;
- a block product: eight integer lanes of four products (``lane j = sum q_w[4j..4j+3] *
  q_x[4j..4j+3]``, exact), each accumulated as ``acc[j] = fma(d_w * d_x, lane_j, acc[j])``
  over the row's blocks (Q5_0/Q5_1 weights: their 5-bit values, fifth bits joined first);
  Q4_1 and Q5_1 add ``m_w * s_x`` per block into a separate sum;
- the row's result: ``((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))`` (+ the sum of
  ``m_w * s_x``).

Integer products are also what makes the CPU fast: no float dequantization of weights.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np

from hal import autotune
from hal.dispatch import register

from .quant import INTEGER_DOT, TYPES, _HELPERS, linear_problem, row_bytes
from .launch import cpu_device, flat_group, pointer, program
from .qdot_k import rows_per_vector

QK = 32
WITH_MIN = ("Q4_1", "Q5_1")  # weights w = d q + m: products add m_w * s_x per block

_QUANTIZE = r"""
#if !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && defined(__AVX2__)
#include <immintrin.h>
#endif
/* A block of 32 activations x as int8 q; returns the scale d and sets *sum = sum(q). */
INLINE f32 quantize_block(GLOBAL const f32 *xb, i8 *q, i32 *sum) {
#if !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && defined(__AVX2__)
    /* The C target on x86: the same steps 8 at a time (a max and integers are exact; the
       products and roundings are the scalar ones, lane by lane; a NaN is skipped by the
       max as by fmax). GCC does not vectorize the loops below. */
    __m256 v[4], top = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(xb + 8 * k);
        top = _mm256_max_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), v[k]), top);
    }
    __m128 top4 = _mm_max_ps(_mm256_castps256_ps128(top), _mm256_extractf128_ps(top, 1));
    top4 = _mm_max_ps(top4, _mm_movehl_ps(top4, top4));
    f32 amax = _mm_cvtss_f32(_mm_max_ss(top4, _mm_movehdup_ps(top4)));
    f32 scale = DIV_RN(amax, 127.0f), inv = amax != 0.0f ? DIV_RN(127.0f, amax) : 0.0f;
    __m256i n[4], total = _mm256_setzero_si256();
    for (int k = 0; k < 4; k++) {
        n[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], _mm256_set1_ps(inv)),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        total = _mm256_add_epi32(total, n[k]);
    }
    __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(n[0], n[1]), _mm256_packs_epi32(n[2], n[3]));
    _mm256_storeu_si256((__m256i *)q,  /* (the packs interleave 128-bit lanes) */
                        _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    __m128i sum4 = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
    sum4 = _mm_add_epi32(sum4, _mm_shuffle_epi32(sum4, 0x4E));
    *sum = _mm_cvtsi128_si32(_mm_add_epi32(sum4, _mm_shuffle_epi32(sum4, 0xB1)));
#else
    f32 amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmax(amax, fabs(xb[j]));
    f32 scale = DIV_RN(amax, 127.0f), inv = amax != 0.0f ? DIV_RN(127.0f, amax) : 0.0f;
    *sum = 0;
    for (int j = 0; j < 32; j++) {
        i32 v = (i32)rint(xb[j] * inv);
        q[j] = (i8)v;
        *sum += v;
    }
#endif
    return scale;
}

/* One work-item per block of 32 activations (x contiguous, cols a multiple of 32). */
KERNEL void quantize_q8(GLOBAL i8 *q, GLOBAL f32 *d, GLOBAL f32 *s, GLOBAL const f32 *x, i64 x_off,
                        i64 blocks) {
    i64 b = GLOBAL_ID(0);
    if (b >= blocks) return;
    i8 qb[32];
    i32 sum;
    f32 scale = quantize_block(x + x_off + b * 32, qb, &sum);
    for (int j = 0; j < 32; j++) q[b * 32 + j] = qb[j];
    d[b] = half_to_f32(f32_to_half(scale));
    s[b] = half_to_f32(f32_to_half(scale * (f32)sum));
}

"""

_BIASED = r"""
/* With AVX-512 VNNI, qdot_tokens takes x's bytes as the unsigned operand of vpdpbusd: they
   are stored plus 128 (x ^ 0x80), and the weights' 128 * sums are taken off again, so one
   instruction makes a lane of signed weights too (the integers are the same). */
#if !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && defined(__AVX2__) && defined(__FMA__) && \
    defined(__AVX512VNNI__) && defined(__AVX512VL__) && (TOKENS == 8 || TOKENS == 16 && defined(__AVX512BW__))
#define X_BIASED 1
#else
#define X_BIASED 0
#endif
/* Where a group's rows are too few to fill a vector lane by lane (4 rows, 8 lanes), a
   vector takes LANE_UNIT weight lanes of every row of the group: a row's lanes j .. j +
   LANE_UNIT - 1 side by side (4-byte slots), the rows one after another; from 8 rows,
   lane j of each row. */
#define LANE_UNIT (TOKENS >= 8 ? 1 : 8 / TOKENS)
#define X_SLOT(j, t) ((j) / LANE_UNIT * LANE_UNIT * TOKENS + (t) * LANE_UNIT + (j) % LANE_UNIT)
"""

_QUANTIZE_TOKENS = _BIASED + r"""
/* The same blocks laid out for qdot_tokens: rows of x in groups of TOKENS (the last group
   padded with zeros), and for each group and block, lane j (bytes 4j .. 4j + 3) of the
   TOKENS rows side by side, then their d and s side by side. One work-item per block of a
   padded group. */
KERNEL void quantize_q8_tokens(GLOBAL i8 *q, GLOBAL f32 *d, GLOBAL f32 *s, GLOBAL const f32 *x,
                               i64 x_off, i64 n, i64 nb) {
    i64 b = GLOBAL_ID(0), t = b / nb, block = b % nb, g = t / TOKENS, tt = t % TOKENS;
    if (g * TOKENS >= n) return;
    i8 qb[32] = {0};
    i32 sum = 0;
    f32 scale = t < n ? quantize_block(x + x_off + b * 32, qb, &sum) : 0.0f;
    i64 at = (g * nb + block) * TOKENS;
    for (int j = 0; j < 8; j++)
        for (int k = 0; k < 4; k++) q[(at * 8 + X_SLOT(j, tt)) * 4 + k] = (i8)(qb[4 * j + k] ^ (X_BIASED << 7));
    d[at + tt] = half_to_f32(f32_to_half(scale));
    s[at + tt] = half_to_f32(f32_to_half(scale * (f32)sum));
}
"""

# Each weight block as 32 integers and its scale (and min, Q4_1).
_DECODE = {
    "Q8_0": """
    *dw = load_half(b);
    for (int j = 0; j < 32; j++) qw[j] = (i32)(i8)b[2 + j];""",
    "Q4_0": """
    *dw = load_half(b);
    for (int j = 0; j < 16; j++) { qw[j] = (i32)(b[2 + j] & 15) - 8; qw[j + 16] = (i32)(b[2 + j] >> 4) - 8; }""",
    "Q4_1": """
    *dw = load_half(b); *mw = load_half(b + 2);
    for (int j = 0; j < 16; j++) { qw[j] = (i32)(b[4 + j] & 15); qw[j + 16] = (i32)(b[4 + j] >> 4); }""",
    "Q5_0": """
    *dw = load_half(b);
    u32 qh = load_u16(b + 2) | (load_u16(b + 4) << 16);
    for (int j = 0; j < 32; j++)
        qw[j] = (i32)(((b[6 + j % 16] >> (j / 16 * 4)) & 15) | (((qh >> j) & 1) << 4)) - 16;""",
    "Q5_1": """
    *dw = load_half(b); *mw = load_half(b + 2);
    u32 qh = load_u16(b + 4) | (load_u16(b + 6) << 16);
    for (int j = 0; j < 32; j++) qw[j] = (i32)(((b[8 + j % 16] >> (j / 16 * 4)) & 15) | (((qh >> j) & 1) << 4));""",
}

# Lane j of a block's weights (elements 4j .. 4j + 3) as 4 integers, for qdot_lanes.
_DECODE_LANE = {
    "Q8_0": """
    *dw = load_half(b);
    for (int k = 0; k < 4; k++) q[k] = (i32)(i8)b[2 + 4 * j + k];""",
    "Q4_0": """
    *dw = load_half(b);
    for (int k = 0; k < 4; k++) q[k] = (i32)((b[2 + 4 * (j % 4) + k] >> (j / 4 * 4)) & 15) - 8;""",
    "Q4_1": """
    *dw = load_half(b); *mw = load_half(b + 2);
    for (int k = 0; k < 4; k++) q[k] = (i32)((b[4 + 4 * (j % 4) + k] >> (j / 4 * 4)) & 15);""",
    "Q5_0": """
    *dw = load_half(b);
    u32 qh = load_u16(b + 2) | (load_u16(b + 4) << 16);
    for (int k = 0; k < 4; k++)
        q[k] = (i32)(((b[6 + 4 * (j % 4) + k] >> (j / 4 * 4)) & 15) | (((qh >> (4 * j + k)) & 1) << 4)) - 16;""",
    "Q5_1": """
    *dw = load_half(b); *mw = load_half(b + 2);
    u32 qh = load_u16(b + 4) | (load_u16(b + 6) << 16);
    for (int k = 0; k < 4; k++)
        q[k] = (i32)(((b[8 + 4 * (j % 4) + k] >> (j / 4 * 4)) & 15) | (((qh >> (4 * j + k)) & 1) << 4));""",
}

# One launch for up to three weights that multiply the same x (attention's q, k, v; the
# feed-forward's gate and up): launches, not arithmetic, are what a decode step on an
# OpenCL CPU spends its time on. Each item's arithmetic is a single weight's.
_PICK = r"""
/* PoCL keeps loops over RPI and NT (and the arrays they index in memory) unless told */
#ifdef __OPENCL_VERSION__
#define UNROLLED _Pragma("unroll")
#else
#define UNROLLED
#endif
/* Item ``g`` of a launch over weights w0, w1, w2 (rows_i rows, ceil(rows_i / per) items
   each; products (n, rows_i) one after another from out_off): which weight, its rows and
   output, and g becomes the item's index within it. */
#define PICK_WEIGHT(g, per) \
    GLOBAL const u8 *w = w0; \
    i64 w_off = w0_off, rows = rows0; \
    if (g >= (rows0 + per - 1) / per) { \
        g -= (rows0 + per - 1) / per; out_off += n * rows0; w = w1; w_off = w1_off; rows = rows1; \
        if (g >= (rows1 + per - 1) / per) { \
            g -= (rows1 + per - 1) / per; out_off += n * rows1; w = w2; w_off = w2_off; rows = rows2; \
        } \
    }
"""

_DOT = r"""
/* out (n, rows) = x @ w.T from x's blocks (q, d, s). Work-item (rows, tile): RPI weight
   rows against NT consecutive rows of x, each block decoded once for all NT (and on the
   vector path each block of x loaded once for all RPI). */
KERNEL void qdot(GLOBAL f32 *out, i64 out_off, GLOBAL const i8 *xq, i64 xq_off, GLOBAL const f32 *xd,
                 i64 xd_off, GLOBAL const f32 *xs, i64 xs_off, GLOBAL const u8 *w0, i64 w0_off,
                 GLOBAL const u8 *w1, i64 w1_off, GLOBAL const u8 *w2, i64 w2_off, i64 rows0, i64 rows1,
                 i64 rows2, i64 cols, i64 n) {
    i64 item = GLOBAL_ID(0), t0 = GLOBAL_ID(1) * NT, nb = cols / 32;
    PICK_WEIGHT(item, RPI);
    i64 row0 = item * RPI;
    if (row0 >= rows || t0 >= n) return;
    i64 nt = n - t0 < NT ? n - t0 : NT;
    f32 acc[RPI][NT][8], mins[RPI][NT];
    for (int r = 0; r < RPI; r++)
        for (int t = 0; t < NT; t++) mins[r][t] = 0.0f;
#if defined(HAL_VEC) && (!defined(__OPENCL_VERSION__) || VEC)
    f32x8 vacc[RPI][NT];
    UNROLLED for (int r = 0; r < RPI; r++)
        UNROLLED for (int t = 0; t < NT; t++) vacc[r][t] = zero8();
    for (i64 b = 0; b < nb; b++) {
        f32 dw[RPI], mw[RPI];
        bytes32 qw[RPI];
        UNROLLED for (int r = 0; r < RPI; r++) {  /* past the last row, repeat it (stores are guarded) */
            i64 row = row0 + r < rows ? row0 + r : rows - 1;
            mw[r] = 0.0f;
            qw[r] = decode_bytes(w + w_off + (row * nb + b) * BLOCK_BYTES, &dw[r], &mw[r]);
        }
        UNROLLED for (int t = 0; t < NT; t++) {  /* a fixed count keeps vacc in registers; a short */
            i64 xb = (t0 + (t < nt ? t : nt - 1)) * nb + b;  /* tile repeats its last row */
            bytes32 qx = load32(xq + xq_off + xb * 32);
            f32 dx = xd[xd_off + xb];
            UNROLLED for (int r = 0; r < RPI; r++) {
                vacc[r][t] = lanes_fma(dw[r] * dx, qw[r], qx, vacc[r][t]);
#if HAS_MIN
                mins[r][t] += mw[r] * xs[xs_off + xb];
#endif
            }
        }
    }
    UNROLLED for (int r = 0; r < RPI; r++)
        UNROLLED for (int t = 0; t < NT; t++) store8(vacc[r][t], acc[r][t]);
#else
    for (int r = 0; r < RPI && row0 + r < rows; r++) {
        GLOBAL const u8 *wr = w + w_off + (row0 + r) * nb * BLOCK_BYTES;
        for (int t = 0; t < NT; t++)
            for (int j = 0; j < 8; j++) acc[r][t][j] = 0.0f;
        for (i64 b = 0; b < nb; b++) {
            i32 qw[32];
            f32 dw, mw = 0.0f;
            decode_int(wr + b * BLOCK_BYTES, qw, &dw, &mw);
            for (i64 t = 0; t < nt; t++) {
                i64 xb = (t0 + t) * nb + b;
                GLOBAL const i8 *qx = xq + xq_off + xb * 32;
                f32 dd = dw * xd[xd_off + xb];
                for (int j = 0; j < 8; j++) {
                    i32 lane = qw[4 * j] * qx[4 * j] + qw[4 * j + 1] * qx[4 * j + 1]
                             + qw[4 * j + 2] * qx[4 * j + 2] + qw[4 * j + 3] * qx[4 * j + 3];
                    acc[r][t][j] = fma(dd, (f32)lane, acc[r][t][j]);
                }
#if HAS_MIN
                mins[r][t] += mw * xs[xs_off + xb];
#endif
            }
        }
    }
#endif
    for (int r = 0; r < RPI && row0 + r < rows; r++)
        for (i64 t = 0; t < nt; t++) {
#define A(k) acc[r][t][k]
            f32 sum = ((A(0) + A(4)) + (A(2) + A(6))) + ((A(1) + A(5)) + (A(3) + A(7)));
#undef A
#if HAS_MIN
            sum += mins[r][t];
#endif
            out[out_off + (t0 + t) * rows + row0 + r] = sum;
        }
}
"""

_DOT_LANES = r"""
/* The same products with the 8 lanes of a row on 8 work-items (OpenCL, CUDA): group
   (8, ROWS, 1); item (j, r) accumulates lane j of its row for NT rows of x, then item 0
   adds the lanes in the fixed order. Neighbouring items read neighbouring bytes. */
KERNEL void qdot_lanes(GLOBAL f32 *out, i64 out_off, GLOBAL const i8 *xq, i64 xq_off, GLOBAL const f32 *xd,
                       i64 xd_off, GLOBAL const f32 *xs, i64 xs_off, GLOBAL const u8 *w0, i64 w0_off,
                       GLOBAL const u8 *w1, i64 w1_off, GLOBAL const u8 *w2, i64 w2_off, i64 rows0, i64 rows1,
                       i64 rows2, i64 cols, i64 n) {
    LOCAL f32 part[ROWS][NT][8];
    i64 j = LOCAL_ID(0), r = LOCAL_ID(1), row = GLOBAL_ID(1), t0 = GLOBAL_ID(2) * NT, nb = cols / 32;
    PICK_WEIGHT(row, 1);
    i64 nt = n - t0 < NT ? n - t0 : NT;
    f32 acc[NT], mins[NT];
    for (int t = 0; t < NT; t++) acc[t] = mins[t] = 0.0f;
    if (row < rows) {
        GLOBAL const u8 *wr = w + w_off + row * nb * BLOCK_BYTES;
        for (i64 b = 0; b < nb; b++) {
            i32 q[4];
            f32 dw, mw = 0.0f;
            decode_lane(wr + b * BLOCK_BYTES, (i32)j, q, &dw, &mw);
            for (int t = 0; t < NT; t++) {
                i64 xb = (t0 + (t < nt ? t : nt - 1)) * nb + b;
                GLOBAL const i8 *qx = xq + xq_off + xb * 32 + 4 * j;
                i32 lane = q[0] * qx[0] + q[1] * qx[1] + q[2] * qx[2] + q[3] * qx[3];
                acc[t] = fma(dw * xd[xd_off + xb], (f32)lane, acc[t]);
#if HAS_MIN
                mins[t] += mw * xs[xs_off + xb];
#endif
            }
        }
    }
    for (int t = 0; t < NT; t++) part[r][t][j] = acc[t];
    BARRIER();
    if (j == 0 && row < rows)
        for (i64 t = 0; t < nt; t++) {
#define A(k) part[r][t][k]
            f32 sum = ((A(0) + A(4)) + (A(2) + A(6))) + ((A(1) + A(5)) + (A(3) + A(7)));
#undef A
#if HAS_MIN
            sum += mins[t];
#endif
            out[out_off + (t0 + t) * rows + row] = sum;
        }
}
"""

# Many rows of x on a CPU (the C target; PoCL on x86) in prefill and batched decode: the
# TOKENS rows of a group in the lanes of one vector (4 rows: two lanes of each, LANE_UNIT),
# so that each weight lane is broadcast once for all of them and a block's scale, min and
# sums are vector operations. Each row's arithmetic is still the one above, operation for
# operation (so the bits are), and no row depends on another.
_TOKENS = r"""
#if !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && defined(HAL_VEC) && !SCALAR && TOKENS == 16 && \
    defined(__AVX512BW__)
#define TOKEN_VEC 1
typedef __m512i tokens_i32;
typedef __m512 tokens_f32;
#define tokens_set1_i32 _mm512_set1_epi32
#define tokens_load_i32(p) _mm512_loadu_si512((const void *)(p))
#define tokens_set1 _mm512_set1_ps
#define tokens_load _mm512_loadu_ps
#define tokens_store _mm512_storeu_ps
#define tokens_zero _mm512_setzero_ps
#define tokens_mul _mm512_mul_ps
#define tokens_add _mm512_add_ps
#define tokens_fma _mm512_fmadd_ps
#define tokens_float _mm512_cvtepi32_ps
/* (AVX-512 has no byte sign instruction: x negated where w < 0) */
#define tokens_sign_x(x, w) _mm512_mask_sub_epi8((x), _mm512_movepi8_mask(w), _mm512_setzero_si512(), (x))
#define tokens_biased_dot _mm512_dpbusd_epi32
#define tokens_dot(w, x) _mm512_madd_epi16(_mm512_maddubs_epi16((w), (x)), _mm512_set1_epi16(1))
#define tokens_abs_bytes(v) _mm256_sign_epi8((v), (v))
#elif !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && defined(HAL_VEC) && !SCALAR && \
    (TOKENS == 8 || TOKENS == 4)
#define TOKEN_VEC 1
typedef __m256i tokens_i32;
typedef __m256 tokens_f32;
#define tokens_set1_i32 _mm256_set1_epi32
#define tokens_load_i32(p) _mm256_loadu_si256((const __m256i *)(p))
#define tokens_set1 _mm256_set1_ps
#define tokens_load _mm256_loadu_ps
#define tokens_store _mm256_storeu_ps
#define tokens_zero _mm256_setzero_ps
#define tokens_mul _mm256_mul_ps
#define tokens_add _mm256_add_ps
#define tokens_fma _mm256_fmadd_ps
#define tokens_float _mm256_cvtepi32_ps
#define tokens_sign_x(x, w) _mm256_sign_epi8((x), (w))
#define tokens_biased_dot _mm256_dpbusd_epi32
#define tokens_dot(w, x) _mm256_madd_epi16(_mm256_maddubs_epi16((w), (x)), _mm256_set1_epi16(1))
#define tokens_abs_bytes(v) _mm256_sign_epi8((v), (v))
#if LANE_UNIT == 2  /* a vector: lanes 2j and 2j + 1 of 4 rows; each row's d and s twice */
#define tokens_w(u, j) _mm256_set1_epi64x((u).pair[j])
#define tokens_load_d(p) _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(p)), \
                                                  _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3))
#endif
#elif defined(__OPENCL_VERSION__) && defined(HAL_VEC) && defined(__x86_64__) && !SCALAR && (TOKENS == 8 || TOKENS == 4)
/* PoCL on x86: the same instructions through clang's builtins */
#define TOKEN_VEC 1
typedef int8 tokens_i32;
typedef float8 tokens_f32;
#define tokens_set1_i32(v) ((int8)(v))
#define tokens_load_i32(p) vload8(0, (GLOBAL const int *)(p))
#define tokens_set1(v) ((float8)(v))
#define tokens_load(p) vload8(0, (p))
#define tokens_store(p, v) vstore8((v), 0, (p))
#define tokens_zero() ((float8)(0.0f))
#define tokens_mul(a, b) ((a) * (b))
#define tokens_add(a, b) ((a) + (b))
#define tokens_fma fma
#define tokens_float convert_float8
#define as_bytes32(v) __builtin_astype((v), bytes32)
#define tokens_sign_x(x, w) as_int8(__builtin_ia32_psignb256(as_bytes32(x), as_bytes32(w)))
#define tokens_dot(w, x) __builtin_ia32_pmaddwd256(__builtin_ia32_pmaddubsw256(as_bytes32(w), as_bytes32(x)), (short16)(1))
#define tokens_abs_bytes(v) __builtin_ia32_psignb256((v), (v))
#if LANE_UNIT == 2
#define tokens_w(u, j) as_int8((long4)((u).pair[j]))
INLINE float8 tokens_load_d(GLOBAL const f32 *p) { float4 v = vload4(0, p); return v.s00112233; }
#endif
#endif
#ifdef TOKEN_VEC
#define TOKEN_LANES (8 / LANE_UNIT)  /* vectors a block of a group takes */
#if LANE_UNIT == 1  /* a vector: lane j of each row; each row's d and s once */
#define tokens_w(u, j) tokens_set1_i32((u).lane[j])
#define tokens_load_d tokens_load
#endif
#endif

/* out (n, rows) = x @ w.T, x laid out by quantize_q8_tokens. Work-item (GROUPS groups of
   TOKENS rows of x, RPI weight rows): each row's products kept until the item's last row,
   then stored RPI neighbours at a time (stored one by one, 16 to 16 rows of out a weight
   row, they took 12% of a product of 16 rows). Each weight row's blocks are unpacked once,
   CHUNK at a time, for all its groups, and each lane is then broadcast from that copy (a
   load; a shuffle from a register each took one port, the loop's bottleneck, 2x slower).
   Unpacked block by block between the products, each broadcast read a store just made,
   and each group unpacked the row again: SmolLM2's products of 16 and 64 rows ran
   1.1-1.3x slower (an AVX2 EPYC, Zen 3, one thread). */
#define CHUNK 128
KERNEL void qdot_tokens(GLOBAL f32 *out, i64 out_off, GLOBAL const i8 *xq, i64 xq_off, GLOBAL const f32 *xd,
                        i64 xd_off, GLOBAL const f32 *xs, i64 xs_off, GLOBAL const u8 *w0, i64 w0_off,
                        GLOBAL const u8 *w1, i64 w1_off, GLOBAL const u8 *w2, i64 w2_off, i64 rows0, i64 rows1,
                        i64 rows2, i64 cols, i64 n) {
    i64 item = GLOBAL_ID(1), nb = cols / 32, groups = (n + TOKENS - 1) / TOKENS, g0 = GLOBAL_ID(0) * GROUPS;
    PICK_WEIGHT(item, RPI);
    i64 row0 = item * RPI, row_end = row0 + RPI < rows ? row0 + RPI : rows;
    if (row0 >= rows || g0 >= groups) return;
    i64 g_end = groups - g0 < GROUPS ? groups : g0 + GROUPS;
#ifdef TOKEN_VEC
    f32 res[GROUPS][TOKENS][RPI];  /* the item's products, stored to out RPI at a time at the end */
#endif
    for (i64 row = row0; row < row_end; row++) {
        GLOBAL const u8 *wr = w + w_off + row * nb * BLOCK_BYTES;
#ifdef TOKEN_VEC
        /* acc's 8 vectors stay in registers only if gcc unrolls the lane loops before it
           splits arrays (else acc lives on the stack: a store and a load per lane per block,
           1.4x slower on an AVX2 EPYC) */
        tokens_f32 accs[GROUPS][TOKEN_LANES], mins[GROUPS];
        /* a chunk of the row: each block's lanes, what a lane's product takes beside them, scales */
        union { bytes32 v; i32 lane[8]; i64 pair[4]; } wb[CHUNK], side[CHUNK];
        f32 dw[CHUNK], mw[CHUNK];
        for (i64 g = g0; g < g_end; g++) {
            mins[g - g0] = tokens_zero();
            _Pragma("GCC unroll 8") for (int j = 0; j < TOKEN_LANES; j++) accs[g - g0][j] = tokens_zero();
        }
        for (i64 c0 = 0; c0 < nb; c0 += CHUNK) {
            i64 cn = nb - c0 < CHUNK ? nb - c0 : CHUNK;
            for (i64 k = 0; k < cn; k++) {
                mw[k] = 0.0f;
                wb[k].v = decode_bytes(wr + (c0 + k) * BLOCK_BYTES, &dw[k], &mw[k]);
#if X_BIASED  /* each lane's 128 * (sum of its 4 weights), taken off as the product starts */
                side[k].v = _mm256_sub_epi32(_mm256_setzero_si256(),
                                             _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(-128),
                                                                 wb[k].v));
#elif SIGNED_W  /* |w| for the whole block at once, not lane by lane */
                side[k].v = tokens_abs_bytes(wb[k].v);
#endif
            }
            for (i64 g = g0; g < g_end; g++) {
                GLOBAL const i8 *qx = xq + xq_off + g * TOKENS * cols;
                GLOBAL const f32 *dx = xd + xd_off + g * TOKENS * nb, *sx = xs + xs_off + g * TOKENS * nb;
                tokens_f32 acc[TOKEN_LANES], m = mins[g - g0];
                _Pragma("GCC unroll 8") for (int j = 0; j < TOKEN_LANES; j++) acc[j] = accs[g - g0][j];
                for (i64 k = 0; k < cn; k++) {
                    i64 b = c0 + k;
                    tokens_f32 scale = tokens_mul(tokens_set1(dw[k]), tokens_load_d(dx + b * TOKENS));
                    _Pragma("GCC unroll 8") for (int j = 0; j < TOKEN_LANES; j++) {
                        tokens_i32 wj = tokens_w(wb[k], j),
                                   xj = tokens_load_i32(qx + (b * 8 + j * LANE_UNIT) * 4 * TOKENS);
#if X_BIASED
                        tokens_i32 lanes = tokens_biased_dot(tokens_w(side[k], j), xj, wj);
#elif SIGNED_W
                        tokens_i32 lanes = tokens_dot(tokens_w(side[k], j), tokens_sign_x(xj, wj));
#else
                        tokens_i32 lanes = tokens_dot(wj, xj);
#endif
                        acc[j] = tokens_fma(scale, tokens_float(lanes), acc[j]);
                    }
#if HAS_MIN
                    m = tokens_add(m, tokens_mul(tokens_set1(mw[k]), tokens_load_d(sx + b * TOKENS)));
#endif
                }
                mins[g - g0] = m;
                _Pragma("GCC unroll 8") for (int j = 0; j < TOKEN_LANES; j++) accs[g - g0][j] = acc[j];
            }
        }
        for (i64 g = g0; g < g_end; g++) {
            tokens_f32 *acc = accs[g - g0];
#if TOKEN_LANES == 8
            f32 sums[TOKENS];
            tokens_f32 sum = tokens_add(tokens_add(tokens_add(acc[0], acc[4]), tokens_add(acc[2], acc[6])),
                                        tokens_add(tokens_add(acc[1], acc[5]), tokens_add(acc[3], acc[7])));
#if HAS_MIN
            sum = tokens_add(sum, mins[g - g0]);
#endif
            tokens_store(sums, sum);
            for (int t = 0; t < TOKENS; t++) res[g - g0][t][row - row0] = sums[t];
#else  /* pairs: the same sums, a row's (0 + 4) + (2 + 6) and (1 + 5) + (3 + 7) side by side */
            f32 halves[8], m[8];
            tokens_store(halves, tokens_add(tokens_add(acc[0], acc[2]), tokens_add(acc[1], acc[3])));
            tokens_store(m, mins[g - g0]);
            for (int t = 0; t < TOKENS; t++)
                res[g - g0][t][row - row0] = HAS_MIN ? (halves[2 * t] + halves[2 * t + 1]) + m[2 * t]
                                                     : halves[2 * t] + halves[2 * t + 1];
#endif
        }
#else  /* any other C target (or width, or SCALAR): the same arithmetic, row by row */
#if X_BIASED
#error "x stored biased for a vector path this target does not take"
#endif
        for (i64 g = g0; g < g_end; g++) {
            i64 t0 = g * TOKENS;
            GLOBAL const i8 *qx = xq + xq_off + t0 * cols;
            GLOBAL const f32 *dx = xd + xd_off + t0 * nb, *sx = xs + xs_off + t0 * nb;
            f32 acc[TOKENS][8], mins[TOKENS];
            for (int t = 0; t < TOKENS; t++) {
                mins[t] = 0.0f;
                for (int j = 0; j < 8; j++) acc[t][j] = 0.0f;
            }
            for (i64 b = 0; b < nb; b++) {
                i32 qw[32];
                f32 dw, mw = 0.0f;
                decode_int(wr + b * BLOCK_BYTES, qw, &dw, &mw);
                for (int t = 0; t < TOKENS; t++) {
                    f32 dd = dw * dx[b * TOKENS + t];
                    for (int j = 0; j < 8; j++) {
                        GLOBAL const i8 *q = qx + (b * 8 * TOKENS + X_SLOT(j, t)) * 4;
                        i32 lane = qw[4 * j] * q[0] + qw[4 * j + 1] * q[1] + qw[4 * j + 2] * q[2]
                                   + qw[4 * j + 3] * q[3];
                        acc[t][j] = fma(dd, (f32)lane, acc[t][j]);
                    }
#if HAS_MIN
                    mins[t] += mw * sx[b * TOKENS + t];
#endif
                }
            }
            for (i64 t = 0; t < TOKENS && t0 + t < n; t++) {
#define A(k) acc[t][k]
                f32 sum = ((A(0) + A(4)) + (A(2) + A(6))) + ((A(1) + A(5)) + (A(3) + A(7)));
#undef A
#if HAS_MIN
                sum += mins[t];
#endif
                out[out_off + (t0 + t) * rows + row] = sum;
            }
        }
#endif
    }
#ifdef TOKEN_VEC
    for (i64 g = g0; g < g_end; g++)  /* each row of out gets RPI neighbours at once */
        for (i64 t = 0; t < TOKENS && g * TOKENS + t < n; t++)
            for (i64 r = 0; r < row_end - row0; r++)
                out[out_off + (g * TOKENS + t) * rows + row0 + r] = res[g - g0][t][r];
#endif
}
"""

# The vector path (HAL_VEC): a block's 32 int8 as one vector ``bytes32``, its 8 lanes
# accumulated in ``f32x8``. Three ways to get there, one kernel body:
# - the C target on an x86 CPU with AVX2: intrinsics (ggml's way: pairs of byte products,
#   then pairs of those; integers, so exact);
# - OpenCL on an x86 CPU (PoCL: its clang defines __x86_64__, __AVX2__, ...): the same
#   instructions through clang's builtins (PoCL's own vectorizer does not find them, and
#   its vload_half converts in software);
# - any other OpenCL device: OpenCL vectors (16-bit products, pair sums, then lanes).
_VECTOR = r"""
#if !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define HAL_VEC 1
#ifdef __F16C__
#define load_half(p) _cvtsh_ss((unsigned short)load_u16(p))
/* two f16 side by side (Q4_1's scale and min) in one conversion */
#define HAL_HALF_PAIR 1
static inline void load_half_pair(const u8 *p, f32 *a, f32 *b) {
    __m128 v = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(load_u16(p) | load_u16(p + 2) << 16)));
    *a = _mm_cvtss_f32(v);
    *b = _mm_cvtss_f32(_mm_movehdup_ps(v));
}
#endif
typedef __m256i bytes32;
typedef __m256 f32x8;
static inline bytes32 load32(const i8 *p) { return _mm256_loadu_si256((const __m256i *)p); }
/* 32 bytes: the low nibbles of 16 then the high nibbles. */
static inline bytes32 nibbles(const u8 *q) {
    __m128i lo = _mm_loadu_si128((const __m128i *)q);
    __m256i both = _mm256_insertf128_si256(_mm256_castsi128_si256(lo), _mm_srli_epi16(lo, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(15));
}
static inline bytes32 centered_nibbles(const u8 *q) { return _mm256_sub_epi8(nibbles(q), _mm256_set1_epi8(8)); }
/* Q5_0/Q5_1: nibbles with 16 added in byte i where bit i of the 32 bits at h is set: with
   AVX-512 the bits are a byte mask; else each byte gets its bit's byte of h, then a
   compare with its bit in that byte. Q5_0 centres by taking 16 where the bit is clear. */
#if defined(__AVX512BW__) && defined(__AVX512VL__)
static inline __mmask32 high_bits(const u8 *h) { return (__mmask32)(load_u16(h) | (load_u16(h + 2) << 16)); }
static inline bytes32 nibbles5(const u8 *q, const u8 *h) {
    bytes32 v = nibbles(q);
    return _mm256_mask_add_epi8(v, high_bits(h), v, _mm256_set1_epi8(16));
}
static inline bytes32 q5_0_bytes(const u8 *q, const u8 *h) {
    bytes32 v = nibbles(q);
    return _mm256_mask_sub_epi8(v, ~high_bits(h), v, _mm256_set1_epi8(16));
}
#else
static inline bytes32 nibbles5(const u8 *q, const u8 *h) {
    __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)(load_u16(h) | (load_u16(h + 2) << 16))),
                                         _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL,
                                                            0x0303030303030303LL));
    __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    return _mm256_or_si256(nibbles(q), _mm256_and_si256(set, _mm256_set1_epi8(16)));
}
static inline bytes32 q5_0_bytes(const u8 *q, const u8 *h) {
    return _mm256_sub_epi8(nibbles5(q, h), _mm256_set1_epi8(16));
}
#endif
/* lane j = sum of 4 products of bytes 4j..4j+3, w signed or not as SIGNED_W says. */
static inline f32x8 lanes_fma(f32 scale, bytes32 w, bytes32 x, f32x8 acc) {
#if SIGNED_W
    x = _mm256_sign_epi8(x, w);  /* (x first: it takes w's signs) */
    w = _mm256_sign_epi8(w, w);
#endif
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)  /* the 4-byte sums in one instruction */
    __m256 lanes = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), w, x));
#else
    __m256 lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
#endif
    return _mm256_fmadd_ps(_mm256_set1_ps(scale), lanes, acc);
}
#define zero8() _mm256_setzero_ps()
#define store8(v, p) _mm256_storeu_ps((p), (v))
#elif defined(__OPENCL_VERSION__) && defined(__x86_64__) && defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#define HAL_VEC 1
typedef char bytes32 __attribute__((ext_vector_type(32)));
typedef float8 f32x8;
INLINE bytes32 join16(char16 lo, char16 hi) {
    return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                                   20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
}
INLINE bytes32 load32(GLOBAL const i8 *p) { return join16(vload16(0, p), vload16(1, p)); }
INLINE bytes32 nibbles(GLOBAL const u8 *q) {
    uchar16 v = vload16(0, q);
    return join16(as_char16(v & (uchar16)15), as_char16(v >> (uchar16)4));
}
INLINE bytes32 centered_nibbles(GLOBAL const u8 *q) { return nibbles(q) - (bytes32)8; }
/* Q5_0/Q5_1: nibbles with 16 added in byte i where bit i of the 32 bits at h is set: with
   AVX-512 the bits become bytes in one instruction (vpmovm2b). Q5_0 centres by taking 16
   where the bit is clear. */
#if defined(__AVX512BW__) && defined(__AVX512VL__)
INLINE bytes32 high_bits(GLOBAL const u8 *h) {  /* -1 in byte i where bit i is set, else 0 */
    return __builtin_ia32_cvtmask2b256(load_u16(h) | (load_u16(h + 2) << 16));
}
#else
/* (each byte gets its bit's byte of h, then a compare with its bit: Gemma 3's Q5_0
   products 1.6-1.8x faster than shifting each lane by its index) */
INLINE bytes32 high_bits(GLOBAL const u8 *h) {
    char4 b = as_char4((uint)(load_u16(h) | (load_u16(h + 2) << 16)));
    bytes32 spread = __builtin_shufflevector(b, b, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                             2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    bytes32 bit = join16((char16)(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128),
                         (char16)(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128));
    return (spread & bit) == bit;
}
#endif
INLINE bytes32 nibbles5(GLOBAL const u8 *q, GLOBAL const u8 *h) { return nibbles(q) | (high_bits(h) & (bytes32)16); }
INLINE bytes32 q5_0_bytes(GLOBAL const u8 *q, GLOBAL const u8 *h) { return nibbles(q) - (~high_bits(h) & (bytes32)16); }
INLINE f32 half_bits_to_f32(u32 h) { return __builtin_ia32_vcvtph2ps((short8)((short)h, 0, 0, 0, 0, 0, 0, 0))[0]; }
#define load_half(p) half_bits_to_f32(load_u16(p))
/* two f16 side by side (Q4_1's scale and min) in one conversion */
#define HAL_HALF_PAIR 1
INLINE void load_half_pair(GLOBAL const u8 *p, f32 *a, f32 *b) {
    float4 v = __builtin_ia32_vcvtph2ps(as_short8((uint4)(load_u16(p) | (load_u16(p + 2) << 16), 0, 0, 0)));
    *a = v[0]; *b = v[1];
}
INLINE f32x8 lanes_fma(f32 scale, bytes32 w, bytes32 x, f32x8 acc) {
#if SIGNED_W
    short16 pairs = __builtin_ia32_pmaddubsw256(__builtin_ia32_psignb256(w, w), __builtin_ia32_psignb256(x, w));
#else
    short16 pairs = __builtin_ia32_pmaddubsw256(w, x);
#endif
    return fma((float8)(scale), convert_float8(__builtin_ia32_pmaddwd256(pairs, (short16)(1))), acc);
}
#define zero8() ((float8)(0.0f))
#define store8(v, p) vstore8((v), 0, (p))
#elif defined(__OPENCL_VERSION__)
#define HAL_VEC 1
typedef struct { short16 lo, hi; } bytes32;  /* elements 0-15, 16-31 */
typedef float8 f32x8;
INLINE bytes32 load32(GLOBAL const i8 *p) {
    bytes32 v = {convert_short16(vload16(0, p)), convert_short16(vload16(1, p))};
    return v;
}
INLINE bytes32 nibbles(GLOBAL const u8 *q) {
    uchar16 u = vload16(0, q);
    bytes32 v = {convert_short16(u & (uchar16)15), convert_short16(u >> (uchar16)4)};
    return v;
}
INLINE bytes32 centered_nibbles(GLOBAL const u8 *q) {
    bytes32 v = nibbles(q);
    v.lo -= (short16)8; v.hi -= (short16)8;
    return v;
}
#define BIT_SHIFTS16 (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
/* Q5_0/Q5_1: nibbles with 16 added in element i where bit i of the 32 bits at h is set. */
INLINE bytes32 nibbles5(GLOBAL const u8 *q, GLOBAL const u8 *h) {
    u32 bits = load_u16(h) | (load_u16(h + 2) << 16);
    bytes32 v = nibbles(q);
    v.lo |= convert_short16((((uint16)(bits) >> BIT_SHIFTS16) & (uint16)1) << (uint16)4);
    v.hi |= convert_short16((((uint16)(bits >> 16) >> BIT_SHIFTS16) & (uint16)1) << (uint16)4);
    return v;
}
INLINE bytes32 q5_0_bytes(GLOBAL const u8 *q, GLOBAL const u8 *h) {
    bytes32 v = nibbles5(q, h);
    v.lo -= (short16)16; v.hi -= (short16)16;
    return v;
}
/* products fit in 16 bits and so do pair sums (|w x| <= 128 * 127), as in ggml's maddubs */
INLINE f32x8 lanes_fma(f32 scale, bytes32 w, bytes32 x, f32x8 acc) {
    short16 lo = w.lo * x.lo, hi = w.hi * x.hi;
    int8 pl = convert_int8(lo.even + lo.odd), ph = convert_int8(hi.even + hi.odd);
    return fma((float8)(scale), convert_float8((int8)(pl.even + pl.odd, ph.even + ph.odd)), acc);
}
#define zero8() ((float8)(0.0f))
#define store8(v, p) vstore8((v), 0, (p))
#endif
#ifdef HAL_VEC
#ifndef HAL_HALF_PAIR
#define load_half_pair(p, a, b) (*(a) = load_half(p), *(b) = load_half((p) + 2))
#endif
DECODE_BYTES
#endif
"""

# Each weight block as 32 bytes (the vector path).
_DECODE_BYTES = {
    "Q8_0": "*dw = load_half(b); return load32((GLOBAL const i8 *)(b + 2));",
    "Q4_0": "*dw = load_half(b); return centered_nibbles(b + 2);",
    "Q4_1": "load_half_pair(b, dw, mw); return nibbles(b + 4);",
    "Q5_0": "*dw = load_half(b); return q5_0_bytes(b + 6, b + 2);",
    "Q5_1": "load_half_pair(b, dw, mw); return nibbles5(b + 8, b + 4);",
}


@functools.lru_cache(maxsize=None)
def source(ggml_type: str, tokens: bool = False) -> str:
    """The kernels for weights of ``ggml_type``; with ``tokens``, qdot_tokens as well (the
    C target's and PoCL's, for x laid out by quantize_q8_tokens)."""
    decode = f"INLINE void decode_int(GLOBAL const u8 *b, i32 *qw, f32 *dw, f32 *mw) {{{_DECODE[ggml_type]}\n}}\n"
    decode_bytes = f"INLINE bytes32 decode_bytes(GLOBAL const u8 *b, f32 *dw, f32 *mw) {{ {_DECODE_BYTES[ggml_type]} }}"
    lane = (f"INLINE void decode_lane(GLOBAL const u8 *b, i32 j, i32 *q, f32 *dw, f32 *mw) "
            f"{{{_DECODE_LANE[ggml_type]}\n}}\n")
    return (_HELPERS + _QUANTIZE + decode + lane + _VECTOR.replace("DECODE_BYTES", decode_bytes) + _PICK + _DOT
            + _DOT_LANES + (_BIASED + _TOKENS if tokens else ""))


def quantize_source(tokens: bool = False) -> str:
    """The activations' quantization (quantize_q8; with ``tokens``, quantize_q8_tokens too)."""
    return _HELPERS + _QUANTIZE + (_QUANTIZE_TOKENS if tokens else "")


def supports(ggml_type: str) -> bool:
    return ggml_type in INTEGER_DOT


class Activations:
    """x (n, cols) quantized per block of 32: int8 ``q``, f32 ``d`` and ``s`` (holding f16
    values), payloads of ``device``. Laid out as x, (n, cols) and (n, cols / 32), or with
    ``tokens`` for ``qdot_tokens``: rows in groups of ``tokens`` (quantize_q8_tokens)."""
    __slots__ = ("q", "d", "s", "shape", "tokens")

    def __init__(self, q, d, s, shape, tokens=0):
        self.q, self.d, self.s, self.shape, self.tokens = q, d, s, shape, tokens


def quantize(device, x, tokens: int = 0) -> Activations:
    """``x``: a contiguous float32 (n, cols) payload, cols a multiple of 32; ``tokens``:
    the layout (0: as x)."""
    n, cols = x.shape
    padded = -(-n // tokens) * tokens if tokens else n
    blocks = padded * cols // QK
    q = device.empty((padded, cols), np.dtype(np.int8))
    d, s = (device.empty((padded, cols // QK), np.dtype(np.float32)) for _ in range(2))
    if blocks:
        name, extra, defines = ("quantize_q8_tokens", (n, cols // QK), {"TOKENS": tokens}) if tokens else \
            ("quantize_q8", (blocks,), {})
        program(device, quantize_source(bool(tokens)), name, **defines)(
            (blocks,), flat_group(device), *(pointer(device, a) for a in (q, d, s)), *device.kernel_args(x),
            *extra)
    return Activations(q, d, s, (n, cols), tokens)


# qdot_tokens: groups of x's rows per work-item, which share one unpacking of a weight row;
# on OpenCL, work-items per work-group
_GROUPS, _ITEMS_PER_GROUP = 4, 4


def dots_into(device, config: dict, out, a: Activations, raws: list, rows: list, ggml_type: str):
    """The products of ``a`` with up to three weights (bytes ``raws[i]`` of ``rows[i]``
    rows) in one launch into ``out``, contiguous, which holds them one after another
    ((n, rows[i]) each)."""
    n, cols = a.shape
    if n == 0 or sum(rows) == 0:
        return out
    nt, group, lanes, rpi = config["NT"], config["ROWS"], config.get("LANES", 0), config.get("RPI", 1)
    kernel = "qdot_tokens" if a.tokens else "qdot_lanes" if lanes else "qdot"
    prog = program(device, source(ggml_type, bool(a.tokens)), kernel, NT=nt, ROWS=group, RPI=rpi, VEC=config.get("VEC", 0),
                   HAS_MIN=int(ggml_type in WITH_MIN), SIGNED_W=int(ggml_type not in WITH_MIN),
                   BLOCK_BYTES=TYPES[ggml_type].block_bytes,
                   HAL_THREADS_MIN_ITEMS=-(-64 // rpi),  # (C target) an item is RPI whole rows: threads pay from 64
                   **({"TOKENS": a.tokens, "GROUPS": _GROUPS, "SCALAR": config.get("SCALAR", 0)} if a.tokens else {}))
    unused = 3 - len(raws)  # no rows: the kernel never reads them
    args = device.kernel_args(out, a.q, a.d, a.s, *raws, *[raws[0]] * unused) + [*rows, *[0] * unused]
    items = sum(-(-r // rpi) for r in rows)  # (work-items of RPI rows, each weight's own)
    if a.tokens:
        groups = -(-n // (a.tokens * _GROUPS))
        if device.target == "c":
            prog((groups, items), None, *args, cols, n)
        else:  # (PoCL left to pick work-groups ran SmolLM2's 576-row launches on one thread)
            per_group = min(_ITEMS_PER_GROUP, device.info.max_work_group)
            prog((groups, -(-items // per_group) * per_group), (1, per_group), *args, cols, n)
        return out
    tiles = -(-n // nt)
    padded = -(-items // group) * group
    if lanes:
        prog((8, padded, tiles), (8, group, 1), *args, cols, n)
    else:
        prog((padded, tiles), (group, 1), *args, cols, n)
    return out


def _launches(weights) -> list:
    """The weights in launches: runs of one type, at most three to a launch."""
    runs = []
    for w in weights:
        if runs and runs[-1][0].ggml_type == w.ggml_type and len(runs[-1]) < 3:
            runs[-1].append(w)
        else:
            runs.append([w])
    return runs


def _split(device, flat, n: int, rows: list) -> list:
    """``flat`` (n * sum(rows),) as its (n, rows[i]) parts, views one after another."""
    starts = itertools.accumulate((n * r for r in rows), initial=0)
    return [device.reshape(device.view(flat, (slice(s, s + n * r),)), (n, r)) for s, r in zip(starts, rows)]


def tuning_key(ggml_type: str, n: int, rows: int, cols: int) -> tuple:
    """Up to 8 rows of x each their own key: there each row more or less changes the
    padding of every layout (5 rows are two tiles of 4, or one 8-row group)."""
    return (f"q8,{ggml_type}", (n if n <= 8 else autotune.bucket(n), autotune.bucket(rows), autotune.bucket(cols)))


@register("quant_linear_q8", on=("cpu", "buffer"))
def linear(device, x, weights) -> list:
    """x (n, cols) contiguous float32 @ w.T for each w, x quantized once to 8 bits per
    block of 32, and weights of one type multiplied in one launch."""
    n, cols = x.shape
    layouts, outs = {}, []  # x quantized once per layout the launches' configurations take
    for run in _launches(weights):
        ggml_type, rows = run[0].ggml_type, [w.shape[0] for w in run]
        config = autotune.choose(device, f"quant_linear_q8_{ggml_type}", tuning_key(ggml_type, n, sum(rows), cols))
        tokens = config.get("TOKENS", 0)
        a = layouts[tokens] = layouts.get(tokens) or quantize(device, x, tokens)
        flat = device.empty((n * sum(rows),), np.dtype(np.float32))
        dots_into(device, config, flat, a, [w.raw for w in run], rows, ggml_type)
        outs += _split(device, flat, n, rows)
    return outs


# ---------------------------------------------------------------- autotuning

def _space(device, key) -> list:
    """Tokens per work-item (NT), rows per group, and on OpenCL/CUDA whether a row's 8
    lanes are 8 work-items (LANES) or one, and on OpenCL whether a row's block is one
    vector (VEC)."""
    _, (n, _rows, _cols) = key
    tiles = (1,) if n < 2 else (1, 2) if n == 2 else (1, 4, 8)
    if device.target == "c":  # RPI: weight rows per work-item (the C target's vector path shares x);
        # TOKENS: rows of x in the lanes of a vector (qdot_tokens)
        return ([{"NT": nt, "ROWS": 1, "LANES": 0, "RPI": rpi} for nt in tiles for rpi in (1, 2)]
                + [{"NT": 1, "ROWS": 1, "LANES": 0, "TOKENS": t, "RPI": rpi} for t in (4, 8, 16) for rpi in (1, 8)
                   if n > 2])
    limit = device.info.max_work_group
    kinds = ((0, 0), (0, 1), (1, 0)) if device.backend_name == "opencl" else ((0, 0), (1, 0))
    # (OpenCL on a CPU or Oclgrind: qdot_tokens too, on x86 through clang's builtins)
    tokens = n > 2 and device.backend_name == "opencl" and device.info.kind in ("cpu", "simulator")
    return ([{"NT": nt, "ROWS": g, "LANES": lanes, "VEC": vec} for nt in tiles for lanes, vec in kinds
             for g in (1, 4, 16, 64) if g * (8 if lanes else 1) <= limit]
            + [{"NT": 1, "ROWS": 1, "LANES": 0, "TOKENS": t, "RPI": rpi} for t in (4, 8) for rpi in (1, 8) if tokens])


def _default(device, key) -> dict:
    """A CPU (the C target, PoCL): a row per work-item, its blocks as vectors (on PoCL
    6-12x faster than scalar lanes, which were 1.5x faster than a row's lanes on 8
    items), 16 rows per group, tiles of 4 rows of x (of 8 for Q5_0 from 8 rows: 1.1-1.2x
    faster on PoCL, AVX2 EPYC; Q4_0, Q4_1, Q5_1, Q8_0 gained nothing); a GPU: the 8 lanes
    of a row on 8 work-items, which read neighbouring bytes (not measured here: no GPU).
    PoCL on x86 from 5 rows: qdot_tokens, 8 rows of x to a vector (SmolLM2 on an AMD EPYC,
    Zen 3, 2 threads: decode steps of 8 and 16 sequences 1.15-1.2x and 1.3x faster, a
    64-token prefill 1.38x; 4 rows in pairs of lanes 0.9x, so not taken)."""
    name, (n, _rows, _cols) = key
    ggml_type, nt = name.split(",")[1], 1 if n <= 2 else 4
    if device.target == "c":
        return _default_c(device.info.vector_bits, n, nt, ggml_type)
    if n >= 5 and _x86_opencl(device):
        return {"NT": 1, "ROWS": 1, "LANES": 0, "TOKENS": 8, "RPI": 8}
    lanes = int(device.info.kind != "cpu")
    vec = int(not lanes and device.backend_name == "opencl")
    nt = 8 if vec and n >= 8 and ggml_type == "Q5_0" else nt
    return {"NT": nt, "ROWS": 16 if device.info.max_work_group >= 128 else 1, "LANES": lanes, "VEC": vec}


def _x86_opencl(device) -> bool:
    """Whether ``device`` is OpenCL on a CPU whose compiler takes the x86 vector paths (PoCL
    on x86: its kernels hold 8 or 16 rows of x to a vector)."""
    return device.backend_name == "opencl" and device.info.kind == "cpu" and rows_per_vector(device) >= 8


def _default_c(vector_bits: int, n: int, nt: int, ggml_type: str) -> dict:
    """The C target: with AVX-512, from 6 rows of x (bucket 8) the rows in a vector's lanes
    (qdot_tokens: 16-row groups 1.2-2x faster than tiles of 4; 8-row groups for 6-11 rows;
    slower below that, where padding is most of the work; Xeon, VNNI, one thread). With
    AVX2 only, 8-row groups from 5 rows, since each weight row is unpacked once for its
    groups (an AMD EPYC, Zen 3, one thread, SmolLM2's shapes: 8 rows 1.3-1.45x faster than
    tiles of 4, 6 rows ~1.3x, 4 rows 0.9x; a decode step of 5 sequences 17.8 ms against
    27 as two tiles of 4). There 8 weight rows per item (RPI), whose products are stored
    8 at a time: one thread, 16 rows of x, 3072 x 576 Q4_1 1.2-1.28x faster, 2048 x 640
    Q5_0 1.1x (64 rows 1.2-1.37x), 576 x 1536 Q4_1 1.03x. Else two Q4_1 rows per item (5-10% faster;
    two Q8_0 rows are 3x slower for one row of x, 10-15% faster for tiles of 4). With
    AVX2 only, 3 or 4 rows take groups of 4, two lanes of each a vector (LANE_UNIT):
    SmolLM2's decode steps of 3 and 4 sequences 1.18-1.21x faster than in tiles of 4,
    Q4_1 and Q8_0 alike (the EPYC, two threads), Q5_1 products 1.1-1.25x, where Q4_0
    (0.96-1.34x) and Q5_0 (0.82-1.02x, its fifth bits the larger part of an unpacking)
    gain nothing sure and keep tiles; 2 rows 1.3x slower that way (half of each vector
    padding), and 0.7-0.85x in groups of 2, four lanes a vector."""
    if vector_bits >= 512 and n >= 6:
        return {"NT": 1, "ROWS": 1, "LANES": 0, "TOKENS": 16 if n >= 16 else 8, "RPI": 8}
    if vector_bits >= 256 and n >= 5:  # (any weight: |w| is taken once per block)
        return {"NT": 1, "ROWS": 1, "LANES": 0, "TOKENS": 8, "RPI": 8}
    if vector_bits == 256 and n >= 3 and ggml_type in ("Q4_1", "Q5_1", "Q8_0"):
        return {"NT": 1, "ROWS": 1, "LANES": 0, "TOKENS": 4, "RPI": 8}
    nt = 2 if n == 2 else nt  # (two rows of x: tiles of 2 are 15% faster than 1 or 4)
    return {"NT": nt, "ROWS": 1, "LANES": 0, "RPI": 2 if ggml_type == "Q4_1" or nt > 1 else 1}


def _declare(ggml_type: str) -> None:
    qtype = TYPES[ggml_type]

    def run(device, config, out, x, raw):  # out (n, rows) = x @ w.T for the weight bytes raw
        a = quantize(device, x, config.get("TOKENS", 0))
        return dots_into(device, config, out, a, [raw], [out.shape[1]], ggml_type)

    def reference(x, raw):
        """The same computation on the cpu's C kernels (the tuner checks bit equality
        within float32 tolerance; tests/test_qdot.py checks them against NumPy)."""
        cpu = cpu_device()
        rows = raw.size // row_bytes(qtype, x.shape[1])
        out = np.empty((x.shape[0], rows), np.float32)
        return dots_into(cpu, {"NT": 1, "ROWS": 1, "LANES": 0}, out, quantize(cpu, x), [raw], [rows], ggml_type)

    def work(key):
        _, (n, rows, cols) = key
        return 2 * n * rows * cols, rows * row_bytes(qtype, cols) + n * (cols + 4 * rows)

    autotune.declare(autotune.Tunable(
        op=f"quant_linear_q8_{ggml_type}", version=7, space=_space, default=_default, run=run,
        reference=reference, problem=functools.partial(linear_problem, qtype), work=work,
        presets=lambda device: [tuning_key(ggml_type, n, rows, cols) for n in (1, 64)  # SmolLM2's launches
                                for rows, cols in ((960, 576), (3072, 576), (576, 1536))]))


for _name in INTEGER_DOT:
    _declare(_name)
