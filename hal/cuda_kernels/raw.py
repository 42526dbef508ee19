"""``hal.RawKernel`` and ``hal.RawModule``: a CUDA C kernel, or a source's kernels, as
CuPy's ``cupy.RawKernel`` and ``cupy.RawModule`` take them, on every device (CuPy's
reference: https://docs.cupy.dev/en/stable/reference/generated/cupy.RawKernel.html,
https://docs.cupy.dev/en/stable/reference/generated/cupy.RawModule.html).

On CUDA and ROCm devices the source compiles as it is (native.py). Elsewhere it is
parsed (source.py) and translated into hal's dialect (translate.py) once per shape of
device (one work-item per thread, or one per block where work-groups are one item),
then compiled by the device through the kernel cache, per block shape where a block's
threads are loops, and per dynamic shared memory size.
"""
from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from hal.array_api.array import Array
from hal.device import device_or_default, get_default_device
from hal.errors import CompileError, DeviceError

from . import native
from .ctype import NUMPY
from .source import template_symbol


class RawKernel:
    """``RawKernel(code, name, options=())``; launch with ``kernel(grid, block, args,
    shared_mem=0)``: ``grid`` and ``block`` are ints or 1-3 tuples, ``args`` a tuple of hal
    arrays (passed as pointers to their first element) and NumPy scalars."""

    def __init__(self, code: str, name: str, options: tuple = (), backend: str = "nvrtc",
                 translate_cucomplex: bool = False, *, enable_cooperative_groups: bool = False,
                 jitify: bool = False, calls: dict | None = None, typedef_names: tuple = (),
                 translations: dict | None = None, name_expressions: tuple = (), heavy_blocks: bool = False):
        # (backend="nvcc" and translate_cucomplex are CuPy's; hal compiles with NVRTC/hiprtc
        # on GPUs and translates complex<T> itself)
        if enable_cooperative_groups or jitify:
            from .source import unsupported
            raise unsupported("cooperative groups (enable_cooperative_groups=True)" if enable_cooperative_groups
                              else "jitify=True (C++ templates)", None, code)
        self.code, self.name, self.options = code, name, tuple(options)
        # (a RawModule's template instance, by its name expression: a plain function once translated)
        self._name_expressions = tuple(name_expressions)
        self._function = template_symbol(name) if name in self._name_expressions else name
        self._calls, self._typedef_names = calls or {}, tuple(typedef_names)
        self._translations: dict = {} if translations is None else translations  # (a RawModule's: shared)
        self._programs: dict = {}
        self._heavy_blocks = heavy_blocks  # (ReductionKernel's folds: one block a whole segment of a row)

    def __repr__(self):
        return f"<hal.RawKernel {self.name}>"

    # -- compilation -------------------------------------------------------
    def translation(self, shape: str):
        """The dialect translation of the ``shape`` (translate.SHAPES) a device runs
        blocks in; CompileError for what hal does not support."""
        if shape not in self._translations:
            from .source import parse  # (pycparser: loaded at the first translation, not with hal)
            from .translate import translate
            tree = parse(self.code, self._typedef_names, self.options, self._name_expressions)
            self._translations[shape] = translate(tree, self.code, shape, self._calls)
        translation = self._translations[shape]
        if self._function not in translation.kernels:
            raise CompileError("CUDA translation", f"no __global__ function named {self.name!r} (found: "
                               f"{', '.join(sorted(translation.kernels))})", self.code)
        return translation

    def compile(self, device=None, block=(1, 1, 1), shared_mem: int = 0) -> None:
        """Compile for ``device`` (default: the default device) now rather than at the
        first launch; raises hal.CompileError."""
        self._program(device_or_default(device), _dim3(block, "block"), shared_mem)

    def _program(self, device, block: tuple, shared_mem: int):
        shape = _shape(device)
        key = (device.name, block if shape == "blocks" else None, shared_mem)
        if key not in self._programs:
            if device.backend_name in native.NATIVE:
                self._programs[key] = native.function(device, self.code, self.name, self.options,
                                                      self._name_expressions)
                return self._programs[key]
            translation = self.translation(shape)
            defines = {"HAL_DYN_BYTES": shared_mem}
            if shape == "blocks":
                defines.update(HAL_BD0=block[0], HAL_BD1=block[1], HAL_BD2=block[2], HAL_NT=math.prod(block))
                if self._heavy_blocks:  # (the C target: spread over the cores however few they are)
                    defines["HAL_THREADS_MIN_ITEMS"] = 1
            symbol = translation.kernels[self._function].symbol
            self._programs[key] = device.compile(translation.source, defines)[symbol]
        return self._programs[key]

    # -- launching ------------------------------------------------------------
    def __call__(self, grid, block, args, *, shared_mem: int = 0) -> None:
        args = tuple(args)
        device = _device_of(args)
        self.launch(device, grid, block, [a._data if _is_array(a) else a for a in args], shared_mem)

    def launch(self, device, grid, block, payloads: list, shared_mem: int = 0) -> None:
        """Launch with device payloads (NumPy arrays on the cpu, ``hal.memory.Strided``
        elsewhere) in place of hal arrays."""
        grid, block = _dim3(grid, "grid"), _dim3(block, "block")
        if shared_mem < 0:
            raise ValueError(f"shared_mem must be >= 0, got {shared_mem}")
        if math.prod(block) > device.info.max_work_group and _shape(device) == "threads":
            raise ValueError(f"block {block} has {math.prod(block)} threads; {device.name} runs at most "
                             f"{device.info.max_work_group} per block")
        program = self._program(device, block, shared_mem)
        if 0 in grid:
            return
        if device.backend_name in native.NATIVE:
            native.launch(device, program, grid, block, self._native_arguments(device, payloads), shared_mem)
            return
        kernel = self._translations[_shape(device)].kernels[self._function]
        if len(payloads) != len(kernel.params):
            raise TypeError(f"kernel {self.name} takes {len(kernel.params)} arguments, got {len(payloads)}")
        flat = []
        for param, value in zip(kernel.params, payloads):
            flat += _argument(self.name, param, value, device)
        # (only the dimensions in use: PoCL takes ~5x longer to enqueue a 3-D range of 1 x 1 tails)
        dims = 3 if grid[2] > 1 or block[2] > 1 else 2 if grid[1] > 1 or block[1] > 1 else 1
        if _shape(device) == "blocks":
            program(grid[:dims], None, *flat)
        else:
            program(tuple(g * b for g, b in zip(grid[:dims], block)), block[:dims], *flat)


    @functools.cached_property
    def _native_params(self) -> list | None:
        """The kernel's parameters as hal's front end reads them; None for CUDA C++ beyond
        the translated subset (NVRTC knows it, hal does not). Read once: a source the
        front end refuses (every ElementwiseKernel's for NVRTC) was parsed again at each
        launch, ~40 ms."""
        try:
            return self.translation("threads").kernels[self._function].params
        except CompileError:
            return None

    def _native_arguments(self, device, payloads: list) -> list:
        """The arguments checked and converted as on translated targets where hal can read
        the kernel's parameters (a source in the translated subset); as given otherwise."""
        params = self._native_params
        if params is None:
            return payloads
        if len(payloads) != len(params):
            raise TypeError(f"kernel {self.name} takes {len(params)} arguments, got {len(payloads)}")
        out = []
        for param, value in zip(params, payloads):
            if param.fields:  # (a complex or struct by value: NVRTC's kernel takes it whole, in C's layout)
                out.append(_c_struct(_argument(self.name, param, value, device), param))
            elif param.pointer or param.type.base == "half":
                _argument(self.name, param, value, device)  # (checks it)
                out.append(value if param.pointer else np.float16(value))
            else:
                out += _argument(self.name, param, value, device)
        return out


