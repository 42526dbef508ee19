"""The functions translated CUDA kernels call that the dialect lacks: CUDA's atomics,
``min``/``max``/``abs`` for every type, and a few intrinsics (CUDA C++ Programming Guide,
"Atomic Functions" and "Mathematical Functions"; OpenCL C 1.2, 6.12.11 atomics).

One text for both translated targets: OpenCL C takes its builtins (``atomic_add``,
``atomic_cmpxchg``, ``popcount``...), the C target GCC's ``__atomic`` builtins. Atomics
exist per address space (``_g`` global, ``_l`` shared) because OpenCL 1.2 has no generic
pointers. Float atomicAdd is a compare-and-swap loop on the bits, as CUDA did before sm_20.
"""
_INT_OPS = {"add": ("atomic_add", "__atomic_fetch_add"), "sub": ("atomic_sub", "__atomic_fetch_sub"),
            "and": ("atomic_and", "__atomic_fetch_and"), "or": ("atomic_or", "__atomic_fetch_or"),
            "xor": ("atomic_xor", "__atomic_fetch_xor"), "exch": ("atomic_xchg", "__atomic_exchange_n"),
            "min": ("atomic_min", None), "max": ("atomic_max", None)}
_SPACES = (("g", "GLOBAL"), ("l", "LOCAL"))
# Where each type's atomics exist: OpenCL 1.2's 64-bit ones are the cl_khr_int64_*_atomics
# extensions (atom_*), double needs cl_khr_fp64 too.
_GUARDS = {"i64": "defined(cl_khr_int64_extended_atomics)", "u64": "defined(cl_khr_int64_extended_atomics)",
           "f64": "defined(cl_khr_int64_base_atomics) && defined(HAL_FP64)"}


def _opencl_int(t: str, s: str, space: str) -> list:
    prefix = "atom_" if t in ("i64", "u64") else "atomic_"
    p, vp = f"{space} {t} *p", f"(volatile {space} {t} *)p"
    out = [f"INLINE {t} hal_atomic_{op}_{t}_{s}({p}, {t} v) {{ return {prefix}{fn[7:]}({vp}, v); }}"
           for op, (fn, _) in _INT_OPS.items()]
    return out + [f"INLINE {t} hal_atomic_cas_{t}_{s}({p}, {t} cmp, {t} v) {{ return {prefix}cmpxchg({vp}, cmp, v); }}"]


def _c_int(t: str, s: str, space: str) -> list:
    p = f"{space} {t} *p"
    out = [f"INLINE {t} hal_atomic_{op}_{t}_{s}({p}, {t} v) {{ return {fn}(p, v, __ATOMIC_RELAXED); }}"
           for op, (_, fn) in _INT_OPS.items() if fn]
    out.append(f"INLINE {t} hal_atomic_cas_{t}_{s}({p}, {t} cmp, {t} v) {{\n"
               f"    __atomic_compare_exchange_n(p, &cmp, v, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED); return cmp; }}")
    for op, better in (("min", "<"), ("max", ">")):
        out.append(f"INLINE {t} hal_atomic_{op}_{t}_{s}({p}, {t} v) {{\n"
                   f"    {t} old = __atomic_load_n(p, __ATOMIC_RELAXED);\n"
                   f"    while (v {better} old && !__atomic_compare_exchange_n(p, &old, v, 0, __ATOMIC_RELAXED, "
                   f"__ATOMIC_RELAXED)) {{}}\n    return old; }}")
    return out


