"""K-quant linear with activations quantized per 256 (ops/qdot_k.py) equals llama.cpp's
arithmetic (tests/ggml_reference_k.py) bit for bit, on every device and tile size; and
that NumPy statement equals llama.cpp's own functions where llama-cpp-python is installed."""
import ctypes
import pathlib

import numpy as np
import pytest

import hal
from hal.ops import qdot_k, quant

import ggml_reference as ggml
import ggml_reference_k as ggml_k

TYPES = ["Q4_K", "Q5_K", "Q6_K"]


def _problem(ggml_type, n, rows, cols, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cols)).astype(np.float32) * rng.uniform(0.01, 10, (n, 1)).astype(np.float32)
    x[0, :256] = 0          # a super-block of zeros: d = 0 and nothing divides by it
    x[-1, 256:512] *= -1e-30
    x[-1, 300] = -50.0       # the largest magnitude negative: d and q change sign
    return x, quant.random_raw(quant.TYPES[ggml_type], rows, cols, rng)


@pytest.mark.parametrize("ggml_type", TYPES)
@pytest.mark.parametrize("n", [1, 2, 6, 16])  # 2: a tile of two; 16: every row in llama.cpp's matrix kernels
def test_linear_matches_llama_cpp_bits(device, ggml_type, n):
    rows, cols = 37, 768
    x, raw = _problem(ggml_type, n, rows, cols)
    w = hal.nn.QuantizedWeight.from_raw(raw, ggml_type, (rows, cols), device=device)
    out = np.asarray(hal.nn.linear(hal.asarray(x, device=device), w))
    np.testing.assert_array_equal(out, ggml_k.qdot(x, raw, ggml_type, rows))


@pytest.mark.parametrize("ggml_type", TYPES)
def test_every_tile_gives_the_same_bits(device, ggml_type):
    """Rows of x per work-item and rows per group change the launch, never the arithmetic
    (9 rows of x: the tiles default_config chooses, 1, 2 (one ragged), 8 (ragged) and 16
    (one ragged))."""
    n, rows, cols = 9, 21, 512
    x, raw = _problem(ggml_type, n, rows, cols, seed=1)
    expected = ggml_k.qdot(x, raw, ggml_type, rows)
    a, w = qdot_k.quantize(device, device.from_host(x)), device.from_host(raw)
    groups = (1,) if device.family == "numpy" else (1, 4, 16)
    scalar = (0, 1)  # the AVX2 path (C target; OpenCL on x86 through builtins) and the portable one
    for config in [{"NT": nt, "ROWS": g, "SCALAR": sc} for nt in (1, 2, 8, 16) for g in groups for sc in scalar]:
        out = device.empty((n, rows), np.dtype(np.float32))
        qdot_k.dot_into(device, config, out, a, w, ggml_type)
        np.testing.assert_array_equal(device.to_host(out), expected, err_msg=str(config))


@pytest.mark.parametrize("ggml_type", TYPES)
@pytest.mark.parametrize("n", [8, 9, 19, 32])  # Q4_K: the last n % 4 rows take the mat-vec's sums
def test_rows_of_x_in_vector_lanes_give_the_same_bits(device, ggml_type, n):
    """qdot_k_tokens (rows of x in groups of 8 or 16, the last padded) on its vector paths
    (the C target: AVX-512 for 16, AVX2 for 8; OpenCL on x86 through builtins) and the
    portable one."""
    rows, cols = 13, 768
    x, raw = _problem(ggml_type, n, rows, cols, seed=n)
    expected = ggml_k.qdot(x, raw, ggml_type, rows)
    w = device.from_host(raw)
    for tokens in (8, 16):
        a = qdot_k.quantize(device, device.from_host(x), tokens)
        for scalar in (0, 1):
            out = device.empty((n, rows), np.dtype(np.float32))
            qdot_k.dot_into(device, {**qdot_k.default_config(device, n), "SCALAR": scalar}, out, a, w, ggml_type)
            np.testing.assert_array_equal(device.to_host(out), expected, err_msg=f"TOKENS {tokens} SCALAR {scalar}")


def test_rows_of_x_in_vector_lanes_refuse_what_they_cannot_do(device):
    x = device.from_host(np.ones((7, 256), np.float32))
    with pytest.raises(ValueError, match="groups of 8 or 16"):
        qdot_k.quantize(device, x, 4)
    a, raw = qdot_k.quantize(device, x, 8), quant.random_raw(quant.TYPES["Q6_K"], 3, 256, np.random.default_rng(0))
    with pytest.raises(ValueError, match="8 or more rows"):
        qdot_k.dot_into(device, qdot_k.default_config(device, 7), device.empty((7, 3), np.dtype(np.float32)), a,
                        device.from_host(raw), "Q6_K")


