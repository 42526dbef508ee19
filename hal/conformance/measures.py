"""Error measures: how far a device's result is from the reference's.

Integers and bools must match exactly. Floating results are compared as ggml's
test-backend-ops does, by the normalized mean squared error
``sum(|actual - expected|^2) / sum(|expected|^2)`` over the finite reference values,
after the special values (NaN, +-inf) are required at the same places: one number that
tolerates the last-bit differences of another summation order or math library and
catches a wrong element. Its limit depends on the dtype's precision.
"""
from __future__ import annotations

import numpy as np

# The largest acceptable NMSE per floating precision (ggml's default is 1e-7 for f32).
MAX_NMSE = {4: 1e-7, 8: 1e-20}


def nmse(actual: np.ndarray, expected: np.ndarray) -> float:
    """The normalized mean squared error over the elements where both are finite (of
    real arrays: complex ones are compared by their components)."""
    finite = np.isfinite(expected) & np.isfinite(actual)
    a, e = actual[finite].astype(np.float64), expected[finite].astype(np.float64)
    scale = float(np.max(np.abs(e), initial=0.0)) or 1.0  # the ratio is the same; squares stay finite
    a, e = a / scale, e / scale
    err, energy = float(np.sum((a - e) ** 2)), float(np.sum(e ** 2))
    return err / energy if energy > 0 else err


def limit(dtype: np.dtype) -> float:
    return MAX_NMSE[np.dtype(dtype).itemsize]


def _components(x: np.ndarray) -> np.ndarray:
    return np.stack([x.real, x.imag], axis=-1)


def compare_layout(actual: np.ndarray, expected: np.ndarray) -> tuple[str | None, float]:
    """Only dtype and shape (of results whose values are undefined, such as empty's)."""
    if actual.dtype != expected.dtype:
        return f"dtype {actual.dtype}, expected {expected.dtype}", np.inf
    if actual.shape != expected.shape:
        return f"shape {actual.shape}, expected {expected.shape}", np.inf
    return None, 0.0


def compare(actual: np.ndarray, expected: np.ndarray) -> tuple[str | None, float]:
    """(None, error) where ``actual`` conforms to ``expected``, else (why not, error)."""
    problem = compare_layout(actual, expected)
    if problem[0]:
        return problem
    if expected.dtype.kind == "c":  # by components: (inf, nan) is not (inf, 0)
        actual, expected = _components(actual), _components(expected)
    if expected.dtype.kind in "biu":
        wrong = int(np.count_nonzero(actual != expected))
        return (f"{wrong} of {expected.size} elements differ" if wrong else None), float(wrong)
    for what, mask in (("NaN", np.isnan), ("inf", np.isinf)):
        if not np.array_equal(mask(actual), mask(expected)):
            return f"{what} at other places than the reference", np.inf
    inf = np.isinf(expected)
    if not np.array_equal(actual[inf], expected[inf]):
        return "infinities of other signs than the reference", np.inf
    error = nmse(actual, expected)
    if error > limit(expected.dtype):
        return f"NMSE {error:.2e} > {limit(expected.dtype):.0e}", error
    return None, error