def _float_add(t: str, s: str, space: str, opencl: bool) -> list:
    """atomicAdd on a float type: a compare-and-swap loop on its bits."""
    u = "u32" if t == "f32" else "u64"
    to_bits, from_bits = ("f32_to_bits", "f32_from_bits") if t == "f32" else ("hal_f64_to_bits", "hal_f64_from_bits")
    if opencl:
        cas = "atomic_cmpxchg" if t == "f32" else "atom_cmpxchg"
        return [f"INLINE {t} hal_atomic_add_{t}_{s}({space} {t} *p, {t} v) {{\n"
                f"    volatile {space} {u} *bits = (volatile {space} {u} *)p;\n"
                f"    {u} old = 0, seen;  /* (a guess, not a plain read: that would race with the swaps) */\n"
                f"    while ((seen = {cas}(bits, old, {to_bits}({from_bits}(old) + v))) != old) old = seen;\n"
                f"    return {from_bits}(old); }}"]
    return [f"INLINE {t} hal_atomic_add_{t}_{s}({space} {t} *p, {t} v) {{\n"
            f"    {u} *bits = ({u} *)p, old = __atomic_load_n(bits, __ATOMIC_RELAXED);\n"
            f"    while (!__atomic_compare_exchange_n(bits, &old, {to_bits}({from_bits}(old) + v), 0, "
            f"__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {{}}\n    return {from_bits}(old); }}"]


# atomicInc/atomicDec (unsigned int): CUDA's wrapping counters, as compare-and-swap loops
_WRAPPING = {"inc": "old >= v ? 0u : old + 1u", "dec": "(old == 0u || old > v) ? v : old - 1u"}


def _wrapping(s: str, space: str, opencl: bool) -> list:
    out = []
    for op, new in _WRAPPING.items():
        if opencl:
            out.append(f"INLINE u32 hal_atomic_{op}_u32_{s}({space} u32 *p, u32 v) {{\n"
                       f"    volatile {space} u32 *q = (volatile {space} u32 *)p; u32 old = 0u, seen;\n"
                       f"    while ((seen = atomic_cmpxchg(q, old, {new})) != old) old = seen;\n    return old; }}")
        else:
            out.append(f"INLINE u32 hal_atomic_{op}_u32_{s}({space} u32 *p, u32 v) {{\n"
                       f"    u32 old = __atomic_load_n(p, __ATOMIC_RELAXED);\n"
                       f"    while (!__atomic_compare_exchange_n(p, &old, {new}, 0, __ATOMIC_RELAXED, "
                       f"__ATOMIC_RELAXED)) {{}}\n    return old; }}")
    return out


def _atomics() -> str:
    ocl, c = [], []
    for s, space in _SPACES:
        ocl += _wrapping(s, space, True)
        c += _wrapping(s, space, False)
    for t in ("i32", "u32", "i64", "u64", "f32", "f64"):
        ocl_t, c_t = [], []
        for s, space in _SPACES:
            if t[0] == "f":
                ocl_t += _float_add(t, s, space, True)
                c_t += _float_add(t, s, space, False)
            else:
                ocl_t += _opencl_int(t, s, space)
                c_t += _c_int(t, s, space)
        if t == "f32":
            for s, space in _SPACES:
                ocl_t.append(f"INLINE f32 hal_atomic_exch_f32_{s}({space} f32 *p, f32 v) "
                             f"{{ return atomic_xchg((volatile {space} f32 *)p, v); }}")
                c_t.append(f"INLINE f32 hal_atomic_exch_f32_{s}({space} f32 *p, f32 v) {{\n"
                           f"    return f32_from_bits(__atomic_exchange_n((u32 *)p, f32_to_bits(v), "
                           f"__ATOMIC_RELAXED)); }}")
        guard = _GUARDS.get(t)
        ocl += [f"#if {guard}", *ocl_t, "#endif"] if guard else ocl_t
        c += ["#ifdef HAL_HAS_F64", *c_t, "#endif"] if t == "f64" else c_t
    return ("#ifdef __OPENCL_VERSION__\n#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable\n"
            "#pragma OPENCL EXTENSION cl_khr_int64_extended_atomics : enable\n" + "\n".join(ocl)
            + "\n#else\n" + "\n".join(c) + "\n#endif\n")


