"""One model over several devices (hal.placement): its logits and tokens equal the
model's on one device bit for bit — SmolLM2 on cpu + opencl:0 (prompts not used to
develop it), a tiny synthetic model on cpu + opencl:0 + Oclgrind — in the prefill, in
plain and captured decode steps, and batched; bad devices and splits get clear errors."""
import dataclasses

import numpy as np
import pytest
import synthetic_models
from conftest import DEVICES
from test_llama import needs_smollm2, smollm2_path

import hal
import hal.gguf
from hal import nn
from hal.llama import Llama
from hal.migration import export_sequence, import_sequence
from hal.placement import SplitLlama, plan

NAMES = {d.name for d in DEVICES}
needs_pocl = pytest.mark.skipif("opencl:0" not in NAMES, reason="needs an OpenCL device (opencl:0, PoCL)")
needs_oclgrind = pytest.mark.skipif("opencl:1" not in NAMES, reason="needs Oclgrind as opencl:1")
HELD_OUT = ["A recipe for pancakes:", "The three laws of motion are", "Rivers flow into"]


@pytest.fixture(scope="module")
def smollm2_pair():
    """SmolLM2 on cpu alone and split over opencl:0 (10 layers) then cpu (20)."""
    return Llama.load(smollm2_path(), "cpu"), Llama.load(smollm2_path(), devices=["opencl:0", "cpu"], split=[1, 2])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 3-layer Qwen 3 (q/k norms) of tests/synthetic_models.py, read once (its
    vocabulary takes seconds to parse): one layer per device."""
    path = tmp_path_factory.mktemp("tiny") / "qwen3-3layers.gguf"
    synthetic_models.write(path, "qwen3", layers=3)
    return hal.gguf.read(str(path))


def greedy_logits(model, ids, n):
    """The tokens of n greedy steps and every step's logits (prefill, then decode)."""
    cache, tokens, logits = model.new_cache(len(ids) + n), [], []
    row = np.asarray(model.forward(ids, cache))
    for _ in range(n):
        logits.append(row)
        tokens.append(int(row.argmax()))
        row = np.asarray(model.forward([tokens[-1]], cache))
    return tokens, np.stack(logits), cache


@needs_smollm2
@needs_pocl
def test_split_smollm2_equals_one_device_bit_for_bit(smollm2_pair):
    one, split = smollm2_pair
    assert isinstance(split, SplitLlama) and [d.name for d in split.devices] == ["opencl:0", "cpu"]
    assert split.placement.describe() == "layers 0-9 on opencl:0, layers 10-29 on cpu"
    for prompt in HELD_OUT:
        ids = one.tokenizer.encode(prompt)
        tokens, logits, _ = greedy_logits(one, ids, 5)
        split_tokens, split_logits, cache = greedy_logits(split, ids, 5)
        assert split_tokens == tokens, prompt
        assert np.array_equal(split_logits, logits), prompt  # every bit, prefill and 4 decode steps
        assert len(cache.pool.steps[1]) == 2  # decoded by replays: one captured step per device
        assert [k.device.name for k in cache.keys] == ["opencl:0"] * 10 + ["cpu"] * 20


@needs_smollm2
@needs_pocl
def test_split_generate_and_batched_steps(smollm2_pair):
    """generate (the captured steps) and decode_batch of 3 sequences equal one device's."""
    one, split = smollm2_pair
    ids = one.tokenizer.encode(HELD_OUT[0])
    assert split.generate(ids, 8).token_ids == one.generate(ids, 8).token_ids
    prompts = [one.tokenizer.encode(p) for p in HELD_OUT]
    pools = {m: m.new_caches(len(prompts), 48) for m in (one, split)}
    rows = {}
    for m, caches in pools.items():
        tokens = [int(np.asarray(m.forward(p, c)).argmax()) for p, c in zip(prompts, caches)]
        steps = []
        for _ in range(3):  # plain, capture, replay
            logits = np.asarray(m.decode_batch(tokens, caches))
            steps.append(logits)
            tokens = [int(i) for i in logits.argmax(axis=1)]
        rows[m] = np.stack(steps)
    assert np.array_equal(rows[split], rows[one])


@pytest.mark.simulator
@needs_pocl
@needs_oclgrind
def test_three_devices_with_the_simulator(tiny):
    """cpu + opencl:0 + Oclgrind (the middle layer only: Oclgrind is ~100x slower)."""
    one = Llama.load(tiny, "cpu")
    split = Llama.load(tiny, devices=["opencl:0", "opencl:1", "cpu"])
    assert split.placement.describe() == "layers 0-0 on opencl:0, layers 1-1 on opencl:1, layers 2-2 on cpu"
    ids = one.tokenizer.encode("The capital of France is")
    tokens, logits, _ = greedy_logits(one, ids, 4)
    split_tokens, split_logits, _ = greedy_logits(split, ids, 4)
    assert split_tokens == tokens and np.array_equal(split_logits, logits)


