"""The KV memory of the running sequences: a fixed number of caches, allocated once at
start-up, lent to a sequence and given back when it ends, so the server's memory is
bounded and known when it starts.

Each cache is a ``hal.llama.KVCache`` of ``context`` positions, a slot of one pool per
block (``Llama.new_caches``): a batched step reads every sequence's slot on the device,
so the steps captured for each batch size serve whichever sequences run (a capture
costs ~200 ms on OpenCL). Usage is counted in blocks of ``block_size``
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
        self._lock = threading.Lock()

    @property
    def free(self) -> int:
        return len(self._free)

    def acquire(self):
        """An empty cache (IndexError when every cache is lent)."""
        with self._lock:
            cache = self._free.pop()
            cache.length = 0  # positions past length are never read, and rewritten before they are
            self._lent[id(cache)] = cache
            return cache

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
