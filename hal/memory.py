"""Device memory for kernel backends: a caching buffer pool and strided views.

A device buffer is expensive to create and cheap to reuse, so freed buffers go back to
a per-device pool keyed by size class and are handed out again (DESIGN.md, "Backends").
Arrays on such devices are ``Strided`` views: a pooled buffer plus shape, element
strides and element offset, so slicing, transposing and broadcasting never copy.
"""
from __future__ import annotations

import math
import operator
from collections import defaultdict
from functools import lru_cache

import numpy as np

from .errors import OutOfMemoryError


@lru_cache(maxsize=4096)
def size_class(nbytes: int) -> int:
    """Round up to a quarter of the enclosing power of two (at least 256 bytes), so a
    freed buffer serves requests of nearby sizes (memoized: every allocation asks)."""
    nbytes = max(nbytes, 256)
    step = 1 << max(nbytes.bit_length() - 3, 8)
    return -(-nbytes // step) * step


class Pool:
    """Caching allocator over a backend's raw ``alloc(nbytes)`` / ``free(handle)``."""

    def __init__(self, device_name: str, alloc, free):
        self.device_name, self._alloc, self._free = device_name, alloc, free
        self._cached: defaultdict[int, list] = defaultdict(list)  # size class -> free handles

    @property
    def cached_bytes(self) -> int:
        return sum(size * len(handles) for size, handles in self._cached.items())

    def take(self, nbytes: int) -> "Buffer":
        size = size_class(nbytes)
        free_list = self._cached[size]
        return Buffer(free_list, free_list.pop() if free_list else self._fresh(size, nbytes), size)

    def taker(self, nbytes: int):
        """``take()``: a buffer of ``nbytes``, for a caller that asks for one size again
        and again (a prepared launch's output): its size class looked up once."""
        size = size_class(nbytes)
        free_list = self._cached[size]  # (trim empties it in place: the taker keeps it)
        return lambda: Buffer(free_list, free_list.pop() if free_list else self._fresh(size, nbytes), size)

    def _fresh(self, size: int, asked: int):
        try:
            return self._alloc(size)
        except MemoryError:
            self.trim()  # what the pool holds may be what the device lacks: retry once
            try:
                return self._alloc(size)
            except MemoryError as e:
                raise OutOfMemoryError(self.device_name, asked, str(e)) from None

    def trim(self) -> None:
        """Release every cached buffer to the device."""
        for handles in self._cached.values():
            for handle in handles:
                self._free(handle)
            handles.clear()


class Buffer:
    """One pooled allocation; returns itself to its size class's free list (``home``) when
    the last view drops it."""
    __slots__ = ("home", "handle", "nbytes")

    def __init__(self, home: list, handle, nbytes: int):
        self.home, self.handle, self.nbytes = home, handle, nbytes

    def __del__(self):
        self.home.append(self.handle)


@lru_cache(maxsize=4096)
def contiguous_strides(shape: tuple) -> tuple:
    """The row-major element strides of ``shape`` (memoized: every new array asks)."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


class Strided:
    """A view of a device buffer: shape, strides and offset counted in elements."""
    __slots__ = ("buf", "shape", "strides", "offset", "dtype", "writable", "_contiguous")

    def __init__(self, buf: Buffer, shape: tuple, dtype: np.dtype, strides: tuple | None = None,
                 offset: int = 0, writable: bool = True):
        self.buf, self.shape, self.dtype, self.offset = buf, shape, dtype, offset
        # (known for a new array; a view's is worked out once, on first use: every launch asks)
        self._contiguous = True if strides is None else None
        self.strides = contiguous_strides(shape) if strides is None else strides
        self.writable = writable  # False for broadcast views, whose elements share memory

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def contiguous(self) -> bool:
        if self._contiguous is None:
            self._contiguous = all(s == c for n, s, c in zip(self.shape, self.strides, contiguous_strides(self.shape))
                                   if n != 1)
        return self._contiguous

    def view(self, shape, strides, offset) -> "Strided":
        return Strided(self.buf, tuple(shape), self.dtype, tuple(strides), offset, self.writable)

    def getitem(self, key: tuple) -> "Strided":
        """Basic indexing; ``key`` is already normalized to ints, slices and None with
        no ellipsis and one entry per dimension consumed (see hal.array_api.indexing)."""
        shape, strides, offset, dim = [], [], self.offset, 0
        for k in key:
            if k is None:
                shape.append(1)
                strides.append(0)
                continue
            n, s = self.shape[dim], self.strides[dim]
            dim += 1
            if isinstance(k, slice):
                start, stop, step = k.indices(n)
                shape.append(len(range(start, stop, step)))
                strides.append(s * step)
                offset += start * s
            else:
                offset += operator.index(k) * s
        shape.extend(self.shape[dim:])
        strides.extend(self.strides[dim:])
        return self.view(shape, strides, offset)

    def components(self) -> "Strided":
        """A complex array seen as its real components: shape ``shape + (2,)`` of the
        real dtype (real part at ``[..., 0]``, imaginary at ``[..., 1]``), no copy."""
        real = np.dtype(f"f{self.dtype.itemsize // 2}")
        return Strided(self.buf, self.shape + (2,), real, tuple(2 * s for s in self.strides) + (1,),
                       2 * self.offset, self.writable)

    def permute(self, axes: tuple) -> "Strided":
        return self.view([self.shape[a] for a in axes], [self.strides[a] for a in axes], self.offset)

    def broadcast(self, shape: tuple) -> "Strided":
        lead = len(shape) - self.ndim
        strides = [0] * lead + [0 if n == 1 and m != 1 else s
                                for n, m, s in zip(self.shape, shape[lead:], self.strides)]
        return Strided(self.buf, tuple(shape), self.dtype, tuple(strides), self.offset, writable=False)

    def reshaped(self, shape: tuple) -> "Strided | None":
        """A view with the new shape, or None where the data would have to move."""
        if self.contiguous:
            return self.view(shape, contiguous_strides(shape), self.offset)
        kept = [(n, s) for n, s in zip(self.shape, self.strides) if n != 1]
        new_kept = [n for n in shape if n != 1]
        if [n for n, _ in kept] == new_kept:  # only unit dimensions come or go
            it = iter(s for _, s in kept)
            return self.view(shape, [0 if n == 1 else next(it) for n in shape], self.offset)
        return None
