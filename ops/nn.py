"""The neural-net ops a LLaMA needs (hal.nn): rms_norm, rope, softmax, silu_mul,
grouped-query attention over a KV cache, and float16 storage for the cache. One
portable kernel each, on the cpu (the C target) as on every other device, every
operand float32 and contiguous (hal/nn.py makes them so).

They compute what llama.cpp's CPU path (ggml-cpu, x86 AVX2 or AVX-512 build: the
summation order of hal.summation, a define GGML_EPR = its float32 lanes, 8 or 16) computes,
rounding for rounding, so that a model gives llama.cpp's tokens (tests/ggml_reference.py
is the NumPy statement of each):
- rms_norm: squares rounded to f32 and summed in f64, ``scale = 1 / sqrt(mean + eps)``
  in f32, ``(x * scale) * weight``;
- rope ("normal" mode, GGUF llama models): pair i of position p turns by ``p *
  s^i`` with ``s = powf(theta, -2 / head_dim)`` multiplied up in f32, cos and sin from
  the host's C library (a table the cpu builds once; llama.cpp calls the same cosf/sinf),
  ``(fma(x0, c, -(x1 s)), fma(x0, s, x1 c))``;
- softmax: ggml's vectorized exp (``ggml_expf``, the build's variant), sums of
  GGML_EPR (a fixed tree) added in f64, ``e * (1 / sum)``;
- attention: float16 K/V, q and the probabilities rounded to float16, dot products in
  the order of ggml's kernels: GGML_EPR lanes (tinyBLAS, several query rows) or 4 x
  GGML_EPR lanes over steps of 4 GGML_EPR (ggml_vec_dot_f16, one query row);
- silu_mul: ``gate / (1 + ggml_expf(-gate)) * up``.
Sums that llama.cpp makes in f64 are f64 here wherever the device has it.
"""
from __future__ import annotations

import functools

import numpy as np

from hal import autotune, summation
from hal.dispatch import register

from .launch import cpu_device, flat_group, per_element, pointer, program

_WG = 256  # work-items folding one row (rms_norm, softmax) on a GPU; tuned by hal.autotune
_MASKED = -3.0e38  # a masked score: its exp is 0, and no INFINITY macro is needed
# Runs of a decode step's positions, each an item of attn_step_scores on CPU devices: the
# C target's Gemma 3 step (one kv head) at 480 positions: attention 3.5 -> 1.3 ms.
_STEP_PARTS = 4
_ROPE_TABLE_ROWS = 8192  # positions whose cos/sin come from the host's C library

_F32 = np.dtype(np.float32)

