"""Dask arrays whose chunks are hal arrays, on one machine's devices or a ``dask.distributed`` cluster.

    import dask, dask.array as da, hal, hal.dask
    x = da.from_array(hal.ones((4096, 4096), device="opencl:0"), chunks=1024)   # hal chunks
    with dask.config.set({"array.backend": "hal"}):
        y = da.ones((4096, 4096), chunks=1024)                                 # hal chunks too
    z = hal.dask.spread(x, devices=["cpu", "opencl:0"])                        # chunks across devices

Importing this module registers hal.Array with Dask (https://docs.dask.org/en/stable/array-chunks.html):
``register_chunk_type`` and the dispatch functions of ``dask.array.dispatch`` (concatenate,
tensordot, einsum, take, percentile, numel, nannumel, empty, to_numpy) and ``sizeof``; it
wraps the steps Dask has no dispatch for: the two of ``@`` (block products, sums of
partial products), ``da.percentile``'s graph and merge, ``argtopk``'s first and
combining steps, and ``da.argwhere``'s index grid.
Everything else Dask does to a chunk goes through NumPy's protocols
(hal/numpy_protocols.py) and so runs on the chunk's device. ``HalBackendEntrypoint`` is Dask's array backend "hal"
(https://docs.dask.org/en/stable/how-to/selecting-the-collection-backend.html), found
through the ``dask.array.backends`` entry point. Workers of a cluster import this module
with ``preload=["hal.dask"]`` (``dask worker --preload hal.dask``).

``spread`` places blocks slab by slab along an axis; blocks on different devices meet
in Dask's combining steps (concatenate, tensordot, einsum, ``@``), which move the other
operands to the first one's device, explicitly. Elementwise operations between blocks
on different devices are a hal.DeviceError, as everywhere in hal.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import itertools
import math
import time

import dask
import dask.array as da
import numpy as np
from dask.array import chunk, routines
from dask.array.backends import ArrayBackendEntrypoint
from dask.array.dispatch import (concatenate_lookup, einsum_lookup, empty_lookup, nannumel_lookup, numel_lookup,
                                 percentile_lookup, take_lookup, tensordot_lookup, to_numpy_dispatch)
from dask.core import flatten
from dask.sizeof import sizeof
from dask.utils import Dispatch

import hal
import hal.random

__all__ = ["HalBackendEntrypoint", "spread", "to_hal_dispatch"]

# (the module: the name dask.array.percentile is also the function's)
dask_percentile = importlib.import_module("dask.array.percentile")


def _on_device_of(first: hal.Array, arrays):
    """``arrays`` on ``first``'s device: the explicit move that joins chunks ``spread`` placed apart."""
    return [a if not isinstance(a, hal.Array) or a.device == first.device else a.to_device(first.device)
            for a in arrays]


def _concatenate(arrays, axis=0):
    """numpy.concatenate's result (NumPy's promotion of mixed dtypes, as for NumPy
    chunks) on the first chunk's device."""
    arrays = list(arrays)
    return np.concatenate(_on_device_of(arrays[0], arrays), axis=axis)


def _tensordot(a, b, axes=2):
    (b,) = _on_device_of(a, [b])
    return np.tensordot(a, b, axes=axes)


def _einsum(subscripts, *operands, **kwargs):
    return np.einsum(subscripts, *_on_device_of(operands[0], operands), **kwargs)


def _take(a, indices, axis=None):
    """Dask hands over host indices (from its graph); they go to the chunk's device."""
    return np.take(a, hal.asarray(np.asarray(indices), device=a.device), axis=axis)


def _percentile(a, q, method="linear"):
    """Percentiles of a 1-D chunk (numpy.percentile through hal/numpy_protocols.py, on the
    chunk's device) and the chunk's length, as Dask's NumPy version returns them."""
    if not len(a):
        return None, 0
    return np.percentile(a, np.asarray(q).tolist(), method=method), len(a)  # (a NumPy q would be refused)


