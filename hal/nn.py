"""hal.nn: the neural-net ops a LLaMA needs, on every device, beyond the array API.

    w = hal.nn.QuantizedWeight.from_raw(raw, "Q4_1", (rows, cols), device="opencl:0")
    y = hal.nn.linear(x, w)                       # x @ w.T, reading the blocks directly
    h = hal.nn.rms_norm(x, norm_weight, 1e-5)
    q = hal.nn.rope(q, positions, theta=10000.0)
    o = hal.nn.attention(q, k_cache, v_cache, n_past)
    token = hal.nn.sample(logits, temperature=0.8, top_k=40, top_p=0.95, seed=sampler)

A decode step's fused ops: ``add_rms_norm`` (a residual and the norm after it),
``rope_store`` (rope of q and k, k and v stored into float16 caches), ``attention_step``
(one query row, its position read on the device), so that the launches of a step are
the same at every position and can be captured (hal.llama). ``Plan.of(device)`` runs these
ops on Arrays without their per-call checks, for a model that checked its shapes once.

Weights keep their GGUF block layout on the device (ops/quant.py); the other ops are
NumPy on the cpu and kernels elsewhere (ops/nn.py). Activations are float32. Nothing
here moves array data through the host; ``sample`` reads back the chosen id only.
"""
from __future__ import annotations

import functools
import math
import operator

import numpy as np

from . import dtypes
from .array_api.array import Array, same_device
from .array_api.creation import asarray, zeros
from .array_api.data_type import astype
from .array_api.elementwise import minimum
from .array_api.indexing_functions import take
from .array_api.linalg import matmul
from .array_api.manipulation import matrix_transpose, moveaxis, reshape
from .array_api.searching import argmax
from .array_api.sorting import argsort
from .array_api.statistical import cumulative_sum
from .array_api.statistical import sum as total
from .device import device_or_default
from .shapes import normalize_axis
from .errors import DeviceError
from .ops import qdot, qdot_k, quant

__all__ = ["Plan", "QuantizedWeight", "Sampler", "add_rms_norm", "add_rows", "attention", "attention_step",
           "embedding", "gelu_mul", "linear", "rms_norm", "rope", "rope_store", "sample", "scale", "silu_mul",
           "softmax", "to_half", "GGML_TYPES"]


def _type_name(ggml_type) -> str:
    name = getattr(ggml_type, "name", ggml_type)
    if not isinstance(name, str):
        raise TypeError(f"ggml_type must be a gguf.GGMLQuantizationType or its name, got {ggml_type!r}")
    if name.upper() not in quant.TYPES:
        raise TypeError(f"unsupported GGUF tensor type {name!r}; hal.nn supports {', '.join(GGML_TYPES)}")
    return name.upper()


GGML_TYPES = tuple(quant.TYPES)  # (ops/quant.py's table: a decode and a product for each)


