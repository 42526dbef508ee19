"""The dialect's floating-point contract on every device: the same bits everywhere.

No target fuses ``a * b + c`` on its own, ``DIV_RN``/``SQRT_RN`` are correctly rounded,
and half precision converts both ways as IEEE (NumPy's float16) does. The LLaMA path
relies on all three to give identical tokens on every device."""
import numpy as np

from hal.ops.launch import program

NUMERICS = r"""
KERNEL void to_half(GLOBAL u16 *out, GLOBAL const f32 *x, i64 n) {
    i64 i = GLOBAL_ID(0);
    if (i < n) out[i] = (u16)f32_to_half(x[i]);
}
KERNEL void from_half(GLOBAL f32 *out, GLOBAL const u16 *h, i64 n) {
    i64 i = GLOBAL_ID(0);
    if (i < n) out[i] = half_to_f32(h[i]);
}
/* out = a * b + c rounded twice (no contraction), a / b, sqrt(a) rounded once, fma. */
KERNEL void rounding(GLOBAL f32 *out, GLOBAL const f32 *a, GLOBAL const f32 *b, GLOBAL const f32 *c, i64 n) {
    i64 i = GLOBAL_ID(0);
    if (i < n) {
        out[4 * i] = a[i] * b[i] + c[i];
        out[4 * i + 1] = DIV_RN(a[i], b[i]);
        out[4 * i + 2] = SQRT_RN(fabs(a[i]));
        out[4 * i + 3] = fma(a[i], b[i], c[i]);
    }
}
"""


def _run(device, name, out, *inputs):
    """Run kernel ``name`` over len(inputs[0]) items; returns ``out`` filled (NumPy)."""
    n = inputs[0].size
    group = None if device.family == "numpy" else (64,)
    if device.family == "numpy":
        program(device, NUMERICS, name)((n,), group, out, *inputs, n)
        return out
    bufs = [device.from_host(np.ascontiguousarray(a)) for a in (out, *inputs)]
    program(device, NUMERICS, name)((n,), group, *(b.buf for b in bufs), n)
    return device.to_host(bufs[0])


def _special_f32(rng, n):
    """Random f32 bit patterns across every exponent, plus the edges of f16."""
    bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    edges = np.array([0.0, -0.0, 65504, 65519.99, 65520, -65520, 6.1035156e-05, 6.1035e-05, 5.96e-08,
                      2.98e-08, 2.9802322e-08, 1e-10, np.inf, -np.inf, 1.0009765625, 1.00048828125,
                      1.000732421875, 2049, 2051, -3.0517578e-05], np.float32)
    halves = np.arange(2**16, dtype=np.uint16).view(np.float16).astype(np.float32)  # exact ties below
    finite = halves[np.isfinite(halves)]
    ties = (finite[:-1] + finite[1:]) / 2  # midpoints between neighbouring f16 values (in f32)
    x = np.concatenate([bits.view(np.float32), edges, finite, ties])
    return x[~np.isnan(x)]


def test_f32_to_half_rounds_as_numpy(device):
    x = _special_f32(np.random.default_rng(0), 20000 if device.info.kind != "simulator" else 2000)
    with np.errstate(over="ignore"):
        expected = x.astype(np.float16).view(np.uint16)
    np.testing.assert_array_equal(_run(device, "to_half", np.zeros(x.size, np.uint16), x), expected)


def test_half_to_f32_every_value(device):
    h = np.arange(2**16, dtype=np.uint16)
    h = h[~np.isnan(h.view(np.float16))]
    out = _run(device, "from_half", np.zeros(h.size, np.float32), h)
    np.testing.assert_array_equal(out.view(np.uint32), h.view(np.float16).astype(np.float32).view(np.uint32))


def test_no_contraction_and_correct_rounding(device):
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal(4096).astype(np.float32) for _ in range(2))
    c = (-(a.astype(np.float64) * b)).astype(np.float32)  # a*b + c is then all rounding error
    out = _run(device, "rounding", np.zeros(4 * a.size, np.float32), a, b, c).reshape(-1, 4)
    np.testing.assert_array_equal(out[:, 0], a * b + c)  # NumPy rounds the product, then the sum
    np.testing.assert_array_equal(out[:, 1], a / b)
    np.testing.assert_array_equal(out[:, 2], np.sqrt(np.abs(a)))
    fused = (a.astype(np.float64) * b + c).astype(np.float32)  # exact product, one rounding
    np.testing.assert_array_equal(out[:, 3], fused)
    assert np.any(out[:, 0] != out[:, 3])  # the two differ, so the test can tell them apart