def test_activation_quantization_matches(device):
    x, _ = _problem("Q4_K", 3, 1, 768, seed=2)
    x[1, 520], x[1, 530] = 60.0, -60.0  # equal magnitudes: the first one's sign (ggml's strict >)
    a = qdot_k.quantize(device, device.from_host(x))
    q, d, bsums = ggml_k.quantize_q8_K(x)
    np.testing.assert_array_equal(device.to_host(a.q), q.reshape(3, 768))
    np.testing.assert_array_equal(device.to_host(a.d), d)
    np.testing.assert_array_equal(device.to_host(a.bsums), bsums.reshape(3, 48))
    assert d[0, 0] == 0 and d[-1, 1] > 0 and d[1, 2] < 0  # the cases the problem sets up


def test_mixed_types_in_one_linear(device):
    """linear(x, w...) with K-quants among the other types: each product its own type's."""
    n, cols = 2, 512
    x, _ = _problem("Q4_K", n, 1, cols, seed=3)
    specs = [("Q4_K", 7), ("Q4_1", 5), ("Q6_K", 3), ("Q4_K", 4)]
    raws = [quant.random_raw(quant.TYPES[t], r, cols, np.random.default_rng(i)) for i, (t, r) in enumerate(specs)]
    weights = [hal.nn.QuantizedWeight.from_raw(raw, t, (r, cols), device=device) for raw, (t, r) in zip(raws, specs)]
    outs = hal.nn.linear(hal.asarray(x, device=device), *weights)
    for out, raw, (t, r) in zip(outs, raws, specs):
        reference = ggml_k.qdot(x, raw, t, r) if qdot_k.supports(t) else ggml.qdot(x, raw, t, r)
        np.testing.assert_array_equal(np.asarray(out), reference)


# ---------------------------------------------------------------- the reference against llama.cpp

