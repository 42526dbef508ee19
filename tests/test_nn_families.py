"""The hal.nn ops other model families need (ops/nn_families.py, and the NeoX and
sliding-window modes of ops/nn.py), on every device: GELU(tanh) through llama.cpp's own
float16 table, rope in NeoX mode, attention in a sliding window; and an architecture
hal does not run is a GGUFError that names it."""
import ctypes
import importlib.util
import os

import numpy as np
import pytest
from gguf import GGUFWriter

import hal
from hal.gguf import GGUFError
from hal.llama import ARCHITECTURES, Llama
from hal.ops.nn_families import gelu_table
from helpers import put

f32 = np.float32


def _ggml_cpu():
    """llama-cpp-python's libggml-cpu, initialized (its tables built), or None."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None:
        return None
    lib = os.path.join(list(spec.submodule_search_locations)[0], "lib")
    ctypes.CDLL(os.path.join(lib, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    cpu = ctypes.CDLL(os.path.join(lib, "libggml-cpu.so"))
    cpu.ggml_cpu_init()
    return cpu


def test_gelu_table_is_llama_cpps():
    cpu = _ggml_cpu()
    if cpu is None:
        pytest.skip("llama-cpp-python is not installed (its ggml_table_gelu_f16 is the reference)")
    theirs = np.ctypeslib.as_array((ctypes.c_uint16 * 65536).in_dll(cpu, "ggml_table_gelu_f16")).copy()
    np.testing.assert_array_equal(gelu_table(), theirs.view(np.float16).astype(f32))


def test_gelu_mul_scale_add_rows(device):
    """ggml_vec_geglu_f32's rule (0 at or below -10, gate * up at or above 10, else the
    table at the float16 gate), ggml_scale and a bias: the same bits on every device."""
    rng = np.random.default_rng(0)
    gate = (rng.standard_normal((7, 96)) * 4).astype(f32)
    gate[0, :4] = [-10.0, 10.0, -10.5, 12.0]
    up = rng.standard_normal((7, 96)).astype(f32)
    table = gelu_table()
    looked_up = table[gate.astype(np.float16).view(np.uint16)] * up
    expected = np.where(gate <= -10, f32(0), np.where(gate >= 10, gate * up, looked_up))
    out = hal.nn.gelu_mul(put(gate, device), put(up, device))
    np.testing.assert_array_equal(np.asarray(out), expected)
    np.testing.assert_array_equal(np.asarray(hal.nn.scale(put(gate, device), 25.298221)), gate * f32(25.298221))
    bias = rng.standard_normal(96).astype(f32)
    np.testing.assert_array_equal(np.asarray(hal.nn.add_rows(put(gate, device), put(bias, device))), gate + bias)
    with pytest.raises(ValueError, match="gate .* and up .* differ"):
        hal.nn.gelu_mul(put(gate, device), put(up[:, :32], device))
    with pytest.raises(ValueError, match="bias of shape"):
        hal.nn.add_rows(put(gate, device), put(bias[:8], device))


def test_neox_rope_is_normal_rope_of_the_halves_interleaved(device):
    """NeoX mode turns pairs (i, i + d/2): exactly normal mode applied to the head with
    its halves interleaved, and close to the float64 rotation."""
    rng = np.random.default_rng(1)
    seq, heads, dim, theta = 5, 3, 16, 10000.0
    x = rng.standard_normal((seq, heads, dim)).astype(f32)
    positions = np.array([0, 1, 7, 300, 9000])  # the last beyond the host-built cos/sin table
    interleave = np.stack([np.arange(dim // 2), np.arange(dim // 2) + dim // 2], -1).reshape(-1)
    neox = np.asarray(hal.nn.rope(put(x, device), put(positions, device), theta, neox=True))
    normal = np.asarray(hal.nn.rope(put(np.ascontiguousarray(x[..., interleave]), device), put(positions, device),
                                    theta))
    restored = np.empty_like(normal)
    restored[..., interleave] = normal
    np.testing.assert_array_equal(neox, restored)
    angles = positions[:, None] * theta ** (-2.0 * np.arange(dim // 2) / dim)
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    lo, hi = x[..., :dim // 2].astype(np.float64), x[..., dim // 2:].astype(np.float64)
    expected = np.concatenate([lo * cos - hi * sin, lo * sin + hi * cos], -1)
    np.testing.assert_allclose(neox, expected, rtol=1e-4, atol=1e-3)  # f32 angles of position 9000


def _attention64(q, k, v, n_past, window):
    seq, heads, dim = q.shape
    group = heads // k.shape[1]
    out = np.zeros(q.shape)
    for i in range(seq):
        p = n_past + i
        seen = [t for t in range(p + 1) if window == 0 or p - t < window]
        for h in range(heads):
            s = np.array([q[i, h] @ k[t, h // group] for t in seen]) / np.sqrt(dim)
            e = np.exp(s - s.max())
            out[i, h] = (e / e.sum()) @ v[seen, h // group]
    return out


def test_sliding_window_attention(device):
    """Positions outside the window change nothing (their probabilities are exact
    zeros), the prefill and the one-row step agree bit for bit, and both are close to
    float64 attention over the window."""
    rng = np.random.default_rng(2)
    seq, heads, kv_heads, dim, n_past, window, capacity = 6, 4, 2, 64, 20, 8, 32
    q = rng.standard_normal((seq, heads, dim)).astype(f32)
    k = rng.standard_normal((capacity, kv_heads, dim)).astype(f32)
    v = rng.standard_normal((capacity, kv_heads, dim)).astype(f32)
    half = lambda a: put(a.astype(np.float16).view(np.uint16), device)  # noqa: E731  (the f16 cache)
    out = np.asarray(hal.nn.attention(put(q, device), half(k), half(v), n_past, window=window))
    k2, v2 = k.copy(), v.copy()
    k2[:n_past - window + 1] *= 3.0  # every position no query of the prefill sees
    v2[:n_past - window + 1] += 1.0
    np.testing.assert_array_equal(np.asarray(hal.nn.attention(put(q, device), half(k2), half(v2), n_past,
                                                              window=window)), out)
    k16, v16 = (a.astype(np.float16).astype(np.float64) for a in (k, v))
    np.testing.assert_allclose(out, _attention64(q.astype(np.float16).astype(np.float64), k16, v16, n_past, window),
                               rtol=2e-3, atol=2e-3)
    last = n_past + seq - 1
    step = hal.nn.attention_step(put(q[-1:], device), half(k), half(v),
                                 hal.asarray(np.array([last]), dtype=hal.int64, device=device), window=window)
    one_row = hal.nn.attention(put(q[-1:], device), half(k), half(v), last, window=window)
    np.testing.assert_array_equal(np.asarray(step), np.asarray(one_row))
    with pytest.raises(ValueError, match="window must be >= 0"):
        hal.nn.attention(put(q, device), half(k), half(v), n_past, window=-1)


def test_unsupported_architecture_is_named(tmp_path):
    path = tmp_path / "mamba.gguf"
    w = GGUFWriter(str(path), "mamba")
    w.add_block_count(1)
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()
    with pytest.raises(GGUFError, match="general.architecture is 'mamba'; hal runs 'llama', 'gemma3'") as error:
        Llama.load(path, "cpu")
    assert all(repr(name) in str(error.value) for name in ARCHITECTURES)
