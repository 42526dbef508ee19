"""llama.cpp's CPU numerics (ggml-cpu, x86 AVX2 and AVX-512 builds: ``lanes`` 8 or 16,
hal.summation's orders) in NumPy: the reference the llama.cpp-compatible kernels
(ops/qdot.py, ops/nn.py) must match bit for bit.

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
    size = {"Q8_0": 34, "Q4_0": 18, "Q4_1": 20, "Q5_0": 22, "Q5_1": 24}[ggml_type]
    b = np.asarray(raw, np.uint8).reshape(rows, nb, size)
    d = b[..., 0:2].copy().view(f16)[..., 0].astype(f32)
    if ggml_type == "Q8_0":
        return b[..., 2:].copy().view(np.int8).astype(np.int32), d, None
    with_min = ggml_type in ("Q4_1", "Q5_1")
    head = (4 if with_min else 2) + (4 if ggml_type.startswith("Q5") else 0)
    q = np.concatenate([b[..., head:] & 15, b[..., head:] >> 4], -1).astype(np.int32)
    if ggml_type.startswith("Q5"):  # the fifth bits: bit j of the 32-bit qh before qs
        qh = b[..., head - 4:head].copy().view("<u4")[..., 0]
        q |= ((qh[..., None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.int32) << 4
    if not with_min:
        return q - (16 if ggml_type == "Q5_0" else 8), d, None
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


def rms_norm(x, w, eps):
    """ggml_compute_forward_rms_norm_f32 then the weight: squares summed in double."""
    squares = (x * x).astype(f64)
    mean = (np.cumsum(squares, axis=-1)[..., -1:] / x.shape[-1]).astype(f32)
    scale = (f32(1) / np.sqrt((mean + f32(eps)).astype(f32))).astype(f32)
    return ((x * scale).astype(f32) * w).astype(f32)


def _libm():
    import ctypes
    import ctypes.util
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    for name in ("cosf", "sinf", "powf"):
        getattr(libm, name).restype = ctypes.c_float
    libm.cosf.argtypes = libm.sinf.argtypes = [ctypes.c_float]
    libm.powf.argtypes = [ctypes.c_float, ctypes.c_float]
    return libm


def rope(x, positions, theta):
    """ggml_rope_cache_init (angles multiplied up in f32, the C library's cosf/sinf) and
    the normal-mode rotation as contracted by the compiler: fma(x0, c, -(x1 s))."""
    libm = _libm()
    pairs = x.shape[-1] // 2
    scale = f32(libm.powf(f32(theta), f32(-2.0) / f32(2 * pairs)))
    cos = np.empty((len(positions), pairs), f32)
    sin = np.empty_like(cos)
    for row, p in enumerate(positions):
        angle = f32(p)
        for i in range(pairs):
            cos[row, i], sin[row, i] = libm.cosf(float(angle)), libm.sinf(float(angle))
            angle = f32(angle * scale)
    c, s = cos[:, None, :], sin[:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = fma(x0, c, -(x1 * s).astype(f32))
    out[..., 1::2] = fma(x0, s, (x1 * c).astype(f32))
    return out


def expf(x, lanes):
    """ggml_v_expf: 2^n * polynomial(b), each step an fma or one rounding, as the AVX-512
    build (lanes 16) or the AVX2 build (lanes 8: the polynomial less its 1, c1 * b a
    product, fma(p, 2^n, 2^n); for 126 < |n| <= 192, 2^n as two factors) has it."""
    x = np.asarray(x, f32)
    z = fma(x, f32(1.44269502), f32(12582912.0))
    n = (z - f32(12582912.0)).astype(f32)
    b = fma(-n, f32(1.42860677e-06), fma(-n, f32(0.693145752), x))
    u = (b * b).astype(f32)
    high = fma(fma(f32(0.00824739039), b, f32(0.0418997668)), u, fma(f32(0.166683957), b, f32(0.499991268)))
    flushed = np.where(n > 0, f32(np.inf), f32(0))
    whole = np.clip(n, -300, 300).astype(np.int32)
    with np.errstate(over="ignore", invalid="ignore"):
        if lanes == 16:
            res = np.ldexp(fma(high, u, fma(f32(0.999999404), b, f32(1))), whole).astype(f32)
            return np.where(np.abs(n) > 192, flushed, res).astype(f32)
        j = fma(high, u, (f32(0.999999404) * b).astype(f32))
        k = np.ldexp(f32(1), np.clip(whole, -126, 126)).astype(f32)
        s1 = np.where(n > 0, np.ldexp(f32(1), 127), np.ldexp(f32(1), -125)).astype(f32)
        s2 = np.ldexp(f32(1), np.where(n > 0, whole - 127, whole + 125)).astype(f32)
        beyond = (fma(s2, j, s2) * s1).astype(f32)
        return np.where(np.abs(n) <= 126, fma(j, k, k), np.where(np.abs(n) > 192, flushed, beyond)).astype(f32)


def tree(v):
    """A register's lanes (the last axis) summed halves apart: _mm512_reduce_add_ps, and
    the hsum of an __m256 in llamafile and the softmax."""
    while v.shape[-1] > 1:
        h = v.shape[-1] // 2
        v = (v[..., :h] + v[..., h:]).astype(f32)
    return v[..., 0]


def vec_reduce(v):
    """GGML_F32_VEC_REDUCE's last step: the tree (16 lanes); with 8, the halves added,
    then two hadds: (0 + 1) + (2 + 3)."""
    if v.shape[-1] == 16:
        return tree(v)
    t = (v[..., :4] + v[..., 4:]).astype(f32)
    return ((t[..., 0] + t[..., 1]).astype(f32) + (t[..., 2] + t[..., 3]).astype(f32)).astype(f32)


def _padded(p, multiple):
    pad = (-p.shape[-1]) % multiple
    return np.concatenate([p, np.zeros(p.shape[:-1] + (pad,), f32)], -1)


def softmax(x, lanes):
    """ggml_vec_soft_max_f32 (groups of ``lanes`` summed by the tree, in double) and the scale."""
    m = x.max(-1, keepdims=True)
    e = expf((x - m).astype(f32), lanes)
    groups = _padded(e, lanes).reshape(e.shape[:-1] + (-1, lanes))
    total = np.cumsum(tree(groups).astype(f64), axis=-1)[..., -1:]
    return (e * (1.0 / total).astype(f32)).astype(f32)


def silu_mul(gate, up, lanes):
    """ggml_vec_swiglu_f32: gate / (1 + expf(-gate)) * up."""
    return ((gate / (f32(1) + expf((f32(0) - gate).astype(f32), lanes)).astype(f32)).astype(f32) * up).astype(f32)


def dot_lanes(a, b, lanes):
    """tinyBLAS: one accumulator of ``lanes`` over steps of ``lanes`` (zero-padded), then the tree."""
    p = _padded((a * b).astype(f32), lanes)
    p = p.reshape(p.shape[:-1] + (-1, lanes))
    acc = np.zeros(p.shape[:-2] + (lanes,), f32)
    for step in range(p.shape[-2]):
        acc = (acc + p[..., step, :]).astype(f32)
    return tree(acc)


def dot_steps(a, b, lanes):
    """ggml_vec_dot_f16: 4 x ``lanes`` over steps of 4 ``lanes``, (0 + 2) + (1 + 3),
    vec_reduce, the tail in double."""
    p = (a * b).astype(f32)
    n, step = p.shape[-1], 4 * lanes
    body = n - n % step
    acc = np.zeros(p.shape[:-1] + (4, lanes), f32)
    for k in range(0, body, step):
        acc = (acc + p[..., k:k + step].reshape(p.shape[:-1] + (4, lanes))).astype(f32)
    pairs = ((acc[..., 0, :] + acc[..., 2, :]).astype(f32) + (acc[..., 1, :] + acc[..., 3, :]).astype(f32))
    total = vec_reduce(pairs.astype(f32)).astype(f64)
    if body < n:
        total = total + np.cumsum(p[..., body:].astype(f64), axis=-1)[..., -1]
    return total.astype(f32)


def attention(q, k, v, n_past, scale, lanes):
    """llama.cpp's attention over a float16 cache: q rounded to f16, K.q and V.p in the
    order of tinyBLAS (several query rows) or ggml_vec_dot_f16 (one), the softmax above,
    the probabilities rounded to f16, one query row summing over n_kv padded to a step."""
    seq, heads, dim = q.shape
    n_kv, group = n_past + seq, heads // k.shape[1]
    dot = dot_lanes if seq > 1 else dot_steps
    q16 = q.astype(f16).astype(f32)
    k32, v32 = k[:n_kv].astype(f32), v[:n_kv].astype(f32)
    out = np.empty(q.shape, f32)
    visible = np.arange(n_kv)[None, :] <= (n_past + np.arange(seq))[:, None]
    for h in range(heads):
        kh, vh = k32[:, h // group], v32[:, h // group]
        scores = dot(q16[:, h][:, None, :], kh[None, :, :], lanes)  # (seq, n_kv)
        scores = np.where(visible, (scores * f32(scale)).astype(f32), f32(-3e38))
        p = np.where(visible, softmax(scores, lanes).astype(f16).astype(f32), f32(0))
        pad = 0 if seq > 1 else (-n_kv) % (4 * lanes)
        p = np.concatenate([p, np.zeros((seq, pad), f32)], -1)
        vt = np.concatenate([vh, np.zeros((pad, dim), f32)], 0).T  # (dim, n_kv + pad)
        out[:, h] = dot(p[:, None, :], vt[None, :, :], lanes)
    return out
