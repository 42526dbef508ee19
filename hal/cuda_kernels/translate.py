"""CUDA kernels (a pycparser tree, see source.py) into hal's portable dialect (hal/dialect.py).

Two shapes of output, one per way a device runs a CUDA block:

- ``"threads"`` (OpenCL devices): one work-item per CUDA thread, one work-group per
  block. ``threadIdx`` is ``LOCAL_ID``, ``__shared__`` arrays are ``LOCAL`` arrays at
  kernel scope, and ``__syncthreads()`` is a work-group barrier.
- ``"blocks"`` (devices whose work-groups are one item, as the C target's,
  backends/cc.py): one item runs a whole block: its threads are loops, split at every
  ``__syncthreads()`` (the
  "thread loop fission" of MCUDA, Stratton et al., LCPC 2008). A variable declared where
  a barrier can split its lifetime becomes an array with one element per thread;
  control flow containing a barrier stays outside the loops, its condition taken from
  thread 0 (CUDA requires it to be the same in every thread of the block). A
  ``__device__`` function that synchronizes is inlined where it is called, so that its
  barriers split the loops too. The block's shape is a compile-time constant
  (``HAL_BD0..2``).

Every pointer parameter becomes the buffer plus a byte offset (hal arrays are views);
``extern __shared__`` arrays alias one ``LOCAL`` array of ``HAL_DYN_BYTES`` bytes, a
compile-time constant from the launch's ``shared_mem``. Helper functions are emitted
once per combination of address spaces their pointer arguments have (OpenCL 1.2 has no
generic address space). Types follow C's arithmetic conversions (ctype.py) so that
``half`` values compute as float and ``complex<T>`` operators become the dialect's
``c64_add``...; ``__constant__`` variables with initializers are program-scope constants.
What is outside the subset raises ``hal.CompileError`` with the construct and its line.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field, replace

from pycparser import c_ast

from . import helpers
from .ctype import COMPLEX, F32, F64, INT, SIZES, VECTORS, CType, arithmetic, base_of, promoted
from .source import GENERIC_PREFIX, is_prelude, unsupported

SHAPES = ("threads", "blocks")

_BUILTINS = {"threadIdx", "blockIdx", "blockDim", "gridDim"}
# Names a CUDA kernel may use that are reserved in OpenCL C, C or the dialect: renamed.
_RESERVED = set("""local global constant private kernel read_only write_only read_write uchar ushort uint ulong
half bool image1d_t image2d_t image3d_t sampler_t event_t restrict i8 u8 i16 u16 i32 u32 i64 u64 f32 f64 c64
c128 KERNEL GLOBAL LOCAL LOCAL_PTR RESTRICT INLINE BARRIER DIV_RN SQRT_RN""".split())
_AXES = {"x": 0, "y": 1, "z": 2}
# CUDA's float math functions -> the dialect's overloaded names, computed in f32
_F32_FUNCS = {f"{n}f": n for n in (
    "exp exp2 exp10 expm1 log log2 log10 log1p sqrt cbrt rsqrt sin cos tan asin acos atan sinh cosh tanh asinh "
    "acosh atanh erf erfc tgamma lgamma floor ceil trunc round rint fabs pow atan2 fmod fmin fmax hypot "
    "copysign fma fdim remainder").split()}
_F32_FUNCS.update({"__expf": "exp", "__exp10f": "exp10", "__logf": "log", "__log2f": "log2", "__log10f": "log10",
                   "__sinf": "sin", "__cosf": "cos", "__tanf": "tan", "__powf": "pow", "nearbyintf": "rint"})
# the same functions by their double names: CUDA C++ overloads them by argument type
_GENERIC_FUNCS = {v: v for v in _F32_FUNCS.values()} | {"nearbyint": "rint"}
_PREDICATES = {"isnan", "isinf", "isfinite", "signbit"}
_ATOMICS = {"atomicAdd": "add", "atomicSub": "sub", "atomicExch": "exch", "atomicMin": "min", "atomicMax": "max",
            "atomicAnd": "and", "atomicOr": "or", "atomicXor": "xor", "atomicCAS": "cas", "atomicInc": "inc",
            "atomicDec": "dec"}
_UNSUPPORTED_CALLS = (
    ("__shfl", "warp shuffles (__shfl_*)"), ("__ballot", "warp votes (__ballot_sync)"),
    ("__any_sync", "warp votes (__any_sync)"), ("__all_sync", "warp votes (__all_sync)"),
    ("__activemask", "warp masks (__activemask)"), ("__syncwarp", "warp synchronization (__syncwarp)"),
    ("__match", "warp matching (__match_*_sync)"), ("__reduce_", "warp reductions (__reduce_*_sync)"),
    ("tex", "textures"), ("surf", "surfaces"), ("cuda", "the CUDA runtime API in kernels "
                                                                       "(dynamic parallelism)"),
    ("malloc", "device malloc"), ("free", "device free"), ("clock", "clock()"), ("__nanosleep", "__nanosleep"),
)
_CACHE_LOADS = {"__ldg", "__ldca", "__ldcg", "__ldcs", "__ldlu", "__ldcv"}  # (CUDA's loads with cache hints)
_VOTES = {"__syncthreads_count": 0, "__syncthreads_and": 1, "__syncthreads_or": 2}  # (hal_vote's kind)
_SIMPLE_INTRINSICS = {  # name -> (template over args a, b, result type)
    "__fdividef": ("((f32)({a}) / (f32)({b}))", F32), "__fdiv_rn": ("DIV_RN((f32)({a}), (f32)({b}))", F32),
    "__fsqrt_rn": ("SQRT_RN((f32)({a}))", F32), "__frcp_rn": ("(1.0f / (f32)({a}))", F32),
    "__fadd_rn": ("((f32)({a}) + (f32)({b}))", F32), "__fsub_rn": ("((f32)({a}) - (f32)({b}))", F32),
    "__fmul_rn": ("((f32)({a}) * (f32)({b}))", F32), "__saturatef": ("hal_saturate((f32)({a}))", F32),
    "__float2int_rn": ("((i32)rint((f32)({a})))", INT), "__float2int_rz": ("((i32)(f32)({a}))", INT),
    "__float2int_rd": ("((i32)floor((f32)({a})))", INT), "__float2int_ru": ("((i32)ceil((f32)({a})))", INT),
    "__float2uint_rn": ("((u32)rint((f32)({a})))", CType("u32")), "__int2float_rn": ("((f32)({a}))", F32),
    "__float_as_int": ("((i32)f32_to_bits((f32)({a})))", INT),
    "__float_as_uint": ("f32_to_bits((f32)({a}))", CType("u32")),
    "__int_as_float": ("f32_from_bits((u32)({a}))", F32), "__uint_as_float": ("f32_from_bits((u32)({a}))", F32),
    "__half2float": ("half_to_f32({a})", F32), "__float2half": ("hal_to_half((f32)({a}))", CType("half")),
    "__float2half_rn": ("hal_to_half((f32)({a}))", CType("half")), "__popc": ("hal_popc((u32)({a}))", INT),
    "__popcll": ("hal_popcll((u64)({a}))", INT), "__clz": ("hal_clz((u32)({a}))", INT),
    "__clzll": ("hal_clzll((u64)({a}))", INT), "__mul24": ("((i32)({a}) * (i32)({b}))", INT),
    "__umul24": ("((u32)({a}) * (u32)({b}))", CType("u32")),
    "__brev": ("hal_brev((u32)({a}))", CType("u32")), "__brevll": ("hal_brevll((u64)({a}))", CType("u64")),
    "__ffs": ("hal_ffs((u32)({a}))", INT), "__ffsll": ("hal_ffsll((u64)({a}))", INT),
    "__umulhi": ("((u32)(((u64)(u32)({a}) * (u64)(u32)({b})) >> 32))", CType("u32")),
    "__mulhi": ("((i32)(((i64)(i32)({a}) * (i64)(i32)({b})) >> 32))", INT),
    "__umul64hi": ("hal_umul64hi((u64)({a}), (u64)({b}))", CType("u64")),
    "__mul64hi": ("hal_mul64hi((i64)({a}), (i64)({b}))", CType("i64")),
    # the standard normal distribution function: CUDA's definition through erfc
    "normcdff": ("(0.5f * erfc((f32)({a}) * -0.70710678118654752f))", F32),
    "normcdf": ("(0.5 * erfc((f64)({a}) * -0.70710678118654752440))", F64),
    "rhypotf": ("(1.0f / hypot((f32)({a}), (f32)({b})))", F32), "rcbrtf": ("(1.0f / cbrt((f32)({a})))", F32),
    # half arithmetic: in f32, rounded once to half (exact for + - * of two halves)
    "__hadd": ("hal_to_half({a} + {b})", CType("half")), "__hsub": ("hal_to_half({a} - {b})", CType("half")),
    "__hmul": ("hal_to_half({a} * {b})", CType("half")), "__hdiv": ("hal_to_half({a} / {b})", CType("half")),
    "__hneg": ("hal_to_half(-{a})", CType("half")), "__habs": ("hal_to_half(fabs({a}))", CType("half")),
    "__hmax": ("hal_to_half(fmax({a}, {b}))", CType("half")), "__hmin": ("hal_to_half(fmin({a}, {b}))", CType("half")),
    "__heq": ("((i32)({a} == {b}))", INT), "__hne": ("((i32)({a} != {b}))", INT), "__hlt": ("((i32)({a} < {b}))", INT),
    "__hle": ("((i32)({a} <= {b}))", INT), "__hgt": ("((i32)({a} > {b}))", INT), "__hge": ("((i32)({a} >= {b}))", INT),
    "__hisnan": ("((i32)isnan({a}))", INT), "__half2int_rn": ("((i32)rint({a}))", INT),
    "__int2half_rn": ("hal_to_half((f32)({a}))", CType("half")),
    "hexp": ("hal_to_half(exp({a}))", CType("half")), "hlog": ("hal_to_half(log({a}))", CType("half")),
    "hsqrt": ("hal_to_half(sqrt({a}))", CType("half")), "hrsqrt": ("hal_to_half(rsqrt({a}))", CType("half")),
    "__fmaf_rn": ("fma((f32)({a}), (f32)({b}), (f32)({c}))", F32), "__frsqrt_rn": ("rsqrt((f32)({a}))", F32),
    "ldexpf": ("ldexp((f32)({a}), (i32)({b}))", F32), "ldexp": ("ldexp((f64)({a}), (i32)({b}))", F64),
    "lrintf": ("((i64)rint((f32)({a})))", CType("i64")), "llrintf": ("((i64)rint((f32)({a})))", CType("i64")),
    "lroundf": ("((i64)round((f32)({a})))", CType("i64")), "llroundf": ("((i64)round((f32)({a})))", CType("i64")),
    "sincosf": ("((*({b}) = sin((f32)({a}))), (*({c}) = cos((f32)({a}))))", CType("void")),
    "__sincosf": ("((*({b}) = sin((f32)({a}))), (*({c}) = cos((f32)({a}))))", CType("void")),
    "sincos": ("((*({b}) = sin((f64)({a}))), (*({c}) = cos((f64)({a}))))", CType("void")),
    "__ll2float_rn": ("((f32)({a}))", F32), "__double2float_rn": ("((f32)({a}))", F32),
    "__float2ll_rn": ("((i64)rint((f32)({a})))", CType("i64")),
    "__double2int_rn": ("((i32)rint((f64)({a})))", INT), "__longlong_as_double": ("hal_f64_from_bits((u64)({a}))", F64),
    "__double_as_longlong": ("((i64)hal_f64_to_bits((f64)({a})))", CType("i64")),
    "__int2double_rn": ("((f64)(i32)({a}))", F64), "__uint2double_rn": ("((f64)(u32)({a}))", F64),
    "__uint2float_rn": ("((f32)(u32)({a}))", F32), "__ll2double_rn": ("((f64)(i64)({a}))", F64),
    "__double2ll_rn": ("((i64)rint((f64)({a})))", CType("i64")), "__double2int_rz": ("((i32)(f64)({a}))", INT),
    "__double2uint_rn": ("((u32)rint((f64)({a})))", CType("u32")),
    "__float2uint_rz": ("((u32)(f32)({a}))", CType("u32")),
    "__dadd_rn": ("((f64)({a}) + (f64)({b}))", F64), "__dsub_rn": ("((f64)({a}) - (f64)({b}))", F64),
    "__dmul_rn": ("((f64)({a}) * (f64)({b}))", F64), "__ddiv_rn": ("((f64)({a}) / (f64)({b}))", F64),
    "__dsqrt_rn": ("sqrt((f64)({a}))", F64), "__drcp_rn": ("(1.0 / (f64)({a}))", F64),
    "__fma_rn": ("fma((f64)({a}), (f64)({b}), (f64)({c}))", F64),
}
_MIN_MAX = {"min": "min", "max": "max", "umin": "min", "umax": "max", "llmin": "min",
            "llmax": "max", "ullmin": "min", "ullmax": "max"}


# functions of one complex argument (thrust's, in CuPy's complex.cuh) -> what they return
_COMPLEX_FUNCS = {"real": "real", "imag": "real", "abs": "real", "norm": "real", "arg": "real", "conj": "complex",
                  "exp": "complex", "log": "complex"}


@dataclass
class Param:
    """A kernel parameter as the launcher passes it. A complex or struct by value is passed
    as its scalars: ``fields`` lists, for each, the keys from the value to it (field
    names, array indices, "real"/"imag") and its dialect type; ``offsets`` where each
    lies in the C value of ``nbytes`` bytes that NVRTC's kernel takes instead."""
    name: str
    type: CType
    fields: tuple = ()
    offsets: tuple = ()
    nbytes: int = 0

    @property
    def pointer(self) -> bool:
        return bool(self.type.ptr)


