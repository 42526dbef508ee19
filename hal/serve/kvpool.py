"""The KV memory of the running sequences: one set of block pools per model, allocated
once at start-up (``Llama.new_pool``), so the server's memory is bounded and known when
it starts. Each sequence holds the blocks its prompt and answer need
(``hal.kvcache``), given back when it ends.

A block of a prompt's first positions is named by those tokens (a chain of SHA-256
digests, vLLM's prefix hashes) once the prompt is read through it, and keeps its keys and
values after its sequence ends until the block is needed again. A new prompt shares the
blocks of its longest named prefix and reads only the rest: a chat template's system
prompt, a conversation's earlier turns (vLLM's and llama-server's prefix caching, here
with the same bits as reading the whole prompt). A prompt's last block, read only in
part, is named by its tokens and the block before; a prompt that leaves a block it
shares only in part copies the rows they share: a prefix is reused to the token, not
only to the block. ``usage`` is vLLM's
``kv_cache_usage_perc``: blocks in use over all blocks, 0 to 1.
"""
from __future__ import annotations

import hashlib
import threading

import numpy as np

from hal.kvcache import OutOfBlocks


class KVPool:
    def __init__(self, model, max_sequences: int, context: int, blocks: int = 0, block_size: int = 16):
        """Pools of ``blocks`` blocks of ``block_size`` positions (0: enough for
        ``max_sequences`` whole contexts; fewer bound the memory, and a request waits
        until the blocks it may fill are free)."""
        limit, width = model.config.context_length, -(-context // block_size)
        if max_sequences <= 0 or not 0 < context <= limit or (blocks and blocks < width):
            raise ValueError(f"max_sequences > 0, 0 < context <= {limit} (the model's) and KV blocks for at "
                             f"least one whole context ({width}) needed, got {max_sequences}, {context} and {blocks}")
        self.max_sequences, self.context, self.block_size = max_sequences, context, block_size
        self.blocks = model.new_pool(blocks or max_sequences * width, block_size, width)
        self._lent: set = set()
        self._parts: dict = {}  # a block's key -> {name: tokens} of the blocks read after it
        self._lock = threading.Lock()

    @property
    def free(self) -> int:
        """Sequences that may start now."""
        return self.max_sequences - len(self._lent)

    def acquire(self, prompt: list, chunk: int, positions: int):
        """A cache with room for ``positions`` (at most the context) whose first ``n``
        positions hold those of ``prompt``'s longest named prefix, and ``n``; None when
        too few blocks are free. The prefix leaves the first chunk read after it (prompts
        are read in chunks at multiples of ``chunk``) at least two tokens, or starts on
        a chunk: a chunk of one token has other bits (llama.cpp's single-row products),
        so a prompt's bits stay those of reading it whole.
        """
        with self._lock:
            keys, shared = self._prefix(prompt)
            start = len(shared) * self.block_size
            part = self._part(keys[-1] if keys else b"", prompt[start:len(prompt) - 1])
            while (shared or part) and _one_token_chunk(start + (part[1] if part else 0), len(prompt), chunk):
                if part:
                    part = (part[0], part[1] - 1) if part[1] > 1 else None
                else:
                    shared.pop()
                    start -= self.block_size
            try:
                cache = self.blocks.new_cache(min(positions, self.context), tuple(shared), part)
            except OutOfBlocks:
                return None
            self._lent.add(cache)
            return cache, cache.length

    def read(self, cache, prompt: list, length: int, chunk_rows: int) -> None:
        """The first ``length`` tokens of ``prompt`` are now in ``cache``, the last
        ``chunk_rows`` of them read together: the blocks they fill are named for reuse,
        but for a last row read alone (its bits are a decode step's)."""
        with self._lock:
            rows, size = length - (chunk_rows == 1), self.block_size
            keys = [b"", *self._keys(prompt, rows // size)]
            names = keys[1:] + [(keys[-1], tuple(prompt[rows - rows % size:rows]))] * bool(rows % size)
            for i, (block, name) in enumerate(zip(cache.blocks, names)):
                self.blocks.name(block, name)
                self._parts.setdefault(keys[i], {})[name] = prompt[i * size:min(rows, (i + 1) * size)]
            if len(self._parts) > self.blocks.count:  # drop the keys whose blocks were all taken since
                self._parts = {key: names for key, names in self._parts.items()
                               if any(self.blocks.find(name) is not None for name in names)}

    def release(self, cache) -> None:
        with self._lock:
            self._lent.discard(cache)
            self.blocks.release(cache)

    @property
    def usage(self) -> float:
        """The fraction of all blocks that hold a lent cache's positions."""
        with self._lock:
            return self.blocks.used / self.blocks.count

    def _prefix(self, prompt: list) -> tuple:
        """The keys and the named blocks holding ``prompt``'s first positions, in order,
        but never its last token (whose logits a request needs)."""
        keys, blocks = [], []
        for key in self._keys(prompt, (len(prompt) - 1) // self.block_size):
            block = self.blocks.find(key)
            if block is None:
                break
            keys.append(key)
            blocks.append(block)
        return keys, blocks

    def _part(self, parent, tokens: list):
        """(block, rows): of the blocks read after the block named ``parent``, the one
        whose first rows hold the most of ``tokens``, and how many; None if none does."""
        best, parts = None, self._parts.get(parent, {})
        for name, held in list(parts.items()):
            block, rows = self.blocks.find(name), _common(held, tokens)
            if block is None:
                del parts[name]
            elif rows and (best is None or rows > best[1]):
                best = (block, rows)
        return best

    def _keys(self, prompt: list, count: int):
        """The names of ``prompt``'s first ``count`` blocks: each the digest of the one
        before and its own tokens."""
        key, size = b"", self.block_size
        for i in range(count):
            key = hashlib.sha256(key + np.asarray(prompt[i * size:(i + 1) * size], np.int64).tobytes()).digest()
            yield key


def _common(a, b) -> int:
    """How many first items ``a`` and ``b`` share."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _one_token_chunk(start: int, length: int, chunk: int) -> bool:
    """Whether reading a prompt of ``length`` from ``start`` begins with a chunk of one token."""
    return bool(start % chunk) and min(length, start - start % chunk + chunk) - start == 1
