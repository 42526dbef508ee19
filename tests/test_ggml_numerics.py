"""hal.nn's ops compute what llama.cpp's CPU backend computes, bit for bit, on every
device and in both summation orders (hal.summation: llama.cpp's AVX2 and AVX-512 builds):
each against its NumPy statement in tests/ggml_reference.py."""
import numpy as np
import pytest

import hal
from hal import summation
from helpers import put

import ggml_reference as ggml


def _x(shape, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


@pytest.fixture(params=summation.ORDERS)
def lanes(request):
    """The float32 lanes of the order forced for the test (restored after it)."""
    previous = summation.set_order(request.param)
    yield summation.LANES[request.param]
    summation.set_order(previous)


def bits_equal(actual, expected):
    np.testing.assert_array_equal(np.asarray(actual).view(np.uint32), np.asarray(expected, np.float32).view(np.uint32))


def test_rms_norm(device):
    x, w = _x((3, 576)), _x((576,), seed=1, scale=0.2)
    bits_equal(hal.nn.rms_norm(put(x, device), put(w, device), 1e-5), ggml.rms_norm(x, w, 1e-5))


def test_rope(device):
    x = _x((4, 3, 64))
    positions = [0, 1, 77, 511]
    bits_equal(hal.nn.rope(put(x, device), positions, 100000.0), ggml.rope(x, positions, 100000.0))


@pytest.mark.parametrize("cols", [5, 16, 300])
def test_softmax(device, cols, lanes):
    x = _x((3, cols), scale=8.0)
    x[0, :2] = -3e38  # masked entries: exp is 0
    x[1, :3] = [-90.0, -100.0, -110.0]  # exp below 2^-126: (AVX2) 2^n in two factors
    bits_equal(hal.nn.softmax(put(x, device)), ggml.softmax(x, lanes))


def test_silu_mul(device, lanes):
    gate, up = _x((2, 1536), scale=6.0), _x((2, 1536), seed=1)
    gate[0, :6] = [-120.0, -90.0, 0.0, 100.0, -150.0, 150.0]  # exp beyond 2^126 and 2^192 both ways
    bits_equal(hal.nn.silu_mul(put(gate, device), put(up, device)), ggml.silu_mul(gate, up, lanes))


def test_to_half(device):
    """Rounding to float16 as NumPy's astype (ties to even, overflow to infinity,
    subnormals, the one quiet NaN), whichever way a device converts (F16C or steps)."""
    special = np.array([0.0, -0.0, 2.0 ** -25, 2.0 ** -24, 3 * 2.0 ** -26, 2.0 ** -14 - 2.0 ** -25, 1 + 2.0 ** -11,
                        1 + 3 * 2.0 ** -11, 65504, 65519.996, 65520, -65520, 1e10, np.inf, -np.inf, np.nan, -np.nan,
                        1e-45], np.float32)
    x = np.concatenate([_x((1000,), scale=100.0), special])
    with np.errstate(over="ignore"):  # (the overflows to infinity are cases)
        want = x.astype(np.float16).view(np.uint16)
    np.testing.assert_array_equal(np.asarray(hal.nn.to_half(put(x, device))), want)


@pytest.mark.parametrize("seq, n_past", [(1, 0), (1, 70), (5, 0), (3, 40)])
def test_attention_over_a_float16_cache(device, seq, n_past, lanes):
    heads, kv_heads, dim, capacity = 6, 2, 64, 80
    q = _x((seq, heads, dim), seed=2)
    k, v = _x((capacity, kv_heads, dim), seed=3), _x((capacity, kv_heads, dim), seed=4)
    k16, v16 = k.astype(np.float16), v.astype(np.float16)
    out = hal.nn.attention(put(q, device), put(k16.view(np.uint16), device), put(v16.view(np.uint16), device),
                           n_past, 0.125)
    bits_equal(out, ggml.attention(q, k16, v16, n_past, 0.125, lanes))


# ---------------------------------------------------------------- a decode step's ops
# (hal.llama's step: positions read on the device, so a captured step replays anywhere)

@pytest.mark.parametrize("n_past", [0, 63, 64, 100, 149])
def test_attention_step_is_attention_for_one_row(device, n_past, lanes):
    heads, kv_heads, dim, capacity = 6, 2, 64, 150
    q = _x((1, heads, dim), seed=2)
    k16, v16 = (_x((capacity, kv_heads, dim), seed=s).astype(np.float16) for s in (3, 4))
    step = device.impl("nn_attention_step")
    out = step(device, put(q, device)._data, put(k16.view(np.uint16), device)._data,
               put(v16.view(np.uint16), device)._data, put(np.array([n_past]), device)._data,
               put(np.array([[0]]), device)._data, 0.125)
    bits_equal(device.to_host(out), ggml.attention(q, k16[:n_past + 1], v16[:n_past + 1], n_past, 0.125, lanes))


@pytest.mark.parametrize("block_size", [4, 16, 80])
def test_attention_step_of_several_sequences_is_attention_of_each_over_its_blocks(device, lanes, block_size):
    """Rows over paged pools (block tables read on the device): each row's bits are its
    own sequence's attention over the positions its blocks hold, in whatever blocks of
    the pools they lie; a sequence needing a block outside the pools gives zeros."""
    heads, kv_heads, dim, width = 6, 2, 64, 80 // block_size  # 80 positions a sequence
    n_blocks = 4 * width + 1
    q = _x((4, heads, dim), seed=2)
    k16, v16 = (_x((n_blocks, block_size, kv_heads, dim), seed=s).astype(np.float16) for s in (3, 4))
    tables = np.random.default_rng(7).permutation(n_blocks)[:4 * width].reshape(4, width)  # scattered blocks
    tables[3, 0] = n_blocks  # outside the pools
    positions = np.array([70, 5, 0, 9])
    args = (device, put(q, device)._data, put(k16.view(np.uint16), device)._data,
            put(v16.view(np.uint16), device)._data, put(positions, device)._data, put(tables, device)._data, 0.125)
    out = device.to_host(device.impl("nn_attention_step")(*args))
    workspace = put(np.full((4, heads, 80), np.nan, np.float32), device)._data  # (overwritten, never read first)
    np.testing.assert_array_equal(device.to_host(device.impl("nn_attention_step")(*args, 0, workspace)), out)
    for s in range(3):
        p = positions[s]
        own = [c[tables[s]].reshape(-1, kv_heads, dim)[:p + 1] for c in (k16, v16)]
        bits_equal(out[s:s + 1], ggml.attention(q[s:s + 1], *own, p, 0.125, lanes))
    np.testing.assert_array_equal(out[3], 0)


def test_attention_step_rounds_the_query_to_float16_as_ggml(device, lanes):
    """A step's query rows go through float16 as ggml_vec_dot_f16 takes them (ties to
    even, subnormals, the largest finite half) on every device, whichever way it converts
    (F16C eight at a time or one by one); a NaN or an overflow makes its head's output NaN."""
    heads, kv_heads, dim, n_past = 6, 2, 64, 40
    q = _x((1, heads, dim), seed=5)
    q[0, 1, :10] = [1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, -(1 + 2.0 ** -11), 2.0 ** -25, 3 * 2.0 ** -26,
                    2.0 ** -14 - 2.0 ** -25, 2.0 ** -24, 65519.996, -65504, 1e-45]
    q[0, 2, 5] = np.nan
    q[0, 3, 9] = 1e6  # rounds to infinity
    k16, v16 = (_x((n_past + 1, kv_heads, dim), seed=s).astype(np.float16) for s in (3, 4))
    out = device.to_host(device.impl("nn_attention_step")(
        device, put(q, device)._data, put(k16.view(np.uint16), device)._data, put(v16.view(np.uint16), device)._data,
        put(np.array([n_past]), device)._data, put(np.array([[0]]), device)._data, 0.125))
    with np.errstate(over="ignore", invalid="ignore"):
        want = ggml.attention(q, k16, v16, n_past, 0.125, lanes)
    finite = ~np.isnan(want)
    assert not finite[0, 2:4].any() and finite[0, [0, 1, 4, 5]].all()
    np.testing.assert_array_equal(np.isnan(out), ~finite)
    bits_equal(out[finite], want[finite])


def test_rope_store_turns_q_and_stores_k_and_v_in_float16_at_the_rows(device):
    """Row s goes to the pools' row rows[s] (of blocks one after another), turned for
    positions[s]; a row outside the pools is not stored."""
    block_size, heads, kv_heads, dim = 5, 6, 2, 64
    q, k, v = _x((3, heads, dim)), _x((3, kv_heads, dim), seed=5, scale=100.0), _x((3, kv_heads, dim), seed=6)
    caches = [put(np.zeros((2, block_size, kv_heads, dim), np.uint16), device) for _ in range(2)]
    positions, rows = np.array([7, 2, 10]), np.array([6, 2, 10])
    q_out = device.impl("nn_rope_store")(device, *(put(a, device)._data for a in (q, k, v)), caches[0]._data,
                                         caches[1]._data, put(positions, device)._data, put(rows, device)._data,
                                         10000.0)
    bits_equal(device.to_host(q_out), ggml.rope(q, positions, 10000.0))
    for cache, values in zip(caches, (ggml.rope(k, positions, 10000.0), v)):
        expected = np.zeros((2 * block_size, kv_heads, dim), np.uint16)
        expected[[6, 2]] = values[:2].astype(np.float16).view(np.uint16)
        np.testing.assert_array_equal(np.asarray(cache).reshape(expected.shape), expected)


def test_add_rms_norm_adds_the_residual_in_place_then_normalizes(device):
    x, delta, w = _x((3, 576)), _x((3, 576), seed=1), _x((576,), seed=2, scale=0.2)
    payload = put(x, device)._data
    out = device.impl("nn_add_rms_norm")(device, payload, put(delta, device)._data, put(w, device)._data, 1e-5)
    bits_equal(device.to_host(payload), x + delta)
    bits_equal(device.to_host(out), ggml.rms_norm(x + delta, w, 1e-5))
