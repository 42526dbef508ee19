"""Quantized linear with 8-bit activations (ops/qdot.py) equals llama.cpp's arithmetic
(tests/ggml_reference.py) bit for bit, on every device and launch configuration."""
import numpy as np
import pytest

import hal
from hal.ops import qdot, quant

import ggml_reference as ggml

TYPES = ["Q4_0", "Q4_1", "Q8_0"]


def _problem(ggml_type, n, rows, cols, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cols)).astype(np.float32) * rng.uniform(0.01, 10, (n, 1)).astype(np.float32)
    x[0, :32] = 0  # a block of zeros: d = 0 and nothing divides by it
    x[-1, 32:64] *= 1e-30
    return x, quant.random_raw(quant.TYPES[ggml_type], rows, cols, rng)


@pytest.mark.parametrize("ggml_type", TYPES)
@pytest.mark.parametrize("n", [1, 5])
def test_linear_matches_llama_cpp_bits(device, ggml_type, n):
    rows, cols = 37, 96
    x, raw = _problem(ggml_type, n, rows, cols)
    w = hal.nn.QuantizedWeight.from_raw(raw, ggml_type, (rows, cols), device=device)
    out = np.asarray(hal.nn.linear(hal.asarray(x, device=device), w))
    np.testing.assert_array_equal(out, ggml.qdot(x, raw, ggml_type, rows))


@pytest.mark.parametrize("ggml_type", TYPES)
def test_every_configuration_gives_the_same_bits(device, ggml_type):
    """The tuner's whole space for a prefill shape: tiles and groups change the launch,
    never the arithmetic."""
    n, rows, cols = 9, 21, 64
    x, raw = _problem(ggml_type, n, rows, cols, seed=1)
    expected = ggml.qdot(x, raw, ggml_type, rows)
    key = qdot.tuning_key(ggml_type, n, rows, cols)
    xs, raws = device.from_host(x), device.from_host(raw)
    for config in qdot._space(device, key):
        out = device.empty((n, rows), np.dtype(np.float32))
        qdot.dot_into(device, config, out, qdot.quantize(device, xs), raws, ggml_type)
        np.testing.assert_array_equal(device.to_host(out), expected, err_msg=str(config))


def test_activation_quantization_matches(device):
    x, _ = _problem("Q8_0", 3, 1, 128, seed=2)
    a = qdot.quantize(device, device.from_host(x))
    q, d, s = ggml.quantize_q8(x)
    np.testing.assert_array_equal(device.to_host(a.q), q.reshape(3, 128).astype(np.int8))
    np.testing.assert_array_equal(device.to_host(a.d), d)
    np.testing.assert_array_equal(device.to_host(a.s), s)
