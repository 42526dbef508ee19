"""The KV cache of hal.llama's models in fixed-size blocks (vLLM's paged KV cache:
https://docs.vllm.ai/en/latest/design/paged_attention.html).

Per layer, the keys and the values are each one pool of ``count`` blocks of
``block_size`` positions (count, block_size, kv_heads, head_dim) of float16 bits, on the
layer's device (``Llama.new_pool``). A sequence's ``KVCache`` is its block table: the
blocks that hold its positions, in order, lent by the pools' ``KVBlocks`` and given back
when it ends. Sequences whose prompts begin alike share the blocks of that beginning
(each block counts its users), and a block given back keeps what it holds, under a key
naming that content, until it is taken for something else, least recently used first:
vLLM's automatic prefix caching. A block another sequence filled only in part is copied
from (its first rows), not shared, since its owner may still be writing past them. A
decode step reads every sequence's block table on the
device, so one captured step of B sequences serves any B sequences of the pools.
"""
from __future__ import annotations

import collections
import heapq
from dataclasses import dataclass

import numpy as np


class OutOfBlocks(MemoryError):
    """The pools have fewer free blocks than asked for."""


class KVBlocks:
    """The blocks of a model's KV pools (``keys``, ``values``: one array per layer) and
    who holds them. ``width`` is the most blocks one sequence holds (a step's block table
    row); ``steps`` the decode steps captured over these pools, by their batch size;
    ``scratch`` the workspaces those steps share."""

    def __init__(self, keys: list, values: list, width: int):
        self.keys, self.values, self.width = keys, values, width
        self.count, self.block_size = keys[0].shape[:2]
        self.steps: dict = {}
        self.scratch: dict = {}  # workspaces the steps over these pools share, by what they are for
        self._users = [0] * self.count
        self._free = list(range(self.count))  # unnamed and unused (a heap): taken first, lowest first, so
        # that a cache's blocks tend to follow one another (``runs``)
        self._kept: collections.OrderedDict = collections.OrderedDict()  # named and unused, oldest first
        self._named: dict = {}  # key -> block
        self._name_of: dict = {}  # block -> key

    @property
    def available(self) -> int:
        """Blocks that can be lent now (free, or holding content no sequence uses)."""
        return len(self._free) + len(self._kept)

    @property
    def used(self) -> int:
        return self.count - self.available

    def new_cache(self, positions: int, shared: tuple = (), partial: tuple | None = None) -> "KVCache":
        """A cache with room for ``positions``: the blocks ``shared`` (which hold its
        first positions, as ``find`` gave them) and new ones; ``partial`` (block, rows):
        the first ``rows`` rows of that block hold the positions after ``shared``'s and are
        copied into the cache's next block. OutOfBlocks when too few are free (then
        nothing is taken)."""
        need = -(-positions // self.block_size)
        if need > self.width:
            raise ValueError(f"{positions} positions need {need} blocks of {self.block_size}; a sequence holds "
                             f"at most {self.width}")
        fresh, held = need - len(shared), (*shared, *partial[:1]) if partial else shared
        if partial and not fresh:
            raise ValueError(f"{positions} positions leave no block after the {len(shared)} shared for a copy")
        if fresh > self.available - sum(b in self._kept for b in held):
            raise OutOfBlocks(f"{fresh} KV blocks needed, {self.available} free")
        for block in held:  # (the copied block too, so that no new block is taken from it)
            self._use(block)
        blocks = list(shared) + [self._take() for _ in range(fresh)]
        cache = KVCache(self, blocks, length=len(shared) * self.block_size)
        if partial:
            source, rows = partial
            for pool in (*self.keys, *self.values):
                pool[blocks[len(shared)], :rows] = pool[source, :rows]
            self._drop(source)
            cache.length += rows
        return cache

    def release(self, cache: "KVCache") -> None:
        """``cache``'s blocks go back (named ones are kept for ``find``); the cache is empty."""
        for block in cache.blocks:
            self._drop(block)
        cache.blocks, cache.length = [], 0

    def name(self, block: int, key) -> None:
        """``block`` holds the content ``key`` names (a prompt's first positions through
        its end): ``find(key)`` gives it while it keeps it. A block named before takes the
        new name (it holds more of its prompt now)."""
        if key in self._named:
            return
        if block in self._name_of:
            del self._named[self._name_of[block]]
        self._named[key], self._name_of[block] = block, key

    def find(self, key):
        """The block holding the content ``key`` names, or None."""
        return self._named.get(key)

    def _use(self, block: int) -> None:
        self._kept.pop(block, None)
        self._users[block] += 1

    def _drop(self, block: int) -> None:
        self._users[block] -= 1
        if self._users[block] == 0:
            if block in self._name_of:
                self._kept[block] = True
            else:
                heapq.heappush(self._free, block)

    def _take(self) -> int:
        if self._free:
            block = heapq.heappop(self._free)
        else:  # the least recently used kept content is dropped
            block, _ = self._kept.popitem(last=False)
            del self._named[self._name_of.pop(block)]
        self._users[block] = 1
        return block


@dataclass(eq=False)
class KVCache:
    """One sequence's keys and values: positions p in block ``blocks[p // block_size]``
    of ``pool``'s pools, row p % block_size; ``length`` positions are valid."""
    pool: KVBlocks
    blocks: list
    length: int = 0

    @property
    def capacity(self) -> int:
        return len(self.blocks) * self.pool.block_size

    @property
    def keys(self) -> list:
        return self.pool.keys

    @property
    def values(self) -> list:
        return self.pool.values

    def rows(self, start: int, stop: int) -> np.ndarray:
        """The pools' rows (blocks' rows one after another) of positions start .. stop - 1."""
        positions = np.arange(start, stop)
        return np.asarray(self.blocks, np.int64)[positions // self.pool.block_size] * self.pool.block_size \
            + positions % self.pool.block_size

    def table(self) -> np.ndarray:
        """The block table as a decode step reads it: ``pool.width`` entries, -1 past its blocks."""
        table = np.full(self.pool.width, -1, np.int64)
        table[:len(self.blocks)] = self.blocks
        return table

    def runs(self, positions: int) -> list:
        """The blocks holding positions 0 .. positions - 1 as runs of consecutive blocks:
        [(first block, blocks), ...], each a contiguous part of the pools."""
        runs = []
        for block in self.blocks[:-(-positions // self.pool.block_size)]:
            if runs and runs[-1][0] + runs[-1][1] == block:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((block, 1))
        return runs