_COMMON = r"""
#if defined(__OPENCL_VERSION__) && !defined(HAL_FP64)
typedef f32 facc;  /* the sums llama.cpp makes in double, where a device has no double */
#else
typedef f64 facc;
#endif

#ifndef GGML_EPR
#error "GGML_EPR (the float32 lanes of the llama.cpp build whose sums these kernels repeat: 8 or 16) is not set"
#endif
#define GGML_STEP (4 * GGML_EPR)  /* ggml_vec_dot_f16's step: four registers */

/* ggml_v_expf: exp by 2^n * p(b) with n = round(x / ln 2) and a degree-5 polynomial,
   every step an fma or one rounding as ggml's code for the build's width has it (1-2 ulp
   of exp). AVX-512: p(b) with its 1, times 2^n (exact). AVX2: p(b) - 1 (c1 * b a product,
   not an fma), then fma(p - 1, 2^n, 2^n); beyond |n| > 126, 2^n in two factors. */
#if GGML_EPR == 16
INLINE f32 ggml_expf(f32 x) {
    f32 z = fma(x, 1.44269502f, 12582912.0f), n = z - 12582912.0f;
    f32 b = fma(-n, 1.42860677e-06f, fma(-n, 0.693145752f, x)), u = b * b;
    f32 j = fma(fma(fma(0.00824739039f, b, 0.0418997668f), u, fma(0.166683957f, b, 0.499991268f)), u,
                fma(0.999999404f, b, 1.0f));
    /* j * 2^n in one rounding, as _mm512_scalef_ps: 2^n itself where it is a normal float,
       else j * 2^(n + k) (exact) times 2^-k, k = 126 below and -127 above. Bit masks, not
       branches (a call to ldexp kept silu_mul and softmax scalar); the same bits as the
       branches and ldexp for every float (checked exhaustively). */
    f32 clamped = n < -192.0f ? -192.0f : n;
    clamped = clamped > 192.0f ? 192.0f : clamped;
    u32 low = 0u - (u32)(n < -126.0f), high = 0u - (u32)(n > 127.0f), up = 0u - (u32)(n > 0.0f),
        huge = 0u - (u32)(fabs(n) > 192.0f);
    i32 k = (i32)(low & 126u) - (i32)(high & 127u);
    f32 r = (j * f32_from_bits((u32)((i32)clamped + k + 127) << 23)) * f32_from_bits((u32)(127 - k) << 23);
    return f32_from_bits((f32_to_bits(r) & ~huge) | (huge & up & 0x7F800000u));
}
#else
INLINE f32 ggml_expf(f32 x) {
    f32 z = fma(x, 1.44269502f, 12582912.0f), n = z - 12582912.0f;
    f32 b = fma(-n, 1.42860677e-06f, fma(-n, 0.693145752f, x)), u = b * b;
    f32 j = fma(fma(fma(0.00824739039f, b, 0.0418997668f), u, fma(0.166683957f, b, 0.499991268f)), u,
                0.999999404f * b);
    /* 2^n = s2 * s1, each a normal float: s1 = 1 for |n| <= 126, else 2^127 (n > 0) or
       2^-125; fma(s2, j, s2) * s1 is then fma(j, 2^n, 2^n) where that is one rounding.
       Bit masks, not branches or selects of constants: the C target and PoCL vectorize it
       (3-5x faster); gcc if-converts those selects only with AVX-512's mask registers,
       so on an AVX2-only CPU the selects left silu_mul and softmax scalar (2.3x slower).
       The same bits as the selects for every float (checked exhaustively). */
    f32 clamped = n < -256.0f ? -256.0f : n;
    clamped = clamped > 256.0f ? 256.0f : clamped;
    u32 beyond = 0u - (u32)(fabs(n) > 126.0f), up = 0u - (u32)(n > 0.0f), huge = 0u - (u32)(fabs(n) > 192.0f);
    u32 s1 = (0x3F800000u & ~beyond) | (beyond & ((0x7F000000u & up) | (0x01000000u & ~up)));
    u32 bias = (127u & ~beyond) | (beyond & 252u & ~up);
    f32 s2 = f32_from_bits((u32)((i32)clamped + (i32)bias) << 23);
    f32 r = fma(s2, j, s2) * f32_from_bits(s1);
    return f32_from_bits((f32_to_bits(r) & ~huge) | (huge & up & 0x7F800000u));
}
#endif

/* v[0] = the sum of v[0 .. GGML_EPR - 1] as a tree, halves apart (_mm512_reduce_add_ps;
   llamafile's and the softmax's hsum of an __m256). */
#define TREE(v) for (int apart = GGML_EPR / 2; apart > 0; apart /= 2) for (int l = 0; l < apart; l++) v[l] += v[l + apart];
/* v[0] = the sum of one register as GGML_F32_VEC_REDUCE ends (ggml_vec_dot_f16): the
   tree with AVX-512; with AVX, the halves added, then two hadds: (0 + 1) + (2 + 3). */
#if GGML_EPR == 16
#define REDUCE_PAIRS(v, ADD) for (int apart = 8; apart > 0; apart /= 2) for (int l = 0; l < apart; l++) ADD(v, l, l + apart)
#else
#define REDUCE_PAIRS(v, ADD) { for (int l = 0; l < 4; l++) ADD(v, l, l + 4); ADD(v, 0, 1) ADD(v, 2, 3) ADD(v, 0, 2) }
#endif
#define ADD_LANE(v, to, from) v[to] += v[from];
#define VEC_REDUCE(v) REDUCE_PAIRS(v, ADD_LANE)

/* Fold a row with the work-group: each item folds a strided slice, then the group
   folds the partial results in local memory (WG a power of two). */
#define FOLD(expr, combine) \
    partial[lid] = expr; \
    BARRIER(); \
    for (i64 step = wg / 2; step > 0; step /= 2) { \
        if (lid < step) partial[lid] = combine(partial[lid], partial[lid + step]); \
        BARRIER(); \
    }
INLINE facc add(facc a, facc b) { return a + b; }
INLINE facc larger(facc a, facc b) { return a > b ? a : b; }

/* dst[0 .. 7] = src[0 .. 7] rounded to float16 values, as half_to_f32(f32_to_half(x))
   one by one: on an x86 CPU with F16C 8 at a time (vcvtps2ph, a NaN made f32_to_half's
   quiet NaN, vcvtph2ps: the same bits). One by one, the rounding of a decode step's query
   and probabilities cost more than their dots below 100 positions. */
#if !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && defined(__F16C__) && defined(__AVX2__)
#include <immintrin.h>
#define ROUND_HALF8(dst, src) { \
    __m128i r8_h = _mm256_cvtps_ph(_mm256_loadu_ps(src), _MM_FROUND_TO_NEAREST_INT); \
    __m128i r8_nan = _mm_cmpgt_epi16(_mm_and_si128(r8_h, _mm_set1_epi16(0x7FFF)), _mm_set1_epi16(0x7C00)); \
    r8_h = _mm_blendv_epi8(r8_h, _mm_or_si128(_mm_and_si128(r8_h, _mm_set1_epi16((short)0x8000)), \
                                              _mm_set1_epi16(0x7E00)), r8_nan); \
    _mm256_storeu_ps(dst, _mm256_cvtph_ps(r8_h)); }
#elif defined(__OPENCL_VERSION__) && defined(__x86_64__) && defined(__F16C__)
#define ROUND_HALF8(dst, src) { \
    short8 r8_h = as_short8(__builtin_ia32_vcvtps2ph256(vload8(0, src), 0)); \
    r8_h = select(r8_h, (r8_h & (short)0x8000) | (short)0x7E00, (r8_h & (short)0x7FFF) > (short)0x7C00); \
    vstore8(__builtin_ia32_vcvtph2ps256(r8_h), 0, dst); }
#else
#define ROUND_HALF8(dst, src) for (int r8 = 0; r8 < 8; r8++) (dst)[r8] = half_to_f32(f32_to_half((src)[r8]));
#endif

/* softmax of a row p of cols into out, folded by a work-group of wg items (lid this
   one's): out = e * (1 / sum(e)), e = exp(x - max); the sum over groups of GGML_EPR
   (each folded as a tree) in facc; half_out rounds to float16 values. */
INLINE void softmax_row(GLOBAL f32 *out, GLOBAL const f32 *p, i64 cols, int half_out, LOCAL_PTR facc *partial,
                        i64 lid, i64 wg) {
    /* The max in GGML_EPR lanes, so the C target vectorizes it: the same max in any order
       (a NaN is skipped unless p[0] is one, as in one running max). */
    f32 lane_max[GGML_EPR];
    for (int l = 0; l < GGML_EPR; l++) lane_max[l] = p[0];
    i64 c = lid;
    for (; c + (GGML_EPR - 1) * wg < cols; c += GGML_EPR * wg)
        for (int l = 0; l < GGML_EPR; l++) lane_max[l] = p[c + l * wg] > lane_max[l] ? p[c + l * wg] : lane_max[l];
    for (; c < cols; c += wg) lane_max[0] = p[c] > lane_max[0] ? p[c] : lane_max[0];
    f32 m = lane_max[0];
    for (int l = 1; l < GGML_EPR; l++) m = lane_max[l] > m ? lane_max[l] : m;
    FOLD((facc)m, larger)
    m = (f32)partial[0];
    BARRIER();  /* everyone has read the max before partial is reused */
    facc sum = 0;
    for (i64 g = lid; g * GGML_EPR < cols; g += wg) {  /* out = e, read back by this item below */
        f32 e[GGML_EPR];
        i64 c0 = g * GGML_EPR, lanes = cols - c0 < GGML_EPR ? cols - c0 : GGML_EPR;
        if (lanes == GGML_EPR) {  /* a whole group: no test per lane, so the C target vectorizes it */
            for (int l = 0; l < GGML_EPR; l++) out[c0 + l] = e[l] = ggml_expf(p[c0 + l] - m);
        } else {
            for (int l = 0; l < GGML_EPR; l++) e[l] = l < lanes ? ggml_expf(p[c0 + l] - m) : 0.0f;
            for (int l = 0; l < lanes; l++) out[c0 + l] = e[l];
        }
        TREE(e)
        sum += (facc)e[0];
    }
    FOLD(sum, add)
    f32 scale = (f32)((facc)1 / partial[0]);
    for (i64 g = lid; g * GGML_EPR < cols; g += wg) {
        i64 c0 = g * GGML_EPR;
        if (half_out && c0 + GGML_EPR <= cols) {  /* a whole group: rounded 8 at a time */
            f32 e[GGML_EPR];
            for (int l = 0; l < GGML_EPR; l++) e[l] = out[c0 + l] * scale;
            for (int l = 0; l < GGML_EPR; l += 8) ROUND_HALF8(out + c0 + l, e + l)
        } else
            for (i64 c = c0; c < c0 + GGML_EPR && c < cols; c++) {
                f32 e = out[c] * scale;
                out[c] = half_out ? half_to_f32(f32_to_half(e)) : e;
            }
    }
}
"""

ROW_KERNELS = _COMMON + r"""
#ifndef HALF_OUT
#define HALF_OUT 0
#endif
/* out = (p * (1 / sqrt(mean(p^2) + eps))) * w for a row p of cols, folded by a work-group
   of wg items (lid this one's; each reads only its own columns of p). */
INLINE void rms_norm_row(GLOBAL f32 *out, GLOBAL const f32 *p, GLOBAL const f32 *w, i64 cols, f32 eps,
                         LOCAL_PTR facc *partial, i64 lid, i64 wg) {
    facc acc = 0;
    for (i64 c = lid; c < cols; c += wg) {
        f32 square = p[c] * p[c];
        acc += (facc)square;
    }
    FOLD(acc, add)
    f32 mean = (f32)(partial[0] / (facc)cols);
    f32 scale = DIV_RN(1.0f, SQRT_RN(mean + eps));
    for (i64 c = lid; c < cols; c += wg) out[c] = (p[c] * scale) * w[c];
}

/* One work-group per row. */
KERNEL void rms_norm(GLOBAL f32 *out, GLOBAL const f32 *x, i64 x_off, GLOBAL const f32 *w, i64 w_off,
                     i64 cols, f32 eps) {
    LOCAL facc partial[WG];
    i64 row = GROUP_ID(0);
    rms_norm_row(out + row * cols, x + x_off + row * cols, w + w_off, cols, eps, partial, LOCAL_ID(0),
                 LOCAL_SIZE(0));
}

/* A residual connection and the norm after it: x += delta in place, then rms_norm(x). */
KERNEL void add_rms_norm(GLOBAL f32 *out, GLOBAL f32 *x, i64 x_off, GLOBAL const f32 *delta, i64 delta_off,
                         GLOBAL const f32 *w, i64 w_off, i64 cols, f32 eps) {
    LOCAL facc partial[WG];
    i64 row = GROUP_ID(0), lid = LOCAL_ID(0), wg = LOCAL_SIZE(0);
    GLOBAL f32 *p = x + x_off + row * cols;
    for (i64 c = lid; c < cols; c += wg) p[c] = p[c] + delta[delta_off + row * cols + c];
    rms_norm_row(out + row * cols, p, w + w_off, cols, eps, partial, lid, wg);
}

/* One work-group per row (see softmax_row). */
KERNEL void softmax(GLOBAL f32 *out, GLOBAL const f32 *x, i64 x_off, i64 cols) {
    LOCAL facc partial[WG];
    i64 row = GROUP_ID(0);
    softmax_row(out + row * cols, x + x_off + row * cols, cols, HALF_OUT, partial, LOCAL_ID(0), LOCAL_SIZE(0));
}
"""

