"""hal.kvcache: KV pools in fixed-size blocks lent to sequences, shared by prompts that
begin alike, and kept after a sequence ends until their blocks are needed (least
recently used first)."""
import numpy as np
import pytest

import hal
from hal.kvcache import KVBlocks, OutOfBlocks


def blocks(count: int = 8, block_size: int = 4, width: int = 4) -> KVBlocks:
    pools = [[hal.zeros((count, block_size, 1, 2), dtype=hal.uint16, device="cpu")] for _ in "kv"]
    return KVBlocks(*pools, width)


def test_a_cache_holds_the_blocks_its_positions_need_and_gives_them_back():
    pool = blocks()
    cache = pool.new_cache(9)
    assert cache.capacity == 12 and len(cache.blocks) == 3 and pool.used == 3 and cache.length == 0
    np.testing.assert_array_equal(cache.rows(3, 6), [cache.blocks[0] * 4 + 3, cache.blocks[1] * 4,
                                                     cache.blocks[1] * 4 + 1])
    assert list(cache.table()) == [*cache.blocks, -1]
    pool.release(cache)
    assert pool.used == 0 and cache.blocks == [] and cache.length == 0


def test_too_few_free_blocks_is_out_of_blocks_and_takes_nothing():
    pool = blocks()
    held = [pool.new_cache(16), pool.new_cache(4)]
    with pytest.raises(OutOfBlocks):
        pool.new_cache(16)
    assert pool.used == 5
    with pytest.raises(ValueError, match="at most 4"):
        pool.new_cache(17)
    for cache in held:
        pool.release(cache)
    assert pool.used == 0


def test_named_blocks_are_shared_and_kept_until_needed_oldest_first():
    pool = blocks(width=8)
    first, second = pool.new_cache(8), pool.new_cache(8)
    pool.name(first.blocks[0], "a")
    pool.name(second.blocks[0], "b")
    shared = pool.new_cache(8, (pool.find("a"),))
    assert shared.blocks[0] == first.blocks[0] and shared.length == 4 and pool.used == 5
    for cache in (first, shared, second):
        pool.release(cache)
    assert pool.used == 0 and pool.available == 8
    pool.new_cache(6 * 4)  # the six unnamed blocks go first
    assert (pool.find("a"), pool.find("b")) == (0, 2)
    pool.new_cache(4)  # then the content kept longest unused ("a": its last user ended first)
    assert pool.find("a") is None and pool.find("b") == 2


def test_a_partly_filled_block_is_copied_not_shared():
    pool = blocks()
    source = pool.new_cache(8)
    pool.keys[0][source.blocks[1]] = hal.asarray(np.arange(1, 9, dtype=np.uint16).reshape(4, 1, 2))
    pool.name(source.blocks[0], "whole")
    pool.name(source.blocks[1], "part")
    pool.release(source)
    copy = pool.new_cache(12, (pool.find("whole"),), (pool.find("part"), 3))
    assert copy.length == 7 and copy.blocks[0] == 0 and copy.blocks[1] not in (0, 1)
    np.testing.assert_array_equal(np.asarray(pool.keys[0][copy.blocks[1]])[:, 0],
                                  [[1, 2], [3, 4], [5, 6], [0, 0]])
    assert pool.used == 3 and pool.find("part") == 1  # the copied block is kept, not lent
    with pytest.raises(ValueError, match="no block after"):
        pool.new_cache(4, (0,), (1, 2))


def test_a_block_named_again_answers_only_to_its_new_name():
    pool = blocks()
    cache = pool.new_cache(4)
    pool.name(cache.blocks[0], "first rows")
    pool.name(cache.blocks[0], "all rows")
    assert pool.find("first rows") is None and pool.find("all rows") == cache.blocks[0]


def test_runs_are_the_contiguous_parts_of_a_cache():
    pool = blocks()
    a = pool.new_cache(8)
    b = pool.new_cache(4)
    pool.release(a)
    c = pool.new_cache(16)  # takes a's two blocks back, then two after b's
    assert c.runs(16) == [(0, 2), (3, 2)] and c.runs(5) == [(0, 2)]
    assert b.runs(4) == [(2, 1)]
