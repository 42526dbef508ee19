"""The elementwise ops that model families beyond llama need (hal.llama's ARCHITECTURES),
rounding as llama.cpp's CPU backend (ggml-cpu) does, one portable kernel each:

- gelu_mul: Gemma's GELU(tanh)-gated feed-forward, ggml's ``ggml_vec_geglu_f32`` with
  ``GGML_GELU_FP16``: ``gate <= -10``: 0; ``gate >= 10``: ``gate * up``; else the GELU of
  gate rounded to float16, looked up in a 65,536-entry float16 table, times ``up``.
  The table (``ggml_table_gelu_f16``) holds ``f16(0.5 x (1 + tanhf(sqrt(2/pi) x (1 +
  0.044715 x x))))`` for every float16 x, built once on the host with the C library's
  tanhf (llama.cpp calls the same) and the fused multiply-add GCC contracts
  ``1 + 0.044715 x * x`` into;
- scale: ``x * s`` (``ggml_scale``: Gemma's embeddings by sqrt(dim));
- add_rows: ``x + bias`` per row (``ggml_add`` of a bias: Qwen 2's q/k/v biases).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

import numpy as np

from hal.dispatch import register

from .launch import per_element, pointer, program

KERNELS = r"""
KERNEL void gelu_mul(GLOBAL f32 *out, GLOBAL const f32 *gate, i64 gate_off, GLOBAL const f32 *up, i64 up_off,
                     GLOBAL const f32 *table, i64 n) {
    i64 i = GLOBAL_ID(0);
    if (i >= n) return;
    f32 g = gate[gate_off + i], u = up[up_off + i];
    out[i] = g <= -10.0f ? 0.0f : g >= 10.0f ? g * u : table[f32_to_half(g)] * u;
}

KERNEL void scale(GLOBAL f32 *out, GLOBAL const f32 *x, i64 x_off, f32 s, i64 n) {
    i64 i = GLOBAL_ID(0);
    if (i < n) out[i] = x[x_off + i] * s;
}

KERNEL void add_rows(GLOBAL f32 *out, GLOBAL const f32 *x, i64 x_off, GLOBAL const f32 *bias, i64 bias_off,
                     i64 cols, i64 n) {
    i64 i = GLOBAL_ID(0);
    if (i < n) out[i] = x[x_off + i] + bias[bias_off + i % cols];
}
"""


def gelu_table() -> np.ndarray:
    """ggml_table_gelu_f16 as float32 values: the GELU(tanh) of every float16 bit
    pattern, rounded to float16 (ggml-cpu.c's ggml_cpu_init)."""
    tanhf = ctypes.CDLL(ctypes.util.find_library("m")).tanhf
    tanhf.restype, tanhf.argtypes = ctypes.c_float, [ctypes.c_float]
    f32 = np.float32
    x = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(f32)
    with np.errstate(all="ignore"):
        inner = ((f32(0.044715) * x).astype(np.float64) * x + 1.0).astype(f32)  # one fma
        arg = (f32(0.79788456080286535587989211986876) * x) * inner
        t = np.fromiter((tanhf(float(a)) for a in arg), f32, arg.size)
        gelu = (f32(0.5) * x) * (f32(1.0) + t)
    return gelu.astype(np.float16).astype(f32)


@functools.cache  # (devices are equal by name)
def _table(device):
    """The GELU table on ``device``."""
    return device.from_host(gelu_table())


@register("nn_gelu_mul", on=("cpu", "buffer"))
def gelu_mul(device, gate, up):
    table = pointer(device, _table(device))
    return per_element(device, program(device, KERNELS, "gelu_mul"), gate.shape, *device.kernel_args(gate, up), table)


@register("nn_scale", on=("cpu", "buffer"))
def scale(device, x, factor):
    return per_element(device, program(device, KERNELS, "scale"), x.shape, *device.kernel_args(x), np.float32(factor))


@register("nn_add_rows", on=("cpu", "buffer"))
def add_rows(device, x, bias):
    kernel = program(device, KERNELS, "add_rows")
    return per_element(device, kernel, x.shape, *device.kernel_args(x, bias), bias.shape[-1])