SILU_MUL = _COMMON + r"""
KERNEL void silu_mul(GLOBAL f32 *out, GLOBAL const f32 *gate, i64 gate_off, GLOBAL const f32 *up, i64 up_off,
                     i64 n) {
    i64 i = GLOBAL_ID(0);
    if (i >= n) return;
    f32 g = gate[gate_off + i];
    out[i] = DIV_RN(g, 1.0f + ggml_expf(0.0f - g)) * up[up_off + i];
}
"""

_ROPE_PAIR = r"""
#ifndef NEOX
#define NEOX 0
#endif
/* Where pair g of heads of HP pairs lies: values 2i and 2i + 1 of its head ("normal"
   mode), or i and i + HP (NeoX mode: ggml's GGML_ROPE_TYPE_NEOX, Gemma, Qwen, Phi-3). */
#define PAIR_AT(g, hp) (NEOX ? ((g) / (hp)) * 2 * (hp) + (g) % (hp) : 2 * (g))
#define PAIR_STEP(hp) (NEOX ? (hp) : 1)
/* Pair i (values 2i, 2i+1) of a head at position p turned: (y0, y1). A position beyond
   the table computes its angle the same way, with the device's cos/sin. */
INLINE void rope_pair(f32 x0, f32 x1, i64 p, i64 i, GLOBAL const f32 *table, i64 table_rows, i64 head_pairs,
                      f32 scale, f32 *y0, f32 *y1) {
    f32 c, sn;
    if (p >= 0 && p < table_rows) {
        c = table[(p * head_pairs + i) * 2];
        sn = table[(p * head_pairs + i) * 2 + 1];
    } else {
        f32 angle = (f32)p;
        for (i64 k = 0; k < i; k++) angle = angle * scale;
        c = cos(angle);
        sn = sin(angle);
    }
    *y0 = fma(x0, c, -(x1 * sn));
    *y1 = fma(x0, sn, x1 * c);
}
"""

ROPE = r"""
/* table (rows, head_pairs, 2): cos and sin of p * s^i, s = theta^(-2 / dims), built on
   the cpu with the C library's powf, cosf and sinf (llama.cpp's ggml_rope_cache_init). */
KERNEL void rope_table(GLOBAL f32 *table, GLOBAL f32 *scale_out, i64 rows, i64 head_pairs, f32 theta) {
    i64 p = GLOBAL_ID(0);
    if (p >= rows) return;
    f32 scale = pow(theta, -2.0f / (f32)(2 * head_pairs)), angle = (f32)p;
    for (i64 i = 0; i < head_pairs; i++) {
        table[(p * head_pairs + i) * 2] = cos(angle);
        table[(p * head_pairs + i) * 2 + 1] = sin(angle);
        angle = angle * scale;
    }
    if (p == 0) scale_out[0] = scale;
}
""" + _ROPE_PAIR + r"""
/* One work-item per pair of a head of a row of x (seq, heads, dim). */
KERNEL void rope(GLOBAL f32 *out, GLOBAL const f32 *x, i64 x_off, GLOBAL const i64 *pos, i64 pos_off,
                 GLOBAL const f32 *table, i64 table_rows, i64 pairs, i64 heads, i64 head_pairs, f32 scale) {
    i64 g = GLOBAL_ID(0);
    if (g >= pairs) return;
    f32 y0, y1;
    i64 at = PAIR_AT(g, head_pairs), step = PAIR_STEP(head_pairs);
    rope_pair(x[x_off + at], x[x_off + at + step], pos[pos_off + g / (head_pairs * heads)], g % head_pairs,
              table, table_rows, head_pairs, scale, &y0, &y1);
    out[at] = y0;
    out[at + step] = y1;
}
"""