class QuantizedWeight:
    """A 2-D weight (rows output features x cols input features) in its GGUF block
    layout on a device: the file's bytes, row-major, ``cols / block_size`` blocks per row."""
    __slots__ = ("raw", "shape", "ggml_type", "device")

    def __init__(self, *args, **kwargs):
        raise TypeError("create a QuantizedWeight with QuantizedWeight.from_raw(raw, ggml_type, shape, device)")

    @classmethod
    def from_raw(cls, raw, ggml_type, shape, device=None) -> "QuantizedWeight":
        """``raw``: bytes or a NumPy array holding the tensor's data as the file stores it
        (any dtype: its bytes are taken, e.g. gguf's float16 arrays for F16 tensors)."""
        name = _type_name(ggml_type)
        qtype = quant.TYPES[name]
        rows, cols = (operator.index(n) for n in shape)
        if rows < 0 or cols < 0:
            raise ValueError(f"{name} weight: negative shape {tuple(shape)}")
        if cols % qtype.qk:
            raise ValueError(f"{name} weight: {cols} columns is not a multiple of the block size {qtype.qk}")
        data = np.frombuffer(raw, np.uint8) if isinstance(raw, (bytes, bytearray, memoryview)) \
            else np.ascontiguousarray(raw).reshape(-1).view(np.uint8)
        expected = rows * quant.row_bytes(qtype, cols)
        if data.size != expected:
            raise ValueError(f"{name} weight of shape ({rows}, {cols}) takes {expected} bytes "
                             f"({cols // qtype.qk} blocks of {qtype.block_bytes} bytes per row), got {data.size}")
        dev = device_or_default(device)
        obj = object.__new__(cls)
        obj.raw, obj.shape, obj.ggml_type, obj.device = dev.from_host(data), (rows, cols), name, dev
        return obj

    @property
    def nbytes(self) -> int:
        return self.raw.size

    @property
    def row_independent(self) -> bool:
        """Whether ``linear`` gives each row of x the same bits at any number of rows: the
        8-bit block products (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) sum every row alike; llama.cpp's K-quant
        and float paths change below and from 8 rows, and hal follows them."""
        return qdot.supports(self.ggml_type)

    @property
    def rows_alike(self) -> bool:
        """Whether ``linear`` can give each row the bits it gets alone, at any number of
        rows (``quantized_products``' ``alike``: the 8-bit block and K-quant products)."""
        return qdot.supports(self.ggml_type) or qdot_k.supports(self.ggml_type)

    def dequantize(self) -> Array:
        """The float32 (rows, cols) matrix, computed on the device."""
        return Array._new(self.device.impl("quant_dequantize")(self.device, self), self.device)

    def __repr__(self):
        return f"QuantizedWeight({self.ggml_type}, shape={self.shape}, device={self.device.name!r})"


# ---------------------------------------------------------------- argument checks

def _array(x, name: str, what: str = "x") -> Array:
    if not isinstance(x, Array):
        raise TypeError(f"{name}: {what} must be a hal array, got {type(x).__name__}")
    return x


def _float32(x: Array, name: str, what: str = "x") -> Array:
    """``x`` as float32 (real floating dtypes only)."""
    _array(x, name, what)
    if x.dtype not in dtypes.REAL_FLOATING:
        raise TypeError(f"{name}: {what} must be a real floating array, got {x.dtype}")
    return x if x.dtype == dtypes.float32 else astype(x, dtypes.float32)


def _contiguous(x: Array):
    """The payload of ``x``, C-contiguous (a copy on the device when it is a view)."""
    return x._device.contiguous(x._data)


def _dense(x: Array) -> Array:
    """``x``, or a contiguous copy of it where it is a view with gaps."""
    return x if x._device.is_contiguous(x._data) else Array._new(_contiguous(x), x._device)


def _weight(name: str, x: Array, w, convert=_float32):
    """``w``, a QuantizedWeight or a 2-D array (``convert``ed), on x's device."""
    if isinstance(w, QuantizedWeight):
        if w.device != x._device:
            raise DeviceError(f"{name}: the input is on {x._device} and the weight on {w.device}; "
                              f"move one of them")
        return w
    w = convert(w, name, "w")
    if w.ndim != 2:
        raise ValueError(f"{name}: w must be 2-D (rows, cols), got shape {w.shape}")
    same_device(x, w)
    return w


# ---------------------------------------------------------------- ops

