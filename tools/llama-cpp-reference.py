"""Record llama.cpp's greedy continuations of a model for the tests
(tests/data/llama_cpp_<model>_<order>.json, one per summation order, see hal.summation):
prompt ids, 32 greedy tokens, and the exact top logits at the first and last step. The
model is a short name of hal.models (default smollm2: SmolLM2-135M-Instruct; gemma3:
Gemma 3 270M) or a GGUF path; the chat prompts are written in the model's own chat
template. The order is that of the local llama.cpp's build: AVX-512 where its system
info says ``AVX512 = 1``, else AVX2.

Needs llama-cpp-python, built for either (the default native build crashes on AMX units):
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON" \
        pip install llama-cpp-python                    # the AVX-512 build
    python tools/llama-cpp-reference.py [--model gemma3] [--out FILE] [--prompts FILE]
--prompts records your own prompts instead (a text file, one a line; a line starting
"chat: " is a user turn): a held-out check of a machine, with
``tools/llama-cpp-compare.py --data FILE``.
The AVX2 build runs on any x86-64 machine: build llama.cpp's shared libraries from the
same source without AVX-512 and point llama-cpp-python at them:
    cmake -B build-avx2 -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
        -DBUILD_SHARED_LIBS=ON && cmake --build build-avx2 --target llama
    LLAMA_CPP_LIB_PATH=build-avx2/bin python tools/llama-cpp-reference.py
"""
import argparse
import json
import os
import sys

import llama_cpp
import numpy as np

import hal.gguf
import hal.models
from hal.tokenizer import Tokenizer

CHAT = object()  # marks a prompt given as a user turn of the model's chat template
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, 3 cats",
           (CHAT, "Name three colours."), "Dear Sir or Madam,", "The quick brown fox",
           "import numpy as np\n", "1, 2, 3, 4, 5,", "In 1969, astronauts", "Photosynthesis is the process",
           (CHAT, "What is 2+2?"), "My favourite recipe for pancakes:", "SELECT * FROM users WHERE",
           "The meaning of life is", (CHAT, "Write a haiku about the sea."), "Water boils at"]
# SmolLM2's recordings carry its chat template's default system turn.
SYSTEM = {"smollm2": "You are a helpful AI assistant named SmolLM, trained by Hugging Face"}
N, N_CTX, TOP = 32, 512, 5
# --long: one prompt of 585 Gemma 3 tokens, past its 512-position sliding window, 8 tokens on.
LONG = " ".join(f"Item {i}: the {['red', 'green', 'blue', 'yellow'][i % 4]} box holds {i * 7 % 13} stones."
                for i in range(45))
LONG_N, LONG_CTX = 8, 1024
DATA = os.path.join(os.path.dirname(__file__), "..", "tests", "data")


def build_order(system_info: str) -> str:
    """The summation order of a llama.cpp build from its system info."""
    if "AVX2 = 1" not in system_info:
        sys.exit(f"this llama.cpp is neither an AVX2 nor an AVX-512 build, whose orders hal follows: {system_info}")
    return "avx512" if "AVX512 = 1" in system_info else "avx2"


def top_logits(llm) -> list:
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)).copy()
    best = np.argsort(-logits, kind="stable")[:TOP]
    return [[int(i), float(logits[i]).hex()] for i in best]


def greedy(llm, ids: list, n: int = N) -> dict:
    llm.reset()
    llm.eval(ids)
    tokens, first = [], top_logits(llm)
    last = first
    while len(tokens) < n:
        token = last[0][0]
        if token == llm.token_eos():
            break
        tokens.append(token)
        llm.eval([token])
        last = top_logits(llm)
    return {"ids": ids, "tokens": tokens, "first_top": first, "last_top": last}


def prompts(model: str, path: str, given: list = PROMPTS) -> list:
    """The prompts as text: chat turns in the model's template (plain text for a base
    model without one, such as Gemma 3 270M)."""
    tokenizer = Tokenizer(hal.gguf.read(path).metadata)
    chat = (lambda text: tokenizer.chat(text, SYSTEM.get(model))) if tokenizer.chat_template else (lambda text: text)
    return [chat(p[1]) if isinstance(p, tuple) else p for p in given]


def read_prompts(path: str) -> list:
    """A prompts file's lines, "chat: " lines as user turns; blank lines are skipped."""
    with open(path) as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    return [(CHAT, line[len("chat: "):]) if line.startswith("chat: ") else line for line in lines]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="smollm2", help="a short name (hal.models.INSTALLED) or a GGUF path")
    p.add_argument("--long", action="store_true", help="record only the long prompt (default out: "
                                                       "tests/data/llama_cpp_<model>_long_<order>.json)")
    p.add_argument("--out", help="default: tests/data/llama_cpp_<model>_<order>.json")
    p.add_argument("--prompts", help="a text file of your own prompts, one a line (then --out is needed)")
    args = p.parse_args()
    if args.prompts and not args.out:
        p.error("--prompts needs --out: the recordings in tests/data are of the built-in prompts")
    system_info = llama_cpp.llama_print_system_info().decode()
    order = build_order(system_info)
    path = hal.models.path(args.model)
    out = args.out or os.path.join(DATA, f"llama_cpp_{args.model}{'_long' if args.long else ''}_{order}.json")
    n, n_ctx = (LONG_N, LONG_CTX) if args.long else (N, N_CTX)
    llm = llama_cpp.Llama(path, n_ctx=n_ctx, n_threads=2, verbose=False)
    runs = []
    given = read_prompts(args.prompts) if args.prompts else PROMPTS
    for prompt in [LONG] if args.long else prompts(args.model, path, given):
        runs.append({"prompt": prompt, **greedy(llm, llm.tokenize(prompt.encode(), add_bos=True, special=True), n)})
        print(len(runs), repr(prompt), len(runs[-1]["tokens"]), file=sys.stderr)
    with open(out, "w") as f:
        json.dump({"llama_cpp_python": llama_cpp.__version__, "order": order, "system_info": system_info.strip(),
                   "n_ctx": n_ctx, "runs": runs}, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(out)} ({order} build)", file=sys.stderr)


if __name__ == "__main__":
    main()
