"""The linear algebra extension ("Linear Algebra Extension", ``linalg``, array API
2025.12): ``hal.linalg``.

Everything that is products, sums and elementwise math (cross, diagonal, matmul, the
norms, matrix_power, outer, tensordot, trace, vecdot) composes hal functions, so it
runs as kernels on the device. The decompositions and solvers (cholesky, det, eig,
eigh, eigvals, eigvalsh, inv, matrix_rank, pinv, qr, slogdet, solve, svd, svdvals, and
the 2 / -2 / nuc matrix norms through svdvals) are NumPy: on the cpu directly, on
buffer devices through the host with a one-time ``hal.HostFallbackWarning``.
"""
from __future__ import annotations

import builtins
import math
import operator
from typing import NamedTuple

import numpy as np

from . import dtypes
from .array_api.array import Array, checked, same_device
from .array_api.creation import asarray, eye
from .array_api.data_type import astype
from .array_api.elementwise import abs, multiply, not_equal, pow, sqrt, subtract
from .array_api.linalg import matmul, matrix_transpose, tensordot, vecdot
from .array_api.manipulation import broadcast_to, moveaxis, reshape, stack
from .array_api.statistical import max, min, sum
from .shapes import broadcast_shapes

__all__ = ["cholesky", "cross", "det", "diagonal", "eig", "eigh", "eigvals", "eigvalsh", "inv", "matmul",
           "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv", "qr", "slogdet",
           "solve", "svd", "svdvals", "tensordot", "trace", "vecdot", "vector_norm"]


class EigResult(NamedTuple):
    eigenvalues: Array
    eigenvectors: Array


class EighResult(NamedTuple):
    eigenvalues: Array
    eigenvectors: Array


class QRResult(NamedTuple):
    Q: Array
    R: Array


class SlogdetResult(NamedTuple):
    sign: Array
    logabsdet: Array


class SVDResult(NamedTuple):
    U: Array
    S: Array
    Vh: Array


# -- through the host on buffer devices -------------------------------------------

def on_host(op: str, fn, *arrays: Array, **params):
    """``fn`` (a NumPy function) of the arrays' payloads, its result(s) on their device:
    NumPy arrays themselves on the cpu; on buffer devices copied to the host and back,
    after a one-time HostFallbackWarning. Array-valued ``params`` move with them."""
    device = same_device(*arrays, *(v for v in params.values() if isinstance(v, Array)))
    def host(a): return device.through_host(a._data, op)  # noqa: E306
    params = {k: host(v) if isinstance(v, Array) else v for k, v in params.items()}
    return _back(fn(*map(host, arrays), **params), device)


def _back(result, device):
    if isinstance(result, tuple):
        return tuple(_back(r, device) for r in result)
    result = np.asarray(result)
    device.check_dtype(result.dtype)
    return Array._new(device.from_host(result), device)


def _matrices(x, op: str, *, square: bool = False, kind: str = "floating") -> None:
    if checked(x, op, kind).ndim < 2:
        raise ValueError(f"{op} needs a stack of matrices (..., M, N), got shape {x.shape}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{op} needs square matrices, got shape {x.shape}")


def cholesky(x: Array, /, *, upper: bool = False) -> Array:
    """"cholesky": L with x = L L^H (``upper``: U with x = U^H U); host on buffer devices."""
    _matrices(x, "cholesky", square=True)
    return on_host("linalg.cholesky", np.linalg.cholesky, x, upper=upper)


def _complex_eig(values: bool):
    def fn(a):
        result = np.linalg.eigvals(a) if values else np.linalg.eig(a)
        cast = np.result_type(a.dtype, np.complex64)  # always complex (2025.12), a's precision
        return result.astype(cast) if values else tuple(r.astype(cast) for r in result)
    return fn


def matrix_rank(x: Array, /, *, rtol=None) -> Array:
    """"matrix_rank": singular values above ``rtol`` times the largest (default
    max(M, N) * eps) counted; host on buffer devices."""
    _matrices(x, "matrix_rank")
    return on_host("linalg.matrix_rank", _rank, x, rtol=rtol)


def _rank(a, rtol):
    values = np.linalg.svd(a, compute_uv=False)
    if rtol is None:
        rtol = builtins.max(a.shape[-2:]) * np.finfo(values.dtype).eps
    tol = values.max(axis=-1, keepdims=True, initial=0) * np.asarray(rtol)[..., None]
    return np.count_nonzero(values > tol, axis=-1).astype(np.int64)


def pinv(x: Array, /, *, rtol=None) -> Array:
    """"pinv": the Moore-Penrose pseudo-inverse (singular values below ``rtol`` times
    the largest dropped); host on buffer devices."""
    _matrices(x, "pinv")
    return on_host("linalg.pinv", _pinv, x, rtol=rtol)