ATTENTION = _COMMON + r"""
#ifndef HALF
#define HALF 1
#endif
#ifndef WINDOW
#define WINDOW 0
#endif
#ifndef VALUES  /* a decode step's program, which has no attn_values launch */
#define VALUES 1
#endif
/* Whether query position p sees cache position t: causal, and with a sliding WINDOW
   (llama.cpp's LLAMA_SWA_TYPE_STANDARD) only the WINDOW latest positions. */
#define SEES(p, t) ((t) <= (p) && (WINDOW == 0 || (p) - (t) < WINDOW))
/* A cache row of DIM values as float32 into dst: float16 bits by F16C's vcvtph2ps on an
   x86 CPU (the C target's intrinsics, PoCL's clang builtin), 16 or 8 at a time (the same
   values: the conversion is exact; compilers do not turn half_to_f32's bit steps into
   it), else one by one. */
#if HALF && !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && defined(__AVX512F__) && DIM % 16 == 0
#include <immintrin.h>
#define KV_ROW(dst, src) for (int d = 0; d < DIM; d += 16) \
    _mm512_storeu_ps((dst) + d, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((src) + d))))
#elif HALF && !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && defined(__F16C__) && DIM % 8 == 0
#include <immintrin.h>
#define KV_ROW(dst, src) for (int d = 0; d < DIM; d += 8) \
    _mm256_storeu_ps((dst) + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((src) + d))))
#elif HALF && defined(__OPENCL_VERSION__) && defined(__x86_64__) && defined(__F16C__) && DIM % 8 == 0
#define KV_ROW(dst, src) for (int d = 0; d < DIM; d += 8) \
    vstore8(__builtin_ia32_vcvtph2ps256(as_short8(vload8(0, (src) + d))), 0, (dst) + d)
#else
#define KV_ROW(dst, src) for (int d = 0; d < DIM; d++) (dst)[d] = KV((src)[d])
#endif
/* A query row of DIM float32 values rounded to float16 values, KV(ROUND_KV(x)) each. */
#if HALF && DIM % 8 == 0
#define Q_ROW(dst, src) for (int d = 0; d < DIM; d += 8) ROUND_HALF8((dst) + d, (src) + d)
#else
#define Q_ROW(dst, src) for (int d = 0; d < DIM; d++) (dst)[d] = KV(ROUND_KV((src)[d]))
#endif
#if HALF  /* q, K and V hold float16 bits, the probabilities float16 values */
#define KV_T u16
#define KV(v) half_to_f32(v)
#define ROUND_KV(x) f32_to_half(x)
#else
#define KV_T f32
#define KV(v) (v)
#define ROUND_KV(x) (x)
#endif

/* lane[0] = the sum of DOT_STEPS's 4 x GGML_EPR accumulators: (0 + 2) + (1 + 3), then
   VEC_REDUCE. The C target with AVX2 spells it in intrinsics, the same additions (the
   halves added, two hadds: GGML_F32x8_REDUCE): gcc turned the array form into ~30
   scalar adds and shuffles per dot, 3x the dot's own 8 FMAs. */
#if !defined(__OPENCL_VERSION__) && !defined(__CUDACC__) && defined(__AVX2__) && GGML_EPR == 8
#include <immintrin.h>
#define DOT_LANES_SUM(acc, lane) { \
    __m256 lanes8 = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(acc[0]), _mm256_loadu_ps(acc[2])), \
                                  _mm256_add_ps(_mm256_loadu_ps(acc[1]), _mm256_loadu_ps(acc[3]))); \
    __m128 lanes4 = _mm_add_ps(_mm256_castps256_ps128(lanes8), _mm256_extractf128_ps(lanes8, 1)); \
    lanes4 = _mm_hadd_ps(lanes4, lanes4); \
    lane[0] = _mm_cvtss_f32(_mm_hadd_ps(lanes4, lanes4)); }
#else
#define DOT_LANES_SUM(acc, lane) \
    for (int l = 0; l < GGML_EPR; l++) lane[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]); \
    VEC_REDUCE(lane)
#endif

/* res = sum over k < len of A(k) * B(k) in the order of ggml_vec_dot_f16, the kernel of
   one query row: 4 x GGML_EPR lanes over steps of GGML_STEP, lanes (0 + 2) + (1 + 3),
   VEC_REDUCE, the tail of len % GGML_STEP in facc. (Several query rows go through
   tinyBLAS: GGML_EPR lanes over steps of GGML_EPR, then TREE; see attn_scores_rows.) */
#define DOT_STEPS(len, A, B, res) { \
    f32 dot_acc[4][GGML_EPR], dot_lane[GGML_EPR]; \
    i64 dot_body = (len) - (len) % GGML_STEP; \
    for (int a = 0; a < 4; a++) for (int l = 0; l < GGML_EPR; l++) dot_acc[a][l] = 0.0f; \
    for (i64 dot_k0 = 0; dot_k0 < dot_body; dot_k0 += GGML_STEP) \
        for (int a = 0; a < 4; a++) \
            for (int l = 0; l < GGML_EPR; l++) \
                dot_acc[a][l] = fma(A(dot_k0 + GGML_EPR * a + l), B(dot_k0 + GGML_EPR * a + l), dot_acc[a][l]); \
    DOT_LANES_SUM(dot_acc, dot_lane) \
    facc dot_total = (facc)dot_lane[0]; \
    for (i64 k = dot_body; k < (len); k++) dot_total += (facc)(A(k) * B(k)); \
    res = (f32)dot_total; }

/* res = DOT_STEPS(len, a[k], b[k]) for float32 rows a and b. In OpenCL each of the 4
   accumulators is one vector, since PoCL's compiler kept the array form's accumulators on
   the stack (a store and a load around every FMA: a decode step's scores 2.5x the C
   target's); the same operations lane for lane. */
#if defined(__OPENCL_VERSION__) && (GGML_EPR == 8 || GGML_EPR == 16)
#if GGML_EPR == 16
#define floatE float16
#define vloadE vload16
INLINE f32 row_reduce(float16 v) {  /* VEC_REDUCE: the tree, halves apart */
    float8 h8 = v.lo + v.hi;
    float4 h4 = h8.lo + h8.hi;
    float2 h2 = h4.lo + h4.hi;
    return h2.s0 + h2.s1;
}
#else
#define floatE float8
#define vloadE vload8
INLINE f32 row_reduce(float8 v) {  /* VEC_REDUCE: the halves added, then (0 + 1) + (2 + 3) */
    float4 h4 = v.lo + v.hi;
    return (h4.s0 + h4.s1) + (h4.s2 + h4.s3);
}
#endif
#define DOT_ROW(len, a, b, res) { \
    floatE row_acc0 = 0.0f, row_acc1 = 0.0f, row_acc2 = 0.0f, row_acc3 = 0.0f; \
    i64 row_body = (len) - (len) % GGML_STEP; \
    for (i64 k0 = 0; k0 < row_body; k0 += GGML_STEP) { \
        row_acc0 = fma(vloadE(0, (a) + k0), vloadE(0, (b) + k0), row_acc0); \
        row_acc1 = fma(vloadE(0, (a) + k0 + GGML_EPR), vloadE(0, (b) + k0 + GGML_EPR), row_acc1); \
        row_acc2 = fma(vloadE(0, (a) + k0 + 2 * GGML_EPR), vloadE(0, (b) + k0 + 2 * GGML_EPR), row_acc2); \
        row_acc3 = fma(vloadE(0, (a) + k0 + 3 * GGML_EPR), vloadE(0, (b) + k0 + 3 * GGML_EPR), row_acc3); \
    } \
    facc row_total = (facc)row_reduce((row_acc0 + row_acc2) + (row_acc1 + row_acc3)); \
    for (i64 k = row_body; k < (len); k++) row_total += (facc)((a)[k] * (b)[k]); \
    res = (f32)row_total; }
#else
#define ROW_A(k) row_a[k]
#define ROW_B(k) row_b[k]
#define DOT_ROW(len, a, b, res) { const f32 *row_a = (a), *row_b = (b); DOT_STEPS(len, ROW_A, ROW_B, res) }
#endif

/* scores (1, heads, n_kv) of one query row (position n_past): q . k * scale, masked
   where it does not see a position (a masked position's probability is 0, and adds
   nothing to the values). Head h reads kv head h / group. An item takes TILE
   consecutive positions. */
KERNEL void attn_scores(GLOBAL f32 *scores, GLOBAL const KV_T *q, i64 q_off, GLOBAL const KV_T *k, i64 k_off,
                        i64 heads, i64 group, i64 dim, i64 n_kv, i64 n_past, f32 scale) {
    i64 g = GLOBAL_ID(0), tiles = (n_kv + TILE - 1) / TILE;
    if (g >= heads * tiles) return;
    i64 t0 = g % tiles * TILE, h = g / tiles;
    GLOBAL const KV_T *qr = q + q_off + h * dim;
    for (int p = 0; p < TILE && t0 + p < n_kv; p++) {
        GLOBAL const KV_T *kr = k + k_off + ((t0 + p) * (heads / group) + h / group) * dim;
        f32 dot;
#define Q_AT(d) KV(qr[d])
#define K_AT(d) KV(kr[d])
        DOT_STEPS(dim, Q_AT, K_AT, dot)
        scores[h * n_kv + t0 + p] = SEES(n_past, t0 + p) ? dot * scale : MASKED;
    }
}

/* kt (kv_heads, dim, n_pad) float32 = k (n_kv, kv_heads, dim) transposed, positions
   n_kv .. n_pad - 1 zeros: attn_scores_rows reads positions side by side. */
KERNEL void attn_k_transpose(GLOBAL f32 *kt, GLOBAL const KV_T *k, i64 k_off, i64 kv_heads, i64 dim, i64 n_kv,
                             i64 n_pad) {
    i64 g = GLOBAL_ID(0);
    if (g >= kv_heads * dim * n_pad) return;
    i64 t = g % n_pad, hd = g / n_pad;
    kt[g] = t < n_kv ? KV(k[k_off + t * kv_heads * dim + hd]) : 0.0f;
}

/* vf (n_kv, kv_heads, dim) float32 = the first n_kv rows of v, once per attention (the
   values product reads each one seq * group times). */
KERNEL void attn_v_float(GLOBAL f32 *vf, GLOBAL const KV_T *v, i64 v_off, i64 n) {
    i64 g = GLOBAL_ID(0);
    if (g < n) vf[g] = KV(v[v_off + g]);
}

/* The products of several query rows, as llama.cpp's tinyBLAS sums them: GGML_EPR lanes
   over steps of GGML_EPR, then TREE. An item makes VALUES results side by side, each
   kept lane by lane (lane[l][j]): the same roundings, and a CPU vectorizes across the
   results, trees included. LANE_TERM(k, lane) adds term k of each result j to lane[j]. */
#define LANES_FOLD(len, LANE_TERM, res) { \
    f32 lane[GGML_EPR][VALUES]; \
    for (int l = 0; l < GGML_EPR; l++) for (int j = 0; j < VALUES; j++) lane[l][j] = 0.0f; \
    for (i64 k0 = 0; k0 < (len); k0 += GGML_EPR) \
        for (int l = 0; l < GGML_EPR && k0 + l < (len); l++) LANE_TERM(k0 + l, lane[l]) \
    for (int apart = GGML_EPR / 2; apart > 0; apart /= 2) \
        for (int l = 0; l < apart; l++) for (int j = 0; j < VALUES; j++) lane[l][j] += lane[l + apart][j]; \
    for (int j = 0; j < VALUES; j++) res[j] = lane[0][j]; }

/* Query row r of seq in an order that pairs short rows with long ones (0, seq - 1, 1,
   seq - 2, ...): a causal row's work grows with it, and a CPU's threads take runs of items. */
#define BALANCED_ROW(r, seq) ((r) % 2 ? (seq) - 1 - (r) / 2 : (r) / 2)

/* scores (seq, heads, n_kv) of query rows at positions n_past, n_past + 1, ...: as
   attn_scores, an item VALUES consecutive positions of one row and head. */
KERNEL void attn_scores_rows(GLOBAL f32 *scores, GLOBAL const KV_T *q, i64 q_off, GLOBAL const f32 *kt,
                             i64 seq, i64 heads, i64 group, i64 dim, i64 n_kv, i64 n_pad, i64 n_past, f32 scale) {
    i64 g = GLOBAL_ID(0), blocks = n_pad / VALUES;
    if (g >= seq * heads * blocks) return;
    i64 t0 = g % blocks * VALUES, h = (g / blocks) % heads, i = BALANCED_ROW(g / (blocks * heads), seq);
    GLOBAL const KV_T *qr = q + q_off + (i * heads + h) * dim;
    GLOBAL const f32 *kh = kt + (h / group) * dim * n_pad + t0;  /* value d of position t0 + j: kh[d * n_pad + j] */
    f32 dot[VALUES];
    if (t0 <= n_past + i) {
#define SCORE_TERM(d, lane) { f32 qd = KV(qr[d]); GLOBAL const f32 *kd = kh + (d) * n_pad; \
        for (int j = 0; j < VALUES; j++) lane[j] = fma(qd, kd[j], lane[j]); }
        LANES_FOLD(dim, SCORE_TERM, dot)
    }
    for (int j = 0; j < VALUES && t0 + j < n_kv; j++)
        scores[(i * heads + h) * n_kv + t0 + j] = SEES(n_past + i, t0 + j) ? dot[j] * scale : MASKED;
}

/* out (seq, heads, dim) = probabilities (seq, heads, n_kv) @ v, an item VALUES values of
   one query row and head: several rows in LANES_FOLD's order; one row over n_kv rounded
   up to GGML_STEP in DOT_STEPS's (llama.cpp pads its cache view; the padding adds zeros). */
KERNEL void attn_values(GLOBAL f32 *out, GLOBAL const f32 *p, GLOBAL const f32 *vf,
                        i64 seq, i64 heads, i64 group, i64 dim, i64 n_kv, i64 n_past) {
    i64 g = GLOBAL_ID(0), blocks = dim / VALUES;
    if (g >= seq * heads * blocks) return;
    i64 d0 = g % blocks * VALUES, h = (g / blocks) % heads, i = BALANCED_ROW(g / (blocks * heads), seq);
    i64 visible = n_past + i + 1 < n_kv ? n_past + i + 1 : n_kv, stride = heads / group * dim;
    GLOBAL const f32 *pr = p + (i * heads + h) * n_kv;
    GLOBAL const f32 *vr = vf + (h / group) * dim + d0;  /* position t's values at vr + t * stride */
    GLOBAL f32 *o = out + (i * heads + h) * dim + d0;
    if (seq > 1) {
#define VALUE_TERM(t, lane) { f32 pt = pr[t]; GLOBAL const f32 *vt = vr + (t) * stride; \
        for (int j = 0; j < VALUES; j++) lane[j] = fma(pt, vt[j], lane[j]); }
        LANES_FOLD(visible, VALUE_TERM, o)
    } else {
        for (int j = 0; j < VALUES; j++) {
#define P_PAD(t) ((t) < visible ? pr[t] : 0.0f)
#define V_PAD(t) ((t) < visible ? vr[(t) * stride + j] : 0.0f)
            DOT_STEPS((visible + GGML_STEP - 1) / GGML_STEP * GGML_STEP, P_PAD, V_PAD, o[j])
        }
    }
}
"""

