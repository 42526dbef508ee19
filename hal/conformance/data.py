"""Test data for the battery: random values per dtype (small enough that the products,
cubes and short sums the cases compute stay in range for every integer dtype), the
special floating values, and random GGUF weight blocks."""
from __future__ import annotations

import numpy as np

# What floating kernels must get right beyond ordinary numbers.
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 1e30, -1e30, 0.5, -0.5, 1.0, -1.0,
           2.5, -2.5, 3.0, np.pi, -np.pi, 1e-8]


def random(shape, dtype, seed: int = 0, low: int = -5, high: int = 5) -> np.ndarray:
    """Values of ``dtype``: integers in [low, high] (clipped at 0 for unsigned), floats
    standard normal times 3, complex with both parts random, bools half True."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        return rng.integers(max(low, 0) if dtype.kind == "u" else low, high + 1, shape).astype(dtype)
    if dtype.kind == "c":
        return (3 * rng.standard_normal(shape) + 3j * rng.standard_normal(shape)).astype(dtype)
    return (3 * rng.standard_normal(shape)).astype(dtype)


def special(dtype) -> np.ndarray:
    """Every special value (for complex: each paired with each of a few others)."""
    dtype = np.dtype(dtype)
    values = np.array(SPECIAL)
    if dtype.kind == "c":
        out = np.empty((len(values), 5), dtype)
        out.real, out.imag = values[:, None], np.array([0.0, -0.0, 1.0, np.inf, np.nan])
        return out.reshape(-1)
    return values.astype(dtype)


def positive_definite(n: int, dtype, seed: int = 0) -> np.ndarray:
    a = random((n, n), dtype, seed)
    return (a @ a.conj().T + n * np.eye(n)).astype(dtype)


def gguf_weight(ggml_type, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """The raw bytes (uint8) of a (rows, cols) weight of ``ggml_type`` (an ops.quant
    QuantType): random quants with small finite f16 scales, or float values."""
    rng = np.random.default_rng(seed)
    if ggml_type.name in ("F32", "F16"):
        dtype = np.float32 if ggml_type.name == "F32" else np.float16
        return rng.standard_normal((rows, cols)).astype(dtype).view(np.uint8)
    if ggml_type.name == "BF16":
        bits = rng.standard_normal((rows, cols)).astype(np.float32).view(np.uint32) >> 16
        return bits.astype(np.uint16).view(np.uint8)
    blocks = rng.integers(0, 256, (rows * cols // ggml_type.qk, ggml_type.block_bytes), dtype=np.uint8)
    for offset in ggml_type.scales:
        scale = (rng.random(len(blocks)) * 0.02 + 0.001).astype(np.float16)
        blocks[:, offset:offset + 2] = scale.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(-1)
