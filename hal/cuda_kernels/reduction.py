"""``hal.ReductionKernel``: CuPy's ``cupy.ReductionKernel`` on every device
(https://docs.cupy.dev/en/stable/reference/generated/cupy.ReductionKernel.html).

The inputs are broadcast together, the reduced axes moved last and the whole viewed as
(rows, cols) (a copy only where the layout needs one). One CUDA kernel maps and folds:
each block folds a segment of a row in shared memory; a row split into several
segments (few long rows, so that every compute unit has work) is finished by a second
kernel that folds the segments' partial values. ``a`` and ``b`` are of the reduce type
(``reduce_type``, default the output's type); ``post_map_expr`` writes the output from
``a``. Runs as RawKernels: natively on CUDA/ROCm, translated elsewhere.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

import hal
from hal import autotune

from . import params as P
from .raw import RawKernel, _device_of

_SPLIT_ROWS = 64  # fewer rows than this and long rows: fold each row in segments (as hal.sum)
_SERIAL = 32      # rows at most this long are folded by one thread
_THREAD_SEGMENT = 4096  # with one thread a block (the cpu), segments at least this long: each is worth a core
# Partial results a one-thread block folds side by side: 32 (two AVX-512 vectors of float)
# measured 0.92-0.96x NumPy's sum on one core, 8 lanes 1.10-1.13x (one vector: each add
# waits for the one before)
_LANES = 32


class ReductionKernel:
    """``ReductionKernel(in_params, out_params, map_expr, reduce_expr, post_map_expr,
    identity, name='reduce_kernel', reduce_type=None, reduce_dims=True, preamble='')``;
    call with the inputs, optionally followed by the outputs, and ``axis=None``,
    ``keepdims=False``, ``out=None`` (the first output). ``post_map_expr`` may write
    several outputs (``"y = a; z = a * 2"``); as CuPy's, the call returns the first."""

    def __init__(self, in_params: str, out_params: str, map_expr: str, reduce_expr: str, post_map_expr: str,
                 identity, name: str = "reduce_kernel", reduce_type: str | None = None, reduce_dims: bool = True,
                 preamble: str = "", options=()):
        self.in_params, self.out_params = P.parse_params(in_params), P.parse_params(out_params)
        if not self.out_params or any(p.raw for p in self.out_params):
            raise ValueError("a ReductionKernel has one or more output parameters, none of them raw")
        if any(p.raw for p in self.in_params):
            raise ValueError("raw input parameters are not supported by hal.ReductionKernel")
        if identity is None:
            raise ValueError("hal.ReductionKernel needs an identity (the value a fold starts from)")
        self.map_expr, self.reduce_expr = map_expr, reduce_expr
        self.post_map_expr, self.identity = post_map_expr or f"{self.out_params[0].name} = a", str(identity)
        self.name, self.preamble, self.options = name, preamble, tuple(options)
        self.reduce_type = reduce_type
        self._kernels: dict = {}

    def __repr__(self):
        return f"<hal.ReductionKernel {self.name}>"

    def __call__(self, *args, out=None, axis=None, keepdims: bool = False):
        nin, nout = len(self.in_params), len(self.out_params)
        if len(args) not in (nin, nin + nout):
            raise TypeError(f"{self.name} takes {nin} inputs, or {nin} inputs and {nout} outputs; got {len(args)}")
        if out is not None and len(args) > nin:
            raise TypeError(f"{self.name}: outputs given twice (as arguments and out=)")
        args, outs = args[:nin], list(args[nin:]) or [out] + [None] * (nout - 1)
        device = _device_of(tuple(a for a in (*args, *outs) if a is not None))
        types: dict = {}
        P.bind(self.in_params, list(args), types)
        P.bind(self.out_params, outs, types)
        arrays = [a for a in args if P.is_array(a)]
        if not arrays:
            raise ValueError(f"{self.name}: reduces arrays; no argument is one")
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        axes = _axes(axis, len(shape))
        kept = [d for d in range(len(shape)) if d not in axes]
        rows, cols = math.prod(shape[d] for d in kept), math.prod(shape[d] for d in axes)
        out_shape = tuple(1 if d in axes else n for d, n in enumerate(shape)) if keepdims else \
            tuple(shape[d] for d in kept)
        # (CuPy's default: the first output's type, a C type name or its placeholder)
        reduce_word = self.reduce_type or self.out_params[0].placeholder or P.CUDA_TYPE[
            P.resolve(self.out_params[0], types)]
        outs = [_output(self.name, p, o, P.resolve(p, types), out_shape, device) for p, o in zip(self.out_params, outs)]
        if rows == 0:
            return outs[0]
        operands = []
        for p, a in zip(self.in_params, args):
            dtype = P.resolve(p, types)
            if P.is_array(a):
                a = a if a.dtype == dtype else hal.astype(a, dtype)
                operands.append(_rows(a, shape, kept, axes, rows, cols))
            else:
                P.scalar_dtype(a)
                if dtype.kind == "c":
                    raise TypeError(f"argument {p.name!r}: complex scalars are not supported; pass a 0-d array")
                operands.append(np.array(a).astype(dtype)[()])
        self._run(device, types, reduce_word, operands, [o._data for o in outs], rows, cols)
        return outs[0]

    def _run(self, device, types: dict, reduce_word: str, operands: list, outs: list, rows: int, cols: int) -> None:
        block = _block(device, rows, cols, operands)
        partial_dtype = _dtype_of(reduce_word, types)
        chunks, least = 1, 16 * block if block > 1 else _THREAD_SEGMENT
        if rows < _SPLIT_ROWS and cols > least and partial_dtype is not None:
            chunks = -(-cols // max(least, -(-cols * rows // (4 * _SPLIT_ROWS))))
        chunk = -(-cols // chunks)
        native = device.backend_name in ("cuda", "rocm")
        key = (tuple(types.items()), reduce_word, block, native)
        if key not in self._kernels:
            self._kernels[key] = _Pair(self, types, reduce_word, block, native)
        fold, final = self._kernels[key].kernels(operands)
        scalars = [o for o in operands if isinstance(o, np.generic)]
        partial = (hal.empty((rows * chunks,), dtype=partial_dtype, device=device)._data
                   if chunks > 1 else outs[0])  # (unused by the fold when rows are not split)
        sizes = [np.int64(rows * cols), np.int64(rows)]
        fold.launch(device, (rows, chunks), (block,),
                    operands + [partial, *outs, np.int64(cols), np.int64(chunk), np.int64(chunks), *sizes])
        if chunks > 1:
            final.launch(device, (rows,), (block,), [partial, *scalars, *outs, np.int64(chunks), *sizes])


class _Pair:
    """The fold kernel and the kernel finishing split rows, for one binding of types."""

    def __init__(self, kernel: ReductionKernel, types: dict, reduce_word: str, block: int, native: bool):
        self.kernel, self.types, self.native = kernel, types, native
        # (the parameters' arrays are hal_p_NAME: no user name makes one of the kernels' own hal_ names)
        outs = [(p.name, P.ctype(P.resolve(p, types), native)) for p in kernel.out_params]
        self.out_signature = "".join(f", {t}* hal_p_{name}" for name, t in outs)  # (the kernels' output parameters)
        r = "_type_reduce"
        head = (P.native_header(native, types, kernel.in_params + kernel.out_params) + P.typedefs(types, native)
                + kernel.preamble + f"\ntypedef {P.native_word(reduce_word, native)} _type_reduce;\n#define HAL_BLOCK {block}\n"
                + f"#define HAL_LANES {_LANES}\n"
                + f"__device__ {r} hal_reduce({r} a, {r} b) {{ return ({kernel.reduce_expr}); }}\n"
                + (P.NATIVE_INDEXER if native else ""))
        # _in_ind.size() and _out_ind.size(): the input's and the output's sizes
        self.indexers = "hal_ind_t _in_ind = {hal_in_size}, _out_ind = {hal_out_size};\n" if native else ""
        self.loads = [f"const {P.ctype(P.resolve(p, types), native)} {p.name} = hal_p_{p.name}[hal_c];"
                      for p in kernel.in_params]  # (each input's pointer is moved to the row first)
        fold_tree = ("hal_s[threadIdx.x] = hal_acc;\n__syncthreads();\n"
                     "for (unsigned int hal_step = HAL_BLOCK / 2; hal_step > 0; hal_step >>= 1) {\n"
                     "    if (threadIdx.x < hal_step) hal_s[threadIdx.x] = hal_reduce(hal_s[threadIdx.x], "
                     "hal_s[threadIdx.x + hal_step]);\n    __syncthreads();\n}\n")
        post = (f"{{ {r} a = hal_s[0]; " + "".join(f"{t} {name}; " for name, t in outs) + f"{kernel.post_map_expr}; "
                + "".join(f"hal_p_{name}[hal_row] = {name}; " for name, _ in outs) + "}")
        self.head, self.fold_tree, self.post, self.block = head, fold_tree, post, block
        self._made: dict = {}

    def kernels(self, operands: list):
        """(fold, final) RawKernels for operands of these kinds (arrays or scalars)."""
        kinds = tuple(isinstance(o, np.generic) for o in operands)
        if kinds not in self._made:
            self._made[kinds] = self._make(kinds)
        return self._made[kinds]

    def _make(self, kinds: tuple):
        k, r = self.kernel, "_type_reduce"
        # (_J: CuPy's index of the value within its row of reduced axes, which map_expr may read)
        sig, scalar_sig, loads = [], [], ["const long long _J = hal_c;"]
        for p, is_scalar, load in zip(k.in_params, kinds, self.loads):
            ctype = P.ctype(P.resolve(p, self.types), self.native)
            if is_scalar:
                sig.append(f"{ctype} {p.name}")
                scalar_sig.append(f"{ctype} {p.name}")
            else:
                sig.append(f"const {ctype}* hal_p_{p.name}")
                loads.append(load)
        name = P.symbol(k.name)
        fold = (self.head + f'extern "C" __global__ void {name}({", ".join(sig)}, {r}* hal_partial'
                f"{self.out_signature}, long long hal_cols, long long hal_chunk, long long hal_chunks, "
                f"long long hal_in_size, long long hal_out_size) {{\n{self.indexers}"
                f"__shared__ {r} hal_s[HAL_BLOCK];\n"
                # (rows along x, a row's segments along y: no division, which PoCL runs ~7% slower)
                f"const long long hal_row = blockIdx.x, hal_begin = blockIdx.y * hal_chunk;\n"
                f"const long long hal_end = hal_begin + hal_chunk < hal_cols ? hal_begin + hal_chunk : hal_cols;\n"
                f"{r} hal_acc = ({r})({k.identity});\n"
                + "".join(f"hal_p_{p.name} += hal_row * hal_cols;\n" for p, scalar in zip(k.in_params, kinds)
                          if not scalar)
                + self._fold_loop(loads)
                + self.fold_tree
                + "if (threadIdx.x == 0) {\n"
                + "if (hal_chunks > 1) hal_partial[hal_row * hal_chunks + blockIdx.y] = hal_s[0];\n"
                + f"else {self.post}\n}}\n}}\n")
        final = (self.head + f'extern "C" __global__ void {name}_final(const {r}* hal_partial'
                 + "".join(f", {s}" for s in scalar_sig)
                 + f"{self.out_signature}, long long hal_chunks, long long hal_in_size, "
                 f"long long hal_out_size) {{\n{self.indexers}"
                 f"__shared__ {r} hal_s[HAL_BLOCK];\nconst long long hal_row = blockIdx.x;\n"
                 f"{r} hal_acc = ({r})({k.identity});\n"
                 f"for (long long hal_c = threadIdx.x; hal_c < hal_chunks; hal_c += blockDim.x)\n"
                 f"    hal_acc = hal_reduce(hal_acc, hal_partial[hal_row * hal_chunks + hal_c]);\n"
                 + self.fold_tree + f"if (threadIdx.x == 0) {self.post}\n}}\n")
        names = tuple(self.types) + ("_type_reduce",)
        calls = {("_in_ind", "size"): "hal_in_size", ("_out_ind", "size"): "hal_out_size"}
        return (RawKernel(fold, name, k.options, typedef_names=names, calls=calls, heavy_blocks=True),
                RawKernel(final, f"{name}_final", k.options, typedef_names=names, calls=calls))


    def _fold_loop(self, loads: list) -> str:
        """A thread's fold of its columns into hal_acc; a block of one thread (the cpu)
        folds its segment into _LANES partial results side by side, which a CPU overlaps (a
        reduction's order is free: CuPy's reduce_expr is associative and commutative)."""
        r, fold = "_type_reduce", f"hal_reduce({{acc}}, (_type_reduce)({self.kernel.map_expr}))"
        one = "\n".join(loads) + f"\nhal_acc = {fold.format(acc='hal_acc')};\n"
        if self.block > 1:
            return f"for (long long hal_c = hal_begin + threadIdx.x; hal_c < hal_end; hal_c += HAL_BLOCK) {{\n{one}}}\n"
        return (f"{r} hal_lane[HAL_LANES];\n"
                "for (int hal_k = 0; hal_k < HAL_LANES; hal_k++) hal_lane[hal_k] = hal_acc;\n"
                "long long hal_c0 = hal_begin;\nfor (; hal_c0 + HAL_LANES <= hal_end; hal_c0 += HAL_LANES)\n"
                "    for (int hal_k = 0; hal_k < HAL_LANES; hal_k++) {\n"
                "        const long long hal_c = hal_c0 + hal_k;\n"
                + "\n".join(loads) + f"\nhal_lane[hal_k] = {fold.format(acc='hal_lane[hal_k]')};\n    }}\n"
                "for (int hal_k = 0; hal_k < HAL_LANES; hal_k++) hal_acc = hal_reduce(hal_acc, hal_lane[hal_k]);\n"
                f"for (long long hal_c = hal_c0; hal_c < hal_end; hal_c++) {{\n{one}}}\n")


def _output(kernel: str, param, given, dtype, shape: tuple, device):
    """An output: allocated, or the given array checked."""
    if given is None:
        return hal.empty(shape, dtype=dtype, device=device)
    if given.shape != shape or given.dtype != dtype or not _contiguous(given):
        raise ValueError(f"{kernel}: out must be a contiguous {dtype} array of shape {shape} ({param.name})")
    return given


def _block(device, rows: int, cols: int, operands: list) -> int:
    """Threads per block: one on the cpu (its C kernels loop over a block's threads) and
    for short rows; elsewhere the work-group size hal's own row reductions are tuned to
    for this shape (hal.autotune op "reduce_rows"), small on a simulator."""
    if device.info.max_work_group == 1 or cols <= _SERIAL:
        return 1
    if device.info.kind == "simulator":
        return 32
    arrays = [o for o in operands if not isinstance(o, np.generic)]
    key = (arrays[0].dtype.name, (autotune.bucket(rows), autotune.bucket(cols)))
    return min(autotune.choose(device, "reduce_rows", key)["WG"], device.info.max_work_group)


def _dtype_of(word: str, types: dict) -> np.dtype | None:
    """The dtype of the reduce type ``word``; None for a type the preamble defines (a
    struct: its rows are then folded in one pass, with no buffer of partial results)."""
    if word in types:
        return np.dtype(types[word])
    for dtype, ctype in P.CUDA_TYPE.items():
        if ctype == word:
            return dtype
    try:
        return np.dtype(word)
    except TypeError:
        return None


def _axes(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    normalized = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(f"axis {a} is out of bounds for an array of dimension {ndim}")
        normalized.append(a % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(sorted(normalized))


def _rows(a, shape: tuple, kept: list, axes: tuple, rows: int, cols: int):
    """``a`` broadcast to ``shape``, its reduced axes last, as a contiguous (rows, cols)
    payload: a view where ``a`` already is one (contiguous, trailing axes), else a copy."""
    if a.shape == shape and list(kept) == list(range(len(kept))) and _contiguous(a):
        data = a._data
        return data.reshape(rows, cols) if isinstance(data, np.ndarray) else data.reshaped((rows, cols))
    a = hal.reshape(hal.permute_dims(hal.broadcast_to(a, shape), (*kept, *axes)), (rows, cols))
    return (a if _contiguous(a) else hal.asarray(a, copy=True))._data


def _contiguous(a) -> bool:
    data = a._data
    return data.flags.c_contiguous if isinstance(data, np.ndarray) else data.contiguous
