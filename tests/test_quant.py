"""Quantized weights (hal.nn.QuantizedWeight, ops/quant.py) on every device: each GGUF
type's dequantization against gguf.quants.dequantize, linear (decode and prefill shapes
with ragged tails) against float64 NumPy (Q4_0, Q4_1, Q8_0: against llama.cpp's 8-bit
activation arithmetic, tests/ggml_reference.py, bit for bit; Q4_K, Q6_K: per 256,
tests/ggml_reference_k.py), embedding, argument
errors, and no array data through the host on buffer devices."""
import gguf
import numpy as np
import pytest
from gguf.quants import dequantize, quantize

import hal
from hal.ops.quant import INTEGER_DOT
from helpers import put

import ggml_reference as ggml
import ggml_reference_k as ggml_k

TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q6_K", "Q4_K", "Q5_K"]
K_QUANTS = {"Q6_K": (208,), "Q4_K": (0, 2), "Q5_K": (0, 2)}  # byte offsets of each block's f16 scales


def block_size(name):
    return gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[name]]


def make_raw(name, rows, cols, seed=0):
    """Test data as a GGUF file stores it. gguf's Python quantizer lacks the K-quants:
    their blocks are random bytes with small positive f16 scales (every bit pattern of
    the quants and 6-bit scales is a valid block)."""
    rng = np.random.default_rng(seed)
    if name in K_QUANTS:
        qk, nbytes = block_size(name)
        blocks = rng.integers(0, 256, (rows, cols // qk, nbytes), dtype=np.uint8)
        for off in K_QUANTS[name]:
            scales = rng.uniform(1e-3, 2e-2, blocks.shape[:2]).astype(np.float16)
            blocks[..., off:off + 2] = scales.view(np.uint8).reshape(blocks.shape[:2] + (2,))
        return blocks.reshape(rows, -1)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    if name == "F32":
        return w
    return w.astype(np.float16) if name == "F16" else quantize(w, gguf.GGMLQuantizationType[name])


def reference(name, raw, rows, cols):
    """The float64 matrix gguf's reference dequantizer gives."""
    if name == "F32":
        return raw.astype(np.float64)
    return dequantize(raw, gguf.GGMLQuantizationType[name]).reshape(rows, cols).astype(np.float64)


def cols_for(name, blocks=2):
    return blocks * block_size(name)[0] if block_size(name)[0] > 1 else 37  # ragged for float types


@pytest.mark.parametrize("name", TYPES)
def test_dequantize_matches_gguf(device, name):
    rows, cols = 5, cols_for(name)
    raw = make_raw(name, rows, cols)
    w = hal.nn.QuantizedWeight.from_raw(raw, gguf.GGMLQuantizationType[name], (rows, cols), device)
    assert (w.shape, w.ggml_type, w.device, w.nbytes) == ((rows, cols), name, device, raw.nbytes)
    out = w.dequantize()
    assert out.dtype == hal.float32 and out.shape == (rows, cols) and out.device == device
    np.testing.assert_array_equal(np.asarray(out), reference(name, raw, rows, cols).astype(np.float32))


def test_f16_and_bf16_special_values(device):
    values = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 6e-8, -6e-5, np.inf, -np.inf, 1e-40, 0.1], np.float32)
    half = values.astype(np.float16)
    values = np.append(values, np.float32(3e38))  # beyond f16, within bf16
    w = hal.nn.QuantizedWeight.from_raw(half, "F16", (1, half.size), device)
    np.testing.assert_array_equal(np.asarray(w.dequantize())[0], half.astype(np.float32))
    bf16 = (values.view(np.uint32) >> 16).astype(np.uint16)
    w = hal.nn.QuantizedWeight.from_raw(bf16, "BF16", (1, bf16.size), device)
    np.testing.assert_array_equal(np.asarray(w.dequantize())[0], (bf16.astype(np.uint32) << 16).view(np.float32))
    nan = np.asarray(hal.nn.QuantizedWeight.from_raw(np.array([np.nan], np.float16), "F16", (1, 1), device).dequantize())
    assert np.isnan(nan).all()


@pytest.mark.parametrize("name", TYPES)
@pytest.mark.parametrize("n", [1, 3, 19])  # decode; a few rows; prefill with a ragged tile of rows of x
def test_linear(device, name, n):
    rows, cols = 11, cols_for(name)  # 11 weight rows: a ragged group of rows
    raw = make_raw(name, rows, cols, seed=n)
    w = hal.nn.QuantizedWeight.from_raw(raw, name, (rows, cols), device)
    x = np.random.default_rng(1).standard_normal((n, cols)).astype(np.float32)
    want = x.astype(np.float64) @ reference(name, raw, rows, cols).T
    got = hal.nn.linear(put(x, device), w)
    assert got.shape == (n, rows) and got.dtype == hal.float32 and got.device == device
    if name in INTEGER_DOT:
        np.testing.assert_array_equal(np.asarray(got), ggml.qdot(x, raw, name, rows))
        return
    if name in ggml_k.QDOT:
        np.testing.assert_array_equal(np.asarray(got), ggml_k.qdot(x, raw, name, rows))
        return
    scale = np.abs(want).max()
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5 * scale)


def test_linear_leading_dims_and_views(device):
    rows, cols = 6, 64
    raw = make_raw("Q8_0", rows, cols)
    w = hal.nn.QuantizedWeight.from_raw(raw, "Q8_0", (rows, cols), device)
    x = np.random.default_rng(2).standard_normal((2, 3, 2 * cols)).astype(np.float32)
    view = put(x, device)[..., ::2]  # a strided view: made contiguous on the device
    want = ggml.qdot(np.ascontiguousarray(x[..., ::2]).reshape(6, cols), raw, "Q8_0", rows).reshape(2, 3, rows)
    got = hal.nn.linear(view, w)
    assert got.shape == (2, 3, rows)
    np.testing.assert_array_equal(np.asarray(got), want)
    empty = hal.nn.linear(put(np.zeros((0, cols), np.float32), device), w)
    assert empty.shape == (0, rows)


