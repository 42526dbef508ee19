"""Check hal against llama.cpp's recorded greedy continuations of a model
(tests/data/llama_cpp_<model>.json, from tools/llama-cpp-reference.py) on a device: for
each of the 16 prompts, the same prompt ids, the same 32 greedy tokens, and the same
top-5 logits to the last bit at the first and the last step. The model is a short name
of hal.models (default smollm2: SmolLM2-135M-Instruct; gemma3: Gemma 3 270M).

    python tools/llama-cpp-compare.py [DEVICE] [--model gemma3] [--data FILE]
"""
import argparse
import json
import os
import sys

import numpy as np

import hal.models
from hal.llama import Llama

FOLDER = os.path.join(os.path.dirname(__file__), "..", "tests", "data")


def data_file(model: str) -> str:
    """The recorded runs of a model (a short name of hal.models)."""
    return os.path.join(FOLDER, f"llama_cpp_{model}.json")


DATA = data_file("smollm2")  # the default model's


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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("device", nargs="?", default="cpu")
    p.add_argument("--model", default="smollm2", help="a short name (hal.models.INSTALLED)")
    p.add_argument("--data", help="the recorded runs (default: tests/data/llama_cpp_<model>.json)")
    args = p.parse_args()
    device = args.device
    model = Llama.load(hal.models.path(args.model), device)
    with open(args.data or data_file(args.model)) as f:
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