class RawModule:
    """``RawModule(code=..., options=())``: the ``__global__`` functions of one CUDA source;
    ``get_function(name)`` is a ``RawKernel`` of it. The source is parsed and translated
    once for all its functions (per shape of device) and compiled once per device and
    block shape (the kernel cache holds the program). ``name_expressions``
    (``["scale<float>", "tile<double, 32>"]``) instantiate function templates, and
    ``get_function`` takes the same strings, as in CuPy. hal compiles from source only:
    ``path=`` (a cubin or PTX file) and ``get_global`` (``__device__`` variables) are
    CompileErrors."""

    def __init__(self, code: str | None = None, options: tuple = (), backend: str = "nvrtc",
                 translate_cucomplex: bool = False, *, enable_cooperative_groups: bool = False,
                 name_expressions=None, jitify: bool = False, path: str | None = None):
        from .source import unsupported
        if path is not None:
            raise unsupported("a compiled module (path=: cubin, PTX)", None, "", "pass the CUDA source as code=")
        if code is None:
            raise TypeError("RawModule takes the CUDA source as code=")
        self.code, self.options = code, tuple(options)
        self._flags = {"enable_cooperative_groups": enable_cooperative_groups, "jitify": jitify,
                       "name_expressions": tuple(name_expressions or ())}
        self._translations: dict = {}
        self._kernels: dict = {}

    def __repr__(self):
        return "<hal.RawModule>"

    def get_function(self, name: str) -> RawKernel:
        if name not in self._kernels:
            self._kernels[name] = RawKernel(self.code, name, self.options, translations=self._translations,
                                            **self._flags)
        return self._kernels[name]

    def get_global(self, name: str):
        from .source import unsupported
        raise unsupported(f"get_global({name!r}): __device__ global variables", None, self.code)