def linear(x: Array, *weights):
    """``x @ w.T``: x (..., cols), w a QuantizedWeight or a float array (rows, cols);
    returns (..., rows) float32. A QuantizedWeight is read block by block (a mat-vec for
    one row of x, tiles of rows of x sharing each decoded block for many). With Q4_0,
    Q4_1, Q5_0, Q5_1 and Q8_0 weights x is first quantized to 8 bits per block of 32 and the block
    products are integer, exactly as llama.cpp computes them (ops/qdot.py); the other
    types multiply float32 x by the decoded weights.

    Several weights (``linear(x, wq, wk, wv)``) give a tuple of products that share the
    checks and x's quantization."""
    if not weights:
        raise TypeError("linear: needs at least one weight")
    x = _float32(x, "linear")
    weights = _check_weights(x, weights)
    lead, cols = x.shape[:-1], x.shape[-1]
    n = math.prod(lead)
    outs = [None] * len(weights)
    for i, w in enumerate(weights):
        if not isinstance(w, QuantizedWeight):
            outs[i] = matmul(x, matrix_transpose(w))
        elif n == 0 or cols == 0 or w.shape[0] == 0:
            outs[i] = zeros(lead + (w.shape[0],), dtype=dtypes.float32, device=x._device)
    pending = [i for i, out in enumerate(outs) if out is None]
    if pending:
        flat = _contiguous(reshape(x, (n, cols)))
        for i, out in zip(pending, quantized_products(x._device, flat, [weights[i] for i in pending])):
            outs[i] = reshape(Array._new(out, x._device), lead + (weights[i].shape[0],))
    return tuple(outs) if len(outs) > 1 else outs[0]


def quantized_products(device, x, weights, alike: bool = False) -> list:
    """The payload-level core of ``linear``: x (n, cols), a contiguous float32 payload,
    @ w.T for each QuantizedWeight, in order; the integer-dot types share one 8-bit
    quantization of x, per 32 (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: ops/qdot.py) or per 256 (Q4_K, Q5_K,
    Q6_K: ops/qdot_k.py). ``alike``: K-quant rows summed each as it alone would be (the
    8-bit block products always are), not in llama.cpp's order for n rows."""
    kinds = {"quant_linear_q8": [], "quant_linear_q8k": [], "quant_linear": []}
    for w in weights:
        kinds["quant_linear_q8" if qdot.supports(w.ggml_type) else
              "quant_linear_q8k" if qdot_k.supports(w.ggml_type) else "quant_linear"].append(w)
    outs = {}
    for op, group in kinds.items():
        if group:
            args = (alike,) if op == "quant_linear_q8k" else ()  # (the one op whose order depends on n)
            outs.update(zip(map(id, group), device.impl(op)(device, x, group, *args)))
    return [outs[id(w)] for w in weights]


def _check_weights(x: Array, weights) -> list:
    checked = []
    for w in weights:
        w = _weight("linear", x, w)
        if x.ndim == 0 or x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: x of shape {x.shape} does not end in the weight's {w.shape[1]} columns")
        checked.append(w)
    return checked


def embedding(w, ids) -> Array:
    """The rows of ``w`` (a QuantizedWeight or a 2-D array) at the integer ``ids`` (any
    shape): ids.shape + (cols,) float32. An id out of range is an IndexError on the cpu;
    on other devices (where checking would read the ids back) its row is NaN."""
    ids = _array(ids, "embedding", "ids")
    if ids.dtype not in dtypes.INTEGER:
        raise TypeError(f"embedding: ids must be an integer array, got {ids.dtype}")
    w = _weight("embedding", ids, w, _array)
    device, flat, shape = ids._device, reshape(ids, (ids.size,)), ids.shape + (w.shape[1],)
    if not isinstance(w, QuantizedWeight):
        return reshape(_float32(take(w, flat, axis=0), "embedding", "w"), shape)
    ids64 = _dense(astype(flat, dtypes.int64, copy=False))
    return reshape(Plan.of(device).embedding(w, ids64), shape)


def rms_norm(x: Array, weight: Array, eps: float = 1e-5) -> Array:
    """Over the last axis: ``x / sqrt(mean(x^2) + eps) * weight`` (weight: (cols,))."""
    x, weight = _float32(x, "rms_norm"), _float32(weight, "rms_norm", "weight")
    same_device(x, weight)
    if x.ndim == 0 or weight.shape != x.shape[-1:]:
        raise ValueError(f"rms_norm: weight of shape {weight.shape} does not match x's last axis ({x.shape})")
    if x.size == 0:
        return x
    return Plan.of(x._device).norm(_dense(x), None, _dense(weight), float(eps))