def _numel(x, axis=None, keepdims=False, dtype=None):
    """The number of elements a reduction over ``axis`` sees, as a hal array on ``x``'s device."""
    dtype = np.float64 if dtype is None else dtype
    axes = range(x.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    axes = {a % max(x.ndim, 1) for a in axes}
    count = math.prod(x.shape[a] for a in axes)
    shape = tuple(1 if a in axes else n for a, n in enumerate(x.shape)) if keepdims else \
        tuple(n for a, n in enumerate(x.shape) if a not in axes)
    return hal.full(shape, count, dtype=np.dtype(dtype), device=x.device)


def _nannumel(x, axis=None, keepdims=False, dtype=None):
    kwargs = {"dtype": dtype} if dtype is not None else {}
    return np.sum(~np.isnan(x), axis=axis, keepdims=keepdims, **kwargs)


# Dask's ``@`` has no dispatch entry: it multiplies blocks with numpy.matmul
# (``routines._matmul``) and adds the partial products with numpy.add
# (``routines._chunk_sum``). Those two steps are wrapped so that hal blocks from several
# devices meet there as in the combining steps above, moved to the first one's device.
_dask_matmul, _dask_chunk_sum = routines._matmul, routines._chunk_sum


def _matmul(a, b):
    if isinstance(a, hal.Array):
        (b,) = _on_device_of(a, [b])
    return _dask_matmul(a, b)


def _chunk_sum(a, axis=None, dtype=None, keepdims=None):
    if isinstance(a, list) and a and isinstance(a[0], hal.Array):
        a = _on_device_of(a[0], a)
    return _dask_chunk_sum(a, axis=axis, dtype=dtype, keepdims=keepdims)


def _empty(shape, dtype=float):
    """Dask's scratch arrays (da.percentile's bounds and counts) on the default device, as
    Dask makes CuPy's on the current one (``cupy.empty``); ``_percentile_graph`` and
    ``_merge_percentiles`` make that the chunks' device."""
    return hal.empty(shape, dtype=np.dtype(dtype), device=hal.get_default_device())


# da.percentile makes scratch arrays with ``empty_lookup``, which is told no device: its
# graph is built, and its merge step runs, with the chunks' device as the default device.
_dask_percentile, _dask_merge_percentiles = dask_percentile.percentile, dask_percentile.merge_percentiles


@functools.wraps(_dask_percentile)
def _percentile_graph(a, *args, **kwargs):
    meta = getattr(a, "_meta", None)
    with hal.default_device(meta.device) if isinstance(meta, hal.Array) else contextlib.nullcontext():
        return _dask_percentile(a, *args, **kwargs)


def _merge_percentiles(finalq, qs, vals, *args, **kwargs):
    """Dask's merge of the chunks' percentiles on the first chunk's device; the other
    chunks' (few) percentiles are moved there, as in the combining steps above."""
    arrays = [v[0] if isinstance(v, tuple) else v for v in vals]
    first = next((v for v in arrays if isinstance(v, hal.Array)), None)
    if first is None:
        return _dask_merge_percentiles(finalq, qs, vals, *args, **kwargs)
    moved = _on_device_of(first, arrays)
    vals = [(m, v[1]) if isinstance(v, tuple) else m for m, v in zip(moved, vals)]
    with hal.default_device(first.device):
        return _dask_merge_percentiles(finalq, qs, vals, *args, **kwargs)


def _argtopk_preprocess(a, idx):
    """Dask's argtopk pairs each chunk with its indices, a NumPy range from its graph;
    beside a hal chunk they move to the chunk's device (host index data, as in indexing)."""
    if isinstance(a, hal.Array) and isinstance(idx, np.ndarray):
        idx = hal.asarray(idx, device=a.device)
    return _dask_argtopk_preprocess(a, idx)


def _argtopk(a_plus_idx, k, axis, keepdims):
    """Dask's argtopk combining step, which joins chunks' (values, indices) pairs with
    numpy.concatenate: pairs from several devices move to the first one's device first."""
    if isinstance(a_plus_idx, list):
        pairs = list(flatten(a_plus_idx))
        if pairs and isinstance(pairs[0][0], hal.Array):
            first = pairs[0][0]
            a_plus_idx = [tuple(_on_device_of(first, pair)) for pair in pairs]
    return _dask_argtopk(a_plus_idx, k, axis, keepdims)


_dask_argtopk_preprocess, _dask_argtopk = chunk.argtopk_preprocess, chunk.argtopk
_dask_argwhere = routines.argwhere


@functools.wraps(_dask_argwhere)
def _argwhere(a):
    """da.argwhere (and nonzero, flatnonzero, where of one argument, which call it) pairs
    the chunks with an index grid of ``da.arange`` chunks, NumPy's by default; for hal
    chunks the grid is built with the "hal" backend on their device, so the indices are
    hal arrays there too."""
    a = da.asarray(a)
    if not isinstance(a._meta, hal.Array):
        return _dask_argwhere(a)
    with dask.config.set({"array.backend": "hal"}), hal.default_device(a._meta.device):
        return _dask_argwhere(a)


def _sizeof(x) -> int:
    """A chunk's bytes, as Dask's sizeof gives CuPy's: what distributed's memory accounting
    (spilling, rebalancing) weighs it by, wherever its memory is."""
    return x.size * x.dtype.itemsize


def _to_numpy(x, **kwargs):
    return np.asarray(x)  # (Dask asks for host arrays: an explicit transfer)


to_hal_dispatch = Dispatch("to_hal_dispatch")


@to_hal_dispatch.register(np.ndarray)
def _numpy_to_hal(data, device=None, **kwargs):
    return hal.asarray(data, device=device)


@to_hal_dispatch.register(hal.Array)
def _hal_to_hal(data, device=None, **kwargs):
    return data if device is None else data.to_device(device)


def _register() -> None:
    da.register_chunk_type(hal.Array)
    concatenate_lookup.register(hal.Array, _concatenate)
    tensordot_lookup.register(hal.Array, _tensordot)
    empty_lookup.register(hal.Array, _empty)
    einsum_lookup.register(hal.Array, _einsum)
    take_lookup.register(hal.Array, _take)
    percentile_lookup.register(hal.Array, _percentile)
    numel_lookup.register(hal.Array, _numel)
    nannumel_lookup.register(hal.Array, _nannumel)
    to_numpy_dispatch.register(hal.Array, _to_numpy)
    sizeof.register(hal.Array, _sizeof)
    routines._matmul, routines._chunk_sum = _matmul, _chunk_sum
    dask_percentile.percentile = da.percentile = _percentile_graph
    dask_percentile.merge_percentiles = _merge_percentiles
    chunk.argtopk_preprocess, chunk.argtopk = _argtopk_preprocess, _argtopk
    routines.argwhere = da.argwhere = _argwhere


_register()


# -- the "hal" array backend ----------------------------------------------------------------

def _meta(meta=None):
    return hal.empty((0,), device=hal.get_default_device()) if meta is None else meta


def _with_hal_meta(name: str, *args, meta=None, **kwargs):
    """The NumPy backend's creation function with a hal meta array: its chunks are then
    made with ``like=`` the meta (NEP 35), on the meta's device."""
    with dask.config.set({"array.backend": "numpy"}):
        return getattr(da, name)(*args, meta=_meta(meta), **kwargs)


class HalBackendEntrypoint(ArrayBackendEntrypoint):
    """Dask's array backend "hal": ``dask.config.set({"array.backend": "hal"})`` makes
    ``da.ones``, ``da.zeros``, ``da.empty``, ``da.full``, ``da.arange`` and
    ``da.random`` (``default_rng`` and the legacy ``RandomState``) chunks hal arrays on
    the default device, the random ones drawn on the host (hal/random.py)."""

    @classmethod
    def to_backend_dispatch(cls):
        return to_hal_dispatch

    @classmethod
    def to_backend(cls, data, **kwargs):
        if isinstance(data._meta, hal.Array):
            return data
        return data.map_blocks(to_hal_dispatch, meta=_meta(), **kwargs)

    @property
    def RandomState(self):
        return hal.random.RandomState

    @property
    def default_bit_generator(self):
        return hal.random.PCG64

    ones, zeros, empty, full = (staticmethod(functools.partial(_with_hal_meta, name))
                                for name in ("ones", "zeros", "empty", "full"))

    @staticmethod
    def arange(*args, like=None, **kwargs):
        with dask.config.set({"array.backend": "numpy"}):
            return da.arange(*args, like=_meta(like), **kwargs)


# -- chunks across devices ------------------------------------------------------------------

def spread(x, devices, *, by: str = "round-robin", axis: int = -1):
    """``x`` (a Dask array of hal chunks, or anything ``da.asarray`` takes) with its
    blocks placed on ``devices`` slab by slab along ``axis``: every block with the same
    block index along ``axis`` goes to one device, "round-robin" over the slabs, or by
    "speed": slabs in proportion to each device's measured GEMM rate (``device_speeds``).

    Each later operation on a block runs on the block's device. Operations that keep
    ``axis`` (statistics over the other axes, elementwise operations with them) find
    their blocks together; Dask's combining steps (concatenate, tensordot, einsum: the
    reductions, ``dot``) join blocks from several devices explicitly."""
    names = [hal.device(d).name for d in devices]
    if not names:
        raise ValueError("spread needs at least one device")
    if by not in ("round-robin", "speed"):
        raise ValueError(f"spread: by is 'round-robin' or 'speed', not {by!r}")
    x = x if isinstance(x, da.Array) else da.asarray(x)
    axis = axis % x.ndim
    weights = [1.0] * len(names) if by == "round-robin" else [device_speeds()[n] for n in names]
    slabs = _weighted_round_robin(names, weights, x.numblocks[axis])
    placement = {block: slabs[block[axis]] for block in itertools.product(*(range(n) for n in x.numblocks))}
    return x.map_blocks(_place, placement=placement, dtype=x.dtype,
                        meta=x._meta if isinstance(x._meta, hal.Array) else _meta())


def _place(block, block_id=None, placement=None):
    return to_hal_dispatch(block, device=placement[block_id])


def _weighted_round_robin(names: list, weights: list, count: int) -> list:
    """``count`` picks among ``names``, each as often as its weight's share, interleaved
    (smooth weighted round-robin: each pick goes to the largest running credit)."""
    credit, total, picks = [0.0] * len(names), sum(weights), []
    for _ in range(count):
        credit = [c + w for c, w in zip(credit, weights)]
        best = max(range(len(names)), key=credit.__getitem__)
        credit[best] -= total
        picks.append(names[best])
    return picks


@functools.cache
def device_speeds(n: int = 512, rounds: int = 5) -> dict:
    """Each device's float32 GEMM rate (operations per second) on n x n operands,
    measured once per process: the best of ``rounds`` timed runs after a warm-up, the
    devices taking turns, so that a busy spell on a shared machine slows them alike."""
    operands = {d.name: hal.ones((n, n), dtype=hal.float32, device=d) for d in hal.devices()
                if d.info.kind != "simulator"}
    best = dict.fromkeys(operands, math.inf)
    for round_ in range(rounds + 1):
        for name, a in operands.items():
            start = time.perf_counter()
            hal.matmul(a, a)
            a.device.synchronize()
            if round_:  # (round 0 is the warm-up: compiles, tunes, fills the pool)
                best[name] = min(best[name], time.perf_counter() - start)
    return {name: 2 * n ** 3 / seconds for name, seconds in best.items()}
