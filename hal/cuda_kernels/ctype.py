"""C types of the CUDA translator: what a declaration or expression is, in the dialect's
type words, with CUDA's (C's) usual arithmetic conversions (ISO C99 6.3.1.8).

``half`` is a storage type: its values are their IEEE binary16 bits (the dialect's u16)
and convert to f32 wherever they are computed with, as CUDA's ``__half`` operators do.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

# C type specifier lists (sorted words) -> dialect words
_WORDS = {
    ("void",): "void", ("char",): "i8", ("char", "signed"): "i8", ("char", "unsigned"): "u8",
    ("short",): "i16", ("int", "short"): "i16", ("short", "signed"): "i16", ("int", "short", "signed"): "i16",
    ("short", "unsigned"): "u16", ("int", "short", "unsigned"): "u16",
    ("int",): "i32", ("signed",): "i32", ("int", "signed"): "i32", ("unsigned",): "u32", ("int", "unsigned"): "u32",
    ("long",): "i64", ("int", "long"): "i64", ("long", "long"): "i64", ("int", "long", "long"): "i64",
    ("long", "signed"): "i64", ("long", "long", "signed"): "i64", ("int", "long", "long", "signed"): "i64",
    ("long", "unsigned"): "u64", ("int", "long", "unsigned"): "u64", ("long", "long", "unsigned"): "u64",
    ("int", "long", "long", "unsigned"): "u64", ("float",): "f32", ("double",): "f64", ("_Bool",): "u8",
    ("bool",): "u8", ("half",): "half", ("__half",): "half", ("hal_c64",): "c64", ("hal_c128",): "c128",
    ("int8_t",): "i8", ("uint8_t",): "u8", ("int16_t",): "i16", ("uint16_t",): "u16", ("int32_t",): "i32",
    ("uint32_t",): "u32", ("int64_t",): "i64", ("uint64_t",): "u64", ("size_t",): "u64", ("ptrdiff_t",): "i64",
}
# CUDA's vector types (structs of 2-4 components; no arithmetic without helper headers)
VECTORS = {f"{name}{n}": (word, n) for name, word in (("char", "i8"), ("uchar", "u8"), ("short", "i16"),
                                                       ("ushort", "u16"), ("int", "i32"), ("uint", "u32"),
                                                       ("longlong", "i64"), ("ulonglong", "u64"),
                                                       ("float", "f32"), ("double", "f64")) for n in (2, 3, 4)}
_WORDS.update({(v,): v for v in VECTORS})
_WORDS[("dim3",)] = "uint3"
SIZES = {"i8": 1, "u8": 1, "i16": 2, "u16": 2, "half": 2, "i32": 4, "u32": 4, "i64": 8, "u64": 8,
         "f32": 4, "f64": 8, "c64": 8, "c128": 16}
COMPLEX = {"c64": "f32", "c128": "f64"}  # complex type -> its parts' type
SIZES.update({v: SIZES[w] * n for v, (w, n) in VECTORS.items()})
NUMPY = {"i8": np.int8, "u8": np.uint8, "i16": np.int16, "u16": np.uint16, "half": np.float16,
         "i32": np.int32, "u32": np.uint32, "i64": np.int64, "u64": np.uint64, "f32": np.float32,
         "f64": np.float64}
_INT_WORDS = {"i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64"}
_INT_RANK = {"i32": 1, "u32": 1, "i64": 2, "u64": 2}


@dataclass(frozen=True)
class CType:
    """A value's type: ``base`` a dialect word (or "half", "void"), ``ptr`` the pointer
    depth, ``space`` the pointee's address space ("GLOBAL", "LOCAL" or None: private),
    ``dims`` the array extents (as emitted text), ``const`` whether the pointee is const."""
    base: str
    ptr: int = 0
    space: str | None = None
    dims: tuple = ()
    const: bool = False

    @property
    def scalar(self) -> bool:
        return not self.ptr and not self.dims

    @property
    def complex(self) -> bool:
        return self.scalar and self.base in COMPLEX

    @property
    def vector(self) -> bool:
        return self.scalar and self.base in VECTORS

    @property
    def is_float(self) -> bool:
        return self.scalar and self.base in ("f32", "f64", "half")

    @property
    def is_int(self) -> bool:
        return self.scalar and self.base in _INT_WORDS

    @property
    def word(self) -> str:
        """The dialect word of the base type (half is stored as its bits)."""
        return "u16" if self.base == "half" else f"hal_{self.base}" if self.base in VECTORS else self.base

    def element(self) -> "CType":
        """What indexing or dereferencing gives."""
        if self.dims:
            return replace(self, dims=self.dims[1:])
        return replace(self, ptr=self.ptr - 1)

    def decayed(self) -> "CType":
        """An array as a pointer to its first element."""
        if self.dims:
            return replace(self, ptr=self.ptr + 1, dims=self.dims[1:])
        return self

    def pointer_to(self) -> "CType":
        return replace(self.decayed() if self.dims else self, ptr=self.ptr + 1)

    def declarator(self, name: str) -> str:
        """``name`` declared with this type in the dialect: ``GLOBAL const f32 *x``."""
        if self.ptr > 1:
            raise ValueError("pointers to pointers")
        if self.ptr:
            space = f"{self.space} " if self.space else ""
            return f"{space}{'const ' if self.const else ''}{self.word} *{name}" + "".join(f"[{d}]" for d in self.dims)
        return f"{self.word} {name}" + "".join(f"[{d}]" for d in self.dims)

    def cast(self) -> str:
        return f"({self.declarator('').rstrip()})"


INT = CType("i32")
F32 = CType("f32")
F64 = CType("f64")


def base_of(names: list[str], aliases: dict) -> CType | None:
    """The type a specifier list names (None if unknown)."""
    if len(names) == 1 and names[0] in aliases:
        return aliases[names[0]]
    word = _WORDS.get(tuple(sorted(names)))
    return CType(word) if word else None


def promoted(t: CType) -> CType:
    """Integer promotion (and half computing as f32)."""
    if t.base == "half":
        return F32
    if t.base in ("i8", "u8", "i16", "u16"):
        return INT
    return t


def arithmetic(a: CType, b: CType) -> CType:
    """The usual arithmetic conversions of two scalar operands."""
    a, b = promoted(a), promoted(b)
    if a.complex or b.complex:  # (complex<float> with a double computes in complex<double>)
        wide = "c128" in (a.base, b.base) or "f64" in (a.base, b.base)
        return CType("c128" if wide else "c64")
    if a.base not in SIZES or b.base not in SIZES or a.base in VECTORS or b.base in VECTORS:
        return a  # (no arithmetic type: what the expression is stays the target compiler's to judge)
    if "f64" in (a.base, b.base):
        return F64
    if "f32" in (a.base, b.base):
        return F32
    if a.base == b.base:
        return CType(a.base)
    signed, unsigned = (a, b) if a.base[0] == "i" else (b, a)
    if signed.base[0] == unsigned.base[0]:  # same signedness: the larger
        return a if _INT_RANK[a.base] > _INT_RANK[b.base] else b
    if _INT_RANK[unsigned.base] >= _INT_RANK[signed.base]:
        return CType(unsigned.base)
    return CType(signed.base)  # i64 holds every u32