def rope(x: Array, positions, theta: float = 10000.0, *, neox: bool = False) -> Array:
    """Rotary position embedding, llama.cpp's "normal" mode (GGUF llama models): for x
    (seq, n_heads, head_dim) and integer positions (seq,), each adjacent pair
    (x[2i], x[2i+1]) of every head rotates by ``pos * theta^(-2i/head_dim)``; with
    ``neox`` (ggml's NeoX mode: Gemma, Qwen, Phi-3) the pairs are (x[i], x[i + head_dim/2])."""
    x = _float32(x, "rope")
    if x.ndim != 3 or x.shape[-1] % 2:
        raise ValueError(f"rope: x must be (seq, n_heads, head_dim) with an even head_dim, got {x.shape}")
    if not isinstance(positions, Array):
        positions = asarray(np.asarray(positions, dtype=np.int64), device=x._device)
    if positions.dtype not in dtypes.INTEGER:
        raise TypeError(f"rope: positions must be integers, got {positions.dtype}")
    same_device(x, positions)
    if positions.shape != x.shape[:1]:
        raise ValueError(f"rope: positions of shape {positions.shape} do not match x's {x.shape[0]} rows")
    if x.size == 0:
        return x
    positions = astype(positions, dtypes.int64, copy=False)
    out = x._device.impl("nn_rope")(x._device, _contiguous(x), _contiguous(positions), float(theta), bool(neox))
    return Array._new(out, x._device)


def softmax(x: Array, axis: int = -1) -> Array:
    """``exp(x - max) / sum(exp(x - max))`` along ``axis`` (float32)."""
    x = _float32(x, "softmax")
    if x.ndim == 0:
        raise ValueError("softmax needs at least one axis")
    axis = normalize_axis(operator.index(axis), x.ndim)
    if x.size == 0:
        return x
    moved = moveaxis(x, axis, -1) if axis != x.ndim - 1 else x
    out = Array._new(x._device.impl("nn_softmax")(x._device, _contiguous(moved)), x._device)
    return moveaxis(out, -1, axis) if axis != x.ndim - 1 else out


def silu_mul(gate: Array, up: Array) -> Array:
    """``silu(gate) * up`` = ``gate / (1 + exp(-gate)) * up`` (the SiLU-gated MLP)."""
    return _gated("silu_mul", gate, up)


def gelu_mul(gate: Array, up: Array) -> Array:
    """``gelu(gate) * up`` with GELU's tanh form (the GELU-gated MLP of Gemma), computed
    as llama.cpp's CPU backend does: through a float16 table of GELU at every float16
    gate, 0 below -10 and the identity above 10 (ops/nn_families.py)."""
    return _gated("gelu_mul", gate, up)


def _gated(name: str, gate: Array, up: Array) -> Array:
    """Plan's ``name`` (the op nn_<name>) of gate and up: float32, one shape, one device."""
    gate, up = _float32(gate, name, "gate"), _float32(up, name, "up")
    same_device(gate, up)
    if gate.shape != up.shape:
        raise ValueError(f"{name}: gate {gate.shape} and up {up.shape} differ in shape")
    return getattr(Plan.of(gate._device), name)(_dense(gate), _dense(up))


def scale(x: Array, factor: float) -> Array:
    """``x * factor`` in float32 (factor rounded to float32 first), as ``ggml_scale``."""
    x = _float32(x, "scale")
    return Plan.of(x._device).scale(_dense(x), float(factor))


def add_rows(x: Array, bias: Array) -> Array:
    """``x + bias`` with ``bias`` (cols,) added to every row of x (..., cols): a layer's bias."""
    x, bias = _float32(x, "add_rows"), _float32(bias, "add_rows", "bias")
    same_device(x, bias)
    if x.ndim == 0 or bias.shape != x.shape[-1:]:
        raise ValueError(f"add_rows: bias of shape {bias.shape} does not match x's last axis ({x.shape})")
    return Plan.of(x._device).add_rows(_dense(x), _dense(bias))


