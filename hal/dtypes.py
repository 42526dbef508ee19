"""Data types and the array API standard's type promotion rules.

hal's dtype objects are NumPy's (``hal.float32 is numpy.dtype("float32")``): they
compare equal to NumPy's, describe host copies exactly, and cost nothing to convert.
Promotion follows the standard's table ("Type Promotion Rules", 2025.12): within a kind
to the wider type, signed with unsigned to the signed type that holds both. Where the
standard leaves a case to the library, hal picks what a NumPy user expects and what is
the same on every device: integer with floating goes to the floating type; a signed
integer with uint64 and bool with a number are TypeErrors.
"""
from __future__ import annotations

import numpy as np

bool = np.dtype("bool")  # noqa: A001  (the standard's name)
int8, int16, int32, int64 = (np.dtype(f"int{b}") for b in (8, 16, 32, 64))
uint8, uint16, uint32, uint64 = (np.dtype(f"uint{b}") for b in (8, 16, 32, 64))
float32, float64 = np.dtype("float32"), np.dtype("float64")
complex64, complex128 = np.dtype("complex64"), np.dtype("complex128")
float16 = np.dtype("float16")
"""IEEE binary16 as storage only (not an array API dtype, so not in ``ALL``): arrays of
it can be created, converted with ``astype`` to and from float32/float64, moved to the
host, viewed (reshape, slices, transposes) and multiplied with ``matmul`` (float32
accumulation, one rounding); every other function raises ``StorageOnlyError``."""

SIGNED = (int8, int16, int32, int64)
UNSIGNED = (uint8, uint16, uint32, uint64)
INTEGER = SIGNED + UNSIGNED
REAL_FLOATING = (float32, float64)
COMPLEX = (complex64, complex128)
FLOATING = REAL_FLOATING + COMPLEX
REAL = INTEGER + REAL_FLOATING
NUMERIC = REAL + COMPLEX
ALL = (bool,) + NUMERIC

# Kinds that ops accept, named as the standard's function signatures name them.
KINDS = {
    "bool": (bool,),
    "signed integer": SIGNED,
    "unsigned integer": UNSIGNED,
    "integral": INTEGER,
    "real floating": REAL_FLOATING,
    "complex floating": COMPLEX,
    "real numeric": REAL,
    "numeric": NUMERIC,
    "integer or boolean": (bool,) + INTEGER,
    "floating": FLOATING,
    "any": ALL,
}

_KIND_SETS = {kind: frozenset(members) for kind, members in KINDS.items()}  # one hash, not a scan of a tuple

_promotions: dict = {}
_PRECISION = {float32: 4, float64: 8, complex64: 4, complex128: 8}  # bytes per real component


STORAGE_ONLY = (float16,)


def storage_only_error(dtype: np.dtype, op: str) -> TypeError:
    """The error of an op given a storage-only dtype: what it is and what to do."""
    return TypeError(f"{op}: {dtype} is a storage-only dtype in hal (creation, astype, matmul and "
                     f"views only); convert with x.astype(hal.float32) first")


def result_type(a: np.dtype, b: np.dtype) -> np.dtype:
    """The promoted dtype of two array dtypes (memoized: this is on every op's path)."""
    try:
        return _promotions[a, b]
    except KeyError:
        _promotions[a, b] = _promotions[b, a] = out = _promote(a, b)
        return out


def _promote(a: np.dtype, b: np.dtype) -> np.dtype:
    if a in STORAGE_ONLY or b in STORAGE_ONLY:  # checked before a == b: no op computes in float16
        raise storage_only_error(a if a in STORAGE_ONLY else b, "type promotion")
    if a == b:
        return a
    if a == bool or b == bool:
        raise TypeError(f"{a} and {b} cannot be promoted together: bool mixes with no number type")
    if uint64 in (a, b) and (a in SIGNED or b in SIGNED):  # NumPy would say float64
        raise TypeError(f"{a} and {b} have no common integer type: no signed type holds every uint64")
    if a in COMPLEX or b in COMPLEX:  # complex with a real type keeps the wider precision
        wide = max(_PRECISION.get(a, 4), _PRECISION.get(b, 4))
        return complex128 if wide == 8 else complex64
    if a in FLOATING or b in FLOATING:
        return max((d for d in (a, b) if d in FLOATING), key=lambda d: d.itemsize)
    return np.promote_types(a, b)


def check_kind(dtype: np.dtype, kind: str, op: str) -> None:
    """Raise the standard's TypeError when an op receives a dtype outside its kind."""
    if dtype not in _KIND_SETS[kind]:
        if dtype in STORAGE_ONLY:
            raise storage_only_error(dtype, op)
        raise TypeError(f"{op} requires {kind} dtypes, got {dtype}")


def as_dtype(dtype) -> np.dtype:
    """A dtype object for anything naming one of hal's dtypes (a dtype, a NumPy type,
    a string such as "float32"); TypeError for anything else."""
    try:
        out = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype") from None
    if out not in ALL:
        if out in STORAGE_ONLY:
            raise storage_only_error(out, "dtype=")
        raise TypeError(f"hal has no dtype {out}; dtypes are {', '.join(map(str, ALL))}")
    return out


def as_storage_dtype(dtype) -> np.dtype:
    """``as_dtype`` that also takes the storage-only dtypes (creation and astype)."""
    try:
        out = np.dtype(dtype)
    except TypeError:
        out = None
    return out if out in STORAGE_ONLY else as_dtype(dtype)


def iinfo_bounds(dtype: np.dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)
