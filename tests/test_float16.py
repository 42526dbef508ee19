"""float16 as hal's storage-only dtype, on every device: creation, astype and host
copies bit for bit as NumPy converts (every half, ties, subnormals, overflow), matmul
(float32 accumulation, one rounding) against NumPy's float32 product of the decoded
halves, the GEMM tuner never picking a wrong candidate, and a TypeError from every
other function. float16 is no array API dtype: the namespace's dtype lists leave it out."""
import numpy as np
import pytest

import hal
from hal import autotune
from hal.ops import linalg

F16, F32, U16 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.uint16)
ALL_HALVES = np.arange(1 << 16, dtype=np.uint32).astype(U16).view(F16)


def halves_for(device):
    """Every half, or every 61st on a simulator (a hundred times slower)."""
    return ALL_HALVES[::61] if device.info.kind == "simulator" else ALL_HALVES


def put(x, device):
    return hal.asarray(x, device=device)


def host(x):
    return np.asarray(x)


def same_bits(got, want):
    """Equal bit for bit; NaNs only by sign (devices write the canonical quiet NaN,
    NumPy keeps a NaN's payload)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(np.signbit(got[nan]), np.signbit(want[nan]))
    bits = got.dtype.str.replace("f", "u")
    bad = np.flatnonzero(got[~nan].view(bits) != want[~nan].view(bits))
    assert not bad.size, f"{bad.size} differ, first {want[~nan][bad[0]]!r}: got {got[~nan][bad[0]]!r}"


# --- not an array API dtype ------------------------------------------------------------

def test_float16_is_not_an_array_api_dtype(device):
    info = hal.__array_namespace_info__()
    assert "float16" not in info.dtypes(device=device)
    assert hal.float16 not in device.dtypes
    assert all(hal.float16 not in info.dtypes(device=device, kind=k).values()
               for k in ("real floating", "numeric", "floating"))
    assert hal.float16 == np.float16
    with pytest.raises(TypeError):
        hal.isdtype(hal.float16, "real floating")


# --- creation, astype, host copies --------------------------------------------------------

def test_every_half_reaches_the_host_unchanged(device):
    halves = halves_for(device)
    x = put(halves, device)
    assert x.dtype == hal.float16 and x.device == device
    assert np.array_equal(host(x).view(U16), halves.view(U16))


def test_every_half_converts_to_float32_and_float64_as_numpy(device):
    halves = halves_for(device)
    x = put(halves, device)
    same_bits(hal.astype(x, hal.float32), halves.astype(F32))
    if hal.float64 in device.dtypes:
        same_bits(hal.astype(x, hal.float64), halves.astype(np.float64))


def _rounding_cases(dtype, halves):
    """Every finite half, the midpoints between neighbours (ties go to the even one),
    the values one ``dtype`` ulp either side of each midpoint, subnormals of both
    types, the overflow threshold and beyond, infinities and NaNs."""
    halves = halves[np.isfinite(halves)].astype(dtype)
    halves = np.unique(halves)
    mids = (halves[:-1] + (halves[1:] - halves[:-1]) / 2).astype(dtype)
    edges = [np.nextafter(mids, dtype.type(np.inf)), np.nextafter(mids, dtype.type(-np.inf))]
    tiny = np.finfo(dtype).smallest_subnormal
    special = np.array([0.0, -0.0, tiny, -tiny, 2.0 ** -25, 2.0 ** -24, 3 * 2.0 ** -26, 65504, 65519.996, 65520,
                        -65520, 1e10, np.inf, -np.inf, np.nan, -np.nan, 2.0 ** -14, 2.0 ** -14 - 2.0 ** -25], dtype)
    return np.concatenate([halves, mids, *edges, special])


@pytest.mark.parametrize("dtype", [hal.float32, hal.float64], ids=str)
def test_rounding_to_float16_is_numpys(device, dtype):
    """NumPy rounds float32 and float64 to nearest even; a float64 rounded to float32
    first would move the values just off a tie, which the cases include."""
    if dtype not in device.dtypes:
        pytest.skip(f"{device} has no {dtype}")
    values = _rounding_cases(np.dtype(dtype), halves_for(device))
    with np.errstate(over="ignore"):
        want = values.astype(F16)
    same_bits(hal.astype(put(values, device), hal.float16), want)
    same_bits(hal.asarray(put(values, device), dtype=hal.float16), want)


def test_double_rounding_is_avoided(device):
    """1 + 2^-11 + 2^-40 is just above a tie in float16 (so it rounds up); to float32 it
    rounds to the tie itself, which would then round down to even."""
    if hal.float64 not in device.dtypes:
        pytest.skip(f"{device} has no float64")
    x = np.array([1 + 2.0 ** -11 + 2.0 ** -40, -(1 + 2.0 ** -11 + 2.0 ** -40)])
    assert np.float32(x[0]) == 1 + 2.0 ** -11  # the trap is real
    got = host(hal.astype(put(x, device), hal.float16))
    assert np.array_equal(got, x.astype(F16)) and got[0] == 1 + 2.0 ** -10


def test_creation_functions(device):
    values = [0.1, -2.5, 1e-7, 70000.0, float("inf")]
    with np.errstate(over="ignore"):
        want = np.array(values, F16)
    same_bits(hal.asarray(values, dtype=hal.float16, device=device), want)
    same_bits(hal.asarray(values, dtype="float16", device=device), want)
    for fn, fill in ((hal.zeros, 0.0), (hal.ones, 1.0)):
        x = fn((2, 3), dtype=hal.float16, device=device)
        assert x.dtype == hal.float16 and x.device == device
        same_bits(x, np.full((2, 3), fill, F16))
    same_bits(hal.full((4,), 0.1, dtype=hal.float16, device=device), np.full(4, 0.1, F16))
    same_bits(hal.full((2,), -1e6, dtype=hal.float16, device=device), np.full(2, -np.inf, F16))
    assert hal.empty((3, 0), dtype=hal.float16, device=device).shape == (3, 0)
    x = put(want, device)
    same_bits(hal.zeros_like(x), np.zeros(5, F16))
    same_bits(hal.asarray(x, copy=True), want)
    assert hal.empty_like(x).dtype == hal.float16


def test_views_reach_the_host(device):
    a = ALL_HALVES[:24 * 35].reshape(24, 35)
    x = put(a, device)
    for got, want in ((x.T, a.T), (x[::3, 1::4], a[::3, 1::4]), (hal.reshape(x, (35, 24)), a.reshape(35, 24)),
                      (x[5], a[5]), (x[::-1].mT, a[::-1].T)):
        assert np.array_equal(host(got).view(U16), np.ascontiguousarray(want).view(U16))


def test_contiguous_views_and_moves(device):
    """What works on every device without the generic copy kernel: contiguous views,
    astype of any view, and moves between devices through astype."""
    a = ALL_HALVES[:24 * 35].reshape(24, 35)
    x = put(a, device)
    assert np.array_equal(host(x[3:7]).view(U16), a[3:7].view(U16))
    assert np.array_equal(host(hal.reshape(x, (35, 24))).view(U16), a.reshape(35, 24).view(U16))
    same_bits(hal.astype(x.T[::2], hal.float32), a.T[::2].astype(F32))
    same_bits(hal.astype(x, hal.float16, device="cpu"), a)
    same_bits(hal.astype(put(a.astype(F32), "cpu"), hal.float16, device=device), a)


# --- matmul ---------------------------------------------------------------------------------

def reference(a, b):
    """float32 math on the decoded halves, rounded to float16 once."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.matmul(a.astype(F32), b.astype(F32)).astype(F16)