def test_split_ratios():
    cpu = hal.device("cpu")
    assert [len(r) for _, r in plan(30, [cpu], None).groups] == [30]
    if "opencl:0" in NAMES:
        # 22.5 and 7.5 layers: a tie goes to the first
        assert [len(r) for _, r in plan(30, ["opencl:0", "cpu"], [3, 1]).groups] == [23, 7]
        assert [(r.start, r.stop) for _, r in plan(5, ["cpu", "opencl:0"], None).groups] == [(0, 3), (3, 5)]


def test_bad_devices_and_splits_get_clear_errors(tiny):
    with pytest.raises(hal.DeviceError):
        Llama.load(tiny, devices=["cpu", "tpu:7"])
    with pytest.raises(ValueError, match="twice"):
        Llama.load(tiny, devices=["cpu", "cpu"])
    with pytest.raises(ValueError, match="one positive number per device"):
        Llama.load(tiny, devices=["cpu"], split=[1, 2])
    with pytest.raises(ValueError, match="one positive number per device"):
        Llama.load(tiny, devices=["cpu"], split=[0])
    with pytest.raises(TypeError, match="not both"):
        Llama.load(tiny, "cpu", devices=["cpu"])
    with pytest.raises(TypeError, match="needs a device"):
        Llama.load(tiny)
    with pytest.raises(ValueError, match="empty"):
        Llama.load(tiny, devices=[])
    if "opencl:0" in NAMES:
        with pytest.raises(ValueError, match="at least one layer"):
            plan(1, ["cpu", "opencl:0"])
        with pytest.raises(ValueError, match="leaves cpu without a layer"):
            plan(3, ["cpu", "opencl:0"], [1, 100])


@needs_pocl
def test_a_split_that_does_not_fit_is_refused_before_loading(tiny, monkeypatch):
    small = hal.device("opencl:0")
    monkeypatch.setattr(small, "info", dataclasses.replace(small.info, memory=1 << 20))
    with pytest.raises(hal.OutOfMemoryError, match="opencl:0.*layers 0-1: choose another split"):
        Llama.load(tiny, devices=["opencl:0", "cpu"], split=[2, 1])


# ---------------------------------------------------------------- sequences that move

def run_steps(model, cache, sampler, token, n):
    """n sampled tokens after ``token`` (the last chosen) on ``cache``."""
    out = []
    for _ in range(n):
        token = sampler(model.forward([token], cache))
        out.append(token)
    return out


@needs_smollm2
@needs_pocl
@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_a_sequence_moves_mid_generation_and_keeps_its_tokens(smollm2_pair, temperature):
    """cpu -> opencl:0 -> the split model -> cpu between steps: the tokens of a run
    that never moved (sampled ones too: the sampler's state moves with it)."""
    cpu, split = smollm2_pair
    gpu = Llama.load(smollm2_path(), "opencl:0")
    ids = cpu.tokenizer.encode("Write a short poem about autumn leaves:")
    sampler = lambda: nn.Sampler(11, temperature=temperature, top_k=40, top_p=0.95)  # noqa: E731
    reference_cache, reference_sampler = cpu.new_cache(64), sampler()
    first = reference_sampler(cpu.forward(ids, reference_cache))
    reference = run_steps(cpu, reference_cache, reference_sampler, first, 12)

    cache, s = cpu.new_cache(64), sampler()
    tokens = [s(cpu.forward(ids, cache))]
    tokens += run_steps(cpu, cache, s, tokens[-1], 3)
    for model, n in ((gpu, 4), (split, 3), (cpu, 2)):  # move, step, move, step, ...
        state = export_sequence(cache, s)
        assert state.length == cache.length and state.nbytes == 2 * 30 * cache.length * 3 * 64 * 2
        cache = model.new_cache(64)
        s = import_sequence(model, state, cache)
        tokens += run_steps(model, cache, s, tokens[-1], n)
    assert tokens[1:] == reference and tokens[0] == first


@needs_smollm2
def test_importing_into_another_model_is_refused(smollm2_pair, tiny):
    cpu, _ = smollm2_pair
    cache = cpu.new_cache(16)
    cpu.forward(cpu.tokenizer.encode("Hello"), cache)
    other = Llama.load(tiny, "cpu")
    with pytest.raises(ValueError, match="this model has 3 of"):
        import_sequence(other, export_sequence(cache), other.new_cache(16))
    with pytest.raises(ValueError, match="room for"):
        import_sequence(cpu, export_sequence(cache), cpu.new_cache(cache.length))


@needs_pocl
def test_a_measured_split_gives_every_device_layers_and_the_same_logits(tiny):
    one = Llama.load(tiny, "cpu")
    split = Llama.load(tiny, devices=["opencl:0", "cpu"], split="measure")
    assert [len(layers) for _, layers in split.placement.groups] in ([1, 2], [2, 1])
    ids = one.tokenizer.encode("Rivers flow into")
    assert np.array_equal(greedy_logits(split, ids, 3)[1], greedy_logits(one, ids, 3)[1])
    assert [len(r) for _, r in plan(3, ["opencl:0", "cpu"], [1000, 1], one_each=True).groups] == [2, 1]
    with pytest.raises(ValueError, match="one number per device"):
        Llama.load(tiny, devices=["opencl:0", "cpu"], split="fastest")
