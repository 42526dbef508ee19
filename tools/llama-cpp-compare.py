"""Check hal against llama.cpp's recorded greedy continuations of a model
(tests/data/llama_cpp_<model>[_<order>].json, from tools/llama-cpp-reference.py) on a
device: for each of the 16 prompts, the same prompt ids, the same 32 greedy tokens, and
the same top-5 logits to the last bit at the first and the last step. The model is a
short name of hal.models (default smollm2: SmolLM2-135M-Instruct; gemma3: Gemma 3 270M).

    python tools/llama-cpp-compare.py [DEVICE] [--model gemma3] [--order avx2|avx512] [--data FILE]

The order (hal.summation) is --order's, else that of the local llama.cpp's build where
llama-cpp-python is installed (its system info), else hal's (HAL_SUMMATION, else the
host's); hal runs in it and is checked against that build's recording. A model recorded
in one order only (a file without the order in its name, whose "order" says which,
avx512 by default) is checked in that order.
"""
import argparse
import importlib.util
import json
import os
import sys

import numpy as np

import hal.models
from hal import summation
from hal.llama import Llama

FOLDER = os.path.join(os.path.dirname(__file__), "..", "tests", "data")


def data_file(model: str, order: str) -> str:
    """The recorded runs of a model (a short name of hal.models) in ``order``, or its
    only recording."""
    path = os.path.join(FOLDER, f"llama_cpp_{model}_{order}.json")
    return path if os.path.exists(path) else os.path.join(FOLDER, f"llama_cpp_{model}.json")


def recording(path: str) -> tuple:
    """(its order, its runs)."""
    with open(path) as f:
        data = json.load(f)
    return data.get("order", "avx512"), data["runs"]


def runs(order: str, model: str = "smollm2") -> list:
    return recording(data_file(model, order))[1]


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
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("device", nargs="?", default="cpu")
    p.add_argument("--model", default="smollm2", help="a short name (hal.models.INSTALLED)")
    p.add_argument("--order", choices=summation.ORDERS, help="default: the local llama.cpp's, else hal's")
    p.add_argument("--data", help="the recorded runs (default: tests/data/llama_cpp_<model>[_<order>].json)")
    args = p.parse_args()
    order, recorded = recording(args.data or data_file(
        args.model, args.order or local_llama_cpp_order() or summation.order()))
    summation.set_order(order)
    model = Llama.load(hal.models.path(args.model), args.device)
    same = 0
    for run in recorded:
        difference = compare(model, run)
        same += not difference
        print(f"{'same' if not difference else 'differs: ' + difference:24} {run['prompt'][-40:]!r}")
    print(f"{args.device}, {order} order: {same}/{len(recorded)} prompts equal to llama.cpp (tokens and logits)")
    sys.exit(0 if same == len(recorded) else 1)


if __name__ == "__main__":
    main()