def quarters(shape, seed):
    """Multiples of 1/4 in [-4, 4]: with k <= 2^11 every float32 sum of their products is
    exact, so any order of accumulation gives the reference's bits."""
    return (np.random.default_rng(seed).integers(-16, 17, shape) / 4).astype(F16)


SHAPES = [((3,), (3,)), ((3,), (3, 5)), ((4, 3), (3,)), ((37, 45), (45, 29)), ((1, 130), (130, 70)),
          ((70, 130), (130, 1)), ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((2, 1, 9, 4), (5, 4, 7)),
          ((4, 1, 2, 3), (1, 5, 3, 2)), ((3, 0), (0, 2)), ((0, 3), (3, 2)), ((65, 64), (64, 66))]


@pytest.mark.parametrize("s1, s2", SHAPES, ids=str)
def test_matmul_exact_where_sums_are_exact(device, s1, s2):
    a, b = quarters(s1, 1), quarters(s2, 2)
    got = hal.matmul(put(a, device), put(b, device))
    assert got.dtype == hal.float16 and got.device == device
    same_bits(got, reference(a, b))


def test_matmul_views_exact(device):
    """Transposed, reversed, strided and broadcast operands (read through strides or
    copied as words) give the bits of the contiguous product."""
    a, b, c = quarters((9, 12), 1), quarters((14, 9), 2), quarters((3, 5, 6), 3)
    x, y, z = put(a, device), put(b, device), put(c, device)
    cases = [(x.T, y.T, a.T, b.T), (x[::2, ::-3], y[1:5, ::2], a[::2, ::-3], b[1:5, ::2]),
             (y, x[:, 1::2], b, a[:, 1::2]), (x[:, 0], y.T, a[:, 0], b.T), (z.mT, z, c.swapaxes(-1, -2), c),
             (z[::-1, 1:], z[0].T[:, ::2], c[::-1, 1:], c[0].T[:, ::2]),
             (hal.broadcast_to(z, (2, 3, 5, 6)), z[0].mT, np.broadcast_to(c, (2, 3, 5, 6)), c[0].T)]
    for x1, x2, a1, a2 in cases:
        same_bits(x1 @ x2, reference(a1, a2))


