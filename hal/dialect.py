"""The portable kernel dialect: one kernel source, compiled for OpenCL C 1.2, CUDA C and C.

A kernel is written against a few portable words that a short prelude per target
defines (DESIGN.md, "Kernel dialect"):

    KERNEL void scale(GLOBAL f32 *out, GLOBAL const f32 *x, f32 a, i64 n) {
        i64 i = GLOBAL_ID(0);
        if (i < n) out[i] = a * x[i];
    }

Words: ``KERNEL``, ``GLOBAL``, ``LOCAL`` (work-group shared arrays; ``LOCAL_PTR`` a
helper's pointer parameter into one, which CUDA spells without a qualifier), ``RESTRICT``,
``INLINE`` (helper functions), ``GLOBAL_ID(d)``, ``LOCAL_ID(d)``, ``GROUP_ID(d)``,
``LOCAL_SIZE(d)``, ``NUM_GROUPS(d)``, ``BARRIER()``, ``ATOMIC_ADD_I32(p, v)``;
fixed-width types ``i8 u8 i16 u16 i32 u32 i64 u64 f32 f64``; math through the
overloaded OpenCL names (``exp``, ``log``, ``sqrt``, ``fabs``, ``floor``, ``rint``, ``fma``, ...).
Floating point is the same on every target: no target contracts ``a * b + c`` into a
fused multiply-add (a kernel that wants one writes ``fma``), ``DIV_RN(a, b)`` and
``SQRT_RN(a)`` are correctly rounded f32 division and square root (OpenCL's ``/`` may
be 2.5 ulp off), and ``f32_from_bits``/``f32_to_bits``, ``half_to_f32(bits)`` and
``f32_to_half(x)`` (round to nearest even) give IEEE half precision as u16 storage.
Complex numbers are the structs ``c64`` / ``c128`` (``{ f32 re, im; }`` / ``{ f64 re, im; }``,
NumPy's layout; ``c128`` only where ``f64`` exists) with ``c64_make(re, im)``,
``c64_add``, ``c64_sub``, ``c64_mul``, ``c64_div``, ``c64_eq``, ``c64_to_c128`` (and the
``c128`` ones): a C cast to or from a struct is invalid, so kernels change types through
``ops.launch.convert``.
Kernels are specialized with ``#define``d constants (``defines=``), which is what the
autotuner varies. Grids follow OpenCL: global sizes in work-items, and kernels guard
their own tails because a backend may round the global size up to the work-group size.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

TARGETS = ("opencl", "cuda", "c")

# The scalar type words, each with its NumPy dtype and C type: the one table the
# targets, the launches and the elementwise generator read.
TYPES = {word: (np.dtype(dtype), c_type) for word, dtype, c_type in (
    ("i8", "int8", "int8_t"), ("u8", "uint8", "uint8_t"), ("i16", "int16", "int16_t"),
    ("u16", "uint16", "uint16_t"), ("i32", "int32", "int32_t"), ("u32", "uint32", "uint32_t"),
    ("i64", "int64", "int64_t"), ("u64", "uint64", "uint64_t"), ("f32", "float32", "float"),
    ("f64", "float64", "double"))}

# The portable words as each target defines them, in the order of TARGETS.
_WORDS = {
    "KERNEL": ("__kernel", 'extern "C" __global__', "static inline"),
    "GLOBAL": ("__global", "", ""),
    "LOCAL": ("__local", "__shared__", ""),
    "LOCAL_PTR": ("__local", "", ""),
    "RESTRICT": ("restrict", "__restrict__", "restrict"),
    "INLINE": ("inline", "__device__ inline", "static inline"),
    "GLOBAL_ID(d)": ("((i64)get_global_id(d))", "(GROUP_ID(d) * LOCAL_SIZE(d) + LOCAL_ID(d))",
                     "((i64)hal_gid[d])"),
    "LOCAL_ID(d)": ("((i64)get_local_id(d))", "hal_dim(threadIdx, d)", "((i64)0)"),
    "GROUP_ID(d)": ("((i64)get_group_id(d))", "hal_dim(blockIdx, d)", "((i64)hal_gid[d])"),
    "LOCAL_SIZE(d)": ("((i64)get_local_size(d))", "hal_dim(blockDim, d)", "((i64)1)"),
    "NUM_GROUPS(d)": ("((i64)get_num_groups(d))", "hal_dim(gridDim, d)", "((i64)hal_grid[d])"),
    "BARRIER()": ("barrier(CLK_LOCAL_MEM_FENCE)", "__syncthreads()", ""),
    "ATOMIC_ADD_I32(p, v)": ("atomic_add((p), (v))", "atomicAdd((p), (v))",
                             "__atomic_fetch_add((p), (v), __ATOMIC_RELAXED)"),
}


def _words(target: str) -> str:
    """The ``#define`` lines of the portable words as ``target`` spells them."""
    column = TARGETS.index(target)
    return "".join(f"#define {word} {forms[column]}".rstrip() + "\n"
                   for word, forms in _WORDS.items())


