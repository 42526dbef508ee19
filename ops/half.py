"""float16 (IEEE binary16) as a storage-only dtype: filling, conversion to and from
float32/float64 (copies are the generic copy's, which moves float16 as 16-bit words). Arithmetic on it happens only inside matmul
(ops/linalg.py), which decodes halves into float32.

On the cpu the payloads are NumPy float16 arrays and NumPy converts (it rounds to
nearest even, as the kernels do). On buffer devices a float16 array is a ``Strided`` of
16-bit words: the kernels see it as u16 through a relabelled view (``bits``) and convert
with the dialect's ``half_to_f32`` / ``f32_to_half``, which give IEEE bits on every
target (no cl_khr_fp16 needed). NaNs become the canonical quiet NaN of their sign; NumPy
keeps a NaN's payload bits, so only payload NaNs differ."""
from __future__ import annotations

import numpy as np

from hal.dispatch import register
from hal.memory import Strided

from .copy import full
from .launch import run_elementwise

F16, U16 = np.dtype(np.float16), np.dtype(np.uint16)

# float64 to float32 rounded to odd (truncated, lowest bit set when inexact): 24 bits
# keep the information a second rounding to 11 bits needs, so f32_to_half of it is the
# correctly rounded f64 -> f16 (rounding to nearest twice is not: ties would move).
_F64_TO_F32_ODD = """
INLINE f32 f64_to_f32_odd(f64 x) {
    f32 r = (f32)x;
    if ((f64)r == x || x != x) return r;
    u32 u = f32_to_bits(r);
    if (fabs((f64)r) > fabs(x)) u -= 1;   /* rounded away from zero: step back */
    return f32_from_bits(u | 1u);
}
"""


def relabel(x: Strided, dtype) -> Strided:
    """The same memory seen as another dtype of the same size."""
    return Strided(x.buf, x.shape, np.dtype(dtype), x.strides, x.offset, x.writable)


def bits(x: Strided) -> Strided:
    """A float16 payload as the u16 words the kernels read and write."""
    return relabel(x, U16)


@register("astype_float16", on=("cpu",))
def astype_cpu(device, x, dtype):
    with np.errstate(over="ignore"):  # overflow to infinity is the defined result, as on devices
        return x.astype(dtype)


@register("astype_float16", on=("buffer",))
def astype(device, x, dtype):
    """``x`` (float16, float32 or float64) converted to ``dtype`` (float16 or one of those
    floats, one side float16), rounding to nearest even."""
    if x.dtype == F16:
        out = device.empty(x.shape, dtype)
        expr = "half_to_f32(x0)" if dtype == np.float32 else "(f64)half_to_f32(x0)"
        return run_elementwise(device, expr, out, [bits(x)], [U16], expr_type=dtype)
    out = device.empty(x.shape, F16)
    if x.dtype == np.float64:
        run_elementwise(device, "f32_to_half(f64_to_f32_odd(x0))", bits(out), [x], [x.dtype],
                        helpers=_F64_TO_F32_ODD, expr_type=np.uint32)
    else:
        run_elementwise(device, "f32_to_half(x0)", bits(out), [x], [x.dtype], expr_type=np.uint32)
    return out


@register("full_float16", on=("cpu",))
def full_cpu(device, shape, value):
    with np.errstate(over="ignore"):
        return np.full(shape, value, F16)


@register("full_float16", on=("buffer",))
def full_buffer(device, shape, value):
    """Filled with the bits of ``value`` rounded to float16 (on the host: one scalar)."""
    with np.errstate(over="ignore"):
        word = int(np.float16(value).view(U16))
    return relabel(full(device, shape, U16, word), F16)

