"""User CUDA kernels on CUDA and ROCm devices: the source as written, compiled by NVRTC
(hiprtc) through backends/cuda.py's ``build`` and the kernel cache, and launched with
CuPy's ``Function`` on the device's stream, as ``cupy.RawKernel`` launches it."""
from __future__ import annotations

from hal import cache

NATIVE = ("cuda", "rocm")


def function(device, code: str, name: str, options: tuple):
    """The loaded kernel ``name`` of ``code`` on ``device`` (a backends.cuda.CudaDevice)."""
    import cupy
    from hal.backends.cuda import build
    full_options = (*device.options, *_toolkit_include(), *options)
    binary = cache.cached("cuda", (code, " ".join(full_options), device.fingerprint),
                          lambda: build(code, full_options, device.hip))
    with device.cupy_device:
        module = cupy.cuda.function.Module()
        module.load(binary)
        return module, module.get_function(name)


def launch(device, loaded, grid: tuple, block: tuple, args: list, shared_mem: int) -> None:
    """``args``: device payloads (hal.memory.Strided) and scalars, in the kernel's order."""
    from hal.memory import Strided
    packed = tuple(a.buf.handle + a.offset * a.dtype.itemsize if isinstance(a, Strided) else a for a in args)
    _, fn = loaded
    with device.cupy_device:
        fn(grid, block, packed, shared_mem=shared_mem, stream=device.stream)


def _toolkit_include() -> tuple:
    """The CUDA toolkit's headers (cuda_fp16.h, ...) where a toolkit is installed, as
    cupy.RawKernel adds them."""
    import os

    import cupy
    path = cupy.cuda.get_cuda_path()
    include = os.path.join(path, "include") if path else None
    return (f"-I{include}",) if include and os.path.isdir(include) else ()
