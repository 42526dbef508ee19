"""Quantized linear with 8-bit activations (ops/qdot.py) equals llama.cpp's arithmetic
(tests/ggml_reference.py) bit for bit, on every device and launch configuration."""
import numpy as np
import pytest

import hal
from hal.ops import qdot, quant

import ggml_reference as ggml

TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]


def _problem(ggml_type, n, rows, cols, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cols)).astype(np.float32) * rng.uniform(0.01, 10, (n, 1)).astype(np.float32)
    x[0, :32] = 0  # a block of zeros: d = 0 and nothing divides by it
    x[-1, 32:64] *= 1e-30
    return x, quant.random_raw(quant.TYPES[ggml_type], rows, cols, rng)


@pytest.mark.parametrize("ggml_type", TYPES)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 16])
def test_linear_matches_llama_cpp_bits(device, ggml_type, n):
    rows, cols = 37, 96
    x, raw = _problem(ggml_type, n, rows, cols)
    w = hal.nn.QuantizedWeight.from_raw(raw, ggml_type, (rows, cols), device=device)
    out = np.asarray(hal.nn.linear(hal.asarray(x, device=device), w))
    np.testing.assert_array_equal(out, ggml.qdot(x, raw, ggml_type, rows))


@pytest.mark.parametrize("ggml_type", TYPES)
def test_every_configuration_gives_the_same_bits(device, ggml_type):
    """The tuner's whole space for a prefill shape, with three weights of ragged row
    counts in one launch: tiles, groups and launches change, never the arithmetic."""
    n, rows, cols = 9, (21, 3, 10), 64
    x, raw = _problem(ggml_type, n, sum(rows), cols, seed=1)
    parts = np.split(raw, np.cumsum(rows)[:-1] * (raw.size // sum(rows)))
    expected = [ggml.qdot(x, part, ggml_type, r) for part, r in zip(parts, rows)]
    key = qdot.tuning_key(ggml_type, n, sum(rows), cols)
    xs, raws = device.from_host(x), [device.from_host(part) for part in parts]
    for config in qdot._space(device, key):
        flat = device.empty((n * sum(rows),), np.dtype(np.float32))
        a = qdot.quantize(device, xs, config.get("TOKENS", 0))
        qdot.dots_into(device, config, flat, a, raws, list(rows), ggml_type)
        for out, want in zip(qdot._split(device, flat, n, list(rows)), expected):
            np.testing.assert_array_equal(device.to_host(out), want, err_msg=str(config))


@pytest.mark.parametrize("ggml_type", ["Q4_1", "Q5_0", "Q8_0"])
@pytest.mark.parametrize("tokens,scalar", [(4, 0), (4, 1), (8, 0), (16, 0)])
@pytest.mark.parametrize("rpi", [1, 8])
def test_rows_of_x_in_vector_lanes_across_work_items_and_chunks(ggml_type, tokens, scalar, rpi):
    """qdot_tokens (the C target): more groups of x's rows than one work-item takes, the
    last group short, and a weight row longer than one unpacked chunk, with three weights
    of ragged row counts in one launch (fewer rows than an item of RPI takes). SCALAR:
    the portable loop of C targets without AVX2, on groups of 4 (two lanes of each row
    side by side; from 8 rows, with AVX-512 VNNI, x is stored for the vector path only)."""
    cpu = hal.device("cpu")
    n, rows, cols = 2 * qdot._GROUPS * tokens + 3, (5, 3, 4), 32 * 131
    x, raw = _problem(ggml_type, n, sum(rows), cols, seed=2)
    parts = np.split(raw, np.cumsum(rows)[:-1] * (raw.size // sum(rows)))
    flat = cpu.empty((n * sum(rows),), np.dtype(np.float32))
    a = qdot.quantize(cpu, cpu.from_host(x), tokens)
    qdot.dots_into(cpu, {"NT": 1, "ROWS": 1, "LANES": 0, "TOKENS": tokens, "RPI": rpi, "SCALAR": scalar}, flat, a,
                   [cpu.from_host(part) for part in parts], list(rows), ggml_type)
    for out, part, r in zip(qdot._split(cpu, flat, n, list(rows)), parts, rows):
        np.testing.assert_array_equal(cpu.to_host(out), ggml.qdot(x, part, ggml_type, r))


def test_weights_share_launches_by_type(device):
    """linear(x, w...) with types mixed: runs of one type share a launch, each product
    still its own weight's."""
    n, cols = 2, 64
    x, _ = _problem("Q8_0", n, 1, cols, seed=3)
    specs = [("Q4_1", 7), ("Q4_1", 5), ("Q8_0", 3), ("Q4_1", 4), ("Q4_1", 6), ("Q4_1", 2), ("Q4_1", 9)]
    raws = [_problem(t, 1, r, cols, seed=4 + i)[1] for i, (t, r) in enumerate(specs)]
    weights = [hal.nn.QuantizedWeight.from_raw(raw, t, (r, cols), device=device) for raw, (t, r) in zip(raws, specs)]
    outs = hal.nn.linear(hal.asarray(x, device=device), *weights)
    for out, raw, (t, r) in zip(outs, raws, specs):
        np.testing.assert_array_equal(np.asarray(out), ggml.qdot(x, raw, t, r))


def test_activation_quantization_matches(device):
    x, _ = _problem("Q8_0", 3, 1, 128, seed=2)
    ties = np.arange(-16, 16, dtype=np.float32) + 0.5  # scaled by exactly 1: every value a tie
    ties[0] = -127.0  # the largest magnitude, negative
    x = np.vstack([x, np.zeros(128, np.float32), np.tile(ties, 4)]).astype(np.float32)
    a = qdot.quantize(device, device.from_host(x))
    q, d, s = ggml.quantize_q8(x)
    np.testing.assert_array_equal(device.to_host(a.q), q.reshape(x.shape).astype(np.int8))
    np.testing.assert_array_equal(device.to_host(a.d), d)
    np.testing.assert_array_equal(device.to_host(a.s), s)
