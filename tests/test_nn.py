"""hal.nn's float ops on every device against float64 NumPy: rms_norm, rope (llama.cpp's
"normal" mode, as ggml's rope_f32 defines it), softmax, silu_mul, grouped-query causal
attention over a KV cache, greedy and seeded sampling; and no array data through the
host on buffer devices."""
import numpy as np
import pytest

import hal
from helpers import data, put

RTOL, ATOL = 1e-5, 1e-6


def close(actual, expected, rtol=RTOL, atol=ATOL):
    assert actual.dtype == hal.float32 and actual.shape == expected.shape
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("shape", [(7,), (3, 300), (2, 2, 33)])
def test_rms_norm(device, shape):
    x, w = data(shape, np.float32), data(shape[-1:], np.float32, seed=1)
    x64 = x.astype(np.float64)
    want = x64 / np.sqrt(np.mean(x64 * x64, axis=-1, keepdims=True) + 1e-6) * w
    close(hal.nn.rms_norm(put(x, device), put(w, device), 1e-6), want)


def rope_reference(x, positions, theta):
    """ggml's normal mode: pair (x[2i], x[2i+1]) turns by pos * theta^(-2i/dim)."""
    dim = x.shape[-1]
    angle = positions[:, None, None] * theta ** (-2.0 * np.arange(dim // 2) / dim)
    x0, x1 = x[..., 0::2].astype(np.float64), x[..., 1::2].astype(np.float64)
    out = np.empty(x.shape)
    out[..., 0::2] = x0 * np.cos(angle) - x1 * np.sin(angle)
    out[..., 1::2] = x0 * np.sin(angle) + x1 * np.cos(angle)
    return out


@pytest.mark.parametrize("theta", [10000.0, 500000.0])
def test_rope(device, theta):
    x = data((4, 3, 16), np.float32)
    positions = np.array([0, 1, 7, 300])
    want = rope_reference(x, positions, theta)
    # f32 angles of positions in the hundreds are good to ~1e-5 radians (as in ggml)
    close(hal.nn.rope(put(x, device), put(positions.astype(np.int32), device), theta=theta), want, atol=1e-4)
    close(hal.nn.rope(put(x, device), positions.tolist(), theta), want, atol=1e-4)


def test_rope_position_zero_is_identity(device):
    x = data((2, 2, 8), np.float32)
    close(hal.nn.rope(put(x, device), [0, 0]), x.astype(np.float64), rtol=0, atol=0)


@pytest.mark.parametrize("shape,axis", [((5,), -1), ((3, 700), -1), ((4, 6), 0), ((2, 3, 4), 1)])
def test_softmax(device, shape, axis):
    x = data(shape, np.float32) * 10
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=axis, keepdims=True))
    close(hal.nn.softmax(put(x, device), axis=axis), e / e.sum(axis=axis, keepdims=True))


def test_softmax_large_and_masked(device):
    x = np.array([[1000.0, 999.0, -3e38], [-1e30, -1e30, -1e30]], np.float32)
    close(hal.nn.softmax(put(x, device)), np.array([[1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1)), 0],
                                                    [1 / 3, 1 / 3, 1 / 3]]))


def test_silu_mul(device):
    gate, up = data((3, 50), np.float32) * 4, data((3, 50), np.float32, seed=1)
    gate[0, :3] = [-100.0, 100.0, 0.0]
    g64 = gate.astype(np.float64)
    close(hal.nn.silu_mul(put(gate, device), put(up, device)), g64 / (1 + np.exp(-g64)) * up)