# A decode step's attention and cache writes, for captured steps (hal.llama): the query
# positions, the cache rows to write and each sequence's block table are read on the
# device (pos, dest, blocks), so that the launches, their grids and arguments are the same
# at every position and for every set of sequences. DIM is the head size. The caches are
# pools of n_blocks blocks of block_size rows (kv_heads, DIM), one after another; a
# sequence's block table (a row of `width` block numbers) names the block of each run of
# block_size positions (vLLM's paged KV cache). One cache is a pool of one block.
ATTENTION_STEP = ATTENTION + _ROPE_PAIR + r"""
/* A block's q, k, v (rows, heads or kv_heads, DIM) after their projections: q turned by
   rope into q_out; k turned and v as they are stored as float16 into row dest[s] of the
   pools (skipped outside them: the caller checks, the kernel never writes out of
   bounds). One launch for rope q, rope k and both cache writes; the same arithmetic. */
KERNEL void rope_store(GLOBAL f32 *q_out, GLOBAL const f32 *q, i64 q_off, GLOBAL const f32 *k, i64 k_off,
                       GLOBAL const f32 *v, i64 v_off, GLOBAL u16 *k_cache, GLOBAL u16 *v_cache,
                       GLOBAL const i64 *pos, i64 pos_off, GLOBAL const i64 *dest, i64 dest_off,
                       GLOBAL const f32 *table, i64 table_rows, f32 scale,
                       i64 seq, i64 heads, i64 kv_heads, i64 cache_rows) {
    f32 y0, y1;
#if ROPE_ROWS  /* (the C target) an item per head row, its pairs in a loop: the index
                  arithmetic (five 64-bit divisions a pair) once a row */
    i64 r = GLOBAL_ID(0), step = PAIR_STEP(DIM / 2);
    if (r < seq * heads) {
        i64 p = pos[pos_off + r / heads];
        for (i64 i = 0; i < DIM / 2; i++) {
            i64 at = r * DIM + (NEOX ? i : 2 * i);
            rope_pair(q[q_off + at], q[q_off + at + step], p, i, table, table_rows, DIM / 2, scale, &y0, &y1);
            q_out[at] = y0;
            q_out[at + step] = y1;
        }
        return;
    }
    r -= seq * heads;
    if (r >= seq * kv_heads) return;
    i64 s = r / kv_heads, dest_row = dest[dest_off + s], p = pos[pos_off + s];
    if (dest_row < 0 || dest_row >= cache_rows) return;
    for (i64 i = 0; i < DIM / 2; i++) {
        i64 e = r * DIM + (NEOX ? i : 2 * i), at = dest_row * kv_heads * DIM + e - s * kv_heads * DIM;
        rope_pair(k[k_off + e], k[k_off + e + step], p, i, table, table_rows, DIM / 2, scale, &y0, &y1);
        k_cache[at] = f32_to_half(y0);
        k_cache[at + step] = f32_to_half(y1);
        v_cache[at] = f32_to_half(v[v_off + e]);
        v_cache[at + step] = f32_to_half(v[v_off + e + step]);
    }
#else
    i64 g = GLOBAL_ID(0), q_pairs = seq * heads * (DIM / 2);
    if (g < q_pairs) {
        i64 at = PAIR_AT(g, DIM / 2);
        rope_pair(q[q_off + at], q[q_off + at + PAIR_STEP(DIM / 2)], pos[pos_off + g / (heads * (DIM / 2))],
                  g % (DIM / 2), table, table_rows, DIM / 2, scale, &y0, &y1);
        q_out[at] = y0;
        q_out[at + PAIR_STEP(DIM / 2)] = y1;
        return;
    }
    g -= q_pairs;
    if (g >= seq * kv_heads * (DIM / 2)) return;
    i64 row = kv_heads * DIM, s = g / (kv_heads * (DIM / 2)), r = dest[dest_off + s];
    if (r < 0 || r >= cache_rows) return;
    i64 e = PAIR_AT(g, DIM / 2), step = PAIR_STEP(DIM / 2);
    rope_pair(k[k_off + e], k[k_off + e + step], pos[pos_off + s], g % (DIM / 2), table, table_rows, DIM / 2,
              scale, &y0, &y1);
    i64 at = r * row + e - s * row;  /* pair g's place in the cache row */
    k_cache[at] = f32_to_half(y0);
    k_cache[at + step] = f32_to_half(y1);
    v_cache[at] = f32_to_half(v[v_off + e]);
    v_cache[at + step] = f32_to_half(v[v_off + e + step]);
#endif
}

/* Sequence s's positions to attend: pos[s] + 1, held to its block table; none where a
   block it needs is outside the pools. */
INLINE i64 step_length(GLOBAL const i64 *pos, i64 pos_off, GLOBAL const i64 *table, i64 s, i64 width,
                       i64 block_size, i64 n_blocks) {
    i64 n = pos[pos_off + s] + 1;
    n = n < 0 ? 0 : n > width * block_size ? width * block_size : n;
    for (i64 b = 0; b * block_size < n; b++)
        if (table[b] < 0 || table[b] >= n_blocks) return 0;
    return n;
}
#define STEP_TABLE(s) (blocks + blocks_off + (s) * width)  /* sequence s's block table */
#define STEP_LENGTH(s) step_length(pos, pos_off, STEP_TABLE(s), s, width, block_size, n_blocks)
/* The cache rows of positions t0, t0 + by, ... of a block table, without a division per
   position: ROW_AT is position t's row, ROW_NEXT moves to t + by. */
#define ROW_WALK(table, t0) GLOBAL const i64 *walk_table = (table); \
    i64 walk_block = (t0) / block_size, walk_in = (t0) % block_size;
#define ROW_AT (walk_table[walk_block] * block_size + walk_in)
#define ROW_NEXT(by) { walk_in += (by); while (walk_in >= block_size) { walk_in -= block_size; walk_block++; } }
#define STEP_CAPACITY (width * block_size)  /* a scores row: the most positions of a sequence */

/* scores (seqs, heads, STEP_CAPACITY): each sequence's query (heads, DIM) at position
   pos[s] against the rows of its positions 0 .. pos[s], as attn_scores computes them for
   one row; item (s, h, lane) takes positions lane, lane + STEP_LANES, ... With BY_HEAD
   (CPU devices) item (part, s, kv head) takes part's run of STEP_PARTS runs of the
   positions for the GROUP heads that read that kv head, each K row converted from
   float16 once for all of them (the conversion costs as much as a dot; the runs spread
   a model of one kv head over the cores). */
#define STEP_LANES (BY_HEAD ? 1 : 64)
KERNEL void attn_step_scores(GLOBAL f32 *scores, GLOBAL const f32 *q, i64 q_off, GLOBAL const KV_T *k,
                             GLOBAL const i64 *pos, i64 pos_off, GLOBAL const i64 *blocks, i64 blocks_off, i64 seqs,
                             i64 heads, i64 group, i64 width, i64 block_size, i64 n_blocks, f32 scale) {
    i64 g = GLOBAL_ID(0);
#if BY_HEAD
    i64 kv_heads = heads / GROUP, part = g / (seqs * kv_heads), s = g % (seqs * kv_heads) / kv_heads,
        kh = g % kv_heads;
    if (part >= STEP_PARTS) return;
    i64 n_kv = STEP_LENGTH(s), h0 = s * heads + kh * GROUP;  /* the first head's row (s, h) */
    i64 run = (n_kv + STEP_PARTS - 1) / STEP_PARTS, t0 = part * run, t1 = t0 + run < n_kv ? t0 + run : n_kv;
    if (t0 >= t1) return;
    f32 qg[GROUP][DIM], kf[DIM];
    for (int j = 0; j < GROUP; j++) Q_ROW(qg[j], q + q_off + (h0 + j) * DIM);
    ROW_WALK(STEP_TABLE(s), t0)
    for (i64 t = t0; t < t1; t++) {
        GLOBAL const KV_T *kr = k + (ROW_AT * kv_heads + kh) * DIM;
        ROW_NEXT(1)
        KV_ROW(kf, kr);
        for (int j = 0; j < GROUP; j++) {
            f32 dot;
            DOT_ROW(DIM, qg[j], kf, dot)
            scores[(h0 + j) * STEP_CAPACITY + t] = SEES(n_kv - 1, t) ? dot * scale : MASKED;
        }
    }
#else
    if (g >= seqs * heads * STEP_LANES) return;
    i64 sh = g / STEP_LANES, s = sh / heads, h = sh % heads, n_kv = STEP_LENGTH(s);
    if (g % STEP_LANES >= n_kv) return;
    f32 qh[DIM];
    for (int d = 0; d < DIM; d++) qh[d] = KV(ROUND_KV(q[q_off + sh * DIM + d]));
    ROW_WALK(STEP_TABLE(s), g % STEP_LANES)
    for (i64 t = g % STEP_LANES; t < n_kv; t += STEP_LANES) {
        GLOBAL const KV_T *kr = k + (ROW_AT * (heads / group) + h / group) * DIM;
        ROW_NEXT(STEP_LANES)
#define STEP_Q(d) qh[d]
#define STEP_K(d) KV(kr[d])
        f32 dot;
        DOT_STEPS(DIM, STEP_Q, STEP_K, dot)
        scores[sh * STEP_CAPACITY + t] = SEES(n_kv - 1, t) ? dot * scale : MASKED;
    }
#endif
}

/* Each head's scores row of length pos[s] + 1, in place: softmax_row in one work-item. */
KERNEL void attn_step_softmax(GLOBAL f32 *scores, GLOBAL const i64 *pos, i64 pos_off, GLOBAL const i64 *blocks,
                              i64 blocks_off, i64 seqs, i64 heads, i64 width, i64 block_size, i64 n_blocks) {
    LOCAL facc partial[1];
    i64 sh = GLOBAL_ID(0);
    if (sh < seqs * heads)
        softmax_row(scores + sh * STEP_CAPACITY, scores + sh * STEP_CAPACITY, STEP_LENGTH(sh / heads), HALF,
                    partial, 0, 1);
}

/* out (seqs, heads, DIM) = probabilities @ v over the rows of positions 0 .. pos[s], as
   attn_values computes one row (DOT_STEPS over positions padded to GGML_STEP), reading V
   in its cache layout. Item (s, h, d), or with BY_HEAD (CPU devices) item (s, h)
   computing every d, after the softmax of its row (no launch of attn_step_softmax then):
   the d loop innermost over a row of V is what a CPU compiler vectorizes (a private
   array of 4 x GGML_EPR x DIM accumulators: too many registers for a GPU). */
KERNEL void attn_step_values(GLOBAL f32 *out, GLOBAL f32 *p, GLOBAL const KV_T *v, GLOBAL const i64 *pos,
                             i64 pos_off, GLOBAL const i64 *blocks, i64 blocks_off, i64 seqs, i64 heads, i64 group,
                             i64 width, i64 block_size, i64 n_blocks) {
    i64 g = GLOBAL_ID(0);
    i64 sh = BY_HEAD ? g : g / DIM, s = sh / heads, h = sh % heads, row = heads / group * DIM;
    if (sh >= seqs * heads) return;
    i64 visible = STEP_LENGTH(s);
    GLOBAL const i64 *table = STEP_TABLE(s);
    GLOBAL f32 *pr = p + sh * STEP_CAPACITY;
#if BY_HEAD
    LOCAL facc partial[1];
    softmax_row(pr, pr, visible, HALF, partial, 0, 1);
    f32 acc[4][GGML_EPR][DIM];
    for (int a = 0; a < 4; a++) for (int l = 0; l < GGML_EPR; l++) for (int d = 0; d < DIM; d++) acc[a][l][d] = 0.0f;
    ROW_WALK(table, 0)
    for (i64 t = 0; t < visible; t++) {  /* padding adds fma(0, 0, acc) = acc: skipped */
        GLOBAL const KV_T *vr = v + ROW_AT * row + (h / group) * DIM;
        ROW_NEXT(1)
        f32 pt = pr[t];
        f32 *lane = acc[(t % GGML_STEP) / GGML_EPR][t % GGML_EPR];
        f32 vf[DIM];
        KV_ROW(vf, vr);
        for (int d = 0; d < DIM; d++) lane[d] = fma(pt, vf[d], lane[d]);
    }
    /* the reductions of the DIM dots side by side (d innermost: vector operations) */
    for (int l = 0; l < GGML_EPR; l++)
        for (int d = 0; d < DIM; d++) acc[0][l][d] = (acc[0][l][d] + acc[2][l][d]) + (acc[1][l][d] + acc[3][l][d]);
#define ADD_LANE_ROW(v, to, from) for (int d = 0; d < DIM; d++) v[to][d] += v[from][d];
    REDUCE_PAIRS(acc[0], ADD_LANE_ROW)
    for (int d = 0; d < DIM; d++) out[sh * DIM + d] = acc[0][0][d];
#else
    GLOBAL const KV_T *vh = v + (h / group) * DIM + g % DIM;
#define STEP_P(t) ((t) < visible ? pr[t] : 0.0f)
#define STEP_V(t) ((t) < visible ? KV(vh[(table[(t) / block_size] * block_size + (t) % block_size) * row]) : 0.0f)
    f32 acc;
    DOT_STEPS((visible + GGML_STEP - 1) / GGML_STEP * GGML_STEP, STEP_P, STEP_V, acc)
    out[g] = acc;
#endif
}
"""


