"""The KV memory of the running sequences: a fixed number of caches, allocated once at
start-up, lent to a sequence and given back when it ends, so the server's memory is
bounded and known when it starts.

Each cache is a ``hal.llama.KVCache`` of ``context`` positions, a slot of one pool per
block (``Llama.new_caches``): a batched step reads every sequence's slot on the device,
so the steps captured for each batch size serve whichever sequences run (a capture
costs ~200 ms on OpenCL). A cache keeps the keys and values of the prompt it read after
its sequence ends, so that a prompt sharing a prefix with it (a chat template's system
prompt, the earlier turns of a conversation) reads only the rest: vLLM's and
llama-server's prefix caching, here with the same bits as reading the whole prompt.
Usage is counted in blocks of ``block_size``
positions, as vLLM counts its paged cache (``kv_cache_usage_perc``: blocks in use over
all blocks, 0 to 1).
"""
from __future__ import annotations

import threading


class KVPool:
    def __init__(self, model, slots: int, context: int, block_size: int = 16):
        limit = model.config.context_length
        if slots <= 0 or not 0 < context <= limit:
            raise ValueError(f"max_sequences > 0 and 0 < context <= {limit} (the model's) needed, "
                             f"got {slots} and {context}")
        self.slots, self.context, self.block_size = slots, context, block_size
        self._free = model.new_caches(slots, context)
        self._lent: dict = {}  # id -> cache (caches compare by their arrays' values)
        self._prompts: dict = {}  # id -> the prompt tokens whose keys and values the cache holds from 0
        self._lock = threading.Lock()

    @property
    def free(self) -> int:
        return len(self._free)

    def acquire(self, prompt: list, chunk: int) -> tuple:
        """A cache for ``prompt`` (IndexError when every cache is lent), and the cache
        holding the keys and values of the longest prefix of ``prompt`` that need not be
        read again (the new cache itself, a free cache's content kept, or a lent cache to
        copy from) with that prefix's length. The prefix leaves the first chunk read after
        it (prompts are read in chunks at multiples of ``chunk``) at least two tokens, or
        starts on a chunk: a chunk of one token has other bits (llama.cpp's single-row
        products), so a prompt's bits stay those of reading it whole.
        """
        with self._lock:
            held = lambda c: self._prompts.get(id(c), ())  # noqa: E731
            best = max(self._free, key=lambda c: _common(held(c), prompt))
            self._free.remove(best)
            source = max([best, *self._lent.values()], key=lambda c: _common(held(c), prompt))
            n = max(0, min(_common(held(source), prompt), len(prompt) - 1))
            if n % chunk and min(len(prompt), n - n % chunk + chunk) - n == 1:
                n -= 1
            self._prompts[id(best)] = prompt[:n] if source is best else ()
            best.length = n  # positions past length are never read, and rewritten before they are
            self._lent[id(best)] = best
            return best, source, n

    def read(self, cache, prompt: list, length: int, chunk_rows: int) -> None:
        """The first ``length`` tokens of ``prompt`` are now in ``cache``, the last
        ``chunk_rows`` of them read together: a single row (other bits) is not kept for
        reuse."""
        with self._lock:
            self._prompts[id(cache)] = prompt[:length - (chunk_rows == 1)]

    def release(self, cache) -> None:
        with self._lock:
            del self._lent[id(cache)]
            self._free.append(cache)

    @property
    def blocks(self) -> int:
        return self.slots * -(-self.context // self.block_size)

    @property
    def usage(self) -> float:
        """The fraction of all blocks that hold a lent cache's positions."""
        with self._lock:
            used = sum(-(-c.length // self.block_size) for c in self._lent.values())
        return used / self.blocks


def _common(a, b) -> int:
    """The length of the common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
