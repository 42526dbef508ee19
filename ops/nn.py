"""The neural-net ops a LLaMA needs (hal.nn): rms_norm, rope, softmax, silu_mul and
grouped-query attention over a KV cache. NumPy on the cpu (float32, as the kernels
compute); portable kernels on buffer devices, every operand float32 and contiguous
(hal/nn.py makes them so).

Conventions follow ggml's (ggml-cpu ops.cpp): rms_norm scales by 1 / sqrt(mean(x^2) +
eps) and then by the weight; rope is the "normal" mode GGUF llama models use, rotating
the adjacent pairs (x[2i], x[2i+1]) of each head by ``pos * theta^(-2i/head_dim)``.
"""
from __future__ import annotations

import numpy as np

from hal import autotune
from hal.dispatch import register

from .templates import program, run_elementwise

_WG = 256  # work-items folding one row (rms_norm, softmax) on a GPU; tuned by hal.autotune
_GROUP = 64  # elementwise-style launches
_MASKED = -3.0e38  # a masked score: exp(masked - max) is 0, and no INFINITY macro is needed

_F32 = np.dtype(np.float32)

# ---------------------------------------------------------------- cpu (NumPy)


@register("nn_rms_norm", on=("cpu",), kind="library")
def rms_norm_cpu(device, x, weight, eps):
    mean = np.mean(np.square(x, dtype=np.float32), axis=-1, keepdims=True, dtype=np.float32)
    return (x * (np.float32(1) / np.sqrt(mean + np.float32(eps)))) * weight