def _rows(x) -> tuple:
    cols = x.shape[-1]
    return x.size // cols, cols


def _row_launch(device, config, name, rows, *args, **defines):
    """(C target: an item is a whole row, so threads pay from 16 rows, not from the
    default 4,096 items: a prefill's 576 softmax rows of 64 ran on one thread.)"""
    wg = config["WG"]
    program(device, ROW_KERNELS, name, WG=wg, GGML_EPR=summation.lanes(), HAL_THREADS_MIN_ITEMS=16,
            **defines)((rows * wg,), (wg,), *args)


def rms_norm_into(device, config, out, x, weight, eps=1e-5):
    rows, cols = _rows(x)
    _row_launch(device, config, "rms_norm", rows, pointer(device, out), *device.kernel_args(x, weight), cols,
                np.float32(eps))


def softmax_into(device, config, out, x, half_out=False):
    """``half_out``: round the probabilities to float16 values (attention's f16 cache)."""
    rows, cols = _rows(x)
    _row_launch(device, config, "softmax", rows, pointer(device, out), *device.kernel_args(x), cols,
                HALF_OUT=int(half_out))


@register("nn_rms_norm", on=("cpu", "buffer"))
def rms_norm(device, x, weight, eps):
    out = device.empty(x.shape, _F32)
    rms_norm_into(device, autotune.choose(device, "nn_rms_norm", _row_key(*_rows(x))), out, x, weight, eps)
    return out