_OPENCL = _words("opencl") + r"""
#pragma OPENCL FP_CONTRACT OFF
typedef char i8; typedef uchar u8; typedef short i16; typedef ushort u16;
typedef int i32; typedef uint u32; typedef long i64; typedef ulong u64;
typedef float f32;
#ifdef HAL_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double f64;
#endif
INLINE f32 f32_from_bits(u32 u) { return as_float(u); }
INLINE u32 f32_to_bits(f32 f) { return as_uint(f); }
/* OpenCL allows 2.5 ulp for f32 division and 3 for sqrt; through f64 (where the device
   has it) both are correctly rounded, as on the other targets (53 >= 2 * 24 + 2 bits, so
   rounding twice is exact). */
#ifdef HAL_FP64
#define DIV_RN(a, b) ((f32)((f64)(a) / (f64)(b)))
#define SQRT_RN(a) ((f32)sqrt((f64)(a)))
#else
#define DIV_RN(a, b) ((a) / (b))
#define SQRT_RN(a) sqrt(a)
#endif
#define ROUNDED(x) (x)
"""

# CUDA's math headers already overload the float versions (exp(float), rint(float), ...);
# defining one again is ambiguous under nvcc.
_CUDA = _words("cuda") + r"""
typedef signed char i8; typedef unsigned char u8; typedef short i16; typedef unsigned short u16;
typedef int i32; typedef unsigned int u32; typedef long long i64; typedef unsigned long long u64;
typedef float f32; typedef double f64;
__device__ inline i64 hal_dim(const dim3 &v, int d) { return d == 0 ? v.x : d == 1 ? v.y : v.z; }
__device__ inline i64 hal_dim(const uint3 &v, int d) { return d == 0 ? v.x : d == 1 ? v.y : v.z; }
__device__ inline f32 f32_from_bits(u32 u) { return __uint_as_float(u); }
__device__ inline u32 f32_to_bits(f32 f) { return __float_as_uint(f); }
#define DIV_RN(a, b) __fdiv_rn((a), (b))
#define SQRT_RN(a) __fsqrt_rn(a)
#define ROUNDED(x) (x)
"""

# The C target runs each work-group of size 1 as one iteration of a loop over
# the grid (see backends/cc.py): a barrier is then a no-op and LOCAL memory is private,
# so kernels written for any work-group size stay correct.
_C = r"""
#include <stdint.h>
#include <tgmath.h>
""" + _words("c") + r"""
typedef int8_t i8; typedef uint8_t u8; typedef int16_t i16; typedef uint16_t u16;
typedef int32_t i32; typedef uint32_t u32; typedef int64_t i64; typedef uint64_t u64;
typedef float f32; typedef double f64;
static inline f32 f32_from_bits(u32 u) { union { u32 u; f32 f; } c; c.u = u; return c.f; }
static inline u32 f32_to_bits(f32 f) { union { u32 u; f32 f; } c; c.f = f; return c.u; }
#define DIV_RN(a, b) ((a) / (b))
#define SQRT_RN(a) sqrt(a)
/* GCC 12's vectorizer fuses alternating a*b - c*d, a*b + c*d lanes (a complex product)
   into fmaddsub even under -ffp-contract=off, and only on some CPUs: an empty asm on the
   rounded product keeps it an operand of its own. */
#define ROUNDED(x) ({ __typeof__(x) hal_r = (x); __asm__("" : "+x"(hal_r)); hal_r; })
"""

# IEEE half precision as storage (u16 bits), the same bits on every target: OpenCL 1.2
# has no half arithmetic without cl_khr_fp16, and the C target none at all.
_HALF = r"""
/* f16 bits to f32 without branches (they keep loops from vectorizing): the f16 exponent
   and mantissa placed in an f32 and scaled by 2^112 is exact for normal and subnormal
   values; exponent 31 (inf, NaN) maps to 255. */
INLINE f32 half_to_f32(u32 h) {
    u32 sign = (h & 0x8000u) << 16, bits = (h & 0x7FFFu) << 13;
    f32 scaled = f32_from_bits(sign | bits) * 5.192296858534828e+33f;
    return (h & 0x7C00u) == 0x7C00u ? f32_from_bits(sign | bits | 0x7F800000u) : scaled;
}
/* f32 to the nearest f16 (ties to even), as F16C's vcvtps2ph and NumPy's astype: on an
   x86 CPU that instruction (C target, PoCL; Gemma's gelu_mul and to_half 1.15-1.35x
   faster than with the steps below; a NaN is made their one quiet NaN), elsewhere those
   steps. */
#if defined(__F16C__) && !defined(__CUDACC__) && (!defined(__OPENCL_VERSION__) || defined(__x86_64__))
#ifdef __OPENCL_VERSION__
#define HAL_CVTPS2PH(f) ((u32)(u16)__builtin_ia32_vcvtps2ph((float4)((f), 0.0f, 0.0f, 0.0f), 0)[0])
#else
typedef float hal_v4sf __attribute__((vector_size(16)));
#define HAL_CVTPS2PH(f) ((u32)(u16)__builtin_ia32_vcvtps2ph((hal_v4sf){(f), 0.0f, 0.0f, 0.0f}, 0)[0])
#endif
INLINE u32 f32_to_half(f32 f) {
    u32 h = HAL_CVTPS2PH(f);
    return (h & 0x7FFFu) > 0x7C00u ? (h & 0x8000u) | 0x7E00u : h;
}
#else
INLINE u32 f32_to_half(f32 f) {
    u32 x = f32_to_bits(f), sign = (x >> 16) & 0x8000u;
    x &= 0x7FFFFFFFu;
    if (x > 0x7F800000u) return sign | 0x7E00u;                /* NaN */
    if (x >= 0x477FF000u) return sign | 0x7C00u;               /* rounds to infinity */
    if (x < 0x38800000u)                                       /* f16 subnormal or zero: */
        return sign | (u32)rint(f32_from_bits(x) * 16777216.0f);  /* exact scaling by 2^24 */
    return sign | ((x - 0x38000000u + 0x0FFFu + ((x >> 13) & 1u)) >> 13);
}
#endif
"""

