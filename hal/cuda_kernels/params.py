"""CuPy's kernel parameter strings (``"T x, raw T y, float32 z"``) and the binding of
their type placeholders to the arguments of a call, as ``cupy.ElementwiseKernel`` and
``cupy.ReductionKernel`` do (https://docs.cupy.dev/en/stable/user_guide/kernel.html)."""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from hal.array_api.array import Array

# dtype -> the CUDA C type a generated kernel declares
CUDA_TYPE = {np.dtype(k): v for k, v in {
    "bool": "bool", "int8": "signed char", "uint8": "unsigned char", "int16": "short", "uint16": "unsigned short",
    "int32": "int", "uint32": "unsigned int", "int64": "long long", "uint64": "unsigned long long",
    "float16": "half", "float32": "float", "float64": "double", "complex64": "complex<float>",
    "complex128": "complex<double>"}.items()}

_DTYPE_NAMES = {d.name: d for d in CUDA_TYPE}


@dataclass(frozen=True)
class Param:
    """One parameter: ``dtype`` when the string names one, else ``placeholder``."""
    name: str
    dtype: np.dtype | None
    placeholder: str | None
    raw: bool


def parse_params(text: str) -> tuple[Param, ...]:
    """``"T x, raw T y, float32 z"`` as Params; ValueError for a malformed one."""
    params = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        words = part.split()
        raw = words[0] == "raw"
        words = words[1:] if raw else words
        if words and words[0] == "const":
            words = words[1:]
        if len(words) != 2 or not words[1].isidentifier():
            raise ValueError(f"bad kernel parameter {part!r}: expected '[raw] TYPE NAME', e.g. 'raw T x'")
        type_word, name = words
        if name.startswith("hal_"):
            raise ValueError(f"kernel parameter {part!r}: names starting with hal_ are the generated kernel's own")
        dtype = _DTYPE_NAMES.get(type_word)
        if dtype is None and not type_word.isidentifier():
            raise ValueError(f"bad kernel parameter type {type_word!r} in {part!r}")
        params.append(Param(name, dtype, None if dtype is not None else type_word, raw))
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate parameter names in {text!r}")
    return tuple(params)


def is_array(value) -> bool:
    return isinstance(value, Array)


def scalar_dtype(value) -> np.dtype:
    if isinstance(value, np.generic):
        return value.dtype
    if isinstance(value, bool):
        return np.dtype(np.bool_)
    if isinstance(value, numbers.Integral):
        return np.dtype(np.int64)
    if isinstance(value, numbers.Real):
        return np.dtype(np.float64)
    raise TypeError(f"kernel arguments are hal arrays or real numbers, not {type(value).__name__}")


def bind(params: tuple, values: list, types: dict) -> None:
    """Bind the placeholders of ``params`` from ``values`` (None: not given) into
    ``types``: arrays first, then scalars for what no array binds; one placeholder bound
    to two array dtypes is a TypeError."""
    for arrays in (True, False):
        for p, v in zip(params, values):
            if v is None or p.placeholder is None or is_array(v) != arrays:
                continue
            dtype = v.dtype if arrays else scalar_dtype(v)
            if types.setdefault(p.placeholder, dtype) != dtype and arrays:
                raise TypeError(f"type {p.placeholder} is bound to {types[p.placeholder]} and to {dtype} "
                                f"(argument {p.name!r})")


def resolve(param: Param, types: dict) -> np.dtype:
    if param.dtype is not None:
        return param.dtype
    if param.placeholder not in types:
        raise TypeError(f"cannot tell the type {param.placeholder} of {param.name!r}: no argument binds it")
    return types[param.placeholder]


def symbol(name: str) -> str:
    """The ``__global__`` name of a kernel hal generates for a user's ``name``: prefixed,
    since CUDA's headers declare math functions (sincos, sin...) under extern "C", which
    a kernel of the same name would clash with; the user-facing name stays ``name``."""
    return f"hal_kernel_{name}"


def ctype(dtype, native: bool) -> str:
    """The C type a generated kernel declares for ``dtype`` (``native``: for NVRTC/hiprtc)."""
    return native_word(CUDA_TYPE[np.dtype(dtype)], native)


def native_word(word: str, native: bool) -> str:
    """``word`` as NVRTC/hiprtc compile it: half is CuPy's float16 class (cupy/float16.cuh),
    as in CuPy's own kernels, whose arithmetic is float's, so ``x * 2 + 1`` compiles
    (cuda_fp16.h's half makes half * int ambiguous) and rounds once, on assignment, as
    the translated targets do."""
    return "float16" if native and word == "half" else word


def typedefs(types: dict, native: bool) -> str:
    """``typedef float T;`` for every bound placeholder."""
    return "".join(f"typedef {ctype(t, native)} {name};\n" for name, t in sorted(types.items()))


def native_header(native: bool, types: dict, params: tuple) -> str:
    """What a generated source includes: cupy/float16.cuh where it uses half (it includes
    cuda_fp16.h, a toolkit header, so for NVRTC only: other sources must compile without a
    toolkit), cupy/complex.cuh where it uses complex numbers."""
    dtypes = [np.dtype(t) for t in types.values()] + [p.dtype for p in params if p.dtype is not None]
    half = "#include <cupy/float16.cuh>\n" if native and np.dtype(np.float16) in dtypes else ""
    return half + ("#include <cupy/complex.cuh>\n" if any(d.kind == "c" for d in dtypes) else "")


# CuPy's indexers' size() (``_ind.size()``...): a struct on CUDA, where generated sources
# compile as C++; the translator replaces the call with the variable (RawKernel calls=).
NATIVE_INDEXER = "struct hal_ind_t { long long n; __device__ long long size() const { return n; } };\n"
