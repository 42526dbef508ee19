"""Test data for the battery: random values per dtype (small enough that the products,
cubes and short sums the cases compute stay in range for every integer dtype) and the
special floating values (random GGUF weight blocks are ops.quant.random_raw's)."""
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

