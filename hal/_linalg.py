"""Linear algebra functions ("Linear Algebra Functions", array API 2025.12): matmul."""
from __future__ import annotations

from . import dtypes
from ._array import Array, same_device

__all__ = ["matmul"]


def matmul(x1: Array, x2: Array, /) -> Array:
    """The matrix product with the standard's rules: 1-D operands gain and then lose a
    dimension, batch dimensions broadcast, the contracted sizes must match."""
    if not (isinstance(x1, Array) and isinstance(x2, Array)):
        raise TypeError("matmul expects two hal arrays")
    device = same_device(x1, x2)
    if x1.ndim == 0 or x2.ndim == 0:
        raise ValueError("matmul does not take 0-d arrays; use multiply")
    dtype = dtypes.result_type(x1.dtype, x2.dtype)
    dtypes.check_kind(dtype, "numeric", "matmul")
    a = (x1 if x1.ndim > 1 else x1[None, :])._data
    b = (x2 if x2.ndim > 1 else x2[:, None])._data
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: shapes {x1.shape} and {x2.shape} do not align "
                         f"({a.shape[-1]} != {b.shape[-2]})")
    if a.dtype != dtype:
        a = device.impl("astype")(device, a, dtype)
    if b.dtype != dtype:
        b = device.impl("astype")(device, b, dtype)
    out = Array._new(device.impl("matmul")(device, a, b), device)
    if x2.ndim == 1:  # drop the dimensions that 1-D operands gained
        out = out[..., 0]
    if x1.ndim == 1:
        out = out[..., 0, :] if x2.ndim > 1 else out[..., 0]
    return out