def _pinv(a, rtol):
    if rtol is None:
        rtol = builtins.max(a.shape[-2:]) * np.finfo(a.dtype).eps
    return np.linalg.pinv(a, rtol=rtol).astype(a.dtype, copy=False)


def qr(x: Array, /, *, mode: str = "reduced") -> QRResult:
    """"qr": Q with orthonormal columns and upper-triangular R; host on buffer devices."""
    _matrices(x, "qr")
    if mode not in ("reduced", "complete"):
        raise ValueError(f"qr: mode is 'reduced' or 'complete', not {mode!r}")
    return QRResult(*on_host("linalg.qr", np.linalg.qr, x, mode=mode))


def _slogdet(a):
    sign, logabsdet = np.linalg.slogdet(a)
    return sign.astype(a.dtype, copy=False), logabsdet.astype(np.finfo(a.dtype).dtype, copy=False)


def _of_square_matrices(name: str, fn, doc: str, result=None):
    """The function ``name`` of a stack of square matrices: NumPy's ``fn`` (on the host
    on buffer devices), its results as ``result``'s fields where given."""
    def function(x: Array, /):
        _matrices(x, name, square=True)
        out = on_host(f"linalg.{name}", fn, x)
        return out if result is None else result(*out)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f'"{name}" (array API 2025.12): {doc}; host on buffer devices.'
    return function


det = _of_square_matrices("det", np.linalg.det, "the determinant of each matrix")
eig = _of_square_matrices("eig", _complex_eig(False), "complex eigenvalues and eigenvectors", EigResult)
eigvals = _of_square_matrices("eigvals", _complex_eig(True), "complex eigenvalues")
eigh = _of_square_matrices("eigh", np.linalg.eigh, "eigenvalues (ascending) and eigenvectors of Hermitian "
                           "matrices", EighResult)
eigvalsh = _of_square_matrices("eigvalsh", np.linalg.eigvalsh, "eigenvalues (ascending) of Hermitian matrices")
inv = _of_square_matrices("inv", np.linalg.inv, "the inverse of each matrix")
slogdet = _of_square_matrices("slogdet", _slogdet, "the sign and the log of the absolute value of each "
                              "determinant", SlogdetResult)


def solve(x1: Array, x2: Array, /) -> Array:
    """"solve": x with x1 @ x = x2 (``x2`` 1-D is one vector; batches broadcast); host
    on buffer devices."""
    _matrices(x1, "solve", square=True)
    dtype = dtypes.result_type(x1.dtype, checked(x2, "solve").dtype)
    dtypes.check_kind(dtype, "floating", "solve")
    rows = x2.shape[-1] if x2.ndim == 1 else x2.shape[-2] if x2.ndim >= 2 else None
    if rows != x1.shape[-1]:
        raise ValueError(f"solve: shapes {x1.shape} and {x2.shape} do not align")
    x1, x2 = astype(x1, dtype, copy=False), astype(x2, dtype, copy=False)
    return on_host("linalg.solve", _solve, x1, x2)


def _solve(a, b):
    if b.ndim == 1:
        return np.linalg.solve(a, b)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return np.linalg.solve(np.broadcast_to(a, batch + a.shape[-2:]), np.broadcast_to(b, batch + b.shape[-2:]))


def svd(x: Array, /, *, full_matrices: bool = True) -> SVDResult:
    """"svd": U, S (descending), Vh with x = U diag(S) Vh; host on buffer devices."""
    _matrices(x, "svd")
    return SVDResult(*on_host("linalg.svd", np.linalg.svd, x, full_matrices=full_matrices))


def svdvals(x: Array, /) -> Array:
    """"svdvals": the singular values of each matrix, descending; host on buffer devices."""
    _matrices(x, "svdvals")
    return on_host("linalg.svdvals", np.linalg.svd, x, compute_uv=False)


# -- on the device --------------------------------------------------------------

def diagonal(x: Array, /, *, offset: int = 0) -> Array:
    """"diagonal": a view of the ``offset`` diagonal of each matrix (stride
    ``row + column``)."""
    _matrices(x, "diagonal", kind="any")
    (m, n), offset = x.shape[-2:], operator.index(offset)
    length = builtins.max(0, builtins.min(m, n - offset) if offset >= 0 else builtins.min(m + offset, n))
    device = x._device
    corner = device.view(x._data, (slice(None),) * (x.ndim - 2) + (slice(builtins.max(0, -offset), None),
                                                                    slice(builtins.max(0, offset), None)))
    strides = device.element_strides(corner)
    return Array._new(device.strided(corner, x.shape[:-2] + (length,), strides[:-2] + (strides[-2] + strides[-1],)),
                      device)


