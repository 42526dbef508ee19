"""User CUDA kernels on CUDA and ROCm devices: the source as written, compiled by NVRTC
(hiprtc) through backends/cuda.py's ``build`` and the kernel cache, and launched with
CuPy's ``Function`` on the device's stream, as ``cupy.RawKernel`` launches it."""
from __future__ import annotations

import json

from hal import cache
from hal.errors import CompileError

NATIVE = ("cuda", "rocm")


def function(device, code: str, name: str, options: tuple, name_expressions: tuple = ()):
    """The loaded kernel ``name`` of ``code`` on ``device`` (a backends.cuda.CudaDevice);
    with ``name_expressions`` (template instances), ``name`` may be one of them, found by
    the name NVRTC lowers it to, as CuPy finds it."""
    import cupy
    binary, lowered = _build(device, code, (*device.options, *include_options(device.hip), *options), name_expressions)
    with device.cupy_device:
        module = cupy.cuda.function.Module()
        module.load(binary)
        try:
            return module, module.get_function(lowered.get(name, name))
        except cupy.cuda.driver.CUDADriverError as e:
            raise CompileError("NVRTC", f"no __global__ function named {name!r} ({e})", code) from None


def _build(device, code: str, options: tuple, name_expressions: tuple) -> tuple[bytes, dict]:
    """(the binary, each name expression's lowered name), through the kernel cache: the
    names ride ahead of the binary, as JSON ended by a NUL byte."""
    from hal.backends.cuda import build_module
    key = (code, " ".join(options), device.fingerprint, "with lowered names", *name_expressions)
    packed = cache.cached("cuda", key, lambda: _pack(*build_module(code, options, device.hip, name_expressions)))
    names, binary = packed.split(b"\0", 1)
    return binary, json.loads(names)


def _pack(binary: bytes, lowered: dict) -> bytes:
    return json.dumps(lowered).encode() + b"\0" + binary


def launch(device, loaded, grid: tuple, block: tuple, args: list, shared_mem: int) -> None:
    """``args``: device payloads (hal.memory.Strided) and scalars, in the kernel's order."""
    from hal.memory import Strided
    packed = tuple(a.buf.handle + a.offset * a.dtype.itemsize if isinstance(a, Strided) else a for a in args)
    _, fn = loaded
    with device.cupy_device:
        fn(grid, block, packed, shared_mem=shared_mem, stream=device.stream)


def include_options(hip: bool = False) -> tuple:
    """The header folders cupy.RawKernel compiles with: CuPy's own (cupy/complex.cuh and
    the CCCL it includes) and the CUDA toolkit's (cuda_fp16.h...) where one is installed,
    as a toolkit or as NVIDIA's wheels; for NVRTC, which has no C/C++ standard library
    (hiprtc has), last, hal's <climits>, <cassert>... that include libcudacxx's."""
    import os

    import cupy
    core = os.path.join(os.path.dirname(cupy.__file__), "_core", "include")
    cccl = os.path.join(core, "cupy", "_cccl")
    folders = [core] + [os.path.join(cccl, name) for name in ("libcudacxx", "thrust", "cub")]
    toolkit = cupy.cuda.get_cuda_path()
    folders += [os.path.join(toolkit, "include")] if toolkit else []
    try:  # the toolkit headers of NVIDIA's wheels (cupy-cuda12x[ctk] installs them)
        import nvidia
        folders += [os.path.join(root, "cuda_runtime", "include") for root in nvidia.__path__]
    except ImportError:
        pass
    folders += [] if hip else [os.path.join(os.path.dirname(__file__), "nvrtc_include")]
    return tuple(f"-I{f}" for f in folders if os.path.isdir(f))