def rope_angles(positions, head_dim: int, theta: float) -> np.ndarray:
    """(seq, head_dim / 2) float32 angles ``pos * theta^(-2i/head_dim)``, in float32 as
    ggml computes them."""
    scale = np.float32(theta) ** np.float32(-2.0 / head_dim)
    inv = scale ** np.arange(head_dim // 2, dtype=np.float32)
    return positions.astype(np.float32)[:, None] * inv[None, :]


@register("nn_rope", on=("cpu",), kind="library")
def rope_cpu(device, x, positions, theta):
    angle = rope_angles(positions, x.shape[-1], theta)[:, None, :]  # broadcast over heads
    cos, sin = np.cos(angle), np.sin(angle)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * cos - x1 * sin
    out[..., 1::2] = x0 * sin + x1 * cos
    return out


@register("nn_softmax", on=("cpu",), kind="library")
def softmax_cpu(device, x):
    """Over the last axis."""
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


@register("nn_silu_mul", on=("cpu",), kind="library")
def silu_mul_cpu(device, gate, up):
    with np.errstate(over="ignore"):  # exp(-gate) overflows to inf for gate < -88: silu is -0
        return (gate / (np.float32(1) + np.exp(-gate))) * up


@register("nn_attention", on=("cpu",), kind="library")
def attention_cpu(device, q, k_cache, v_cache, n_past, scale):
    seq, heads, _ = q.shape
    n_kv = n_past + seq
    group = heads // k_cache.shape[1]
    k = np.repeat(k_cache[:n_kv], group, axis=1)  # (n_kv, heads, dim): head h sees kv head h // group
    v = np.repeat(v_cache[:n_kv], group, axis=1)
    scores = np.einsum("shd,thd->hst", q, k) * np.float32(scale)
    causal = np.arange(n_kv)[None, :] > (n_past + np.arange(seq))[:, None]
    scores[:, causal] = -np.inf
    return np.einsum("hst,thd->shd", softmax_cpu(device, scores), v).astype(np.float32)


# ---------------------------------------------------------------- buffer devices

ROW_KERNELS = r"""
/* Fold a row with the work-group: each item folds a strided slice, then the group
   folds the partial results in local memory (WG a power of two). */
#define FOLD(expr, combine) \
    partial[lid] = expr; \
    BARRIER(); \
    for (i64 step = wg / 2; step > 0; step /= 2) { \
        if (lid < step) partial[lid] = combine(partial[lid], partial[lid + step]); \
        BARRIER(); \
    }

INLINE f32 add(f32 a, f32 b) { return a + b; }
INLINE f32 larger(f32 a, f32 b) { return a > b ? a : b; }

/* One work-group per row: out = x / sqrt(mean(x^2) + eps) * w. */
KERNEL void rms_norm(GLOBAL f32 *out, GLOBAL const f32 *x, i64 x_off, GLOBAL const f32 *w, i64 w_off,
                     i64 cols, f32 eps) {
    LOCAL f32 partial[WG];
    i64 row = GROUP_ID(0), lid = LOCAL_ID(0), wg = LOCAL_SIZE(0);
    GLOBAL const f32 *p = x + x_off + row * cols;
    f32 acc = 0.0f;
    for (i64 c = lid; c < cols; c += wg) acc += p[c] * p[c];
    FOLD(acc, add)
    f32 r = 1.0f / sqrt(partial[0] / (f32)cols + eps);
    for (i64 c = lid; c < cols; c += wg) out[row * cols + c] = (p[c] * r) * w[w_off + c];
}

/* One work-group per row: out = exp(x - max) / sum(exp(x - max)). */
KERNEL void softmax(GLOBAL f32 *out, GLOBAL const f32 *x, i64 x_off, i64 cols) {
    LOCAL f32 partial[WG];
    i64 row = GROUP_ID(0), lid = LOCAL_ID(0), wg = LOCAL_SIZE(0);
    GLOBAL const f32 *p = x + x_off + row * cols;
    f32 m = p[0];
    for (i64 c = lid; c < cols; c += wg) m = larger(m, p[c]);
    FOLD(m, larger)
    m = partial[0];
    BARRIER();  /* everyone has read the max before partial is reused */
    f32 s = 0.0f;
    for (i64 c = lid; c < cols; c += wg) s += exp(p[c] - m);
    FOLD(s, add)
    f32 inv = 1.0f / partial[0];
    for (i64 c = lid; c < cols; c += wg) out[row * cols + c] = exp(p[c] - m) * inv;
}
"""

ROPE = r"""
/* One work-item per pair (2i, 2i+1) of a head of a row of x (seq, heads, dim). */
KERNEL void rope(GLOBAL f32 *out, GLOBAL const f32 *x, i64 x_off, GLOBAL const i64 *pos, i64 pos_off,
                 i64 pairs, i64 heads, i64 head_pairs, f32 theta_scale) {
    i64 g = GLOBAL_ID(0);
    if (g >= pairs) return;
    i64 i = g % head_pairs, s = g / (head_pairs * heads);
    f32 angle = (f32)pos[pos_off + s] * pow(theta_scale, (f32)i);
    f32 c = cos(angle), sn = sin(angle);
    f32 x0 = x[x_off + 2 * g], x1 = x[x_off + 2 * g + 1];
    out[2 * g] = x0 * c - x1 * sn;
    out[2 * g + 1] = x0 * sn + x1 * c;
}
"""

ATTENTION = r"""
/* scores (seq, heads, n_kv): q . k * scale for cache positions t <= n_past + i, masked
   beyond. Head h reads kv head h / group. */
KERNEL void attn_scores(GLOBAL f32 *scores, GLOBAL const f32 *q, i64 q_off, GLOBAL const f32 *k, i64 k_off,
                        i64 seq, i64 heads, i64 group, i64 dim, i64 n_kv, i64 n_past, f32 scale) {
    i64 g = GLOBAL_ID(0);
    if (g >= seq * heads * n_kv) return;
    i64 t = g % n_kv, h = (g / n_kv) % heads, i = g / (n_kv * heads);
    f32 s = MASKED;
    if (t <= n_past + i) {
        GLOBAL const f32 *qr = q + q_off + (i * heads + h) * dim;
        GLOBAL const f32 *kr = k + k_off + (t * (heads / group) + h / group) * dim;
        f32 dot = 0.0f;
        for (i64 d = 0; d < dim; d++) dot += qr[d] * kr[d];
        s = dot * scale;
    }
    scores[g] = s;
}

/* out (seq, heads, dim) = probabilities (seq, heads, n_kv) @ v over the visible positions. */
KERNEL void attn_values(GLOBAL f32 *out, GLOBAL const f32 *p, GLOBAL const f32 *v, i64 v_off,
                        i64 seq, i64 heads, i64 group, i64 dim, i64 n_kv, i64 n_past) {
    i64 g = GLOBAL_ID(0);
    if (g >= seq * heads * dim) return;
    i64 d = g % dim, h = (g / dim) % heads, i = g / (dim * heads);
    i64 visible = n_past + i + 1 < n_kv ? n_past + i + 1 : n_kv;
    GLOBAL const f32 *pr = p + (i * heads + h) * n_kv;
    GLOBAL const f32 *vc = v + v_off + (h / group) * dim + d;
    i64 vstride = (heads / group) * dim;
    f32 acc = 0.0f;
    for (i64 t = 0; t < visible; t++) acc += pr[t] * vc[t * vstride];
    out[g] = acc;
}
"""


def _flat_group(device) -> tuple:
    return (min(_GROUP, device.info.max_work_group),)


def _rows(x) -> tuple:
    cols = x.shape[-1]
    return x.size // cols, cols


def rms_norm_into(device, config, out, x, weight, eps=1e-5):
    rows, cols = _rows(x)
    wg = config["WG"]
    program(device, ROW_KERNELS, "rms_norm", WG=wg)((rows * wg,), (wg,), out.buf, x.buf, x.offset,
                                                     weight.buf, weight.offset, cols, np.float32(eps))


def softmax_into(device, config, out, x):
    rows, cols = _rows(x)
    wg = config["WG"]
    program(device, ROW_KERNELS, "softmax", WG=wg)((rows * wg,), (wg,), out.buf, x.buf, x.offset, cols)


@register("nn_rms_norm", on=("buffer",))
def rms_norm(device, x, weight, eps):
    out = device.empty(x.shape, _F32)
    rms_norm_into(device, autotune.choose(device, "nn_rms_norm", _row_key(*_rows(x))), out, x, weight, eps)
    return out


@register("nn_softmax", on=("buffer",))
def softmax(device, x):
    """Over the last axis (at least one element)."""
    out = device.empty(x.shape, _F32)
    softmax_into(device, autotune.choose(device, "nn_softmax", _row_key(*_rows(x))), out, x)
    return out


# ---------------------------------------------------------------- autotuning the row folds

def _row_key(rows: int, cols: int) -> tuple:
    return ("float32", (autotune.bucket(rows), autotune.bucket(cols)))


def _row_space(device, key) -> list:
    return [{"WG": wg} for wg in (1, 16, 64, 256) if wg <= device.info.max_work_group]


def _row_default(device, key) -> dict:
    """A CPU device (PoCL) folds a row fastest in one work-item (measured up to 49152
    columns); a GPU with a work-group."""
    if device.info.kind == "cpu":
        return {"WG": 1}
    return {"WG": 1 << (min(_WG, device.info.max_work_group).bit_length() - 1)}


def _row_problem(with_weight: bool):
    def problem(key, ragged, rng):
        _, (rows, cols) = key
        rows, cols = (rows + 1, cols + 3) if ragged else (rows, cols)
        x = rng.standard_normal((rows, cols)).astype(np.float32)
        return (x, rng.standard_normal(cols).astype(np.float32)) if with_weight else (x,)
    return problem


def _row_work(key) -> tuple:
    _, (rows, cols) = key
    return 5 * rows * cols, 8 * rows * cols


_PRESETS = [_row_key(rows, cols) for rows in (1, 64) for cols in (576, 2048)]  # (the cpu uses NumPy)
autotune.declare(autotune.Tunable(
    op="nn_rms_norm", space=_row_space, default=_row_default, run=rms_norm_into,
    reference=lambda x, w: rms_norm_cpu(None, x, w, 1e-5), problem=_row_problem(True), work=_row_work,
    presets=lambda device: [] if device.family == "numpy" else _PRESETS))
autotune.declare(autotune.Tunable(
    op="nn_softmax", space=_row_space, default=_row_default, run=softmax_into,
    reference=lambda x: softmax_cpu(None, x), problem=_row_problem(False), work=_row_work,
    presets=lambda device: [] if device.family == "numpy" else _PRESETS + [_row_key(1, 49152)]))


@register("nn_rope", on=("buffer",))
def rope(device, x, positions, theta):
    seq, heads, dim = x.shape
    out = device.empty(x.shape, _F32)
    pairs = seq * heads * (dim // 2)
    if pairs:
        scale = np.float32(theta) ** np.float32(-2.0 / dim)
        program(device, ROPE, "rope")((pairs,), _flat_group(device), out.buf, x.buf, x.offset,
                                      positions.buf, positions.offset, pairs, heads, dim // 2, scale)
    return out


@register("nn_silu_mul", on=("buffer",))
def silu_mul(device, gate, up):
    out = device.empty(gate.shape, _F32)
    return run_elementwise(device, "x0 / (1.0f + exp(-x0)) * x1", out, [gate, up], [_F32, _F32])


@register("nn_attention", on=("buffer",))
def attention(device, q, k_cache, v_cache, n_past, scale):
    seq, heads, dim = q.shape
    n_kv, group = n_past + seq, heads // k_cache.shape[1]
    scores = device.empty((seq, heads, n_kv), _F32)
    total = scores.size
    common = (seq, heads, group, dim, n_kv, n_past)
    program(device, ATTENTION, "attn_scores", MASKED=f"{_MASKED}f")(
        (total,), _flat_group(device), scores.buf, q.buf, q.offset, k_cache.buf, k_cache.offset,
        *common, np.float32(scale))
    probs = softmax(device, scores)
    out = device.empty(q.shape, _F32)
    program(device, ATTENTION, "attn_values", MASKED=f"{_MASKED}f")(
        (out.size,), _flat_group(device), out.buf, probs.buf, v_cache.buf, v_cache.offset, *common)
    return out