@dataclass
class Kernel:
    name: str
    params: list[Param]
    symbol: str          # its name in the translation (prefixed: a kernel may be called sin or sincos)
    barrier: bool        # whether it synchronizes (the blocks shape then splits its loops)


@dataclass
class Translation:
    """The dialect source and each ``__global__`` function's parameters."""
    source: str
    kernels: dict[str, Kernel]


@dataclass
class _Var:
    text: str        # how the variable is written where it is used
    type: CType
    value: bool = False  # a named integer value (named_value), usable in constant expressions


@dataclass
class _Function:
    node: c_ast.FuncDef
    specialized: dict = field(default_factory=dict)   # (types bound, spaces) key -> emitted name
    generic: tuple = ()  # the placeholder types (source.GENERIC_PREFIX) a call binds


def translate(ast: c_ast.FileAST, code: str, shape: str, calls: dict | None = None) -> Translation:
    """The dialect source of every kernel in ``ast``. ``calls`` maps ``(object, method)``
    calls such as ``("_ind", "size")`` to the variable that replaces them (how
    ElementwiseKernel's ``_ind.size()`` is spelled)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown translation shape {shape!r}; expected one of {SHAPES}")
    return _Translator(code, shape, calls or {}).run(ast)


class _Translator:
    def __init__(self, code: str, shape: str, calls: dict):
        self.code, self.shape, self.calls = code, shape, calls
        self.aliases: dict[str, CType] = {}
        self.functions: dict[str, _Function] = {}
        self.emitted: list[str] = []         # helper functions, callees first
        self.scopes: list[dict[str, _Var]] = []
        self.labels = 0
        self.kernel: Kernel | None = None
        self.in_helper = False
        self.barrier_helpers: set = set()   # __device__ functions that (transitively) call __syncthreads()
        self.inlining: list = []             # (blocks) the barrier helpers being inlined
        self.globals: dict[str, _Var] = {}   # __constant__ variables
        self.structs: dict[str, tuple] = {}  # struct tag -> (emitted name, fields)
        self.fields: dict[str, dict] = {}    # emitted struct name -> field -> CType
        self.constants: list[str] = []       # their declarations
        self.return_type: CType | None = None
        self.hoisted: list[str] = []          # (blocks) per-thread arrays of a barrier kernel
        self.region_label: str | None = None  # (blocks) the label ending the current thread loop
        self.enclosing: list = []             # "loop"/"switch" statements inside the current thread loop
        self.exits: list = []                 # (blocks) per-thread exit flags of the loops with barriers around

    # -- errors ------------------------------------------------------------
    def fail(self, construct: str, node, detail: str = ""):
        line = node.coord.line if node is not None and node.coord is not None else None
        raise unsupported(construct, line, self.code, detail)

    # -- top level -----------------------------------------------------------
    def run(self, ast: c_ast.FileAST) -> Translation:
        kernels = []
        for ext in ast.ext:
            if is_prelude(ext):
                continue  # (its typedefs name types ctype.py knows)
            if isinstance(ext, c_ast.Typedef):
                if not ext.name.startswith(GENERIC_PREFIX):  # (placeholders: bound per call)
                    self.aliases[ext.name] = self.decl_type(ext.type, ext)
            elif isinstance(ext, c_ast.Decl) and isinstance(ext.type, c_ast.Struct) and ext.name is None:
                self.struct(ext.type, ext)
            elif isinstance(ext, c_ast.FuncDef):
                if "_Noreturn" in ext.decl.funcspec:
                    kernels.append(ext)
                else:
                    self.helper(ext)
            elif isinstance(ext, c_ast.Decl) and isinstance(ext.type, c_ast.FuncDecl):
                continue  # a prototype: the definition is what is translated
            elif isinstance(ext, c_ast.Decl) and "register" in ext.storage:
                self.constant(ext)
            elif isinstance(ext, c_ast.Decl) and "const" in ext.quals and ext.init is not None:
                # (const and constexpr at file scope: integers are named values, the rest constants)
                self.scopes = [self.globals]
                if not self.named_value(ext, self.globals):
                    self.constant(ext)
            elif isinstance(ext, c_ast.Decl) and "_Thread_local" in ext.storage:
                self.fail("__shared__ arrays at file scope", ext, "declare them inside the kernel")
            elif isinstance(ext, c_ast.Pragma):
                continue
            else:
                self.fail("a file-scope declaration", ext, "only functions and typedefs are translated")
        if not kernels:
            raise unsupported("a source without __global__ functions", None, self.code)
        self.barrier_helpers = _barrier_helpers(self.functions)
        bodies = [self.kernel_function(k) for k in kernels]
        text = (helpers.SOURCE + "\n".join(self.constants) + "\n" + "\n".join(self.emitted) + "\n"
                + "\n".join(b for b, _ in bodies))
        return Translation(text, {k.name: k for _, k in bodies})

    def helper(self, fn: c_ast.FuncDef) -> None:
        """Take the __device__ function ``fn``, refusing what its body or name cannot be."""
        shared = next((n for n in _walk(fn.body) if isinstance(n, c_ast.Decl) and "_Thread_local" in n.storage), None)
        if shared is not None:  # (named here: a use of it would otherwise be the first error)
            self.fail("__shared__ variables in __device__ functions", shared,
                      "declare it in the kernel and pass a pointer")
        if fn.decl.name in self.functions:  # (C++ overloads: C would keep one and call it for every argument type)
            self.fail(f"C++ function overloading (a second function named {fn.decl.name})", fn,
                      "give each overload its own name")
        placeholders = {name for n in _walk(fn.decl) if isinstance(n, c_ast.IdentifierType)
                        for name in n.names if name.startswith(GENERIC_PREFIX)}
        self.functions[fn.decl.name] = _Function(fn, generic=tuple(sorted(placeholders)))

    def named_value(self, decl: c_ast.Decl, scope: dict) -> bool:
        """Whether ``decl`` is an integer ``const`` scalar whose initializer is a constant
        expression (of literals and such names): then it is declared in ``scope`` as
        that value, so that array sizes may name it (``__shared__ float s[TILE]``), as
        C++ lets them and C does not."""
        if not (isinstance(decl.type, c_ast.TypeDecl) and isinstance(decl.type.type, c_ast.IdentifierType)
                and "const" in decl.quals and decl.init is not None and _is_constant(decl.init, self.scopes)):
            return False
        t = self.decl_type(decl.type, decl)
        if not t.is_int:
            return False
        scope[decl.name] = _Var(f"({t.cast()}({self.expr(decl.init)[0]}))", t, value=True)
        return True

    def constant(self, decl: c_ast.Decl) -> None:
        """A ``__constant__`` variable: with its initializer, a program-scope constant
        (hal has no host-side cudaMemcpyToSymbol to set one later)."""
        if decl.init is None:
            self.fail("a __constant__ variable without an initializer", decl,
                      "pass the values as a kernel argument instead")
        self.scopes = [self.globals]
        t = self.decl_type(decl.type, decl)
        if t.ptr:
            self.fail("__constant__ pointers", decl)
        if t.dims and t.dims[0] == "" and isinstance(decl.init, c_ast.InitList):
            t = replace(t, dims=(str(len(decl.init.exprs)), *t.dims[1:]))
        init = (self.init_list(decl.init, replace(t, dims=t.dims[1:])) if isinstance(decl.init, c_ast.InitList)
                else self.convert(decl.init, t))
        self.constants.append(f"HAL_CONSTANT {t.declarator(_ident(decl.name))} = {init};")
        self.globals[decl.name] = _Var(_ident(decl.name), replace(t, space="HAL_CONSTANT", const=True))

    # -- types ---------------------------------------------------------------
    def struct(self, node: c_ast.Struct, where) -> CType:
        """A struct type: its definition (emitted once, fields in the dialect's types) or a
        reference to one defined before."""
        if node.decls is None:
            if node.name not in self.structs:
                self.fail(f"the undefined struct {node.name}", where)
            return CType(self.structs[node.name][0])
        name = f"hal_s_{node.name or len(self.structs)}"
        fields = {}
        for d in node.decls:
            fields[d.name] = self.decl_type(d.type, d)
            if fields[d.name].ptr:
                self.fail("pointers in structs", d)
        self.structs[node.name or name] = (name, fields)
        self.fields[name] = fields
        body = " ".join(f"{t.declarator(_ident(f))};" for f, t in fields.items())
        self.constants.append(f"typedef struct {{ {body} }} {name};")
        return CType(name)

    def decl_type(self, node, where) -> CType:
        if isinstance(node, c_ast.TypeDecl) and isinstance(node.type, c_ast.Struct):
            return self.struct(node.type, where)
        if isinstance(node, c_ast.TypeDecl):
            if not isinstance(node.type, c_ast.IdentifierType):
                self.fail("union and enum types", where)
            t = base_of(node.type.names, self.aliases)
            if t is None:
                self.fail(f"the type {' '.join(node.type.names)!r}", where)
            return t
        if isinstance(node, (c_ast.PtrDecl, c_ast.ArrayDecl)) and "volatile" in getattr(node.type, "quals", ()):
            self.fail("volatile arrays and pointers (warp-synchronous programming)", where,
                      "hal runs no warp in lockstep: separate the steps with __syncthreads()")
        if isinstance(node, c_ast.PtrDecl):
            inner = self.decl_type(node.type, where)
            const = isinstance(node.type, c_ast.TypeDecl) and "const" in node.type.quals
            if inner.dims:
                self.fail("pointers to arrays", where, "take a flat pointer and index it a[r * COLS + c]")
            return replace(inner, ptr=inner.ptr + 1, const=const or inner.const)
        if isinstance(node, c_ast.ArrayDecl):
            inner = self.decl_type(node.type, where)
            dim = "" if node.dim is None else self.expr(node.dim)[0]
            return replace(inner, dims=(dim, *inner.dims))
        if isinstance(node, c_ast.Typename):
            return self.decl_type(node.type, where)
        self.fail("this declarator", where)

    # -- scopes --------------------------------------------------------------
    def lookup(self, name: str, node) -> _Var:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        if name == "warpSize":
            self.fail("warpSize (warp-level programming)", node)
        self.fail(f"the identifier {name!r}", node, "it is not declared")

    def declare(self, name: str, var: _Var) -> None:
        self.scopes[-1][name] = var


    # -- kernels -------------------------------------------------------------
    def kernel_function(self, node: c_ast.FuncDef) -> tuple[str, Kernel]:
        decl = node.decl
        params = self.params(decl.type, node)
        if self.decl_type(decl.type.type, node).base != "void":
            self.fail("a __global__ function returning a value", node)
        self.kernel = Kernel(decl.name, [], f"hal_k_{decl.name}", self.has_barrier(node.body))
        self.scopes = [self.globals, {}]
        self.return_type = CType("void")
        prologue, signature = [], []
        for name, t in params:
            emitted = _ident(name)
            if t.ptr:
                t = replace(t, space="GLOBAL")
                signature += [t.declarator(f"hal_p_{emitted}"), f"i64 hal_o_{emitted}"]
                byte = "GLOBAL const u8 *" if t.const else "GLOBAL u8 *"
                prologue.append(f"{t.declarator(emitted)} = {t.cast()}(({byte})hal_p_{emitted} + hal_o_{emitted});")
            elif t.complex or t.base in self.fields:
                scalars = self.scalars(t, (), emitted, node)
                prologue.append(f"{t.declarator(emitted)};")
                for k, (_, path, part) in enumerate(scalars):
                    signature.append(part.declarator(f"hal_v_{emitted}_{k}"))
                    prologue.append(f"{path} = hal_v_{emitted}_{k};")
                offsets, nbytes, _ = self.c_layout(t)
                self.kernel.params.append(Param(name, t, tuple((keys, part.base) for keys, _, part in scalars),
                                                tuple(offsets), nbytes))
                self.declare(name, _Var(emitted, t))
                continue
            else:
                signature.append(t.declarator(emitted))
            self.kernel.params.append(Param(name, t))
            self.declare(name, _Var(emitted, t))
        self.shared_declarations(node.body, prologue)
        if self.shape == "threads" and any(_is_vote(n) for n in _walk(node.body)):
            prologue.append("LOCAL i32 hal_votes[1];")
        if self.shape == "blocks":
            body = self.c_body(node.body, prologue)
        else:
            self.scopes.append({})
            body = "\n".join(prologue) + "\n" + self.block_items(node.body.block_items or [])
            self.scopes.pop()
        text = f"KERNEL void {self.kernel.symbol}({', '.join(signature)}) {{\n{body}\n}}\n"
        return text, self.kernel

    def scalars(self, t: CType, keys: tuple, path: str, where) -> list:
        """The scalars of a by-value complex or struct parameter (structs of scalars,
        complex values and arrays of them): (keys from the value, path in the variable,
        type) for each, in declaration order."""
        if t.dims:
            if not t.dims[0].isdigit():
                self.fail(f"an array of extent {t.dims[0]} in a struct parameter", where)
            element = replace(t, dims=t.dims[1:])
            return [s for k in range(int(t.dims[0])) for s in self.scalars(element, (*keys, k), f"{path}[{k}]", where)]
        if t.complex:
            part = CType(COMPLEX[t.base])
            return [((*keys, "real"), f"{path}.re", part), ((*keys, "imag"), f"{path}.im", part)]
        if t.base in self.fields:
            return [s for name, field_type in self.fields[t.base].items()
                    for s in self.scalars(field_type, (*keys, name), f"{path}.{_ident(name)}", where)]
        if t.base == "half" or t.vector:
            self.fail(f"a {t.base} in a struct parameter", where, "pass it as float or through an array")
        return [(keys, path, t)]

    def c_layout(self, t: CType) -> tuple[list[int], int, int]:
        """The byte offsets of the scalars ``scalars`` lists for ``t`` as C lays them out
        (NVRTC's kernel reads them there), and ``t``'s size and alignment. CuPy's
        complex<T> is aligned to its size (__align__(2 * sizeof(T))), which NumPy's
        complex64 in a dtype of align=True is not: hal places the fields itself."""
        if t.dims:
            offsets, size, align = self.c_layout(replace(t, dims=t.dims[1:]))
            n = int(t.dims[0])
            return [k * size + o for k in range(n) for o in offsets], n * size, align
        if t.complex:
            part = SIZES[COMPLEX[t.base]]
            return [0, part], 2 * part, 2 * part
        if t.base in self.fields:
            offsets, end, align = [], 0, 1
            for field_type in self.fields[t.base].values():
                inner, size, field_align = self.c_layout(field_type)
                end = -(-end // field_align) * field_align
                offsets += [end + o for o in inner]
                end, align = end + size, max(align, field_align)
            return offsets, -(-end // align) * align, align
        return [0], SIZES[t.base], SIZES[t.base]

    def params(self, func: c_ast.FuncDecl, where) -> list[tuple[str, CType]]:
        out = []
        for p in (func.args.params if func.args else []):
            if isinstance(p, c_ast.Typename) and _is_void(p):
                continue
            if isinstance(p, c_ast.EllipsisParam):
                self.fail("variadic functions", where)
            t = self.decl_type(p.type, p)
            if t.dims:  # an array parameter is a pointer
                t = t.decayed()
            if t.ptr > 1:
                self.fail("pointer-to-pointer parameters", p)
            out.append((p.name, t))
        return out

    def shared_declarations(self, body: c_ast.Compound, prologue: list) -> None:
        """Every ``__shared__`` declaration of the kernel, declared at its top (OpenCL C
        wants LOCAL variables at kernel scope)."""
        dyn = False
        for node in _walk(body):  # (the kernel's named integer values first: shared array sizes may use them)
            if isinstance(node, c_ast.Decl) and node.name not in self.scopes[1]:
                self.named_value(node, self.scopes[1])
        for node in _walk(body):
            if not (isinstance(node, c_ast.Decl) and "_Thread_local" in node.storage):
                continue
            t = self.decl_type(node.type, node)
            if node.init is not None:
                self.fail("an initializer on a __shared__ variable", node)
            if "extern" in node.storage:
                if not dyn:
                    prologue.insert(0, "LOCAL u64 hal_dyn[(HAL_DYN_BYTES + 7) / 8 + 1];")
                    dyn = True
                pointer = replace(t.decayed(), space="LOCAL")
                prologue.append(f"{pointer.declarator(_ident(node.name))} = {pointer.cast()}hal_dyn;")
                self.scopes[1][node.name] = _Var(_ident(node.name), pointer)
                continue
            local = replace(t, space="LOCAL")
            if not t.dims:  # a shared scalar: a one-element array, used as its element
                prologue.append(f"LOCAL {replace(t, dims=('1',)).declarator(_ident(node.name))};")
                self.scopes[1][node.name] = _Var(f"{_ident(node.name)}[0]", local)
                continue
            prologue.append(f"LOCAL {t.declarator(_ident(node.name))};")
            self.scopes[1][node.name] = _Var(_ident(node.name), local)

    # -- the blocks shape: a block's threads as loops --------------------------------------------
    def c_body(self, body: c_ast.Compound, prologue: list) -> str:
        head = prologue + ["u32 hal_tx = 0, hal_ty = 0, hal_tz = 0; i64 hal_t = 0; (void)hal_t;"]
        self.hoisted = []
        self.scopes.append({})
        if not self.kernel.barrier:
            code = self.region(body.block_items or [])
        else:
            head.append("u8 hal_done[HAL_NT] = {0};")
            code = self.split(body.block_items or [])
        self.scopes.pop()
        return "\n".join(head + self.hoisted + [code])

    def thread_loop(self, inner: str) -> str:
        label = f"hal_end_{self.labels}"
        self.labels += 1
        skip = ("if (" + " || ".join(["hal_done[hal_t]"] + [f"{f}[hal_t]" for f in self.exits]) + ") continue;\n"
                if self.kernel.barrier else "")
        return (f"for (hal_tz = 0; hal_tz < HAL_BD2; hal_tz++) for (hal_ty = 0; hal_ty < HAL_BD1; hal_ty++)\n"
                f"for (hal_tx = 0; hal_tx < HAL_BD0; hal_tx++) {{\nhal_t = ((i64)hal_tz * HAL_BD1 + hal_ty) * "
                f"HAL_BD0 + hal_tx;\n{skip}{{\n{inner.replace('HAL_REGION_END', label)}\n}}\n{label}: ;\n}}")

    def region(self, statements: list) -> str:
        """Statements free of barriers, run by every thread in turn."""
        if not statements:
            return ""
        self.region_label, self.enclosing = "HAL_REGION_END", []
        inner = "\n".join(s if isinstance(s, str) else self.statement(s) for s in statements)
        self.region_label = None
        return self.thread_loop(inner)

    def uniform(self) -> str:
        """Before a condition of control flow containing a barrier: thread 0's view."""
        return "hal_t = 0; hal_tx = hal_ty = hal_tz = 0;"

    def split(self, items: list) -> str:
        out, run = [], []
        for s in items:
            if _is_barrier(s) or _is_vote(s):
                out.append(self.region(run))
                run = []
                out.append(self.vote(s)[0] if _is_vote(s) else "")
            elif isinstance(s, c_ast.Decl):
                if "_Thread_local" in s.storage:
                    continue
                if s.init is not None and self.has_barrier(s.init):  # T x = f(...) + ...; f synchronizes
                    out.append(self.region(run))
                    run = []
                    s = copy.deepcopy(s)
                    out.append(self.lift(s))
                assign = self.hoist(s)
                if assign is not None:
                    run.append(assign)
            elif self.barrier_call(s) is not None:  # f(...); f synchronizes
                out.append(self.region(run))
                run = []
                out.append(self.inline(s, None))
            elif not isinstance(s, _STATEMENTS) and self.has_barrier(s):  # x = f(...) * 2; f synchronizes
                out.append(self.region(run))
                run = []
                s = copy.deepcopy(s)
                out.append(self.lift(s))
                run.append(s)
            elif self.has_barrier(s):
                out.append(self.region(run))
                run = []
                out.append(self.control(s))
            else:
                run.append(s)
        out.append(self.region(run))
        return "\n".join(x for x in out if x)

    def hoist_init_list(self, decl: c_ast.Decl, t: CType) -> str:
        """(blocks) ``T x = {...};`` living across a barrier: the per-thread element set
        from a compound literal (a struct) or element by element (a 1-D array)."""
        if t.dims and len(t.dims) == 1:
            t = replace(t, dims=(t.dims[0] or str(len(decl.init.exprs)),))
            var = self.hoist_var(decl.name, t)
            element = replace(t, dims=())
            return "\n".join(f"{var}[{k}] = {self.convert(e, element)};" for k, e in enumerate(decl.init.exprs))
        if t.dims or t.base not in self.fields:
            self.fail("an initializer list on this variable that lives across __syncthreads()", decl)
        var = self.hoist_var(decl.name, t)
        return f"{var} = ({t.word}){self.init_list(decl.init, t)};"

    def has_barrier(self, node) -> bool:
        return any(_is_barrier(n) or _is_vote(n) or (isinstance(n, c_ast.FuncCall) and isinstance(n.name, c_ast.ID)
                                      and n.name.name in self.barrier_helpers) for n in _walk(node))

    def hoist(self, decl: c_ast.Decl):
        """A declaration whose variable may live across a barrier: an array with one
        element per thread; returns its initialization as an assignment (or None)."""
        if self.named_value(decl, self.scopes[-1]):
            return None  # (its uses are its value)
        t = self.decl_type(decl.type, decl)
        if isinstance(decl.init, c_ast.InitList):
            return self.hoist_init_list(decl, t)
        if t.ptr and decl.init is not None:
            t = replace(t, space=self.expr(decl.init)[1].decayed().space)
        elif t.ptr:
            t = replace(t, space="GLOBAL")
        self.hoist_var(decl.name, t)
        if decl.init is None:
            return None
        return c_ast.Assignment("=", c_ast.ID(decl.name, coord=decl.coord), decl.init, coord=decl.coord)

    def barrier_call(self, node):
        """``node`` if it is a call of a __device__ function with barriers, else None."""
        if (isinstance(node, c_ast.FuncCall) and isinstance(node.name, c_ast.ID)
                and node.name.name in self.barrier_helpers):
            return node
        return None

    def inline(self, call: c_ast.FuncCall, target: str | None) -> str:
        """(blocks) A call of a __device__ function with barriers, inlined so that its
        barriers split the block's thread loops like the kernel's own: its parameters
        and locals get one element per thread; its one ``return`` ends its body."""
        fn = self.functions[call.name.name]
        if call.name.name in self.inlining:
            self.fail("recursion through __syncthreads()", call)
        items = list(fn.node.body.block_items or [])
        final = items.pop() if items and isinstance(items[-1], c_ast.Return) else None
        if any(isinstance(n, c_ast.Return) for item in items for n in _walk(item)):
            self.fail(f"a return before the end of {call.name.name}(), which calls __syncthreads()", call)
        args = [self.expr(e) for e in (call.args.exprs if call.args is not None else [])]
        with self.binding(self.deduce(fn, args, call)):
            return self.inlined(fn, call, args, items, final, target)

    def inlined(self, fn: _Function, call: c_ast.FuncCall, args: list, items: list, final, target) -> str:
        """inline's body, its template parameters bound."""
        params = self.params(fn.node.decl.type, fn.node)
        self.inlining.append(call.name.name)
        saved = self.return_type
        self.return_type = self.decl_type(fn.node.decl.type.type, fn.node)
        self.scopes.append({})
        try:
            assigns = []
            for (name, t), (text, at) in zip(params, args):
                if t.ptr:
                    t = replace(t, space=at.decayed().space)
                var = self.hoist_var(name, t)
                assigns.append(f"{var} = {text if t.ptr else self.convert_text(text, at, t)};")
            code = [self.region(assigns), self.split(items)]
            if final is not None and final.expr is not None and target is not None:
                code.append(self.region([f"{target} = {self.convert(final.expr, self.return_type)};"]))
            return "\n".join(c for c in code if c)
        finally:
            self.scopes.pop()
            self.return_type = saved
            self.inlining.pop()

    def lift(self, node) -> str:
        """(blocks) Inline every call of a synchronizing __device__ function inside
        ``node`` (arguments first) into a per-thread temporary that replaces the call."""
        code = []
        for name, child in node.children():
            code.append(self.lift(child))
            if _is_vote(child):
                tally, result = self.vote(child)
                code.append(tally)
                _replace_child(node, name, c_ast.ID(result, coord=child.coord))
            elif self.barrier_call(child) is not None:
                fn = self.functions[child.name.name]
                with self.binding(self.deduce(fn, [self.expr(e) for e in child.args.exprs] if child.args else [],
                                              child)):
                    ret = self.decl_type(fn.node.decl.type.type, fn.node)
                if ret.base == "void":
                    self.fail(f"the value of {child.name.name}(), which returns void", child)
                temp = f"hal_ret{len(self.hoisted)}"
                code.append(self.inline(child, self.hoist_var(temp, ret)))
                _replace_child(node, name, c_ast.ID(temp, coord=child.coord))
        return "\n".join(c for c in code if c)

    def vote(self, call) -> tuple[str, str]:
        """(blocks) ``__syncthreads_count/_and/_or(p)``: each thread's predicate in its
        slot (0: it took no part, having returned or left the loop; 1: false; 2: true),
        then one tally, a variable the whole block reads. Returns (code, its name)."""
        exprs = call.args.exprs if call.args is not None else []
        if len(exprs) != 1:
            self.fail(f"{call.name.name} with {len(exprs)} arguments", call, "it takes one")
        n = self.labels
        self.labels += 1
        slots, result = f"hal_pred{n}", f"hal_vote{n}"
        self.hoisted += [f"u8 {slots}[HAL_NT];", f"i32 {result};"]
        self.declare(result, _Var(result, INT))
        kind = _VOTES[call.name.name]
        tally = (f"{result} += {slots}[hal_t] == 2;", f"{result} &= {slots}[hal_t] != 1;",
                 f"{result} |= {slots}[hal_t] == 2;")[kind]
        clear = f"for (hal_t = 0; hal_t < HAL_NT; hal_t++) {slots}[hal_t] = 0;"
        fill = self.region([f"{slots}[hal_t] = ({self.value(exprs[0])[0]}) ? 2 : 1;"])
        return (f"{clear}\n{fill}\n{result} = {int(kind == 1)};\n"
                f"for (hal_t = 0; hal_t < HAL_NT; hal_t++) {tally}"), result

    def lifted_condition(self, s) -> str:
        """(blocks) The votes and synchronizing calls in ``s.cond`` (a copy of the
        statement), computed before it: the condition then reads their results."""
        if s.cond is None or not self.has_barrier(s.cond):
            return ""
        holder = c_ast.ExprList([copy.deepcopy(s.cond)])
        code = self.lift(holder)
        s.cond = holder.exprs[0]
        return code + "\n"

    def hoist_var(self, name: str, t: CType) -> str:
        """A per-thread variable ``name`` of type ``t`` in the current scope; its text."""
        emitted = f"{_ident(name)}_h{len(self.hoisted)}"
        self.hoisted.append(replace(t, dims=("HAL_NT", *t.dims)).declarator(emitted) + ";")
        self.declare(name, _Var(f"{emitted}[hal_t]", t))
        return f"{emitted}[hal_t]"

    def control(self, s) -> str:
        s = copy.copy(s)  # (lifted_condition replaces its condition)
        if isinstance(s, c_ast.Compound):
            self.scopes.append({})
            try:
                return self.split(s.block_items or [])
            finally:
                self.scopes.pop()
        if isinstance(s, c_ast.If):
            lifted = self.lifted_condition(s)
            cond = self.condition(s.cond)
            text = f"{lifted}{self.uniform()}\nif ({cond}) {{\n{self.split(_items(s.iftrue))}\n}}"
            if s.iffalse is not None:
                text += f" else {{\n{self.split(_items(s.iffalse))}\n}}"
            return text
        if isinstance(s, (c_ast.For, c_ast.While)):
            self.scopes.append({})
            try:
                init = ""
                if isinstance(s, c_ast.For) and s.init is not None:
                    decls = s.init.decls if isinstance(s.init, c_ast.DeclList) else None
                    init = self.region([a for a in map(self.hoist, decls) if a is not None] if decls
                                       else [s.init])
                lifted = self.lifted_condition(s)
                check = (f"{lifted}{self.uniform()}\nif (!({self.condition(s.cond)})) break;\n"
                         if s.cond is not None else "")
                with self.barrier_loop(s.stmt) as (flag, end):
                    body = self.split(_items(s.stmt))
                    step = self.region([s.next]) if isinstance(s, c_ast.For) and s.next is not None else ""
                return f"{init}\nfor (;;) {{\n{check}{body}\n{end}{step}\n}}{self.reset(flag)}"
            finally:
                self.scopes.pop()
        if isinstance(s, c_ast.DoWhile):
            with self.barrier_loop(s.stmt) as (flag, end):
                body = self.split(_items(s.stmt))
            lifted = self.lifted_condition(s)
            return (f"do {{\n{body}\n{end}{lifted}{self.uniform()}\n}} while ({self.condition(s.cond)});"
                    f"{self.reset(flag)}")
        self.fail("__syncthreads() inside this statement", s, "only in if/for/while/do and blocks")

    @contextlib.contextmanager
    def barrier_loop(self, body):
        """(blocks) A loop with barriers whose ``body`` has a ``break`` or ``continue``:
        a per-thread exit flag (see ``jump``) that its thread loops skip on, and the
        text ending an iteration: continued threads rejoin, and the loop ends when every
        thread has left it (or returned). Yields (flag or None, that text)."""
        if not any(isinstance(n, (c_ast.Break, c_ast.Continue)) for n in _walk(body)):
            yield None, ""
            return
        flag = f"hal_exit{self.labels}"
        self.labels += 1
        self.hoisted.append(f"u8 {flag}[HAL_NT] = {{0}};")
        self.exits.append(flag)
        try:
            yield flag, (f"{{ i64 hal_k; u8 hal_in = 0;\nfor (hal_k = 0; hal_k < HAL_NT; hal_k++) {{ "
                         f"if ({flag}[hal_k] == 1) {flag}[hal_k] = 0; "
                         f"if (!{flag}[hal_k] && !hal_done[hal_k]) hal_in = 1; }}\nif (!hal_in) break; }}\n")
        finally:
            self.exits.pop()

    @staticmethod
    def reset(flag) -> str:
        """After a loop with an exit flag: every thread in again (the loop may run anew)."""
        return f"\n{{ i64 hal_k; for (hal_k = 0; hal_k < HAL_NT; hal_k++) {flag}[hal_k] = 0; }}" if flag else ""

    def condition(self, node) -> str:
        """A condition's text, without the parentheses every binary expression gets
        (``if ((a == b))`` is a compiler warning that pyopencl shows the user)."""
        text, _ = self.value(node)
        return text[1:-1] if isinstance(node, c_ast.BinaryOp) else text

    # -- statements --------------------------------------------------------------
    def block_items(self, items: list) -> str:
        return "\n".join(self.statement(s) for s in items
                         if not (isinstance(s, c_ast.Decl) and "_Thread_local" in s.storage))

    def statement(self, s) -> str:
        if s is None or isinstance(s, (c_ast.EmptyStatement, c_ast.Pragma)):
            return ";"
        if isinstance(s, c_ast.Compound):
            self.scopes.append({})
            try:
                return "{\n" + self.block_items(s.block_items or []) + "\n}"
            finally:
                self.scopes.pop()
        if isinstance(s, c_ast.Decl):
            if "_Thread_local" in s.storage:  # (declared by the kernel's prologue; helpers have none)
                return ";"
            return self.declaration(s)
        if _is_barrier(s):
            return "HAL_SYNCTHREADS();"  # (the blocks shape splits its loops at barriers instead)
        if isinstance(s, c_ast.If):
            text = f"if ({self.condition(s.cond)}) {self.sub(s.iftrue)}"
            return text + (f" else {self.sub(s.iffalse)}" if s.iffalse is not None else "")
        if isinstance(s, c_ast.For):
            self.scopes.append({})
            try:
                if isinstance(s.init, c_ast.DeclList):
                    init = " ".join(self.declaration(d) for d in s.init.decls)
                else:
                    init = (self.expr(s.init)[0] if s.init is not None else "") + ";"
                cond = self.condition(s.cond) if s.cond is not None else ""
                nxt = self.expr(s.next)[0] if s.next is not None else ""
                return f"{{ {init} for (; {cond}; {nxt}) {self.loop_body(s.stmt)} }}"
            finally:
                self.scopes.pop()
        if isinstance(s, c_ast.While):
            return f"while ({self.condition(s.cond)}) {self.loop_body(s.stmt)}"
        if isinstance(s, c_ast.DoWhile):
            return f"do {self.loop_body(s.stmt)} while ({self.condition(s.cond)});"
        if isinstance(s, c_ast.Switch):
            return f"switch ({self.expr(s.cond)[0]}) {self.loop_body(s.stmt, 'switch')}"
        if isinstance(s, c_ast.Case):
            return f"case {self.expr(s.expr)[0]}:\n" + "\n".join(self.statement(x) for x in s.stmts or [])
        if isinstance(s, c_ast.Default):
            return "default:\n" + "\n".join(self.statement(x) for x in s.stmts or [])
        if isinstance(s, (c_ast.Break, c_ast.Continue)):
            return self.jump(s)
        if isinstance(s, c_ast.Return):
            return self.return_statement(s)
        if isinstance(s, (c_ast.Goto, c_ast.Label)):
            self.fail("goto and labels", s)
        return self.expr(s)[0] + ";"

    def sub(self, s) -> str:
        """A nested statement in its own scope."""
        self.scopes.append({})
        try:
            return "{\n" + self.statement(s) + "\n}"
        finally:
            self.scopes.pop()

    def loop_body(self, s, kind: str = "loop") -> str:
        self.enclosing.append(kind)
        try:
            return self.sub(s)
        finally:
            self.enclosing.pop()

    def jump(self, s) -> str:
        """``break``/``continue``. (blocks) Out of a loop with barriers, whose iterations
        are outside the thread loops: the thread marks its exit flag (1: continued, 2:
        left the loop) and goes on to the next thread; marked threads skip the rest of
        the iteration or loop (``barrier_loop``)."""
        word = "break" if isinstance(s, c_ast.Break) else "continue"
        if self.region_label is None or "loop" in self.enclosing or (word == "break" and self.enclosing):
            return f"{word};"
        if not self.exits:
            self.fail(f"{word} outside a loop", s)
        return f"{{ {self.exits[-1]}[hal_t] = {2 if word == 'break' else 1}; goto {self.region_label}; }}"

    def return_statement(self, s) -> str:
        if self.in_helper:
            if s.expr is None:
                return "return;"
            return f"return {self.convert(s.expr, self.return_type)};"
        if s.expr is not None:
            self.fail("returning a value from a __global__ function", s)
        if self.shape == "blocks":  # the thread is done: on to the next one of the loop
            done = "hal_done[hal_t] = 1; " if self.kernel.barrier else ""
            return f"{{ {done}goto {self.region_label}; }}"
        return "return;"

    def declaration(self, d: c_ast.Decl) -> str:
        if isinstance(d.type, c_ast.FuncDecl):
            self.fail("a function declaration inside a function", d)
        if "register" in d.storage:
            self.fail("a __constant__ variable inside a function", d, "declare it at file scope")
        if "static" in d.storage or "extern" in d.storage:
            self.fail("static or extern local variables", d)
        if self.named_value(d, self.scopes[-1]):
            return ""  # (its uses are its value)
        t = self.decl_type(d.type, d)
        if t.dims and t.dims[0] == "" and isinstance(d.init, c_ast.InitList):
            t = replace(t, dims=(str(len(d.init.exprs)), *t.dims[1:]))
        init = ""
        if t.ptr:
            space = self.expr(d.init)[1].decayed().space if d.init is not None else "GLOBAL"
            t = replace(t, space=space)
        if isinstance(d.init, c_ast.InitList):
            init = " = " + self.init_list(d.init, replace(t, dims=t.dims[1:]))
        elif d.init is not None:
            init = " = " + self.convert(d.init, t)
        self.declare(d.name, _Var(_ident(d.name), t))
        return f"{t.declarator(_ident(d.name))}{init};"

    def init_list(self, node: c_ast.InitList, element: CType) -> str:
        parts = [self.init_list(e, replace(element, dims=element.dims[1:])) if isinstance(e, c_ast.InitList)
                 else self.convert(e, element) for e in node.exprs]
        return "{" + ", ".join(parts) + "}"

    # -- helper functions ---------------------------------------------------------
    def helper_call(self, name: str, node: c_ast.FuncCall, args: list) -> tuple[str, CType]:
        fn = self.functions[name]
        bound = self.deduce(fn, args, node)
        with self.binding(bound):
            params = self.params(fn.node.decl.type, fn.node)
            spaces = tuple((at.decayed().space or "PRIVATE") if pt.ptr else None
                           for (_, pt), (_, at) in zip(params, args))
            key = (tuple(t.base for t in bound.values()), spaces)
            if key not in fn.specialized:
                fn.specialized[key] = self.emit_helper(fn, params, spaces, key[0])
            ret = self.returned(fn, spaces)
            converted = [text if pt.ptr else self.convert_text(text, at, pt)
                         for (_, pt), (text, at) in zip(params, args)]
        if self.shape == "blocks":
            converted += ["hal_tx", "hal_ty", "hal_tz", "hal_gid", "hal_grid"]
        return f"{fn.specialized[key]}({', '.join(converted)})", ret

    def deduce(self, fn: _Function, args: list, node) -> dict:
        """The types a call's arguments give a template helper's placeholders: a parameter
        declared T, T* or const T* takes T from its argument (C++'s deduction, without
        conversions: the arguments must agree)."""
        declared = [p for p in (fn.node.decl.type.args.params if fn.node.decl.type.args else [])
                    if not (isinstance(p, c_ast.Typename) and _is_void(p))]
        if len(declared) != len(args):
            self.fail(f"calling {fn.node.decl.name} with {len(args)} arguments", node, f"it takes {len(declared)}")
        bound: dict = {}
        for p, (_, at) in zip(declared, args):
            placeholder, depth = _declared_as(p)
            if placeholder not in fn.generic:
                continue
            value = at.decayed()
            for _ in range(depth):
                if not value.ptr:
                    self.fail(f"passing a value to the pointer parameter {p.name} of {fn.node.decl.name}", node)
                value = value.element().decayed()
            if not value.scalar:
                self.fail(f"deducing the template parameter of {fn.node.decl.name} as a pointer or array type",
                          node, "write it, as in f<float>(x)")
            value = CType(value.base)
            if bound.setdefault(placeholder, value) != value:
                self.fail(f"deducing the template parameter of {fn.node.decl.name} from arguments of types "
                          f"{bound[placeholder].base} and {value.base}", node, "write it, as in f<float>(x)")
        missing = [g for g in fn.generic if g not in bound]
        if missing:
            self.fail(f"deducing {missing[0].rsplit('__', 1)[1]} of {fn.node.decl.name}", node,
                      "write the template arguments, as in f<float>(x)")
        return bound

    @contextlib.contextmanager
    def binding(self, bound: dict):
        """The placeholders of a template helper as the types a call gives them."""
        saved = {name: self.aliases.get(name) for name in bound}
        self.aliases.update(bound)
        try:
            yield
        finally:
            for name, t in saved.items():
                if t is None:
                    self.aliases.pop(name, None)
                else:
                    self.aliases[name] = t

    def returned(self, fn: _Function, spaces: tuple) -> CType:
        """What ``fn`` returns when its pointer parameters point into ``spaces``: a pointer
        points where they do (OpenCL 1.2 has no generic pointers to return)."""
        ret = self.decl_type(fn.node.decl.type.type, fn.node)
        if not ret.ptr:
            return ret
        pointed = {s for s in spaces if s is not None}
        if len(pointed) != 1:
            self.fail(f"{fn.node.decl.name} returning a pointer", fn.node,
                      "hal returns pointers into the memory its pointer parameters point to, all of one kind")
        space = pointed.pop()
        return replace(ret, space=None if space == "PRIVATE" else space)

    def emit_helper(self, fn: _Function, params: list, spaces: tuple, types: tuple = ()) -> str:
        suffix = "".join({"LOCAL": "_l", "PRIVATE": "_p", "HAL_CONSTANT": "_c"}.get(s, "_g") for s in spaces)
        # (prefixed: a helper may be called like an OpenCL builtin, clamp or dot)
        name = f"hal_f_{fn.node.decl.name}" + "".join(f"_{t}" for t in types) + (
            suffix if any(s not in (None, "GLOBAL") for s in spaces) else "")
        fn.specialized[(types, spaces)] = name  # (recursion is not supported, but must not loop)
        saved = (self.scopes, self.in_helper, self.return_type, self.region_label, self.enclosing)
        self.scopes, self.in_helper, self.region_label, self.enclosing = [self.globals, {}], True, None, []
        self.return_type = self.returned(fn, spaces)
        try:
            signature = []
            for (pname, pt), space in zip(params, spaces):
                if pt.ptr:
                    pt = replace(pt, space=None if space == "PRIVATE" else space)
                signature.append(pt.declarator(_ident(pname)))
                self.declare(pname, _Var(_ident(pname), pt))
            if self.shape == "blocks":
                signature += ["u32 hal_tx", "u32 hal_ty", "u32 hal_tz", "const i64 *hal_gid", "const i64 *hal_grid"]
            body = self.statement(fn.node.body)
            ret = self.return_type.declarator("").rstrip() if self.return_type.base != "void" else "void"
            self.emitted.append(f"INLINE {ret} {name}({', '.join(signature) or 'void'}) {body}\n")
        finally:
            self.scopes, self.in_helper, self.return_type, self.region_label, self.enclosing = saved
        return name

    # -- expressions -----------------------------------------------------------------
    def value(self, node) -> tuple[str, CType]:
        """An expression as an rvalue: a half becomes the f32 it stands for."""
        text, t = self.expr(node)
        if t.scalar and t.base == "half":
            return f"half_to_f32({text})", F32
        return text, t

    def convert_text(self, text: str, t: CType, to: CType) -> str:
        if to.complex and t.scalar and t.base != to.base:
            return _to_complex(text, t, to)
        if to.scalar and to.base == "half":
            return text if t.base == "half" and t.scalar else f"hal_to_half((f32)({text}))"
        if t.scalar and t.base == "half" and to.scalar:
            return f"(({to.word})half_to_f32({text}))"
        return text

    def convert(self, node, to: CType) -> str:
        text, t = self.expr(node)
        return self.convert_text(text, t, to)

    def expr(self, node) -> tuple[str, CType]:
        method = getattr(self, "e_" + type(node).__name__, None)
        if method is None:
            self.fail(f"the expression {type(node).__name__}", node)
        return method(node)

    def e_Constant(self, node):
        v = node.value
        if node.type in ("int", "unsigned int", "long int", "unsigned long int", "long long int",
                         "unsigned long long int"):
            low = v.lower()
            unsigned, longs = "u" in low, low.count("l")
            word = ("u" if unsigned else "i") + ("64" if longs else "32")
            digits = v.rstrip("uUlL")
            return f"(({word}){digits})" if word != "i32" else digits, CType(word)
        if node.type in ("float", "double"):
            is_f32 = v[-1] in "fF"
            if is_f32:
                return v, F32
            return v if v[-1] not in "lL" else v[:-1], F64
        if node.type == "char":
            return v, INT
        self.fail("string literals", node)

    def e_ID(self, node):
        if node.name in _BUILTINS and not any(node.name in scope for scope in self.scopes):
            # a whole threadIdx/blockIdx/blockDim/gridDim: CUDA's uint3 (dim3)
            parts = ", ".join(self.builtin(node.name, d) for d in range(3))
            return f"hal_make_uint3({parts})", CType("uint3")
        var = self.lookup(node.name, node)
        return var.text, var.type

    def e_StructRef(self, node):
        if isinstance(node.name, c_ast.ID) and node.name.name in _BUILTINS and node.type == ".":
            axis = _AXES.get(node.field.name)
            if axis is None:
                self.fail(f"{node.name.name}.{node.field.name}", node)
            return self.builtin(node.name.name, axis), CType("u32")
        base, t = self.expr(node.name)
        record = t.element() if node.type == "->" and t.ptr else t
        if record.scalar and record.base in self.fields:
            fields = self.fields[record.base]
            if node.field.name not in fields:
                self.fail(f"the member {node.field.name}", node, f"the struct has {', '.join(fields)}")
            return f"{base}{node.type}{_ident(node.field.name)}", fields[node.field.name]
        vector = record
        if vector.base in VECTORS and vector.scalar and node.field.name in "xyzw"[:VECTORS[vector.base][1]]:
            return f"{base}{node.type}{node.field.name}", CType(VECTORS[vector.base][0])
        self.fail("struct member access", node, "only the x/y/z/w of CUDA's vector types")

    def builtin(self, name: str, d: int) -> str:
        if self.shape == "threads":
            fn = {"threadIdx": "LOCAL_ID", "blockIdx": "GROUP_ID", "blockDim": "LOCAL_SIZE", "gridDim": "NUM_GROUPS"}
            return f"((u32){fn[name]}({d}))"
        return {"threadIdx": ("hal_tx", "hal_ty", "hal_tz")[d], "blockIdx": f"((u32)GROUP_ID({d}))",
                "blockDim": f"((u32)HAL_BD{d})", "gridDim": f"((u32)NUM_GROUPS({d}))"}[name]

    def e_ArrayRef(self, node):
        base, bt = self.expr(node.name)
        index, it = self.value(node.subscript)
        if bt.scalar:
            self.fail("indexing a non-pointer", node)
        if not it.is_int:
            self.fail(f"an index of type {it.base}{'*' * it.ptr}{'[]' * len(it.dims)}", node,
                      "indices are integers (a raw parameter is indexed by its flat index, not CuPy's index arrays)")
        return f"{base}[{index}]", bt.element()

    def e_UnaryOp(self, node):
        op = node.op
        if op == "sizeof":
            if isinstance(node.expr, c_ast.Typename):
                t = self.decl_type(node.expr, node)
            else:
                t = self.expr(node.expr)[1]
            if t.base in self.fields:
                return f"((u64)sizeof({t.declarator('').rstrip()}))", CType("u64")
            return f"((u64){_sizeof(t)})", CType("u64")
        if op == "&":
            text, t = self.expr(node.expr)
            return f"(&{text})", t.pointer_to()
        if op == "*":
            text, t = self.expr(node.expr)
            return f"(*{text})", t.decayed().element()
        if op in ("p++", "p--", "++", "--"):
            text, t = self.expr(node.expr)
            if t.scalar and t.base == "half":
                self.fail("++/-- on a half", node)
            return (f"({text}{op[1:]})" if op[0] == "p" else f"({op}{text})"), t
        text, t = self.value(node.expr)
        if t.complex:
            if op not in ("-", "+"):
                self.fail(f"the operator {op} on complex numbers", node)
            return (f"hal_{t.base}_neg({text})" if op == "-" else text), t
        if op == "!":
            return f"(!{text})", INT
        if op == "-" and t.scalar and _wraps(promoted(t)) and not isinstance(node.expr, c_ast.Constant):  # (-1: -1)
            return _wrapping("0", "-", text, promoted(t)), promoted(t)
        return f"({op}{text})", promoted(t) if t.scalar else t

    def e_BinaryOp(self, node):
        a, at = self.value(node.left)
        b, bt = self.value(node.right)
        op = node.op
        if op in ("<", ">", "<=", ">=", "==", "!=", "&&", "||") and not (at.complex or bt.complex):
            return f"({a} {op} {b})", INT
        if at.vector or bt.vector:
            self.fail("arithmetic on vector types", node, "operate on their .x/.y/.z/.w")
        if at.complex or bt.complex:
            return self.complex_binary(node, op, a, at, b, bt)
        if not at.scalar or not bt.scalar:  # pointer arithmetic
            if op == "-" and not at.scalar and not bt.scalar:
                return f"({a} - {b})", CType("i64")
            return f"({a} {op} {b})", (at if not at.scalar else bt).decayed()
        if op in ("<<", ">>"):
            t = promoted(at)
            return (_wrapping(a, op, b, t, shift=True) if op == "<<" and _wraps(t) else f"({a} {op} {b})"), t
        t = arithmetic(at, bt)
        if op in ("/", "%") and t.is_int:  # (a zero divisor must not trap: helpers.py)
            return f"hal_{'div' if op == '/' else 'rem'}_{t.base}(({t.base})({a}), ({t.base})({b}))", t
        if op in _WRAPPING and _wraps(t):
            return _wrapping(a, op, b, t), t
        return f"({a} {op} {b})", t

    def complex_binary(self, node, op: str, a: str, at: CType, b: str, bt: CType):
        """complex<T> operators: the dialect's c64_add... on operands made complex."""
        t = arithmetic(at, bt)
        a, b = _to_complex(a, at, t), _to_complex(b, bt, t)
        names = {"+": "add", "-": "sub", "*": "mul", "/": "div"}
        if op in names:
            return f"{t.base}_{names[op]}({a}, {b})", t
        if op in ("==", "!="):
            return f"({'!' if op == '!=' else ''}{t.base}_eq({a}, {b}))", INT
        self.fail(f"the operator {op} on complex numbers", node)

    def e_TernaryOp(self, node):
        c, _ = self.value(node.cond)
        a, at = self.value(node.iftrue)
        b, bt = self.value(node.iffalse)
        t = arithmetic(at, bt) if at.scalar and bt.scalar else at.decayed()
        return f"({c} ? {a} : {b})", t

    def e_Assignment(self, node):
        target, t = self.expr(node.lvalue)
        if t.scalar and t.base == "half":
            if node.op == "=":
                return f"({target} = {self.convert(node.rvalue, t)})", t
            rhs, _ = self.value(node.rvalue)
            return f"({target} = hal_to_half(half_to_f32({target}) {node.op[:-1]} ({rhs})))", t
        if t.complex:
            if node.op == "=":
                return f"({target} = {self.convert(node.rvalue, t)})", t
            rhs, rt = self.value(node.rvalue)
            combined, _ = self.complex_binary(node, node.op[:-1], target, t, rhs, rt)
            return f"({target} = {_to_complex(combined, arithmetic(t, rt), t)})", t
        rhs, rt = self.value(node.rvalue)
        if node.op in ("/=", "%=") and t.is_int:
            common = arithmetic(t, rt)
            if common.is_int:
                quotient, _ = self.e_BinaryOp(c_ast.BinaryOp(node.op[0], node.lvalue, node.rvalue, coord=node.coord))
                return f"({target} = ({t.word})({quotient}))", t
        op = node.op[:-1]
        if (op in _WRAPPING or op == "<<") and t.is_int and rt.is_int and not _has_side_effects(node.lvalue):
            common = promoted(t) if op == "<<" else arithmetic(t, rt)
            if _wraps(common):  # (target read twice: only where reading it has no side effects)
                return f"({target} = ({t.word}){_wrapping(target, op, rhs, common, shift=op == '<<')})", t
        return f"({target} {node.op} {rhs})", t

    def e_Cast(self, node):
        to = self.decl_type(node.to_type, node)
        text, t = self.expr(node.expr)
        if to.scalar and to.base == "half" or to.complex:
            return self.convert_text(text, t, to), to
        if to.ptr:
            to = replace(to, space=t.decayed().space)
            return f"({to.cast()}{text})", to
        if t.scalar and t.base == "half":
            text = f"half_to_f32({text})"
        return f"(({to.word}){text})", to

    def e_ExprList(self, node):
        parts = [self.expr(e) for e in node.exprs]
        return "(" + ", ".join(p for p, _ in parts) + ")", parts[-1][1]

    def e_FuncCall(self, node):
        if isinstance(node.name, c_ast.StructRef):
            key = (getattr(node.name.name, "name", None), node.name.field.name)
            if key in self.calls:
                return self.e_ID(c_ast.ID(self.calls[key], coord=node.coord))
            if node.name.field.name in ("real", "imag") and node.name.type == ".":
                text, t = self.expr(node.name.name)
                if t.complex:
                    return f"({text}).{node.name.field.name[:2]}", CType(COMPLEX[t.base])
            self.fail("method calls", node, "of CuPy's CArray, a raw parameter is a pointer (its size: pass it "
                      "as a scalar); _ind.size() is the ElementwiseKernel's size")
        if not isinstance(node.name, c_ast.ID):
            self.fail("calls through function pointers", node)
        name = node.name.name
        exprs = node.args.exprs if node.args is not None else []
        for prefix, construct in _UNSUPPORTED_CALLS:
            if name.startswith(prefix) and name not in self.functions:
                self.fail(construct, node)
        if name in self.functions:
            return self.helper_call(name, node, [self.expr(e) for e in exprs])
        if name == "__syncthreads":
            self.fail("__syncthreads() inside an expression", node)
        if name in _VOTES:
            if self.in_helper:
                self.fail(f"{name}() in a __device__ function", node, "call it in the kernel")
            if self.shape == "blocks":  # (split lifts the votes of statements and conditions)
                self.fail(f"{name}() inside this statement", node, "use it in an expression statement, a "
                          "declaration or the condition of if/for/while/do")
            if len(exprs) != 1:
                self.fail(f"{name} with {len(exprs)} arguments", node, "it takes one")
            return f"hal_vote(({self.value(exprs[0])[0]}) != 0, hal_votes, {_VOTES[name]})", INT
        if name in ("__threadfence", "__threadfence_block", "__threadfence_system"):
            return "HAL_THREADFENCE()", CType("void")
        # (a block's or the system's scope: hal's device-wide atomics are atomic in both, as
        # no host or other device touches the memory while a kernel runs)
        scoped = name.removesuffix("_block").removesuffix("_system")
        if scoped in _ATOMICS:
            return self.atomic(_ATOMICS[scoped], node, exprs)
        if name == "printf":
            return self.printf(node, exprs)
        if name in _CACHE_LOADS:  # (cache hints: a plain load)
            text, t = self.expr(exprs[0])
            return f"(*{text})", t.decayed().element()
        args = [self.value(e) for e in exprs]
        if name in ("hal_make_c64", "hal_make_c128"):
            c = name[9:]
            parts = [f"({COMPLEX[c]})({a})" for a, _ in args] + [f"({COMPLEX[c]})0"] * (2 - len(args))
            if len(args) == 1 and args[0][1].complex:
                return _to_complex(args[0][0], args[0][1], CType(c)), CType(c)
            return f"{c}_make({parts[0]}, {parts[1]})", CType(c)
        if args and args[0][1].complex and name in _COMPLEX_FUNCS:
            z, t = args[0]
            if name in ("real", "imag"):
                return f"({z}).{name[:2]}", CType(COMPLEX[t.base])
            kind = _COMPLEX_FUNCS[name]
            return f"hal_{t.base}_{name}({z})", CType(COMPLEX[t.base]) if kind == "real" else t
        if name.startswith("make_") and name[5:] in VECTORS:
            word, n = VECTORS[name[5:]]
            if len(args) != n:
                self.fail(f"{name} with {len(args)} arguments", node, f"it takes {n}")
            return f"hal_{name}({', '.join(f'({word})({a})' for a, _ in args)})", CType(name[5:])
        if name in _SIMPLE_INTRINSICS:
            template, t = _SIMPLE_INTRINSICS[name]
            if name in ("__half2float",):
                args = [self.expr(e) for e in exprs]
            return template.format(**dict(zip("abc", (a for a, _ in args)))), t
        if name in _F32_FUNCS:
            return f"{_F32_FUNCS[name]}({', '.join(f'(f32)({a})' for a, _ in args)})", F32
        if name in _GENERIC_FUNCS or name in _PREDICATES:
            floats = [t for _, t in args if t.is_float]
            ft = F64 if not floats or any(t.base == "f64" for t in floats) else F32
            text = f"{_GENERIC_FUNCS.get(name, name)}({', '.join(f'({ft.word})({a})' for a, _ in args)})"
            return (f"((i32){text})", INT) if name in _PREDICATES else (text, ft)
        if name in _MIN_MAX:
            which = _MIN_MAX[name]
            t = arithmetic(args[0][1], args[1][1])
            if name.startswith("u") or name.startswith("ull"):
                t = CType("u64" if name.startswith("ull") else "u32")
            elif name.startswith("ll"):
                t = CType("i64")
            return f"hal_{which}_{t.word}(({t.word})({args[0][0]}), ({t.word})({args[1][0]}))", t
        if name in ("abs", "llabs", "labs", "fabs"):
            t = promoted(args[0][1]) if name in ("abs", "fabs") else CType("i64")
            return f"hal_abs_{t.word}(({t.word})({args[0][0]}))", t
        self.fail(f"the function {name}()", node, "it is neither a __device__ function here nor a CUDA "
                  "function hal translates")

    def printf(self, node, exprs: list):
        """printf as OpenCL C 1.2 (6.12.13) and C have it: the format string as written
        (OpenCL flushes the output when the kernel completes)."""
        if not exprs or not (isinstance(exprs[0], c_ast.Constant) and exprs[0].type == "string"):
            self.fail("printf without a string literal format", node)
        args = [self.value(e)[0] for e in exprs[1:]]
        return f"printf({', '.join([exprs[0].value, *args])})", INT

    def atomic(self, op: str, node, exprs: list):
        pointer, pt = self.expr(exprs[0])
        element = pt.decayed().element()
        floats = {"f32": ("add", "exch"), "f64": ("add",)}
        if op in ("inc", "dec") and element.base != "u32":
            self.fail(f"atomic{op.title()} on {element.base}", node, "it takes unsigned int")
        if element.scalar and element.base in floats and op not in floats[element.base] or \
                not element.scalar or element.base not in ("i32", "u32", "i64", "u64", "f32", "f64"):
            self.fail(f"atomic {op} on {element.base}", node, "atomics take int, unsigned, long long and "
                      "unsigned long long (float: atomicAdd and atomicExch; double: atomicAdd)")
        space = pt.decayed().space or "GLOBAL"
        if space not in ("GLOBAL", "LOCAL"):
            self.fail("atomics on private memory", node)
        values = [f"({element.word})({self.value(e)[0]})" for e in exprs[1:]]
        s = "g" if space == "GLOBAL" else "l"
        return f"hal_atomic_{op}_{element.word}_{s}({pointer}, {', '.join(values)})", element


# -- tree helpers ------------------------------------------------------------------
def _declared_as(param) -> tuple[str | None, int]:
    """(the one type name a parameter's declaration names, how many pointer or array levels
    wrap it): ("T", 1) for ``const T* p``; (None, 0) for a type of several words."""
    t, depth = param.type, 0
    while isinstance(t, (c_ast.PtrDecl, c_ast.ArrayDecl)):
        t, depth = t.type, depth + 1
    if isinstance(t, c_ast.TypeDecl) and isinstance(t.type, c_ast.IdentifierType) and len(t.type.names) == 1:
        return t.type.names[0], depth
    return None, 0


def _is_constant(node, scopes: list) -> bool:
    """Whether the expression ``node`` is made of literals, operators, casts, sizeof and
    names of integer values declared in ``scopes`` (named_value's)."""
    for n in _walk(node):
        if isinstance(n, (c_ast.FuncCall, c_ast.Assignment, c_ast.ArrayRef, c_ast.StructRef)) or \
                isinstance(n, c_ast.UnaryOp) and n.op in ("++", "p++", "--", "p--", "&", "*"):
            return False
        if isinstance(n, c_ast.ID) and not any(n.name in scope and scope[n.name].value for scope in scopes):
            return False
    return True


def _walk(node):
    yield node
    for _, child in node.children():
        yield from _walk(child)


def _is_barrier(s) -> bool:
    return (isinstance(s, c_ast.FuncCall) and isinstance(s.name, c_ast.ID) and s.name.name == "__syncthreads")


_STATEMENTS = (c_ast.Compound, c_ast.If, c_ast.For, c_ast.While, c_ast.DoWhile, c_ast.Switch, c_ast.Case,
               c_ast.Default, c_ast.Return, c_ast.Break, c_ast.Continue, c_ast.Goto, c_ast.Label, c_ast.Decl,
               c_ast.EmptyStatement, c_ast.Pragma)


def _is_vote(s) -> bool:
    return isinstance(s, c_ast.FuncCall) and isinstance(s.name, c_ast.ID) and s.name.name in _VOTES


def _replace_child(node, name: str, new) -> None:
    """Set the child that ``node.children()`` calls ``name`` ("rvalue", "exprs[1]")."""
    field, _, index = name.partition("[")
    if index:
        getattr(node, field)[int(index[:-1])] = new
    else:
        setattr(node, field, new)


def _barrier_helpers(functions: dict) -> set:
    """The __device__ functions that call __syncthreads(), directly or through others."""
    found: set = set()
    changed = True
    while changed:
        changed = False
        for name, fn in functions.items():
            if name not in found and any(_is_barrier(n) or (isinstance(n, c_ast.FuncCall) and isinstance(
                    n.name, c_ast.ID) and n.name.name in found) for n in _walk(fn.node.body)):
                found.add(name)
                changed = True
    return found


def _items(s) -> list:
    return (s.block_items or []) if isinstance(s, c_ast.Compound) else [s]


def _is_void(p: c_ast.Typename) -> bool:
    t = p.type
    return isinstance(t, c_ast.TypeDecl) and isinstance(t.type, c_ast.IdentifierType) and t.type.names == ["void"]


def _sizeof(t: CType) -> int:
    size = 8 if t.ptr else SIZES[t.base]
    for d in t.dims:
        size *= int(d)
    return size


# Signed + - * and << wrap, as CUDA's integer instructions do (and NumPy's arrays): computed
# unsigned, where C and OpenCL C leave overflow undefined and compilers assume it never happens.
_WRAPPING = {"+", "-", "*"}


def _wraps(t: CType) -> bool:
    return t.scalar and t.base in ("i32", "i64")


def _wrapping(a: str, op: str, b: str, t: CType, shift: bool = False) -> str:
    u = "u" + t.base[1:]
    return f"(({t.base})(({u})({a}) {op} {f'({b})' if shift else f'({u})({b})'}))"


def _has_side_effects(node) -> bool:
    return any(isinstance(n, (c_ast.FuncCall, c_ast.Assignment)) or isinstance(n, c_ast.UnaryOp)
               and n.op in ("++", "--", "p++", "p--") for n in _walk(node))


def _ident(name: str) -> str:
    """A user's identifier as emitted: reserved words and hal's own prefix renamed."""
    return f"{name}_hal_" if name in _RESERVED or name.startswith("hal_") else name


def _to_complex(text: str, t: CType, to: CType) -> str:
    """A value of type ``t`` (real or complex) as the complex type ``to``."""
    if t.base == to.base:
        return text
    if t.complex:
        if to.base == "c128":
            return f"c64_to_c128({text})"
        return f"c128_to_c64({text})"
    if t.base == "half":
        text = f"half_to_f32({text})"
    return f"{to.base}_make(({COMPLEX[to.base]})({text}), ({COMPLEX[to.base]})0)"
