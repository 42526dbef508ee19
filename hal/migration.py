"""Sequences that move: a running sequence's state — its KV cache rows, its position and
its sampler's state — read from one device between two steps and written into a cache
on another, where it goes on with exactly the tokens it would have produced.

    state = export_sequence(cache, sampler)               # host arrays: picklable
    sampler = import_sequence(other_model, state, other_cache)

It is exact because the KV cache holds float16 bits that every device reads the same
way, the position is a number, the sampler is host state (NumPy's generator), and
every hal device computes the same bits for the same op (tools/llama-cpp-compare.py).
The bytes moved are the valid rows only: 2 x layers x length x kv_heads x head_dim x 2.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from hal import nn


@dataclass
class SequenceState:
    """A sequence between two steps: per layer its cache's first ``length`` rows of
    keys and values (length, n_kv_heads, head_dim) as float16 bits (uint16), and its
    sampler (None where the caller keeps it)."""
    keys: list
    values: list
    length: int
    sampler: nn.Sampler | None = None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.keys) + sum(a.nbytes for a in self.values)


def export_sequence(cache, sampler=None) -> SequenceState:
    """The state of the sequence in ``cache`` (a ``hal.llama.KVCache``, on any device or
    split over several), copied to the host; the sampler is copied too, so the exporter
    may go on or drop it."""
    keys, values = ([_read(pool, cache) for pool in pools] for pools in (cache.keys, cache.values))
    return SequenceState(keys, values, cache.length, copy.deepcopy(sampler))


def _read(pool, cache) -> np.ndarray:
    """A layer's pool's rows of the cache's positions (length, kv_heads, head_dim), on the
    host: one read per run of its blocks (np.array copies: a cpu pool is host memory)."""
    runs = [np.array(pool[first:first + count]) for first, count in cache.runs(cache.length)]
    rows = np.concatenate(runs) if runs else np.empty((0, *pool.shape[1:]), np.uint16)
    return rows.reshape(-1, *pool.shape[2:])[:cache.length]


def import_sequence(model, state: SequenceState, cache):
    """Write ``state`` into ``cache`` (an empty cache of ``model``'s, which must have the
    same layers and heads as the exporter's); returns the sampler to go on with."""
    c = model.config
    expected = (c.n_kv_heads, c.head_dim)
    if len(state.keys) != c.n_layers or any(k.shape[1:] != expected for k in state.keys):
        raise ValueError(f"the sequence's cache has {len(state.keys)} layers of {state.keys[0].shape[1:]} "
                         f"(kv heads, head dim); this model has {c.n_layers} of {expected}")
    if state.length >= cache.capacity:
        raise ValueError(f"the sequence holds {state.length} positions; the cache has room for "
                         f"{cache.capacity - 1} and one more step")
    size = cache.pool.block_size
    blocks = -(-state.length // size)
    for pools, arrays in ((cache.keys, state.keys), (cache.values, state.values)):
        for pool, host in zip(pools, arrays):
            whole = np.zeros((blocks * size, *host.shape[1:]), host.dtype)  # (the last block's rest is never read)
            whole[:state.length] = host
            whole, done = whole.reshape(blocks, size, *host.shape[1:]), 0
            for first, count in cache.runs(state.length):  # one transfer per run of blocks
                nn.Plan.of(pool.device).write(pool[first:first + count], whole[done:done + count])
                done += count
    cache.length = state.length
    return copy.deepcopy(state.sampler)