def trace(x: Array, /, *, offset: int = 0, dtype=None) -> Array:
    """"trace": the sum of the ``offset`` diagonal, with sum's accumulator dtype."""
    _matrices(x, "trace", kind="numeric")
    return sum(diagonal(x, offset=offset), axis=-1, dtype=dtype)


def outer(x1: Array, x2: Array, /) -> Array:
    """"outer": ``x1[i] * x2[j]`` for two 1-D arrays."""
    if not (isinstance(x1, Array) and isinstance(x2, Array)) or x1.ndim != 1 or x2.ndim != 1:
        raise ValueError("outer takes two 1-D hal arrays")
    dtypes.check_kind(dtypes.result_type(x1.dtype, x2.dtype), "numeric", "outer")
    return multiply(x1[:, None], x2[None, :])


def cross(x1: Array, x2: Array, /, *, axis: int = -1) -> Array:
    """"cross": the cross product of 3-vectors along ``axis`` (counted from the end of
    each operand), other axes broadcast."""
    if not (isinstance(x1, Array) and isinstance(x2, Array)):
        raise TypeError("cross expects two hal arrays")
    dtypes.check_kind(dtypes.result_type(x1.dtype, x2.dtype), "numeric", "cross")
    ndim = builtins.min(x1.ndim, x2.ndim)
    if ndim == 0 or not -ndim <= axis < ndim:
        raise ValueError(f"cross: axis {axis} is out of range for shapes {x1.shape} and {x2.shape}")
    axis = axis - ndim if axis >= 0 else axis
    a, b = moveaxis(x1, axis, -1), moveaxis(x2, axis, -1)
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError(f"cross: axis {axis} must have size 3 in both {x1.shape} and {x2.shape}")
    batch = broadcast_shapes(a.shape[:-1], b.shape[:-1])
    a, b = broadcast_to(a, batch + (3,)), broadcast_to(b, batch + (3,))
    parts = [subtract(multiply(a[..., i], b[..., j]), multiply(a[..., j], b[..., i]))
             for i, j in ((1, 2), (2, 0), (0, 1))]
    return moveaxis(stack(parts, axis=-1), -1, axis)


def matrix_power(x: Array, n: int, /) -> Array:
    """"matrix_power": x multiplied by itself ``n`` times by repeated squaring on the
    device (n = 0: identities; n < 0: of the inverse, which is a host op)."""
    _matrices(x, "matrix_power", square=True, kind="numeric")
    n = operator.index(n)
    if n < 0:
        x, n = inv(x), -n
    result, base = None, x
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    if result is None:
        identity = eye(x.shape[-1], dtype=x.dtype, device=x.device)
        return asarray(broadcast_to(identity, x.shape), copy=True)
    return asarray(result, copy=True) if result is x else result


def vector_norm(x: Array, /, *, axis=None, keepdims: bool = False, ord=2) -> Array:
    """"vector_norm": the ``ord`` norm over ``axis`` (every axis if None), as
    reductions of ``abs(x)`` on the device; a real dtype of x's precision."""
    a = abs(checked(x, "vector_norm", "floating"))
    if ord == math.inf:
        return max(a, axis=axis, keepdims=keepdims)
    if ord == -math.inf:
        return min(a, axis=axis, keepdims=keepdims)
    if ord == 0:
        return sum(astype(not_equal(a, 0.0), a.dtype), axis=axis, keepdims=keepdims)
    if ord == 1:
        return sum(a, axis=axis, keepdims=keepdims)
    if ord == 2:
        return sqrt(sum(multiply(a, a), axis=axis, keepdims=keepdims))
    return pow(sum(pow(a, float(ord)), axis=axis, keepdims=keepdims), 1.0 / ord)


def matrix_norm(x: Array, /, *, keepdims: bool = False, ord="fro") -> Array:
    """"matrix_norm": fro, 1, -1, inf, -inf as reductions on the device; 2, -2, nuc
    from the singular values (svdvals, a host op on buffer devices)."""
    _matrices(x, "matrix_norm")
    if ord == "fro":
        a = abs(x)
        return sqrt(sum(multiply(a, a), axis=(-2, -1), keepdims=keepdims))
    if ord in (1, -1, math.inf, -math.inf):
        extreme = max if ord > 0 else min
        sums = sum(abs(x), axis=-2 if ord in (1, -1) else -1)
        out = extreme(sums, axis=-1)
    elif ord in (2, -2, "nuc"):
        values = svdvals(x)
        out = sum(values, axis=-1) if ord == "nuc" else (max if ord == 2 else min)(values, axis=-1)
    else:
        raise ValueError(f"matrix_norm: ord must be 'fro', 'nuc', 1, -1, 2, -2, inf or -inf, not {ord!r}")
    return reshape(out, out.shape + (1, 1)) if keepdims else out