def _min_max_abs() -> str:
    out = []
    # Integer division and remainder: x86 traps on a zero divisor (and on INT_MIN / -1),
    # which would end the Python process; CUDA's result there is undefined, not a crash.
    for t in ("i32", "u32", "i64", "u64"):
        bad = "b == 0" + (" || (b == -1 && a == (" + t + ")1 << (8 * sizeof(" + t + ") - 1))" if t[0] == "i" else "")
        out += [f"INLINE {t} hal_div_{t}({t} a, {t} b) {{ return ({bad}) ? 0 : a / b; }}",
                f"INLINE {t} hal_rem_{t}({t} a, {t} b) {{ return ({bad}) ? 0 : a % b; }}"]
    for t in ("i32", "u32", "i64", "u64", "f32", "f64"):
        if t == "f64":
            out.append("#ifdef HAL_HAS_F64")
        if t[0] == "f":
            out += [f"INLINE {t} hal_min_{t}({t} a, {t} b) {{ return fmin(a, b); }}",
                    f"INLINE {t} hal_max_{t}({t} a, {t} b) {{ return fmax(a, b); }}",
                    f"INLINE {t} hal_abs_{t}({t} a) {{ return fabs(a); }}"]
            out += ["#endif"] if t == "f64" else []
            continue
        out += [f"INLINE {t} hal_min_{t}({t} a, {t} b) {{ return a < b ? a : b; }}",
                f"INLINE {t} hal_max_{t}({t} a, {t} b) {{ return a > b ? a : b; }}"]
        if t[0] == "i":  # (Oclgrind cannot run the llvm.abs clang makes of a ternary: OpenCL's abs)
            out.append(f"INLINE {t} hal_abs_{t}({t} a) {{\n#ifdef __OPENCL_VERSION__\n    return ({t})abs(a);\n"
                       f"#else\n    return a < 0 ? -a : a;\n#endif\n}}")
    return "\n".join(out) + "\n"


_INTRINSICS = r"""
#ifdef __OPENCL_VERSION__
#define HAL_CONSTANT __constant
#else
#define HAL_CONSTANT const
#endif
#ifdef __OPENCL_VERSION__
#define HAL_SYNCTHREADS() barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)
#define HAL_THREADFENCE() mem_fence(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE)
INLINE i32 hal_popc(u32 x) { return (i32)popcount(x); }
INLINE i32 hal_popcll(u64 x) { return (i32)popcount(x); }
INLINE i32 hal_clz(u32 x) { return (i32)clz(x); }
INLINE i32 hal_clzll(u64 x) { return (i32)clz(x); }
#else
#include <stdio.h>
#define HAL_THREADFENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define rsqrt(x) (1 / sqrt(x))
#ifndef exp10
#define exp10(x) pow((__typeof__(x))10, (x))
#endif
INLINE i32 hal_popc(u32 x) { return __builtin_popcount(x); }
INLINE i32 hal_popcll(u64 x) { return __builtin_popcountll(x); }
INLINE i32 hal_clz(u32 x) { return x ? __builtin_clz(x) : 32; }
INLINE i32 hal_clzll(u64 x) { return x ? __builtin_clzll(x) : 64; }
#endif
#if !defined(__OPENCL_VERSION__) || defined(HAL_FP64)
#define HAL_HAS_F64 1
INLINE f64 hal_f64_from_bits(u64 u) {
#ifdef __OPENCL_VERSION__
    return as_double(u);
#else
    union { u64 u; f64 f; } c; c.u = u; return c.f;
#endif
}
INLINE u64 hal_f64_to_bits(f64 f) {
#ifdef __OPENCL_VERSION__
    return as_ulong(f);
#else
    union { u64 u; f64 f; } c; c.f = f; return c.u;
#endif
}
#endif
INLINE f32 hal_saturate(f32 x) { return x != x ? 0.0f : x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
INLINE u32 hal_brev(u32 x) {
    /* (a nibble at a time through a table: clang turns the shift-and-mask idiom into
       llvm.bitreverse, which Oclgrind cannot run) */
    const u8 reversed[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    u32 r = 0;
    for (i32 k = 0; k < 8; k++, x >>= 4) r = (r << 4) | reversed[x & 15u];
    return r;
}
INLINE u64 hal_brevll(u64 x) { return ((u64)hal_brev((u32)x) << 32) | hal_brev((u32)(x >> 32)); }
INLINE i32 hal_ffs(u32 x) { return x ? 32 - hal_clz(x & (0u - x)) : 0; }  /* (the lowest set bit, from 1) */
INLINE i32 hal_ffsll(u64 x) { return x ? 64 - hal_clzll(x & ((u64)0 - x)) : 0; }
INLINE u64 hal_umul64hi(u64 a, u64 b) {
#ifdef __OPENCL_VERSION__
    return mul_hi(a, b);
#else
    return (u64)(((unsigned __int128)a * b) >> 64);
#endif
}
INLINE i64 hal_mul64hi(i64 a, i64 b) {
#ifdef __OPENCL_VERSION__
    return mul_hi(a, b);
#else
    return (i64)(((__int128)a * b) >> 64);
#endif
}
INLINE u16 hal_to_half(f32 x) { return (u16)f32_to_half(x); }
"""