@pytest.mark.parametrize("m, k, n", [(37, 45, 29), (1, 100, 70)] + [pytest.param(*s, marks=pytest.mark.heavy) for s in (
    (1, 576, 300), (64, 576, 96), (130, 257, 3))], ids=str)
def test_matmul_random_within_one_ulp(device, m, k, n):
    """Random halves: hal's kernels add each output's k products in order with fma, the
    reference's BLAS in its own blocked order; both in float32, so they differ by at
    most the float32 error bound k * 2^-24 * sum |a||b| before the one rounding to
    float16 — which moves a result by at most one float16 ulp where that bound is below
    half an ulp, i.e. for all but results that cancel almost to zero."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, m, k)).astype(F16), rng.standard_normal((2, k, n)).astype(F16)
    got = host(put(a, device) @ put(b, device)).astype(np.float64)
    want = reference(a, b).astype(np.float64)
    ulp = np.spacing(np.abs(want).astype(F16)).astype(np.float64)
    bound = k * 2.0 ** -24 * (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64))
    assert np.all(np.abs(got - want) <= ulp + 2 * bound)
    assert np.mean(got == want) > 0.97  # mostly the same bits: a real comparison, not a loose one


def test_matmul_overflow_and_specials(device):
    a = np.full((3, 40), 250, F16)
    a[1] = -250
    a[2, 0] = np.inf
    b = np.full((40, 2), 8, F16)
    b[5, 1] = np.nan
    same_bits(put(a, device) @ put(b, device), reference(a, b))  # 80000 overflows to +-inf


GEMM_KEY = ("float16", (2, 64, 64, 64))


def _every_config(device, op, key):
    space = autotune.tunables()[op].space(device, key)
    if device.family == "numpy" and op == "gemm":  # the C target's kernels, which the cpu's tuner does not time
        space = space + [{"kind": "block", "RM": rm, "RN": rn, "WX": 1, "WY": 1, "PACK": pack}
                         for pack in (0, 1, 2, 3) for rm, rn in ((1, 64), (4, 16), (6, 32))]
    if device.family == "numpy" and op == "gemv":
        space = space + [{"kind": "rows", "RM": rm, "KV": kv, "WX": 1} for rm in (1, 2, 4) for kv in (8, 32)]
    if device.info.kind == "simulator":  # one configuration of each kind and packing
        space = list({(c["kind"], c.get("PACK")): c for c in reversed(space)}.values())
    return space


@pytest.mark.parametrize("op, key", [("gemm", GEMM_KEY), ("gemm", ("float16", (1, 1, 128, 64))),
                                     ("gemv", ("float16", (2, 64, 64)))], ids=str)
def test_every_candidate_verifies(device, op, key):
    """Every configuration of the real search spaces, checked as the tuner checks."""
    for config in _every_config(device, op, key):
        assert autotune.verify(device, op, key, config) == "", config


def test_gemm_kernels_give_the_same_bits_everywhere(device):
    """Blocks, packings and tiles all add the k products in order with fma into float32
    and round once: every configuration, on every device, gives the bits of the plainest
    kernel on the cpu."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 37, 45)).astype(F16), rng.standard_normal((2, 45, 29)).astype(F16)

    def run(dev, cfg):
        out = dev.from_host(np.zeros((2, 37, 29), F16))
        linalg.gemm_into(dev, cfg, out, dev.from_host(a), dev.from_host(b))
        return dev.to_host(out)

    want = run(hal.device("cpu"), {"kind": "block", "RM": 1, "RN": 1, "WX": 1, "WY": 1, "PACK": 0})
    for config in _every_config(device, "gemm", GEMM_KEY):
        if config["kind"] != "library":
            same_bits(run(device, config), want)