def _shape(device) -> str:
    """How ``device`` runs a block: one work-item per thread, or (where its work-groups
    are one item: the cpu's C kernels, C-compiling vendor backends) one item per block."""
    return "blocks" if device.info.max_work_group == 1 else "threads"


def _argument(kernel: str, param, value, device) -> list:
    if param.pointer:
        if isinstance(value, (numbers.Number, np.generic)) or not hasattr(value, "dtype"):
            raise TypeError(f"kernel {kernel}: argument {param.name!r} is a pointer and takes a hal array, "
                            f"not {type(value).__name__}")
        pointer, offset = device.kernel_args(value)
        return [pointer, offset * value.dtype.itemsize]
    if _is_array(value) or hasattr(value, "dtype") and not isinstance(value, np.generic):
        raise TypeError(f"kernel {kernel}: argument {param.name!r} is a {param.type.base} scalar, not an array")
    if param.fields:
        return [NUMPY[base](_part(kernel, param, value, keys)) for keys, base in param.fields]
    if not isinstance(value, (numbers.Number, np.generic)):
        raise TypeError(f"kernel {kernel}: argument {param.name!r} takes a number, not {type(value).__name__}")
    if param.type.base == "half":
        return [np.float16(value).view(np.uint16)]
    return [NUMPY[param.type.base](value)]


def _c_struct(scalars: list, param) -> np.void:
    """A complex or struct's scalars (``_argument``'s) as the bytes of the C value NVRTC's
    kernel takes, each at its C offset: a structured scalar of any NumPy layout, or a
    dict, passes as the same struct (CuPy would pass a structured scalar's own bytes, and
    a Python complex as complex128 whatever the parameter)."""
    data = np.zeros(param.nbytes, np.uint8)
    for scalar, offset in zip(scalars, param.offsets):
        data[offset:offset + scalar.itemsize] = np.frombuffer(scalar.tobytes(), np.uint8)
    return data.view(np.dtype((np.void, param.nbytes)))[0]


def _part(kernel: str, param, value, keys: tuple):
    """The scalar at ``keys`` in a complex number or a struct, given as a NumPy structured
    scalar (``np.void``: CuPy's way to pass a struct) or a dict of its fields."""
    for key in keys:
        if key in ("real", "imag") and isinstance(value, (numbers.Number, np.number)):
            value = getattr(value, key)
        elif isinstance(value, (np.void, dict)) and isinstance(key, str) or isinstance(key, int) and \
                isinstance(value, (np.ndarray, list, tuple)):
            try:
                value = value[key]
            except (KeyError, ValueError, IndexError):
                raise TypeError(f"kernel {kernel}: argument {param.name!r} lacks the field {key!r}") from None
        else:
            what = "a complex number" if param.type.complex else \
                "a NumPy structured scalar (np.void) or a dict of the struct's fields"
            raise TypeError(f"kernel {kernel}: argument {param.name!r} takes {what}, not {type(value).__name__}")
    if not isinstance(value, (numbers.Number, np.generic)):
        raise TypeError(f"kernel {kernel}: argument {param.name!r}'s field {keys} takes a number, "
                        f"not {type(value).__name__}")
    return value


def _is_array(a) -> bool:
    return isinstance(a, Array)


def _device_of(args: tuple):
    devices = {a.device for a in args if _is_array(a)}
    if len(devices) > 1:
        raise DeviceError(f"kernel arguments are on several devices: {', '.join(sorted(map(str, devices)))}")
    return devices.pop() if devices else get_default_device()


def _dim3(value, what: str) -> tuple:
    dims = (value,) if isinstance(value, numbers.Integral) else tuple(value)
    if not 1 <= len(dims) <= 3 or not all(isinstance(d, numbers.Integral) and d >= 0 for d in dims):
        raise ValueError(f"{what} must be a non-negative int or a tuple of 1 to 3 of them, got {value!r}")
    if what == "block" and 0 in dims:
        raise ValueError(f"block must have at least one thread in each dimension, got {value!r}")
    return tuple(int(d) for d in dims) + (1,) * (3 - len(dims))