def to_half(x: Array) -> Array:
    """float16 storage: the IEEE half-precision bits of ``x`` (rounded to nearest even)
    as a uint16 array, the form ``attention`` takes its KV cache in."""
    x = _float32(x, "to_half")
    return Array._new(x._device.impl("nn_to_half")(x._device, _contiguous(x)), x._device)


def _cache(x, name: str) -> Array:
    _array(x, "attention", name)
    return x if x.dtype == dtypes.uint16 else _float32(x, "attention", name)


def attention(q: Array, k_cache: Array, v_cache: Array, n_past: int, scale: float | None = None, *,
              window: int = 0) -> Array:
    """Causal grouped-query attention over a KV cache. q (seq, n_heads, head_dim);
    k_cache, v_cache (capacity, n_kv_heads, head_dim) whose first n_past + seq rows are
    valid, float32 or float16 storage (``to_half``; then q and the probabilities are
    rounded to float16 too, as llama.cpp's f16 cache does); head h reads kv head h //
    (n_heads // n_kv_heads); query i sees cache positions 0 .. n_past + i, and with a
    sliding ``window`` > 0 only the last ``window`` of them (llama.cpp's standard SWA:
    position t is masked for query position p when p - t >= window). ``scale``
    defaults to 1 / sqrt(head_dim)."""
    q = _float32(q, "attention", "q")
    k_cache, v_cache = _cache(k_cache, "k_cache"), _cache(v_cache, "v_cache")
    if k_cache.dtype != v_cache.dtype:
        raise TypeError(f"attention: k_cache is {k_cache.dtype} and v_cache {v_cache.dtype}; use one storage")
    same_device(q, k_cache, v_cache)
    n_past = operator.index(n_past)
    if q.ndim != 3 or k_cache.ndim != 3 or k_cache.shape != v_cache.shape:
        raise ValueError(f"attention: q (seq, heads, dim) and equal k/v caches (capacity, kv_heads, dim) "
                         f"expected, got {q.shape}, {k_cache.shape}, {v_cache.shape}")
    seq, heads, dim = q.shape
    capacity, kv_heads, kdim = k_cache.shape
    if kdim != dim or kv_heads == 0 or heads % kv_heads:
        raise ValueError(f"attention: {heads} heads of {dim} do not group over {kv_heads} kv heads of {kdim}")
    window = operator.index(window)
    if window < 0:
        raise ValueError(f"attention: window must be >= 0 (0: none), got {window}")
    if n_past < 0 or n_past + seq > capacity:
        raise ValueError(f"attention: n_past {n_past} + seq {seq} exceeds the cache capacity {capacity}")
    scale = 1.0 / math.sqrt(dim) if scale is None else float(scale)
    if q.size == 0:
        return q
    n_kv = n_past + seq
    return Plan.of(q._device).attention(_dense(q), _dense(k_cache[:n_kv]), _dense(v_cache[:n_kv]),
                                        n_past, scale, window)


def add_rms_norm(x: Array, delta: Array, weight: Array, eps: float = 1e-5) -> Array:
    """``x += delta`` in place (a residual connection), then ``rms_norm(x, weight, eps)``,
    in one launch. x and delta float32 of one shape, x contiguous."""
    for what, a in (("x", x), ("delta", delta), ("weight", weight)):
        if _array(a, "add_rms_norm", what).dtype != dtypes.float32:
            raise TypeError(f"add_rms_norm: {what} must be float32, got {a.dtype}")
    same_device(x, delta, weight)
    if delta.shape != x.shape or x.ndim == 0 or weight.shape != x.shape[-1:]:
        raise ValueError(f"add_rms_norm: x {x.shape}, delta {delta.shape} and weight {weight.shape} do not match")
    if not x._device.is_contiguous(x._data):
        raise ValueError("add_rms_norm: x is updated in place and must be contiguous")
    return Plan.of(x._device).norm(x, _dense(delta), _dense(weight), float(eps)) if x.size else x