@register("nn_add_rms_norm", on=("cpu", "buffer"))
def add_rms_norm(device, x, delta, weight, eps):
    """x += delta in place (a residual connection; x's rows contiguous), then rms_norm(x):
    one launch for what llama's blocks do twice each."""
    rows, cols = _rows(x)
    out = device.empty(x.shape, _F32)
    _row_launch(device, autotune.choose(device, "nn_rms_norm", _row_key(rows, cols)), "add_rms_norm", rows,
                pointer(device, out), *device.kernel_args(x, delta, weight), cols, np.float32(eps))
    return out


@register("nn_softmax", on=("cpu", "buffer"))
def softmax(device, x, half_out=False):
    """Over the last axis (at least one element)."""
    out = device.empty(x.shape, _F32)
    softmax_into(device, autotune.choose(device, "nn_softmax", _row_key(*_rows(x))), out, x, half_out)
    return out


# ---------------------------------------------------------------- autotuning the row folds

def _row_key(rows: int, cols: int) -> tuple:
    return ("float32", (autotune.bucket(rows), autotune.bucket(cols)))


def _row_space(device, key) -> list:
    return [{"WG": wg} for wg in (1, 16, 64, 256) if wg <= device.info.max_work_group]


def _has_groups(device) -> bool:
    """Work-groups to choose among (the C target has none: a row is one work-item)."""
    return device.info.max_work_group > 1


def _row_default(device, key) -> dict:
    """A CPU device (PoCL, the C target) folds a row fastest in one work-item (measured
    up to 49152 columns); a GPU with a work-group."""
    if device.info.kind == "cpu":
        return {"WG": 1}
    return {"WG": 1 << (min(_WG, device.info.max_work_group).bit_length() - 1)}


def _row_problem(with_weight: bool):
    def problem(key, ragged, rng):
        _, (rows, cols) = key
        rows, cols = (rows + 1, cols + 3) if ragged else (rows, cols)
        x = rng.standard_normal((rows, cols)).astype(np.float32)
        return (x, rng.standard_normal(cols).astype(np.float32)) if with_weight else (x,)
    return problem


def _row_work(key) -> tuple:
    _, (rows, cols) = key
    return 5 * rows * cols, 8 * rows * cols


def _rms_norm_reference(x, w):
    x64 = x.astype(np.float64)
    return (x64 / np.sqrt(np.mean(x64 * x64, axis=-1, keepdims=True) + 1e-5) * w).astype(np.float32)