@pytest.mark.parametrize("name, source, defines", [
    ("gemm_block", linalg.BLOCK_SOURCE, {"RM": 4, "RN": 8, "PACK": 0}),
    ("gemm_block", linalg.BLOCK_SOURCE, {"RM": 4, "RN": 8, "PACK": 3}),
    ("gemm_tiled", linalg.TILED_SOURCE, {"TS": 16, "WPT": 2}), ("pack", linalg.PACK_SOURCE, {"W": 8}),
    ("gemv", linalg.GEMV_SOURCE, {"RM": 4, "KV": 8})], ids=lambda v: v if isinstance(v, str) else None)
def test_half_kernels_compile_for_cuda(name, source, defines):
    """The CUDA path of the float16 GEMM kernels (tests/test_cuda_kernels.py compiles
    their float32 forms), with NVRTC or nvcc where either is installed; no GPU needed."""
    from cuda_compile import compile_cuda, compilers, supports
    from hal.dialect import render
    usable = [c for c in compilers() if supports(c, "sm_70")]
    if not usable:
        pytest.skip("no CUDA compiler here targets sm_70 (install nvidia-cuda-nvrtc-cu12)")
    defines = {"T": "f32", "FUSED": 1, "HALF": 1, **defines}
    assert compile_cuda(render(source, "cuda", defines), "sm_70", usable[0])


def test_a_wrong_gemm_candidate_is_never_chosen(device, monkeypatch):
    """Next to the default, two broken candidates: one drops the last k term (an
    off-by-one), one leaves the second batch unwritten. Both are faster; neither wins."""
    tunable = autotune.tunables()["gemm"]
    default = tunable.default(device, GEMM_KEY)

    def view(x, key):
        return x[key] if device.family == "numpy" else x.getitem(key)

    def run(dev, config, out, a, b):
        if config.get("bug") == "k":
            a, b = view(a, (slice(None), slice(None), slice(0, a.shape[2] - 1))), view(b, (slice(None), slice(0, b.shape[1] - 1)))
        if config.get("bug") == "batch":
            out, a, b = (view(x, (slice(0, 1),)) for x in (out, a, b))
        linalg.gemm_into(dev, {k: v for k, v in config.items() if k != "bug"}, out, a, b)

    bugs = [{**default, "bug": "k"}, {**default, "bug": "batch"}]
    monkeypatch.setattr(tunable, "space", lambda dev, key: [default] + bugs)
    monkeypatch.setattr(tunable, "run", run)
    result = autotune.tune(device, "gemm", GEMM_KEY, budget=60, store=False)
    status = {m.config.get("bug", "none"): (m.status, m.detail) for m in result.candidates}
    assert status["k"][0] == "wrong" and "relative error" in status["k"][1]
    assert status["batch"][0] == "wrong" and "unwritten" in status["batch"][1]
    assert status["none"][0] == "ok" and result.config == default


# --- everything else refuses float16 --------------------------------------------------------

def _refusals(x, y):
    return {
        "add": lambda: hal.add(x, x), "x + 1.0": lambda: x + 1.0, "sin": lambda: hal.sin(x),
        "sum": lambda: hal.sum(x), "mean": lambda: hal.mean(x), "max": lambda: hal.max(x),
        "where": lambda: hal.where(hal.asarray(True, device=x.device), x, x), "concat": lambda: hal.concat([x, x]),
        "stack": lambda: hal.stack([x, x]), "argmax": lambda: hal.argmax(x), "equal": lambda: x == x,
        "tensordot": lambda: hal.tensordot(x, y, axes=1), "vecdot": lambda: hal.vecdot(x, x),
        "matmul with float32": lambda: x @ hal.astype(y, hal.float32), "tril": lambda: hal.tril(x),
        "astype int32": lambda: hal.astype(x, hal.int32), "int8 astype": lambda: hal.astype(hal.ones(2, dtype=hal.int8, device=x.device), hal.float16),
        "arange": lambda: hal.arange(3, dtype=hal.float16, device=x.device),
        "sum dtype": lambda: hal.sum(hal.ones(3, device=x.device), dtype=hal.float16),
        "setitem": lambda: x.__setitem__(0, 1.0), "linalg.det": lambda: hal.linalg.det(x[:2, :2]),
        "fft": lambda: hal.fft.fft(x), "all": lambda: hal.all(x), "any": lambda: hal.any(x),
        "count_nonzero": lambda: hal.count_nonzero(x), "unique_values": lambda: hal.unique_values(x),
        "isin": lambda: hal.isin(x, x), "isin scalar": lambda: hal.isin(x, 1),
    }


def test_other_functions_raise_a_clear_type_error(device):
    x = put(quarters((3, 4), 1), device)
    y = put(quarters((4, 2), 2), device)
    for name, call in _refusals(x, y).items():
        with pytest.raises(TypeError, match="storage-only") as info:
            call()
        assert "float16" in str(info.value), name