def attention_reference(q, k_cache, v_cache, n_past, scale):
    seq, heads, dim = q.shape
    group = heads // k_cache.shape[1]
    out = np.zeros(q.shape)
    for i in range(seq):
        for h in range(heads):
            k = k_cache[:n_past + i + 1, h // group].astype(np.float64)
            v = v_cache[:n_past + i + 1, h // group].astype(np.float64)
            s = k @ q[i, h] * scale
            p = np.exp(s - s.max())
            out[i, h] = p / p.sum() @ v
    return out


@pytest.mark.parametrize("seq,n_past,heads,kv_heads", [
    (1, 0, 2, 2),    # first token
    (1, 6, 6, 2),    # decode with grouped-query heads
    (4, 0, 4, 1),    # prefill, multi-query
    (3, 5, 6, 3),    # a chunk after a prefix
])
def test_attention(device, seq, n_past, heads, kv_heads):
    dim, capacity = 8, 12
    q = data((seq, heads, dim), np.float32)
    k_cache, v_cache = data((capacity, kv_heads, dim), np.float32, 1), data((capacity, kv_heads, dim), np.float32, 2)
    k_cache[n_past + seq:] = np.nan  # rows past the valid ones must not be read
    v_cache[n_past + seq:] = np.nan
    want = attention_reference(q, k_cache, v_cache, n_past, 1 / np.sqrt(dim))
    close(hal.nn.attention(put(q, device), put(k_cache, device), put(v_cache, device), n_past), want)
    close(hal.nn.attention(put(q, device), put(k_cache, device), put(v_cache, device), n_past, scale=0.5),
          attention_reference(q, k_cache, v_cache, n_past, 0.5))


def test_attention_errors(device):
    q, cache = put(np.zeros((2, 3, 4), np.float32), device), put(np.zeros((4, 2, 4), np.float32), device)
    with pytest.raises(ValueError, match="do not group"):
        hal.nn.attention(q, cache, cache, 0)
    q = put(np.zeros((2, 4, 4), np.float32), device)
    with pytest.raises(ValueError, match="exceeds the cache capacity 4"):
        hal.nn.attention(q, cache, cache, 3)


def test_step_errors(device):
    """The decode step's ops say what is wrong with their caches, rows, tables and workspace."""
    q, kv = put(np.zeros((2, 4, 4), np.float32), device), put(np.zeros((2, 2, 4), np.float32), device)
    pool = hal.zeros((3, 5, 2, 4), dtype=hal.uint16, device=device)
    at = hal.asarray(np.array([0, 1]), dtype=hal.int64, device=device)
    with pytest.raises(ValueError, match="paged pools .* need rows"):
        hal.nn.rope_store(q, kv, kv, pool, pool, at)
    with pytest.raises(ValueError, match="paged pools .* need blocks"):
        hal.nn.attention_step(q, pool, pool, at)
    with pytest.raises(ValueError, match=r"blocks must be int64 \(2, width\)"):
        hal.nn.attention_step(q, pool, pool, at, blocks=at)
    tables = hal.zeros((2, 2), dtype=hal.int64, device=device)
    with pytest.raises(ValueError, match=r"scores must be contiguous float32 \(2, 4, 10\)"):
        hal.nn.attention_step(q, pool, pool, at, blocks=tables, scores=hal.zeros((2, 4, 5), device=device))
    with pytest.raises(TypeError, match="float16 bits"):
        hal.nn.attention_step(q, kv, kv, at)


def test_sample_greedy(device):
    logits = np.array([0.5, 3.0, -1.0, 3.0, 2.0], np.float32)  # a tie: the lower index
    assert hal.nn.sample(put(logits, device)) == 1
    assert hal.nn.sample(put(logits[None], device), temperature=0.0) == 1
    assert hal.nn.sample(put(logits, device), temperature=1.0, top_k=1, seed=3) == 1
    assert hal.nn.sample(put(logits, device), temperature=1.0, top_p=1e-6, seed=4) == 1


def test_sample_seeded_is_the_same_on_every_device(device):
    logits = data((300,), np.float32, seed=7) * 2
    options = dict(temperature=0.9, top_k=40, top_p=0.9)
    want = [hal.nn.sample(put(logits, "cpu"), seed=s, **options) for s in range(8)]
    assert [hal.nn.sample(put(logits, device), seed=s, **options) for s in range(8)] == want
    top40 = set(np.argsort(-logits, kind="stable")[:40].tolist())
    assert set(want) <= top40 and len(set(want)) > 1
    a, b = hal.nn.Sampler(11, **options), hal.nn.Sampler(np.random.default_rng(11), **options)
    x = put(logits, device)
    assert [a(x) for _ in range(5)] == [b(x) for _ in range(5)]


def test_sample_follows_the_distribution():
    """On the cpu (fast): frequencies of 2000 draws match the renormalized top-k
    probabilities."""
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], np.float32))
    sampler = hal.nn.Sampler(0, temperature=1.0, top_k=3)
    x = put(logits, "cpu")
    counts = np.bincount([sampler(x) for _ in range(2000)], minlength=4) / 2000
    np.testing.assert_allclose(counts, [0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0], atol=0.04)


def test_no_host_transfers(buffer_device):
    dev = buffer_device
    x, w = put(data((2, 4, 8), np.float32), dev), put(data((8,), np.float32), dev)
    cache = put(data((6, 2, 8), np.float32), dev)
    pos, logits = put(np.array([0, 1]), dev), put(data((50,), np.float32), dev)
    hal.nn.rope(x, pos)  # its first use uploads the cos/sin table of (theta, head_dim), once
    hal.reset_stats()
    outs = [hal.nn.rms_norm(x, w), hal.nn.rope(x, pos), hal.nn.softmax(x), hal.nn.silu_mul(x, x),
            hal.nn.attention(x, cache, cache, 3)]
    hal.nn.sample(logits)
    hal.nn.sample(logits, temperature=0.7, top_k=5, top_p=0.8, seed=1)
    dev.synchronize()
    stats = hal.stats()
    assert stats.get("device_to_host", 0) == 0 and stats.get("host_to_device", 0) == 0, stats
    assert stats.get("size_reads", 0) == 2 and len(outs) == 5


@pytest.mark.parametrize("wg", [1, 16, 256])
def test_row_folds_every_work_group_size(buffer_device, wg):
    """rms_norm and softmax with each work-group size hal.autotune may pick."""
    from hal.ops import nn
    dev = buffer_device
    if wg > dev.info.max_work_group:
        pytest.skip("work-group larger than the device's")
    x, w = data((3, 300), np.float32), data((300,), np.float32, seed=1)
    out = dev.empty(x.shape, np.dtype(np.float32))
    nn.rms_norm_into(dev, {"WG": wg}, out, put(x, dev)._data, put(w, dev)._data, 1e-5)
    x64 = x.astype(np.float64)
    want = x64 / np.sqrt(np.mean(x64 * x64, axis=-1, keepdims=True) + 1e-5) * w
    np.testing.assert_allclose(dev.to_host(out), want, rtol=RTOL, atol=ATOL)
    nn.softmax_into(dev, {"WG": wg}, out, put(x, dev)._data)
    e = np.exp(x64 - x64.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(dev.to_host(out), e / e.sum(axis=-1, keepdims=True), rtol=RTOL, atol=ATOL)