def rope_store(q: Array, k: Array, v: Array, k_cache: Array, v_cache: Array, positions: Array,
               theta: float = 10000.0, rows: Array | None = None, *, neox: bool = False) -> Array:
    """``rope(q, positions, theta, neox=neox)``, returned; ``rope(k)`` and ``v`` (seq, kv_heads, dim)
    stored as float16 bits (``to_half``) into the uint16 caches (capacity, kv_heads, dim)
    at rows ``positions``, in one launch. The caches may be paged pools (n_blocks,
    block_size, kv_heads, dim) of several sequences' blocks: row s then goes to the
    pools' row ``rows[s]`` (int64 (seq,), counting rows of all blocks one after another:
    block * block_size + offset; outside the pools: not stored). Positions and rows are
    read on the device."""
    q, k, v = (_float32(a, "rope_store", what) for a, what in ((q, "q"), (k, "k"), (v, "v")))
    _check_caches("rope_store", q, k_cache, v_cache)
    positions = _positions("rope_store", q, positions)
    if rows is None and k_cache.ndim == 4:
        raise ValueError("rope_store: paged pools (n_blocks, block_size, kv_heads, dim) need rows")
    rows = positions if rows is None else _positions("rope_store", q, rows, "rows")
    if k.shape != v.shape or k.shape[0] != q.shape[0] or k.shape[1:] != k_cache.shape[-2:] or q.shape[2] % 2:
        raise ValueError(f"rope_store: q {q.shape}, k {k.shape}, v {v.shape} and caches {k_cache.shape} "
                         f"do not match (an even head_dim)")
    return Plan.of(q._device).rope_store(_dense(q), _dense(k), _dense(v), k_cache, v_cache, positions, rows,
                                         float(theta), bool(neox))


def attention_step(q: Array, k_cache: Array, v_cache: Array, positions: Array, scale: float | None = None,
                   blocks: Array | None = None, *, window: int = 0, scores: Array | None = None) -> Array:
    """``attention`` of query row q[s] (seqs, heads, dim) at position ``positions[s]``
    over float16 caches whose rows up to it are valid: the same bits, for one sequence
    (caches (capacity, kv_heads, dim)) or several at once over paged pools (n_blocks,
    block_size, kv_heads, dim), row s through its block table ``blocks[s]`` (int64
    (seqs, width): the block of positions b * block_size .. (b + 1) * block_size - 1 is
    blocks[s, b]; a sequence needing a block outside the pools gives a row of zeros).
    Positions and tables are read on the device, so a captured step replays for any
    positions and any sequences (``window``: as ``attention``'s). ``scores``: a float32
    (seqs, heads, width * block_size) workspace the op overwrites, so that the steps of
    many layers (and captured steps) can share one instead of each holding its own."""
    q = _float32(q, "attention_step", "q")
    _check_caches("attention_step", q, k_cache, v_cache)
    positions = _positions("attention_step", q, positions)
    scale = 1.0 / math.sqrt(q.shape[2]) if scale is None else float(scale)
    if operator.index(window) < 0:
        raise ValueError(f"attention_step: window must be >= 0 (0: none), got {window}")
    blocks = _block_tables(q, k_cache, blocks)
    if scores is not None:
        _check_scores(q, k_cache, blocks, scores)
    return Plan.of(q._device).attention_step(_dense(q), k_cache, v_cache, positions, blocks, scale, int(window),
                                             scores)


def _check_scores(q: Array, k_cache: Array, blocks: Array, scores) -> None:
    """``scores``: contiguous float32 (seqs, heads, positions a block table reaches), on q's device."""
    block_size = k_cache.shape[1] if k_cache.ndim == 4 else k_cache.shape[0]  # (one cache: one block)
    shape = (q.shape[0], q.shape[1], blocks.shape[1] * block_size)
    if _array(scores, "attention_step", "scores").dtype != dtypes.float32 or scores.shape != shape \
            or not scores._device.is_contiguous(scores._data):
        raise ValueError(f"attention_step: scores must be contiguous float32 {shape}, got {scores.dtype} "
                         f"{scores.shape}")
    same_device(q, scores)