# Complex arithmetic by the textbook formulas, one IEEE operation at a time (the array
# API standard's rule for finite values; infinities and NaNs propagate through the parts
# with no C99 Annex G recovery): the schoolbook product, Smith's quotient (no overflow
# of c*c + d*d for large divisors).
_COMPLEX = r"""
typedef struct {{ {R} re, im; }} {C};
INLINE {C} {C}_make({R} re, {R} im) {{ {C} z; z.re = re; z.im = im; return z; }}
INLINE {C} {C}_add({C} a, {C} b) {{ return {C}_make(a.re + b.re, a.im + b.im); }}
INLINE {C} {C}_sub({C} a, {C} b) {{ return {C}_make(a.re - b.re, a.im - b.im); }}
INLINE {C} {C}_mul({C} a, {C} b) {{
    return {C}_make(ROUNDED(a.re * b.re) - ROUNDED(a.im * b.im), ROUNDED(a.re * b.im) + ROUNDED(a.im * b.re));
}}
INLINE {C} {C}_div({C} a, {C} b) {{
    {R} abs_br = fabs(b.re), abs_bi = fabs(b.im);
    if (abs_br >= abs_bi) {{
        if (abs_br == 0 && abs_bi == 0) return {C}_make(a.re / abs_br, a.im / abs_bi);
        {R} rat = b.im / b.re, scl = ({R})1 / (b.re + b.im * rat);
        return {C}_make((a.re + ROUNDED(a.im * rat)) * scl, (a.im - ROUNDED(a.re * rat)) * scl);
    }}
    {R} rat = b.re / b.im, scl = ({R})1 / (b.im + b.re * rat);
    return {C}_make((ROUNDED(a.re * rat) + a.im) * scl, (ROUNDED(a.im * rat) - a.re) * scl);
}}
INLINE int {C}_eq({C} a, {C} b) {{ return a.re == b.re && a.im == b.im; }}
INLINE int {C}_nonzero({C} a) {{ return a.re != 0 || a.im != 0; }}
"""
_C64 = _COMPLEX.format(C="c64", R="f32")
_C128 = _COMPLEX.format(C="c128", R="f64") + r"""
INLINE c128 c64_to_c128(c64 z) { return c128_make((f64)z.re, (f64)z.im); }
INLINE c64 c128_to_c64(c128 z) { return c64_make((f32)z.re, (f32)z.im); }
"""

PRELUDES = {"opencl": _OPENCL + _HALF + _C64 + "#ifdef HAL_FP64\n" + _C128 + "#endif\n",
            "cuda": _CUDA + _HALF + _C64 + _C128, "c": _C + _HALF + _C64 + _C128}


def render(source: str, target: str, defines: dict | None = None) -> str:
    """The full source for ``target``: specialization constants, then the prelude, then
    the kernel source."""
    if target not in PRELUDES:
        raise ValueError(f"unknown kernel target {target!r}; expected one of {TARGETS}")
    consts = "".join(f"#define {k} {int(v) if isinstance(v, bool) else v}\n"  # (True as 1)
                     for k, v in sorted((defines or {}).items()))
    return consts + PRELUDES[target] + source


_KERNEL_RE = re.compile(r"KERNEL\s+void\s+(\w+)\s*\(([^)]*)\)", re.S)


class Param(NamedTuple):
    """A kernel parameter: its type word, whether it is a pointer, and its name."""
    word: str
    pointer: bool
    name: str


def kernel_signatures(source: str) -> dict[str, list[Param]]:
    """Each kernel's parameters, in order. Backends need them to pass Python scalars with
    the right C type (OpenCL scalar argument dtypes, the C target's launcher), and
    launches check their arguments against them (``hal.program.Program``)."""
    return {name: [_param(p) for p in params.split(",") if p.strip()]
            for name, params in _KERNEL_RE.findall(source)}


def _param(text: str) -> Param:
    words = [w for w in re.split(r"[\s*]+", text.replace("*", " * ")) if w]
    kept = [w for w in words if w not in ("GLOBAL", "const", "RESTRICT", "LOCAL")]
    return Param(kept[0], "*" in text, kept[-1])
