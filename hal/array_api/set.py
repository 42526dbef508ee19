"""Set functions ("Set Functions", array API 2025.12): isin, unique_all, unique_counts,
unique_inverse, unique_values. Values come out sorted (NaNs last, each NaN its own
value); ``unique_all``'s indices are each value's first occurrence in ``x`` flattened."""
from __future__ import annotations

from typing import NamedTuple

from .array import Array, checked
from .creation import asarray, common_dtype
from .data_type import astype
from .manipulation import reshape

__all__ = ["isin", "unique_all", "unique_counts", "unique_inverse", "unique_values"]


class UniqueAllResult(NamedTuple):
    values: Array
    indices: Array
    inverse_indices: Array
    counts: Array


class UniqueCountsResult(NamedTuple):
    values: Array
    counts: Array


class UniqueInverseResult(NamedTuple):
    values: Array
    inverse_indices: Array


def _unique(name: str, x: Array) -> tuple:
    checked(x, name, "any")
    values, first, inverse, counts = x._device.impl("unique")(x._device, x._data)
    values, first, inverse, counts = (Array._new(a, x._device) for a in (values, first, inverse, counts))
    return values, first, reshape(inverse, x.shape), counts


def unique_all(x: Array, /) -> UniqueAllResult:
    return UniqueAllResult(*_unique("unique_all", x))


def unique_counts(x: Array, /) -> UniqueCountsResult:
    values, _, _, counts = _unique("unique_counts", x)
    return UniqueCountsResult(values, counts)


def unique_inverse(x: Array, /) -> UniqueInverseResult:
    values, _, inverse, _ = _unique("unique_inverse", x)
    return UniqueInverseResult(values, inverse)


def unique_values(x: Array, /) -> Array:
    return _unique("unique_values", x)[0]


def isin(x1, x2, /, *, invert: bool = False) -> Array:
    """Whether each element of ``x1`` equals some element of ``x2`` (bool, ``x1``'s
    shape; 0-d if ``x1`` is a Python scalar). Either may be a Python int."""
    device, dtype = common_dtype("isin", x1, x2, kind="any")
    x1, x2 = (astype(a, dtype, copy=False) if isinstance(a, Array) else asarray(a, dtype=dtype, device=device)
              for a in (x1, x2))
    return Array._new(device.impl("isin")(device, x1._data, x2._data, bool(invert)), device)