def _libggml():
    """llama-cpp-python's ggml libraries, initialized, where its build is x86 AVX2 (the
    build whose orders the reference states)."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed: reference not cross-checked")
    lib = pathlib.Path(llama_cpp.__file__).parent / "lib"
    base, cpu = ctypes.CDLL(str(lib / "libggml-base.so")), ctypes.CDLL(str(lib / "libggml-cpu.so"))
    if not cpu.ggml_cpu_has_avx2():
        pytest.skip("llama.cpp built without AVX2: its K-quant products sum in other orders")
    needed = ("ggml_gemv_q4_K_8x8_q8_K", "ggml_gemm_q4_K_8x8_q8_K", "ggml_quantize_mat_q8_K_4x8")
    if not all(hasattr(cpu, name) for name in needed) or not hasattr(base, "quantize_row_q8_K_ref"):
        pytest.skip(f"llama-cpp-python {llama_cpp.__version__} does not export the functions checked here")
    cpu.ggml_cpu_init()
    return base, cpu


_Q8_K = np.dtype([("d", "<f4"), ("qs", "i1", 256), ("bsums", "<i2", 16)])


def _ptr(a):
    return ctypes.c_void_p(a.ctypes.data)


def _q8_K(base, row):
    blocks = np.zeros(row.size // 256, _Q8_K)
    base.quantize_row_q8_K_ref(_ptr(row), _ptr(blocks), ctypes.c_int64(row.size))
    return blocks


def _repack_q4_K_x8(raw8, cols):
    """Eight rows of Q4_K as ggml's block_q4_Kx8 per super-block: d[8], dmin[8], the 8
    rows' scales and mins of sub-block j packed as one Q4_K scale field each, then the
    quants interleaved 8 bytes at a time."""
    out = []
    for blk in np.asarray(raw8, np.uint8).reshape(8, cols // 256, 144).transpose(1, 0, 2):
        sc, mn = ggml_k._scale_min_k4(blk[:, 4:16])
        s, m = sc.T.astype(np.uint8), mn.T.astype(np.uint8)  # (sub-block, row)
        scales = np.concatenate([(s[:, :4] & 63) + ((s[:, 4:] & 48) << 2), (m[:, :4] & 63) + ((m[:, 4:] & 48) << 2),
                                 (s[:, 4:] & 15) + ((m[:, 4:] & 15) << 4)], 1)
        qs = blk[:, 16:].reshape(8, 16, 8).transpose(1, 0, 2)
        out += [blk[:, 0:2].reshape(-1), blk[:, 2:4].reshape(-1), scales.reshape(-1), qs.reshape(-1)]
    return np.concatenate(out)


def test_reference_equals_llama_cpp_itself():
    """quantize_row_q8_K_ref, the repacked Q4_K mat-vec and vec_dot_q5_K_q8_K /
    vec_dot_q6_K_q8_K, called in llama.cpp's library, give the reference's bits (rows of x
    one at a time)."""
    base, cpu = _libggml()
    n, rows, cols = 3, 16, 1024
    x, _ = _problem("Q4_K", n, rows, cols, seed=4)
    ys = [_q8_K(base, np.ascontiguousarray(x[t])) for t in range(n)]
    q, d, bsums = ggml_k.quantize_q8_K(x)
    for t, y in enumerate(ys):
        np.testing.assert_array_equal(y["qs"], q[t])
        np.testing.assert_array_equal(y["d"], d[t])
        np.testing.assert_array_equal(y["bsums"][d[t] != 0], bsums[t][d[t] != 0])  # ggml leaves a zero block's unset
    rng = np.random.default_rng(5)
    raw = quant.random_raw(quant.TYPES["Q4_K"], rows, cols, rng).reshape(rows, -1)
    got = np.zeros((n, rows), np.float32)
    for t, y in enumerate(ys):
        for r0 in range(0, rows, 8):
            s, packed = np.zeros(8, np.float32), _repack_q4_K_x8(raw[r0:r0 + 8], cols)  # (alive during the call)
            cpu.ggml_gemv_q4_K_8x8_q8_K(cols, _ptr(s), ctypes.c_size_t(8), _ptr(packed), _ptr(y), 1, 8)
            got[t, r0:r0 + 8] = s
    np.testing.assert_array_equal(got, ggml_k.qdot(x, raw.reshape(-1), "Q4_K", rows))
    for ggml_type in ("Q5_K", "Q6_K"):
        raw = quant.random_raw(quant.TYPES[ggml_type], rows, cols, rng).reshape(rows, -1)
        vec_dot = getattr(cpu, f"ggml_vec_dot_q{ggml_type[1]}_K_q8_K")
        for t, y in enumerate(ys):
            for r in range(rows):
                s, row = ctypes.c_float(), raw[r].copy()
                vec_dot(cols, ctypes.byref(s), ctypes.c_size_t(0), _ptr(row), ctypes.c_size_t(0), _ptr(y),
                        ctypes.c_size_t(0), 1)
                got[t, r] = s.value
        np.testing.assert_array_equal(got, ggml_k.qdot(x, raw.reshape(-1), ggml_type, rows), err_msg=ggml_type)

def test_reference_equals_llama_cpp_gemm():
    """Rows of x in fours: ggml_quantize_mat_q8_K_4x8 and the repacked Q4_K gemm (its
    AVX-512 path for 16 weight rows, AVX2 for the 8 left) give the reference's bits."""
    _, cpu = _libggml()
    n, rows, cols = 8, 24, 512
    x, _ = _problem("Q4_K", n, rows, cols, seed=6)
    raw = quant.random_raw(quant.TYPES["Q4_K"], rows, cols, np.random.default_rng(7)).reshape(rows, -1)
    packed = np.concatenate([_repack_q4_K_x8(raw[r:r + 8], cols) for r in range(0, rows, 8)])
    group = cols // 256 * 1168  # block_q8_Kx4: d[4], qs[1024], bsums[64]
    quantized = np.zeros(n // 4 * group, np.uint8)
    for g in range(n // 4):
        fours = np.ascontiguousarray(x[4 * g:4 * g + 4])
        cpu.ggml_quantize_mat_q8_K_4x8(_ptr(fours), ctypes.c_void_p(quantized.ctypes.data + g * group),
                                       ctypes.c_int64(cols))
    got = np.zeros((n, rows), np.float32)
    cpu.ggml_gemm_q4_K_8x8_q8_K(cols, _ptr(got), ctypes.c_size_t(rows), _ptr(packed), _ptr(quantized), n, rows)
    np.testing.assert_array_equal(got, ggml_k.qdot(x, raw.reshape(-1), "Q4_K", rows))
