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
            "xor": ("atomic_xor", "__atomic_fetch_xor")}
_SPACES = (("g", "GLOBAL"), ("l", "LOCAL"))


def _atomics() -> str:
    ocl, c = [], []
    for s, space in _SPACES:
        for t in ("i32", "u32"):
            p = f"{space} {t} *p"
            for op, (ocl_fn, c_fn) in _INT_OPS.items():
                ocl.append(f"INLINE {t} hal_atomic_{op}_{t}_{s}({p}, {t} v) "
                           f"{{ return {ocl_fn}((volatile {space} {t} *)p, v); }}")
                c.append(f"INLINE {t} hal_atomic_{op}_{t}_{s}({p}, {t} v) {{ return {c_fn}(p, v, __ATOMIC_RELAXED); }}")
            ocl += [f"INLINE {t} hal_atomic_exch_{t}_{s}({p}, {t} v) {{ return atomic_xchg((volatile {space} {t} *)p, v); }}",
                    f"INLINE {t} hal_atomic_cas_{t}_{s}({p}, {t} cmp, {t} v) "
                    f"{{ return atomic_cmpxchg((volatile {space} {t} *)p, cmp, v); }}",
                    f"INLINE {t} hal_atomic_min_{t}_{s}({p}, {t} v) {{ return atomic_min((volatile {space} {t} *)p, v); }}",
                    f"INLINE {t} hal_atomic_max_{t}_{s}({p}, {t} v) {{ return atomic_max((volatile {space} {t} *)p, v); }}"]
            c += [f"INLINE {t} hal_atomic_exch_{t}_{s}({p}, {t} v) {{ return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }}",
                  f"INLINE {t} hal_atomic_cas_{t}_{s}({p}, {t} cmp, {t} v) {{\n"
                  f"    __atomic_compare_exchange_n(p, &cmp, v, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED); return cmp; }}"]
            for op, better in (("min", "<"), ("max", ">")):
                c.append(f"INLINE {t} hal_atomic_{op}_{t}_{s}({p}, {t} v) {{\n"
                         f"    {t} old = __atomic_load_n(p, __ATOMIC_RELAXED);\n"
                         f"    while (v {better} old && !__atomic_compare_exchange_n(p, &old, v, 0, __ATOMIC_RELAXED, "
                         f"__ATOMIC_RELAXED)) {{}}\n    return old; }}")
        ocl += [f"INLINE f32 hal_atomic_add_f32_{s}({space} f32 *p, f32 v) {{\n"
                f"    volatile {space} u32 *bits = (volatile {space} u32 *)p; u32 old = *bits, seen;\n"
                f"    while ((seen = atomic_cmpxchg(bits, old, as_uint(as_float(old) + v))) != old) old = seen;\n"
                f"    return as_float(old); }}",
                f"INLINE f32 hal_atomic_exch_f32_{s}({space} f32 *p, f32 v) "
                f"{{ return atomic_xchg((volatile {space} f32 *)p, v); }}"]
        c += [f"INLINE f32 hal_atomic_add_f32_{s}({space} f32 *p, f32 v) {{\n"
              f"    u32 *bits = (u32 *)p, old = __atomic_load_n(bits, __ATOMIC_RELAXED);\n"
              f"    while (!__atomic_compare_exchange_n(bits, &old, f32_to_bits(f32_from_bits(old) + v), 0, "
              f"__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {{}}\n    return f32_from_bits(old); }}",
              f"INLINE f32 hal_atomic_exch_f32_{s}({space} f32 *p, f32 v) {{\n"
              f"    return f32_from_bits(__atomic_exchange_n((u32 *)p, f32_to_bits(v), __ATOMIC_RELAXED)); }}"]
    return "#ifdef __OPENCL_VERSION__\n" + "\n".join(ocl) + "\n#else\n" + "\n".join(c) + "\n#endif\n"


def _min_max_abs() -> str:
    out = []
    for t in ("i32", "u32", "i64", "u64", "f32", "f64"):
        if t[0] == "f":
            out += [f"INLINE {t} hal_min_{t}({t} a, {t} b) {{ return fmin(a, b); }}",
                    f"INLINE {t} hal_max_{t}({t} a, {t} b) {{ return fmax(a, b); }}",
                    f"INLINE {t} hal_abs_{t}({t} a) {{ return fabs(a); }}"]
            continue
        out += [f"INLINE {t} hal_min_{t}({t} a, {t} b) {{ return a < b ? a : b; }}",
                f"INLINE {t} hal_max_{t}({t} a, {t} b) {{ return a > b ? a : b; }}"]
        if t[0] == "i":  # (Oclgrind cannot run the llvm.abs clang makes of a ternary: OpenCL's abs)
            out.append(f"INLINE {t} hal_abs_{t}({t} a) {{\n#ifdef __OPENCL_VERSION__\n    return ({t})abs(a);\n"
                       f"#else\n    return a < 0 ? -a : a;\n#endif\n}}")
    return "\n".join(out) + "\n"


_INTRINSICS = r"""
#ifdef __OPENCL_VERSION__
#define HAL_SYNCTHREADS() barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)
#define HAL_THREADFENCE() mem_fence(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE)
INLINE i32 hal_popc(u32 x) { return (i32)popcount(x); }
INLINE i32 hal_popcll(u64 x) { return (i32)popcount(x); }
INLINE i32 hal_clz(u32 x) { return (i32)clz(x); }
INLINE i32 hal_clzll(u64 x) { return (i32)clz(x); }
#else
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
INLINE f32 hal_saturate(f32 x) { return x != x ? 0.0f : x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
INLINE u16 hal_to_half(f32 x) { return (u16)f32_to_half(x); }
"""

SOURCE = _atomics() + _min_max_abs() + _INTRINSICS
