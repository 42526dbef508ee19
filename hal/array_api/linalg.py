"""Linear algebra functions ("Linear Algebra Functions", array API 2025.12): matmul,
matrix_transpose, tensordot, vecdot. Each is a matmul on the device after views
(permutes, reshapes, broadcasts)."""
from __future__ import annotations

import math
import operator

from .. import dtypes
from .array import Array, same_device
from .manipulation import broadcast_to, matrix_transpose, moveaxis, permute_dims, reshape
from ..shapes import broadcast_shapes, normalize_axis

__all__ = ["matmul", "matrix_transpose", "tensordot", "vecdot"]


def _operands(name: str, x1, x2, storage: bool = False):
    """The device and the promoted numeric dtype of two hal arrays; with ``storage``
    also two float16 arrays (matmul multiplies the storage-only dtype)."""
    if not (isinstance(x1, Array) and isinstance(x2, Array)):
        raise TypeError(f"{name} expects two hal arrays, got {type(x1).__name__} and {type(x2).__name__}")
    device = x1._device
    if x2._device is not device:
        same_device(x1, x2)
    pair = (x1._data.dtype, x2._data.dtype)
    dtype = _NUMERIC_RESULT.get(pair)  # (one lookup: matmul's checks are most of a small product's cost)
    if dtype is None:
        try:
            dtype = dtypes.result_type(*pair)
        except TypeError:
            if not storage or dtypes.float16 not in pair:
                raise
            if pair[0] != pair[1]:
                raise TypeError(f"{name}: float16 is a storage-only dtype in hal and multiplies only float16, "
                                f"not {pair[0]} with {pair[1]}; convert one with astype first")
            return device, pair[0]
        dtypes.check_kind(dtype, "numeric", name)
        _NUMERIC_RESULT[pair] = dtype
    return device, dtype


_NUMERIC_RESULT: dict = {}  # (dtype, dtype) -> their promoted numeric dtype, once checked


def _cast(data, device, dtype):
    return data if data.dtype is dtype or data.dtype == dtype else device.impl("astype")(device, data, dtype)


def matmul(x1: Array, x2: Array, /) -> Array:
    """"matmul": 1-D operands gain and then lose a dimension, batch dimensions
    broadcast, the contracted sizes must match (ValueError).

    Two float16 arrays (hal's storage-only dtype) give float16: the products are
    summed in float32 and each result is rounded to float16 once, at the end (what
    cuBLAS's HGEMM with float32 compute gives; not NumPy's float16 matmul)."""
    device, dtype = _operands("matmul", x1, x2, storage=True)
    a, b = x1._data, x2._data  # payloads: their shapes are read once, without Array's properties
    a_shape, b_shape = a.shape, b.shape
    n1, n2 = len(a_shape), len(b_shape)
    if n1 < 2 or n2 < 2:
        if n1 == 0 or n2 == 0:
            raise ValueError("matmul does not take 0-d arrays; use multiply")
        if n1 == 1:
            a = x1[None, :]._data
        if n2 == 1:
            b = x2[:, None]._data
        a_shape, b_shape = a.shape, b.shape
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(f"matmul: shapes {x1.shape} and {x2.shape} do not align "
                         f"({a_shape[-1]} != {b_shape[-2]})")
    if len(a_shape) > 2 or len(b_shape) > 2:
        broadcast_shapes(a_shape[:-2], b_shape[:-2])  # ValueError for batches that do not broadcast
    if a.dtype is not dtype:  # (promotion returns the operand's own dtype object when it keeps it)
        a = _cast(a, device, dtype)
    if b.dtype is not dtype:
        b = _cast(b, device, dtype)
    out = Array._new(device.impl("matmul")(device, a, b), device)
    if n2 == 1:  # drop the dimensions that 1-D operands gained
        out = out[..., 0]
    if n1 == 1:
        out = out[..., 0, :] if n2 > 1 else out[..., 0]
    return out


def tensordot(x1: Array, x2: Array, /, *, axes=2) -> Array:
    """"tensordot": contract ``axes`` (the last N of ``x1`` with the first N of ``x2``,
    or two explicit sequences) as one matmul of the permuted, flattened operands; no
    conjugation."""
    _operands("tensordot", x1, x2)
    if isinstance(axes, int):
        if axes < 0 or axes > min(x1.ndim, x2.ndim):
            raise ValueError(f"tensordot: axes={axes} must be in [0, {min(x1.ndim, x2.ndim)}]")
        a1, a2 = tuple(range(x1.ndim - axes, x1.ndim)), tuple(range(axes))
    else:
        a1, a2 = (tuple(normalize_axis(operator.index(a), x.ndim) for a in ax) for x, ax in zip((x1, x2), axes))
    if len(a1) != len(a2) or len(set(a1)) != len(a1) or len(set(a2)) != len(a2):
        raise ValueError(f"tensordot: axes {axes} are not two sequences of unique axes of one length")
    if any(x1.shape[i] != x2.shape[j] for i, j in zip(a1, a2)):
        raise ValueError(f"tensordot: contracted axes of {x1.shape} and {x2.shape} differ in size")
    free1 = tuple(a for a in range(x1.ndim) if a not in a1)
    free2 = tuple(a for a in range(x2.ndim) if a not in a2)
    inner = math.prod(x1.shape[a] for a in a1)
    left = reshape(permute_dims(x1, free1 + a1), (math.prod(x1.shape[a] for a in free1), inner))
    right = reshape(permute_dims(x2, a2 + free2), (inner, math.prod(x2.shape[a] for a in free2)))
    out = matmul(left, right)
    return reshape(out, tuple(x1.shape[a] for a in free1) + tuple(x2.shape[a] for a in free2))


def vecdot(x1: Array, x2: Array, /, *, axis: int = -1) -> Array:
    """"vecdot": the dot product ``sum(conj(x1) * x2)`` along ``axis`` (counted from
    the end of each operand), other axes broadcast; one batched matmul of the vectors
    as rows and columns."""
    _, dtype = _operands("vecdot", x1, x2)
    ndim = min(x1.ndim, x2.ndim)
    if ndim == 0 or not -ndim <= axis < 0 and not 0 <= axis < ndim:
        raise ValueError(f"vecdot: axis {axis} is out of range for shapes {x1.shape} and {x2.shape}")
    axis = axis - ndim if axis >= 0 else axis
    a, b = (moveaxis(x, axis, -1) for x in (x1, x2))
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"vecdot: shapes {x1.shape} and {x2.shape} differ along axis {axis}")
    batch = broadcast_shapes(a.shape[:-1], b.shape[:-1])
    a, b = broadcast_to(a, batch + a.shape[-1:]), broadcast_to(b, batch + b.shape[-1:])
    if dtype in dtypes.COMPLEX:
        from .elementwise import conj
        a = conj(a)
    return matmul(a[..., None, :], b[..., :, None])[..., 0, 0]
