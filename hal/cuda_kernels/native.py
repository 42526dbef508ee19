"""User CUDA kernels on CUDA and ROCm devices: the source as written, compiled by NVRTC
(hiprtc) through backends/cuda.py's ``build`` and the kernel cache, and launched with
CuPy's ``Function`` on the device's stream, as ``cupy.RawKernel`` launches it."""
from __future__ import annotations

from hal import cache
from hal.errors import CompileError

NATIVE = ("cuda", "rocm")


def function(device, code: str, name: str, options: tuple):
    """The loaded kernel ``name`` of ``code`` on ``device`` (a backends.cuda.CudaDevice)."""
    import cupy
    from hal.backends.cuda import build
    full_options = (*device.options, *include_options(), *options)
    binary = cache.cached("cuda", (code, " ".join(full_options), device.fingerprint),
                          lambda: build(code, full_options, device.hip))
    with device.cupy_device:
        module = cupy.cuda.function.Module()
        module.load(binary)
        try:
            return module, module.get_function(name)
        except cupy.cuda.driver.CUDADriverError as e:
            raise CompileError("NVRTC", f"no __global__ function named {name!r} ({e})", code) from None


def launch(device, loaded, grid: tuple, block: tuple, args: list, shared_mem: int) -> None:
    """``args``: device payloads (hal.memory.Strided) and scalars, in the kernel's order."""
    from hal.memory import Strided
    packed = tuple(a.buf.handle + a.offset * a.dtype.itemsize if isinstance(a, Strided) else a for a in args)
    _, fn = loaded
    with device.cupy_device:
        fn(grid, block, packed, shared_mem=shared_mem, stream=device.stream)


def include_options() -> tuple:
    """The header folders cupy.RawKernel compiles with: CuPy's own (cupy/complex.cuh and
    the CCCL it includes) and the CUDA toolkit's (cuda_fp16.h...) where one is installed,
    as a toolkit or as NVIDIA's wheels."""
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
    return tuple(f"-I{f}" for f in folders if os.path.isdir(f))
