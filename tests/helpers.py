"""Helpers for the array-layer tests: comparing a hal array with its NumPy reference
(in the spirit of CuPy's ``numpy_cupy_allclose``), dtype lists, and test data."""
import warnings

import numpy as np

import hal

SIGNED = [hal.int8, hal.int16, hal.int32, hal.int64]
UNSIGNED = [hal.uint8, hal.uint16, hal.uint32, hal.uint64]
INTEGER = SIGNED + UNSIGNED
FLOATING = [hal.float32, hal.float64]
NUMERIC = INTEGER + FLOATING  # real: tests of real-only ops use these
ALL = [hal.bool] + NUMERIC
COMPLEX = [hal.complex64, hal.complex128]
ALL_WITH_COMPLEX = ALL + COMPLEX
# Where a dtype matters only through its C type class, a sample: small signed, small
# unsigned, int, and 64-bit unsigned (each dtype costs a kernel compile per device).
SAMPLE_INT = [hal.int8, hal.uint16, hal.int32, hal.uint64]

# Per floating dtype: (rtol, atol). Integers and bools compare exactly.
TOLERANCE = {np.dtype(np.float16): (1e-3, 1e-4), np.dtype(np.float32): (1e-5, 1e-6),
             np.dtype(np.float64): (1e-12, 1e-12)}
TOLERANCE.update({np.dtype(np.complex64): TOLERANCE[np.dtype(np.float32)],
                  np.dtype(np.complex128): TOLERANCE[np.dtype(np.float64)]})


def assert_matches(actual, expected, *, rtol=None, atol=None, device=None):
    """``actual`` (a hal.Array) equals the NumPy ``expected``: same dtype and shape (also
    of the host copy), on ``device`` if given; ints and bools exactly, floats within the
    dtype's tolerance, with NaN where NumPy has NaN."""
    assert isinstance(actual, hal.Array), f"expected a hal.Array, got {type(actual).__name__}"
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype}, expected {expected.dtype}"
    assert actual.shape == expected.shape, f"shape {actual.shape}, expected {expected.shape}"
    if device is not None:
        assert actual.device == device, f"on {actual.device}, expected {device}"
    host = np.asarray(actual)
    assert host.dtype == expected.dtype and host.shape == expected.shape, \
        f"host copy is {host.dtype}{host.shape}, array says {actual.dtype}{actual.shape}"
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(host, expected, strict=True)
    else:
        default_rtol, default_atol = TOLERANCE[expected.dtype]
        np.testing.assert_allclose(host, expected, equal_nan=True, rtol=default_rtol if rtol is None else rtol,
                                   atol=default_atol if atol is None else atol, strict=True)


def data(shape, dtype, seed=0, *, positive=False, nonzero=False):
    """Random test values of ``dtype``, small enough that products of two stay in range
    for every integer dtype; ``positive`` keeps them > 0 (and finite logs, exact sums)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        low = 1 if positive or (nonzero and dtype.kind == "u") else 0 if dtype.kind == "u" else -10
        out = rng.integers(low, 11, shape).astype(dtype)
        if nonzero:
            out[out == 0] = 1
        return out
    if dtype.kind == "c":  # both parts random; ``positive`` keeps the real part > 0
        re, im = data(shape, f"f{dtype.itemsize // 2}", seed, positive=positive), data(shape, np.float64, seed + 1)
        return (re + 1j * im).astype(dtype)
    out = rng.standard_normal(shape)
    return (np.abs(out) + 0.1 if positive else out).astype(dtype)


def put(a, device):
    """A device copy of the NumPy array ``a`` (never sharing ``a``'s memory, so that
    writing through the hal array cannot change the reference)."""
    return hal.asarray(a, device=device, copy=True)


def fallback_warnings(run) -> list[str]:
    """The messages of the hal.HostFallbackWarnings that ``run()`` emits."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    return [str(w.message) for w in caught if issubclass(w.category, hal.HostFallbackWarning)]


def on_device_only(fn, size_reads: int = 0):
    """``fn()``, asserting that it moved no array data between host and device and
    read back ``size_reads`` output sizes (ops whose output shape depends on the data)."""
    hal.reset_stats()
    out = fn()
    stats = hal.stats()
    assert stats["device_to_host"] == stats["host_to_device"] == 0, stats
    assert stats["size_reads"] == size_reads, stats
    return out


def textbook_complex(x, y):
    """x + y, x - y, x * y and x / y by the textbook formulas (Smith's quotient), on the
    real and imaginary parts: one IEEE operation at a time, as hal's prelude computes."""
    a, b, c, d = x.real, x.imag, y.real, y.imag
    with np.errstate(all="ignore"):
        product = complex_parts(a * c - b * d, a * d + b * c, x.dtype)
        wide = np.abs(c) >= np.abs(d)  # Smith: divide through by the larger part of y
        rat = np.where(wide, d / c, c / d)
        scl = np.where(wide, 1 / (c + d * rat), 1 / (d + c * rat))
        re = np.where(wide, (a + b * rat) * scl, (a * rat + b) * scl)
        im = np.where(wide, (b - a * rat) * scl, (b * rat - a) * scl)
        zero = (c == 0) & (d == 0)  # a zero divisor: each part over a zero, as NumPy
        re, im = np.where(zero, a / np.abs(c), re), np.where(zero, b / np.abs(d), im)
        return x + y, x - y, complex_parts(product.real, product.imag, x.dtype), complex_parts(re, im, x.dtype)


def complex_parts(re, im, dtype):
    z = np.empty(re.shape, dtype)  # set part by part: re + 1j * im would turn inf into NaN
    z.real, z.imag = re, im
    return z