def test_linear_float_weight(device):
    x = np.random.default_rng(3).standard_normal((2, 5)).astype(np.float32)
    w = np.random.default_rng(4).standard_normal((3, 5)).astype(np.float32)
    got = hal.nn.linear(put(x, device), put(w, device))
    np.testing.assert_allclose(np.asarray(got), x.astype(np.float64) @ w.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["Q4_1", "Q6_K", "F16"])
def test_embedding(device, name):
    rows, cols = 9, cols_for(name, 1)
    raw = make_raw(name, rows, cols)
    w = hal.nn.QuantizedWeight.from_raw(raw, name, (rows, cols), device)
    ids = np.array([[8, 0, 3], [3, 3, 1]])
    got = hal.nn.embedding(w, put(ids.astype(np.int32), device))
    assert got.shape == (2, 3, cols) and got.dtype == hal.float32
    np.testing.assert_array_equal(np.asarray(got), reference(name, raw, rows, cols)[ids].astype(np.float32))
    table = np.random.default_rng(5).standard_normal((rows, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(hal.nn.embedding(put(table, device), put(ids, device))), table[ids])


def test_embedding_out_of_range(device):
    w = hal.nn.QuantizedWeight.from_raw(make_raw("Q8_0", 4, 32), "Q8_0", (4, 32), device)
    ids = put(np.array([1, 4]), device)
    if device.family == "numpy":
        with pytest.raises(IndexError, match=r"\[0, 4\)"):
            hal.nn.embedding(w, ids)
    else:  # checking would read the ids back: the row reads as NaN instead of out of bounds
        got = np.asarray(hal.nn.embedding(w, ids))
        assert np.isfinite(got[0]).all() and np.isnan(got[1]).all()


def test_from_raw_errors(device):
    raw = make_raw("Q4_0", 2, 64)
    with pytest.raises(ValueError, match=r"Q4_0 .*\(2, 64\) takes 72 bytes.*got 71"):
        hal.nn.QuantizedWeight.from_raw(raw.reshape(-1)[:-1], "Q4_0", (2, 64), device)
    with pytest.raises(ValueError, match="multiple of the block size 32"):
        hal.nn.QuantizedWeight.from_raw(raw, "Q4_0", (4, 36), device)
    with pytest.raises(TypeError, match="unsupported GGUF tensor type 'IQ2_XS'"):
        hal.nn.QuantizedWeight.from_raw(raw, gguf.GGMLQuantizationType.IQ2_XS, (2, 64), device)
    with pytest.raises(TypeError, match="ggml_type"):
        hal.nn.QuantizedWeight.from_raw(raw, 3.5, (2, 64), device)
    w = hal.nn.QuantizedWeight.from_raw(bytes(raw), "q4_0", (2, 64), device)  # bytes, a lower-case name
    with pytest.raises(ValueError, match="does not end in the weight's 64 columns"):
        hal.nn.linear(put(np.zeros((1, 32), np.float32), device), w)
    with pytest.raises(TypeError, match="real floating"):
        hal.nn.linear(put(np.zeros((1, 64), np.int32), device), w)
    with pytest.raises(TypeError, match="integer"):
        hal.nn.embedding(w, put(np.zeros(2, np.float32), device))


def test_no_host_transfers(buffer_device):
    dev = buffer_device
    w = hal.nn.QuantizedWeight.from_raw(make_raw("Q4_K", 3, 256), "Q4_K", (3, 256), dev)
    x1, x8 = put(np.ones((1, 256), np.float32), dev), put(np.ones((8, 256), np.float32), dev)
    ids = put(np.array([2, 0]), dev)
    hal.reset_stats()
    for out in (w.dequantize(), hal.nn.linear(x1, w), hal.nn.linear(x8, w), hal.nn.embedding(w, ids)):
        dev.synchronize()
    stats = hal.stats()
    assert stats.get("device_to_host", 0) == 0 and stats.get("host_to_device", 0) == 0, stats


# A sample of hal.autotune's search space: work-group folds (WG > 1), several rows per
# group, tiles of rows of x with ragged tails, vector-wide sums.
CONFIGS = [{"WG": 1, "ROWS": 1, "NT": 1, "LANES": 1}, {"WG": 4, "ROWS": 4, "NT": 1, "LANES": 32},
           {"WG": 32, "ROWS": 2, "NT": 8, "LANES": 1}, {"WG": 16, "ROWS": 1, "NT": 4, "LANES": 32},
           {"WG": 64, "ROWS": 4, "NT": 16, "LANES": 1}]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
@pytest.mark.parametrize("name", ["Q8_0", "Q4_K", "F16"])
def test_linear_configurations(buffer_device, name, config):
    from hal.ops import quant
    dev = buffer_device
    if config["WG"] * config["ROWS"] > dev.info.max_work_group:
        pytest.skip("work-group larger than the device's")
    rows, cols, n = 7, cols_for(name), 5 if config["NT"] > 1 else 1
    raw = make_raw(name, rows, cols)
    x = np.random.default_rng(6).standard_normal((n, cols)).astype(np.float32)
    out = dev.empty((n, rows), np.dtype(np.float32))
    quant.linear_into(dev, config, out, put(x, dev)._data, put(raw.reshape(-1).view(np.uint8), dev)._data, name)
    want = x.astype(np.float64) @ reference(name, raw, rows, cols).T
    np.testing.assert_allclose(dev.to_host(out), want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
