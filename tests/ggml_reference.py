"""llama.cpp's CPU numerics (ggml-cpu, x86 AVX2/AVX-512 build) in NumPy: the reference
the llama.cpp-compatible kernels (ops/qdot.py, ops/nn.py) must match bit for bit.

Written from ggml's definitions, independently of the kernels: each rounding is an
explicit float32 (or float16) conversion, each fused multiply-add one float64 product
and sum rounded once (exact: a float32 product fits in a float64)."""
import numpy as np

f16, f32, f64 = np.float16, np.float32, np.float64


def fma(a, b, c):
    with np.errstate(invalid="ignore", over="ignore"):
        return (np.asarray(a, f64) * np.asarray(b, f64) + np.asarray(c, f64)).astype(f32)


def quantize_q8(x):
    """quantize_row_q8_1 per block of 32: int q, d and s as the f16 values, in float32."""
    blocks = x.reshape(x.shape[0], -1, 32)
    amax = np.abs(blocks).max(-1)
    d = (amax / f32(127)).astype(f32)
    with np.errstate(divide="ignore"):
        inv = np.where(amax != 0, f32(127) / amax, f32(0)).astype(f32)
    q = np.rint((blocks * inv[..., None]).astype(f32))
    s = (d * q.sum(-1).astype(f32)).astype(f32)
    return q.astype(np.int32), d.astype(f16).astype(f32), s.astype(f16).astype(f32)


def weight_blocks(raw, ggml_type, rows, cols):
    """The weight as ints (rows, nb, 32), scales d and mins m (rows, nb) in float32."""
    nb = cols // 32
    size = {"Q8_0": 34, "Q4_0": 18, "Q4_1": 20}[ggml_type]
    b = np.asarray(raw, np.uint8).reshape(rows, nb, size)
    d = b[..., 0:2].copy().view(f16)[..., 0].astype(f32)
    if ggml_type == "Q8_0":
        return b[..., 2:].copy().view(np.int8).astype(np.int32), d, None
    head = 4 if ggml_type == "Q4_1" else 2
    q = np.concatenate([b[..., head:] & 15, b[..., head:] >> 4], -1).astype(np.int32)
    if ggml_type == "Q4_0":
        return q - 8, d, None
    return q, d, b[..., 2:4].copy().view(f16)[..., 0].astype(f32)


def qdot(x, raw, ggml_type, rows):
    """x (n, cols) @ w.T as ggml_vec_dot_{q4_0,q4_1,q8_0}_q8_{0,1}: eight integer lanes of
    four products, fma-accumulated per block, summed ((a0+a4)+(a2+a6))+((a1+a5)+(a3+a7))."""
    n, cols = x.shape
    qx, dx, sx = quantize_q8(x)
    qw, dw, mw = weight_blocks(raw, ggml_type, rows, cols)
    nb = cols // 32
    # lanes[b, t, r, j] = sum over 4 of qw[r, b, 4j+k] * qx[t, b, 4j+k] (exact integers)
    lanes = np.einsum("tbjk,rbjk->btrj", qx.reshape(n, nb, 8, 4).astype(np.int64),
                      qw.reshape(rows, nb, 8, 4).astype(np.int64)).astype(f32)
    acc = np.zeros((n, rows, 8), f32)
    mins = np.zeros((n, rows), f32)
    for b in range(nb):
        dd = (dx[:, b][:, None] * dw[:, b][None, :]).astype(f32)
        acc = fma(dd[..., None], lanes[b], acc)
        if mw is not None:
            mins = (mins + (mw[:, b][None, :] * sx[:, b][:, None]).astype(f32)).astype(f32)
    a = (acc[..., :4] + acc[..., 4:]).astype(f32)
    a = (a[..., :2] + a[..., 2:]).astype(f32)
    out = (a[..., 0] + a[..., 1]).astype(f32)
    return out if mw is None else (out + mins).astype(f32)
