"""One decode step for many sequences at once: the next-token logits of B sequences,
each at its own position in its own KV cache, with every quantized product taking all
B rows together (matrix times matrix: the weights are read once per step, not once
per sequence), as vLLM's and llama.cpp's servers batch their decode steps.

Only what is per sequence runs per sequence: rope and the float16 cache writes
(``rope_store``) and attention (``attention_step``), each on the sequence's own row and
cache. Every op here computes a row from that row alone, so each row's logits equal,
bit for bit, the logits of ``Llama.forward`` on that sequence alone (checked in
tests/test_serve.py against ``Llama.generate``): batch invariance.

Which weights allow this: the 8-bit block products of Q4_0, Q4_1 and Q8_0 weights
(ops/qdot.py) sum each row of x in the same order whatever the number of rows. The
K-quant products do not (they follow llama.cpp's kernels, whose float steps differ
below and from 8 rows, ops/qdot_k.py), and F16/BF16/F32 products are not checked for
it: for such a model ``batchable`` is False and the engine decodes its sequences one by
one.

This walks ``hal.llama.Llama``'s forward pass the way ``Llama._block`` does for one
sequence, through its internals (``_kernels``, ``_norms``): it belongs beside them in
hal.llama once that module's redesign gives batched steps a home.
"""
from __future__ import annotations

import numpy as np

import hal
from hal import nn
from hal._array import Array
from hal.llama import BLOCK_TENSORS
from hal.ops import qdot


def batchable(model) -> bool:
    """Whether every product of ``model`` gives each row the same bits at any number of rows."""
    return all(qdot.supports(w.ggml_type) for w in model.weights.values() if isinstance(w, nn.QuantizedWeight))


def decode_step(model, tokens: list, caches: list):
    """The logits (B, vocab) payload after ``tokens[i]`` follows ``caches[i]``'s
    sequence, for every i; each cache grows by one position."""
    c, k, d = model.config, model._kernels, model.device
    b = len(tokens)
    for cache in caches:
        if cache.length >= cache.capacity:
            raise ValueError(f"a KV cache of {cache.capacity} positions is full")
    inputs = d.from_host(np.array(list(tokens) + [cache.length for cache in caches], np.int64))
    positions = [k.rows(inputs, b + s, b + s + 1) for s in range(b)]
    x, delta = k.embedding(d, model.weights["token_embd.weight"], k.rows(inputs, 0, b)), None
    kv_shape, scale = (1, c.n_kv_heads, c.head_dim), c.head_dim ** -0.5
    for i in range(c.n_layers):
        w = {name: model.weights[f"blk.{i}.{name}.weight"] for name in BLOCK_TENSORS}
        q, key, value = k.linear(k.norm(x, delta, model._norms[f"blk.{i}.attn_norm.weight"], c.eps),
                                 w["attn_q"], w["attn_k"], w["attn_v"])
        attended = []
        for s, cache in enumerate(caches):
            keys, values = cache.keys[i]._data, cache.values[i]._data
            q_s = k.rope_store(d, k.reshape(k.rows(q, s, s + 1), (1, c.n_heads, c.head_dim)),
                               k.reshape(k.rows(key, s, s + 1), kv_shape),
                               k.reshape(k.rows(value, s, s + 1), kv_shape), keys, values, positions[s], c.rope_theta)
            out = k.attention_step(d, q_s, keys, values, positions[s], scale)
            attended.append(Array._new(k.reshape(out, (1, c.dim)), d))
        rows = hal.concat(attended, axis=0)._data if b > 1 else attended[0]._data
        h = k.norm(x, k.linear(rows, w["attn_output"])[0], model._norms[f"blk.{i}.ffn_norm.weight"], c.eps)
        gate, up = k.linear(h, w["ffn_gate"], w["ffn_up"])
        delta = k.linear(k.silu_mul(d, gate, up), w["ffn_down"])[0]
    logits = k.linear(k.norm(x, delta, model._norms["output_norm.weight"], c.eps), model.output)[0]
    for cache in caches:
        cache.length += 1
    return logits