def _check_caches(name: str, q: Array, k_cache, v_cache) -> None:
    for what, c in (("k_cache", k_cache), ("v_cache", v_cache)):
        if _array(c, name, what).dtype != dtypes.uint16 or c.ndim not in (3, 4):
            raise TypeError(f"{name}: {what} must be (capacity, kv_heads, dim) or (n_blocks, block_size, kv_heads, "
                            f"dim) float16 bits (uint16), got {c.dtype} {c.shape}")
        if not c._device.is_contiguous(c._data):
            raise ValueError(f"{name}: {what} must be contiguous")
    same_device(q, k_cache, v_cache)
    if q.ndim != 3 or k_cache.shape != v_cache.shape or k_cache.shape[-1] != q.shape[2] \
            or q.shape[1] % k_cache.shape[-2]:
        raise ValueError(f"{name}: q (rows, heads, dim) must group over the caches' kv heads, got {q.shape} "
                         f"and {k_cache.shape}")


def _positions(name: str, q: Array, positions, what: str = "positions") -> Array:
    """An int64 index per row of q (``positions``, or ``rows``), on q's device."""
    positions = _array(positions, name, what)
    if positions.dtype != dtypes.int64 or positions.shape != q.shape[:1]:
        raise ValueError(f"{name}: {what} must be int64 ({q.shape[0]},), got {positions.dtype} {positions.shape}")
    same_device(q, positions)
    return _dense(positions)


def _block_tables(q: Array, k_cache: Array, blocks) -> Array:
    """Each row's block table: ``blocks`` checked, or block 0 for one cache."""
    if blocks is None:
        if k_cache.ndim == 4:
            raise ValueError("attention_step: paged pools (n_blocks, block_size, kv_heads, dim) need blocks")
        return zeros((q.shape[0], 1), dtype=dtypes.int64, device=q._device)
    blocks = _array(blocks, "attention_step", "blocks")
    if blocks.dtype != dtypes.int64 or blocks.ndim != 2 or blocks.shape[0] != q.shape[0] or not blocks.shape[1]:
        raise ValueError(f"attention_step: blocks must be int64 ({q.shape[0]}, width), got {blocks.dtype} "
                         f"{blocks.shape}")
    same_device(q, blocks)
    return _dense(blocks)


def _through(op: str):
    """A Plan method: the implementation of ``op`` on its declared parameters
    (ops/declarations.py), each Array among them passed as its payload."""
    def method(self, *args) -> Array:
        payloads = [a._data if type(a) is Array else a for a in args]
        return self._out(self.device.impl(op)(self.device, *payloads))
    method.__name__ = op
    return method


class Plan:
    """hal.nn's ops on one device for a model whose shapes were checked once (hal.llama
    checks every tensor when it loads): Arrays in and out, each op its device's
    implementation with no per-call checks; the same arithmetic as the checked functions.
    Operands are float32 and contiguous where the checked function would make them so."""

    def __init__(self, device):
        self.device = device

    @classmethod
    @functools.cache
    def of(cls, device) -> "Plan":
        """The Plan of ``device`` (one each: a Plan holds only its device)."""
        return cls(device)

    def _out(self, payload) -> Array:
        return Array._new(payload, self.device)

    embedding = _through("quant_embedding")  # (w, ids)
    rope_store = _through("nn_rope_store")  # (q, k, v, k/v caches, positions, rows, theta, neox)
    attention = _through("nn_attention")  # (q, k/v caches, n_past, scale, window)
    attention_step = _through("nn_attention_step")  # (q, k/v caches, positions, blocks, scale, ...)
    silu_mul = _through("nn_silu_mul")  # (gate, up)
    gelu_mul = _through("nn_gelu_mul")  # (gate, up)
    scale = _through("nn_scale")  # (x, factor)
    add_rows = _through("nn_add_rows")  # (x, bias)
    _rms_norm = _through("nn_rms_norm")  # (x, weight, eps)
    _add_rms_norm = _through("nn_add_rms_norm")  # (x, delta, weight, eps)

    def linear(self, x: Array, *weights: QuantizedWeight, alike: bool = False) -> list:
        """x (n, cols) @ w.T for each weight (``linear``'s core, sharing x's quantization)."""
        return [self._out(p) for p in quantized_products(self.device, x._data, weights, alike)]

    def norm(self, x: Array, delta, weight: Array, eps: float) -> Array:
        """rms_norm(x), after x += delta in place where a residual ``delta`` is pending."""
        if delta is None:
            return self._rms_norm(x, weight, eps)
        return self._add_rms_norm(x, delta, weight, eps)

    def reshape(self, x: Array, shape: tuple) -> Array:
        return self._out(self.device.reshape(x._data, shape))

    def rows(self, x: Array, start: int, stop: int) -> Array:
        return self.view(x, (slice(start, stop),))

    def view(self, x: Array, index: tuple) -> Array:
        """``x[index]`` (integers and slices) without a copy."""
        return self._out(self.device.view(x._data, index))

    def copy(self, x: Array) -> Array:
        return self._out(self.device.copy(x._data))

    def write(self, x: Array, host: np.ndarray) -> None:
        """Host values into ``x`` (contiguous, of host's shape): one transfer, no new array."""
        self.device.write(x._data, host)