def _softmax_reference(x):
    e = np.exp(x.astype(np.float64) - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


_PRESETS = [_row_key(rows, cols) for rows in (1, 64) for cols in (576, 2048)]  # (the cpu folds in one item)
autotune.declare(autotune.Tunable(
    op="nn_rms_norm", version=2, space=_row_space, default=_row_default, run=rms_norm_into,
    reference=_rms_norm_reference, problem=_row_problem(True), work=_row_work,
    presets=lambda device: _PRESETS if _has_groups(device) else []))
autotune.declare(autotune.Tunable(
    op="nn_softmax", version=2, space=_row_space, default=_row_default, run=softmax_into,
    reference=_softmax_reference, problem=_row_problem(False), work=_row_work,
    presets=lambda device: _PRESETS + [_row_key(1, 49152)] if _has_groups(device) else []))


# ---------------------------------------------------------------- rope

@functools.cache  # (devices are equal by name)
def rope_table(device, theta: float, head_dim: int):
    """cos/sin of the first positions for (theta, head_dim), built once on the cpu (with
    the C library's cosf and sinf, as llama.cpp) and kept on ``device``: (table payload,
    its rows, scale)."""
    rows, pairs = _ROPE_TABLE_ROWS, head_dim // 2
    table, scale = np.empty((rows, pairs, 2), np.float32), np.empty(1, np.float32)
    program(cpu_device(), ROPE, "rope_table")((rows,), None, table, scale, rows, pairs, np.float32(theta))
    return device.from_host(table), rows, scale[0]


@register("nn_rope", on=("cpu", "buffer"))
def rope(device, x, positions, theta, neox=False):
    seq, heads, dim = x.shape
    out = device.empty(x.shape, _F32)
    pairs = seq * heads * (dim // 2)
    if pairs:
        table, rows, scale = rope_table(device, theta, dim)
        program(device, ROPE, "rope", NEOX=int(neox))((pairs,), flat_group(device), pointer(device, out),
                                      *device.kernel_args(x, positions), pointer(device, table), rows, pairs,
                                      heads, dim // 2, scale)
    return out


# ---------------------------------------------------------------- silu_mul, float16, attention

@register("nn_silu_mul", on=("cpu", "buffer"))
def silu_mul(device, gate, up):
    kernel = program(device, SILU_MUL, "silu_mul", GGML_EPR=summation.lanes())
    return per_element(device, kernel, gate.shape, *device.kernel_args(gate, up))


TO_HALF = r"""
KERNEL void to_half(GLOBAL u16 *out, GLOBAL const f32 *x, i64 x_off, i64 n) {
    i64 i = GLOBAL_ID(0);
    if (i < n) out[i] = (u16)f32_to_half(x[x_off + i]);
}
"""


@register("nn_to_half", on=("cpu", "buffer"))
def to_half(device, x):
    """float32 to float16 bits (uint16), rounded to nearest even: on the cpu too (NumPy's
    astype took 3.5 ns an element, 4 ms of Gemma 3's 64-token prefill; the kernel 0.8)."""
    kernel = program(device, TO_HALF, "to_half")
    return per_element(device, kernel, x.shape, *device.kernel_args(x), dtype=np.uint16)


@register("nn_attention", on=("cpu", "buffer"))
def attention(device, q, k_cache, v_cache, n_past, scale, window=0):
    """k_cache, v_cache: float32, or uint16 holding float16 bits; ``window``: a sliding
    window of that many positions (0: none)."""
    seq, heads, dim = q.shape
    n_kv, group = n_past + seq, heads // k_cache.shape[1]
    half = k_cache.dtype == np.uint16
    if half:
        q = device.impl("nn_to_half")(device, q)  # once, not once per cache position
    # Per work-item: TILE cache positions of attn_scores (one query row), VALUES results of
    # attn_scores_rows and attn_values; on a CPU 4 and 16 (a float32 vector register with
    # AVX-512: several query rows' products 2-6x faster on the cpu than one result an item,
    # whose lanes end in a tree each), elsewhere 1 and 1, many items.
    cpu = device.info.kind == "cpu"
    tile, values = (4 if cpu else 1), (16 if cpu and dim % 16 == 0 else 1)
    defines = {"MASKED": f"{_MASKED}f", "HALF": int(half), "GGML_EPR": summation.lanes(), "TILE": tile,
               "VALUES": values, "WINDOW": int(window), "HAL_THREADS_MIN_ITEMS": 64}  # (C target) heavy items
    light = {**defines, "HAL_THREADS_MIN_ITEMS": 1 << 16}  # (the conversions: threads pay from 64k items)
    scores = device.empty((seq, heads, n_kv), _F32)
    if seq == 1:
        program(device, ATTENTION, "attn_scores", **defines)(
            (heads * -(-n_kv // tile),), flat_group(device), pointer(device, scores),
            *device.kernel_args(q, k_cache), heads, group, dim, n_kv, n_past, np.float32(scale))
    else:
        n_pad = -(-n_kv // values) * values
        kt = device.empty((k_cache.shape[1], dim, n_pad), _F32)
        program(device, ATTENTION, "attn_k_transpose", **light)(
            (kt.size,), flat_group(device), pointer(device, kt), *device.kernel_args(k_cache), k_cache.shape[1], dim,
            n_kv, n_pad)
        program(device, ATTENTION, "attn_scores_rows", **defines)(
            (seq * heads * n_pad // values,), flat_group(device), pointer(device, scores),
            *device.kernel_args(q), pointer(device, kt), seq, heads, group, dim, n_kv, n_pad, n_past,
            np.float32(scale))
    probs = softmax(device, scores, half_out=half)
    vf = device.empty((n_kv, *v_cache.shape[1:]), _F32)
    program(device, ATTENTION, "attn_v_float", **light)(
        (vf.size,), flat_group(device), pointer(device, vf), *device.kernel_args(v_cache), vf.size)
    out = device.empty(q.shape, _F32)
    program(device, ATTENTION, "attn_values", **defines)(
        (out.size // values,), flat_group(device), pointer(device, out), pointer(device, probs), pointer(device, vf),
        seq, heads, group, dim, n_kv, n_past)
    return out


# ---------------------------------------------------------------- a decode step (hal.llama)
# Every launch below has the same arguments and grid at every position, which a captured
# step (Device.capture) needs: positions are read on the device from ``positions``.

def _step_defines(device, dim: int, window: int = 0, neox: bool = False, group: int = 1) -> dict:
    # (C target) few work-items, each a loop over positions: worth threads from the first.
    # BY_HEAD: on CPU devices (C target, PoCL) attn_step_scores one kv head's GROUP heads
    # over a run of the positions per work-item, attn_step_values one head.
    return {"DIM": dim, "MASKED": f"{_MASKED}f", "HALF": 1, "BY_HEAD": int(device.info.kind == "cpu"),
            "HAL_THREADS_MIN_ITEMS": 1, "GGML_EPR": summation.lanes(), "TILE": 1, "WINDOW": int(window),
            "NEOX": int(neox), "GROUP": group, "STEP_PARTS": _STEP_PARTS}


def _blocks(cache) -> tuple:
    """(n_blocks, block_size, kv_heads) of a paged pool (n_blocks, block_size, kv_heads,
    dim), or of one cache (capacity, kv_heads, dim) as a pool of one block."""
    return (1, *cache.shape[:2]) if len(cache.shape) == 3 else cache.shape[:3]


@register("nn_rope_store", on=("cpu", "buffer"))
def rope_store(device, q, k, v, k_cache, v_cache, positions, rows, theta, neox=False):
    """rope(q) (seq, heads, dim), returned; rope(k) and v (seq, kv_heads, dim) stored as
    float16 bits into the uint16 caches at row rows[s] of their rows (kv_heads, dim) one
    after another, turned for position positions[s]."""
    seq, heads, dim = q.shape
    n_blocks, block_size, kv_heads = _blocks(k_cache)
    q_out = device.empty(q.shape, _F32)
    if seq:
        table, table_rows, scale = rope_table(device, theta, dim)
        by_row = device.target == "c"
        defines = _step_defines(device, dim, neox=neox)
        program(device, ATTENTION_STEP, "rope_store", ROPE_ROWS=int(by_row), **defines)(
            (seq * (heads + kv_heads) * (1 if by_row else dim // 2),), flat_group(device), pointer(device, q_out),
            *device.kernel_args(q, k, v), *(pointer(device, c) for c in (k_cache, v_cache)),
            *device.kernel_args(positions, rows), pointer(device, table), table_rows, scale, seq, heads, kv_heads,
            n_blocks * block_size)
    return q_out


@register("nn_attention_step", on=("cpu", "buffer"))
def attention_step(device, q, k_cache, v_cache, positions, blocks, scale, window=0, scores=None):
    """``attention`` for the query row q[s] (seqs, heads, dim) of each sequence s at
    position positions[s] over the float16 pools (n_blocks, block_size, kv_heads, dim)
    through its block table blocks[s] (seqs, width), all read on the device: the same bits
    as one row at a time over its own cache. ``scores``: float32 (seqs, heads, width *
    block_size) to overwrite, or None (a new one)."""
    seqs, heads, dim = q.shape
    n_blocks, block_size, kv_heads = _blocks(k_cache)
    width = blocks.shape[1]
    defines = _step_defines(device, dim, window, group=heads // kv_heads)
    scores = device.empty((seqs, heads, width * block_size), _F32) if scores is None else scores
    out = device.empty(q.shape, _F32)
    where = device.kernel_args(positions, blocks)
    common = (seqs, heads, heads // kv_heads, width, block_size, n_blocks)
    by_head = defines["BY_HEAD"]  # (groups of one item, so that heads and runs spread over cores)
    program(device, ATTENTION_STEP, "attn_step_scores", **defines)(
        (seqs * kv_heads * _STEP_PARTS if by_head else seqs * heads * 64,), flat_group(device, 1 if by_head else 64),
        pointer(device, scores),
        *device.kernel_args(q), pointer(device, k_cache), *where, *common, np.float32(scale))
    if not by_head:
        program(device, ATTENTION_STEP, "attn_step_softmax", **defines)(
            (seqs * heads,), flat_group(device, 1), pointer(device, scores), *where, seqs, heads, width, block_size,
            n_blocks)
    program(device, ATTENTION_STEP, "attn_step_values", **defines)(
        (seqs * heads if by_head else seqs * heads * dim,), flat_group(device, 1 if by_head else 64),
        pointer(device, out), pointer(device, scores), pointer(device, v_cache), *where, *common)
    return out