def _vectors() -> str:
    """CUDA's vector types as structs of CUDA's size and alignment (OpenCL's own float3 is
    16 bytes, CUDA's 12), with their make_ functions."""
    from .ctype import SIZES, VECTORS
    out = []
    for name, (word, n) in VECTORS.items():
        fields = "xyzw"[:n]
        align = SIZES[name] if n in (2, 4) else SIZES[word]
        guard = word == "f64"
        out += ["#ifdef HAL_HAS_F64"] if guard else []
        out.append(f"typedef struct __attribute__((aligned({align}))) {{ {word} {', '.join(fields)}; }} hal_{name};")
        args = ", ".join(f"{word} {f}" for f in fields)
        out.append(f"INLINE hal_{name} hal_make_{name}({args}) {{ hal_{name} v; "
                   + " ".join(f"v.{f} = {f};" for f in fields) + " return v; }")
        out += ["#endif"] if guard else []
    return "\n".join(out) + "\n"


def _complex() -> str:
    """complex<float>/<double>'s functions beyond the dialect's arithmetic (c64_add...):
    thrust's (CuPy's complex.cuh) definitions on the dialect's structs."""
    out = []
    for c, r in (("c64", "f32"), ("c128", "f64")):
        out += ["#ifdef HAL_HAS_F64"] if c == "c128" else []
        out += [f"INLINE {r} hal_{c}_abs({c} z) {{ return hypot(z.re, z.im); }}",
                f"INLINE {r} hal_{c}_norm({c} z) {{ return z.re * z.re + z.im * z.im; }}",
                f"INLINE {r} hal_{c}_arg({c} z) {{ return atan2(z.im, z.re); }}",
                f"INLINE {c} hal_{c}_conj({c} z) {{ return {c}_make(z.re, -z.im); }}",
                f"INLINE {c} hal_{c}_neg({c} z) {{ return {c}_make(-z.re, -z.im); }}",
                f"INLINE {c} hal_{c}_exp({c} z) {{\n    {r} e = exp(z.re); return {c}_make(e * cos(z.im), "
                f"e * sin(z.im)); }}",
                f"INLINE {c} hal_{c}_log({c} z) {{ return {c}_make(log(hypot(z.re, z.im)), atan2(z.im, z.re)); }}"]
        out += ["#endif"] if c == "c128" else []
    return "\n".join(out) + "\n"


# __syncthreads_count/_and/_or where one work-item is one CUDA thread (OpenCL): a count in
# shared memory between barriers; the first barrier lets the previous vote's readers finish.
_VOTE = """INLINE i32 hal_vote(i32 p, LOCAL_PTR i32 *votes, i32 kind) {
    BARRIER();
    if (LOCAL_ID(0) == 0 && LOCAL_ID(1) == 0 && LOCAL_ID(2) == 0) votes[0] = 0;
    BARRIER();
    if (p) ATOMIC_ADD_I32(votes, 1);
    BARRIER();
    i32 n = votes[0];
    return kind == 0 ? n : kind == 1 ? n == (i32)(LOCAL_SIZE(0) * LOCAL_SIZE(1) * LOCAL_SIZE(2)) : n > 0;
}
"""

SOURCE = _INTRINSICS + _vectors() + _complex() + _atomics() + _min_max_abs() + _VOTE