# ---------------------------------------------------------------- sampling

class Sampler:
    """A seeded source of the uniform numbers ``sample`` draws, one per sampled token,
    so the same seed gives the same tokens on every device. Calling it samples."""

    def __init__(self, seed=None, *, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0):
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p

    def uniform(self) -> float:
        return float(self.rng.random())

    def __call__(self, logits: Array) -> int:
        return sample(logits, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, seed=self)


def sample(logits: Array, *, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, seed=None) -> int:
    """The next token id from 1-D ``logits`` (or (1, vocab)): the argmax when
    ``temperature == 0`` (the lowest index on ties); otherwise softmax(logits /
    temperature) restricted to the ``top_k`` most likely ids (0: all) and to the
    smallest prefix of them whose probability reaches ``top_p``, renormalized, sampled
    with one uniform number from ``seed`` (an int, a Sampler or a NumPy Generator).
    The filtering runs on the device; the chosen id is the one value read back."""
    logits = _float32(logits, "sample", "logits")
    if logits.size == 0 or logits.ndim == 0 or logits.size != logits.shape[-1]:
        raise ValueError(f"sample: logits must be one non-empty row, got shape {logits.shape}")
    logits = reshape(logits, (logits.size,))
    if temperature < 0 or not 0 < top_p <= 1 or top_k < 0:
        raise ValueError(f"sample: temperature >= 0, 0 < top_p <= 1 and top_k >= 0 needed, got "
                         f"{temperature}, {top_p}, {top_k}")
    if temperature == 0:
        return _read_index(argmax(logits))
    sampler = seed if isinstance(seed, Sampler) else Sampler(seed)
    order = argsort(logits, descending=True, stable=True)  # ties: the lower id first
    probs = softmax(take(logits, order) * (1.0 / temperature))
    n = logits.size if top_k == 0 else min(top_k, logits.size)
    probs = probs[:n]
    # Keep ids while the mass before them is below top_p (the first always stays).
    cum = cumulative_sum(probs)
    kept = astype((cum - probs) < top_p, dtypes.float32) * probs
    cum = cumulative_sum(kept)
    # The pick: the first kept id whose cumulative mass exceeds u * (kept mass); the
    # count of positions at or below the threshold is its rank.
    threshold = cum[-1] * sampler.uniform()
    rank = total(astype(cum <= threshold, dtypes.int64))
    rank = minimum(rank, total(astype(kept > 0, dtypes.int64)) - 1)
    return _read_index(take(order, reshape(rank, (1,))))


def _read_index(index: Array) -> int:
    """The one integer read back from the device (counted as a size read, not a transfer)."""
    return index._device.read_size(reshape(index, ())._data)
