"""``hal.ElementwiseKernel``: CuPy's ``cupy.ElementwiseKernel`` on every device
(https://docs.cupy.dev/en/stable/reference/generated/cupy.ElementwiseKernel.html).

The parameter strings, the operation and the preamble become one CUDA kernel (one
thread per output element, operands broadcast through their strides), which runs as a
RawKernel: natively on CUDA/ROCm, translated elsewhere. A kernel is generated per
device family, bound types and operand layout (contiguous or strided, rank), and
compiled per device through the kernel cache.
"""
from __future__ import annotations

import math

import numpy as np

import hal

from . import params as P
from .raw import RawKernel, _device_of

_BLOCK = {"numpy": 128, "buffer": 256}  # threads per block: cpu (C loops), devices
_RESERVED = {"i", "_ind"}


class ElementwiseKernel:
    """``ElementwiseKernel(in_params, out_params, operation, name='kernel', reduce_dims=True,
    preamble='', no_return=False, return_tuple=False, loop_prep='', after_loop='')``;
    call with the inputs (hal arrays or scalars), optionally followed by every output,
    and ``size=`` where no array gives the shape."""

    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel",
                 reduce_dims: bool = True, preamble: str = "", no_return: bool = False,
                 return_tuple: bool = False, loop_prep: str = "", after_loop: str = "", options=()):
        self.in_params, self.out_params = P.parse_params(in_params), P.parse_params(out_params)
        if not self.out_params:
            raise ValueError("an ElementwiseKernel needs at least one output parameter")
        clash = {p.name for p in self.in_params} & {p.name for p in self.out_params}
        if clash:
            raise ValueError(f"parameters {sorted(clash)} are both inputs and outputs")
        reserved = {p.name for p in self.in_params + self.out_params} & _RESERVED
        if reserved:
            raise ValueError(f"{sorted(reserved)}: names the kernel itself declares (the index i, the "
                             f"indexer _ind), not parameter names")
        self.operation, self.name, self.preamble = operation, name, preamble
        self.loop_prep, self.after_loop = loop_prep, after_loop
        self.no_return, self.return_tuple, self.options = no_return, return_tuple, tuple(options)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self._kernels: dict = {}

    def __repr__(self):
        return f"<hal.ElementwiseKernel {self.name}>"

    def __call__(self, *args, size: int | None = None, block_size: int | None = None):
        if len(args) not in (self.nin, self.nin + self.nout):
            raise TypeError(f"{self.name} takes {self.nin} inputs (and optionally its {self.nout} outputs), "
                            f"got {len(args)} arguments")
        inputs, outputs = list(args[:self.nin]), list(args[self.nin:]) or [None] * self.nout
        device = _device_of(tuple(a for a in args if a is not None))
        types: dict = {}
        P.bind(self.in_params, inputs, types)
        P.bind(self.out_params, outputs, types)
        shape = self._shape(inputs, outputs, size)
        for i, p in enumerate(self.in_params):
            inputs[i] = _prepare(p, inputs[i], types, device)
        given = tuple(o is not None for o in outputs)
        for i, p in enumerate(self.out_params):
            if outputs[i] is None:
                if p.raw:
                    raise TypeError(f"{self.name}: the raw output {p.name!r} must be passed")
                outputs[i] = hal.empty(shape, dtype=P.resolve(p, types), device=device)
            elif not P.is_array(outputs[i]):
                raise TypeError(f"{self.name}: output {p.name!r} must be a hal array")
            elif outputs[i].dtype != P.resolve(p, types):
                raise TypeError(f"{self.name}: output {p.name!r} is {outputs[i].dtype}, the kernel writes "
                                f"{P.resolve(p, types)}")
        self._launch(device, shape, inputs, outputs, types, given, block_size)
        if self.no_return:
            return None
        return tuple(outputs) if self.return_tuple or self.nout > 1 else outputs[0]

    def _shape(self, inputs: list, outputs: list, size) -> tuple:
        arrays = [a for p, a in zip(self.in_params + self.out_params, inputs + outputs)
                  if a is not None and not p.raw and P.is_array(a)]
        if arrays:
            shape = np.broadcast_shapes(*(a.shape for a in arrays))
            if size is not None and size != math.prod(shape):
                raise ValueError(f"{self.name}: size={size} but the arrays' shape is {shape}")
            return shape
        if size is None:
            raise ValueError(f"{self.name}: no array argument gives the shape; pass size=")
        return (int(size),)

    def _launch(self, device, shape, inputs, outputs, types, given, block_size) -> None:
        n = math.prod(shape)
        if n == 0:
            return
        operands, layout = [], []
        for p, a in zip(self.in_params + self.out_params, inputs + outputs):
            if p.raw or not P.is_array(a):
                operands.append(a._data if P.is_array(a) else a)
                layout.append("r" if p.raw else "k")
                continue
            if a.shape == shape and _is_contiguous(a):  # (read at the flat index: no strides to pass)
                layout.append("c")
                operands.append(a._data)
                continue
            payload, strides = _strided(a, shape)
            layout.append("s")
            operands += [payload, *strides]
        strided = "s" in layout
        tail = [np.int64(n)] + ([np.int64(d) for d in shape] if strided else [])
        block = block_size or _BLOCK[device.family]
        native = device.backend_name in ("cuda", "rocm")
        key = (tuple(types.items()), tuple(layout), len(shape) if strided else 0, given, native)
        if key not in self._kernels:
            self._kernels[key] = self._kernel(types, layout, len(shape) if strided else 0, given, native)
        self._kernels[key].launch(device, (-(-n // block),), (block,), operands + tail)

    def _kernel(self, types: dict, layout: list, ndim: int, given: tuple, native: bool) -> RawKernel:
        """The CUDA source for one binding of types and layout of the operands."""
        _check_operation(self.operation)
        signature, loads, stores = [], [], []
        dims = range(ndim)
        unravel = []
        if ndim:
            unravel = ["long long hal_r = i;"] + [f"const long long hal_j{d} = hal_r % hal_d{d}; hal_r /= hal_d{d};"
                                                 for d in reversed(dims)]
        params = self.in_params + self.out_params
        for k, (p, mode) in enumerate(zip(params, layout)):
            ctype = P.ctype(P.resolve(p, types), native)
            is_out = k >= self.nin
            const = "" if is_out else "const "
            if mode == "r":
                signature.append(f"{const}{ctype}* {p.name}")
                continue
            if mode == "k":
                signature.append(f"{ctype} {p.name}")
                continue
            # (hal_p_NAME and hal_sD_NAME: no user name makes one of the others, nor hal_n, hal_dD...)
            signature.append(f"{const}{ctype}* hal_p_{p.name}")
            if mode == "s":
                signature += [f"long long hal_s{d}_{p.name}" for d in dims]
                index = " + ".join(f"hal_j{d} * hal_s{d}_{p.name}" for d in dims)
            else:
                index = "i"
            if is_out:
                init = f" = hal_p_{p.name}[{index}]" if given[k - self.nin] else ""
                loads.append(f"{ctype} {p.name}{init};")
                stores.append(f"hal_p_{p.name}[{index}] = {p.name};")
            else:
                loads.append(f"const {ctype} {p.name} = hal_p_{p.name}[{index}];")
        signature += ["long long hal_n"] + [f"long long hal_d{d}" for d in dims]
        ind = "hal_ind_t _ind = {hal_n};\n" if native else ""
        source = (P.native_header(native, types, params) + P.typedefs(types, native) + self.preamble + "\n"
                  + (P.NATIVE_INDEXER if native else "")
                  + f'extern "C" __global__ void {P.symbol(self.name)}({", ".join(signature)}) {{\n'
                  + ind + self.loop_prep + "\n"
                  + "const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
                  # (in a do-while: continue skips the rest of the operation, as in CuPy's loop over i)
                  + "if (i < hal_n) {\n" + "\n".join(unravel + loads) + "\ndo {\n" + self.operation
                  + ";\n} while (0);\n"
                  + "\n".join(stores) + "\n}\n" + self.after_loop + "\n}\n")
        return RawKernel(source, P.symbol(self.name), self.options, calls={("_ind", "size"): "hal_n"},
                         typedef_names=tuple(types))


def _check_operation(operation: str) -> None:
    """A ``return`` in the operation would skip the stores of the outputs, which hal writes
    after it (CuPy's outputs are references, written as they are assigned)."""
    from .source import unsupported, user_tokens  # (pycparser: loaded with the first kernel, not with hal)
    for tok, line in user_tokens(operation):
        if tok.type == "RETURN":
            raise unsupported("return in an ElementwiseKernel's operation", line, operation,
                              "hal stores the outputs after the operation: continue ends it early")


def _prepare(p: P.Param, value, types: dict, device):
    """An input as the kernel takes it: arrays of the parameter's dtype on ``device``
    (raw ones contiguous), scalars as NumPy scalars of it."""
    dtype = P.resolve(p, types)
    if P.is_array(value):
        if value.device != device:
            raise hal.DeviceError(f"argument {p.name!r} is on {value.device}, the kernel runs on {device}")
        if value.dtype != dtype:
            value = hal.astype(value, dtype)
        if p.raw and not _is_contiguous(value):
            value = hal.asarray(value, copy=True)
        return value
    if p.raw:
        raise TypeError(f"raw parameter {p.name!r} takes a hal array, not {type(value).__name__}")
    P.scalar_dtype(value)  # (a TypeError for what is not a number)
    if dtype.kind == "c":
        raise TypeError(f"argument {p.name!r}: complex scalars are not supported; pass a 0-d array")
    return np.array(value).astype(dtype)[()]


def _strided(a, shape: tuple):
    """(payload, element strides of ``a`` broadcast to ``shape``)."""
    device, data = a._device, a._data
    return data, device.element_strides(device.broadcast(data, shape))


def _is_contiguous(a) -> bool:
    return a._device.is_contiguous(a._data)
