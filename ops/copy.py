"""Data movement and filling: copy, astype, assign (``x[key] = value``), full, arange,
eye. On buffer backends they are all the elementwise template with a different
expression or a strided output; on the cpu they are NumPy."""
from __future__ import annotations

import numpy as np

from hal.dispatch import register

from .launch import run_elementwise


@register("copy", on=("buffer",))
def copy(device, x):
    """A contiguous copy (also how a strided view reaches the host in one transfer)."""
    return run_elementwise(device, "x0", device.empty(x.shape, x.dtype), [x], [x.dtype])


@register("astype", on=("buffer",))
def astype(device, x, dtype):
    """``x`` in ``dtype``, each value converted as NumPy's ``astype`` does (through
    ``launch.convert``: complex values are structs, which C does not cast)."""
    return run_elementwise(device, "x0", device.empty(x.shape, dtype), [x], [x.dtype], expr_type=x.dtype)


@register("assign", on=("buffer",))
def assign(device, target, value):
    """Write ``value`` (an array broadcast to the target, or a scalar) into the view
    ``target``."""
    if not target.writable:
        raise ValueError("cannot write into a broadcast view: its elements share memory "
                         "(read-only, as NumPy's broadcast_to views)")
    value_type = value.dtype if hasattr(value, "dtype") else target.dtype
    run_elementwise(device, "x0", target, [value], [value_type], expr_type=value_type)


@register("assign", on=("cpu",))
def assign_cpu(device, target, value):
    target[...] = value


@register("full", on=("buffer",))
def full(device, shape, dtype, value):
    return run_elementwise(device, "x0", device.empty(shape, dtype), [value], [dtype])


@register("arange", on=("buffer",))
def arange(device, n, start, step, dtype):
    """``start + i * step``, computed in ``dtype`` as NumPy does."""
    from .launch import C_TYPE
    return run_elementwise(device, f"x0 + ({C_TYPE[dtype]})i * x1", device.empty((n,), dtype),
                           [start, step], [dtype, dtype])


@register("eye", on=("buffer",))
def eye(device, n_rows, n_cols, k, dtype):
    out = full(device, (n_rows, n_cols), dtype, 0)
    length = max(0, min(n_rows, n_cols - k) if k >= 0 else min(n_rows + k, n_cols))
    if length:
        start = k if k >= 0 else -k * n_cols
        assign(device, out.view((length,), (n_cols + 1,), start), 1)
    return out


for _op, _numpy in {  # the cpu's: NumPy
        "astype": lambda device, x, dtype: x.astype(dtype),
        "full": lambda device, shape, dtype, value: np.full(shape, value, dtype),
        "arange": lambda device, n, start, step, dtype: start + np.arange(n, dtype=dtype) * np.asarray(step, dtype),
        "eye": lambda device, n_rows, n_cols, k, dtype: np.eye(n_rows, n_cols, k, dtype)}.items():
    register(_op, on=("cpu",))(_numpy)
