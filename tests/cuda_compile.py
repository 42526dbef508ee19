"""Compile CUDA C for a GPU architecture on a machine without a GPU: NVRTC, else nvcc.

NVRTC is found in the ``nvidia-cuda-nvrtc-cu12`` wheel (``pip install nvidia-cuda-nvrtc-cu12``;
CUDA 12 still targets sm_70) or on the library path, and is called through ctypes; nvcc
is found on PATH (CUDA 13 dropped sm_70: ``nvcc --list-gpu-arch`` starts at compute_75).
Both compile to a cubin, so ptxas checks the code too. Tests use ``compilers()`` to
parametrize and ``compile_cuda`` to check any rendered kernel source, e.g.::

    compile_cuda(hal.dialect.render(src, "cuda", defines), "sm_80")

``compile_hip`` does the same for an AMD GPU architecture with hipcc, where it exists.
The options are the numerics contract's, as backends/cuda.py passes them: no compiler
contracts ``a*b + c`` into a fused multiply-add on its own.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import os
import re
import shutil
import subprocess
import tempfile


CUDA_OPTIONS = ("--fmad=false",)
HIP_OPTIONS = ("-ffp-contract=off",)


class CudaCompileError(RuntimeError):
    def __init__(self, compiler: str, arch: str, log: str):
        self.log = log
        super().__init__(f"{compiler} failed for {arch}:\n{log.strip()}")


@functools.lru_cache(maxsize=None)
def _nvrtc() -> ctypes.CDLL | None:
    candidates = []
    try:
        import nvidia  # namespace package of NVIDIA's wheels
        for root in nvidia.__path__:
            candidates += sorted(glob.glob(os.path.join(root, "*", "lib", "libnvrtc.so.*")))
    except ImportError:
        pass
    candidates = [c for c in candidates if re.search(r"libnvrtc\.so\.\d+$", c)]
    candidates.append(ctypes.util.find_library("nvrtc"))
    for path in filter(None, candidates):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        return lib
    return None


def _nvrtc_version() -> str:
    major, minor = ctypes.c_int(), ctypes.c_int()
    _nvrtc().nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return f"{major.value}.{minor.value}"


@functools.lru_cache(maxsize=None)
def _nvcc_archs() -> tuple[str, ...]:
    """The sm_XX that the nvcc on PATH can target (none if there is no nvcc)."""
    if not shutil.which("nvcc"):
        return ()
    out = subprocess.run(["nvcc", "--list-gpu-arch"], capture_output=True, text=True).stdout
    return tuple(a.replace("compute_", "sm_") for a in out.split())


@functools.lru_cache(maxsize=None)
def compilers() -> dict[str, str]:
    """Available compilers, name -> version ("nvrtc" and/or "nvcc")."""
    found = {}
    if _nvrtc() is not None:
        found["nvrtc"] = _nvrtc_version()
    if shutil.which("nvcc"):
        out = subprocess.run(["nvcc", "--version"], capture_output=True, text=True).stdout
        found["nvcc"] = re.search(r"release ([\d.]+)", out)[1]
    return found


def supports(compiler: str, arch: str) -> bool:
    if compiler == "nvcc":
        return arch in _nvcc_archs()
    lib = _nvrtc()
    count = ctypes.c_int()
    if lib.nvrtcGetNumSupportedArchs(ctypes.byref(count)):
        return False
    archs = (ctypes.c_int * count.value)()
    lib.nvrtcGetSupportedArchs(archs)
    return int(arch[3:]) in list(archs)


def compile_cuda(source: str, arch: str, compiler: str | None = None) -> bytes:
    """A cubin for ``arch`` ("sm_80"); raises CudaCompileError with the log on failure."""
    compiler = compiler or next(iter(compilers()), None)
    if compiler == "nvrtc":
        return _compile_nvrtc(source, arch)
    if compiler == "nvcc":
        return _compile_nvcc(source, arch)
    raise RuntimeError("no CUDA compiler: pip install nvidia-cuda-nvrtc-cu12, or put nvcc on PATH")


def _compile_nvrtc(source: str, arch: str) -> bytes:
    lib, prog = _nvrtc(), ctypes.c_void_p()

    def check(status: int, what: str):
        if status:
            raise CudaCompileError("nvrtc", arch, f"{what}: {lib.nvrtcGetErrorString(status).decode()}")

    check(lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"kernel.cu", 0, None, None),
          "nvrtcCreateProgram")
    try:
        flags = [f"--gpu-architecture={arch}", *CUDA_OPTIONS]
        options = (ctypes.c_char_p * len(flags))(*(f.encode() for f in flags))
        status = lib.nvrtcCompileProgram(prog, len(flags), options)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        if status:
            raise CudaCompileError("nvrtc", arch, log.value.decode(errors="replace"))
        check(lib.nvrtcGetCUBINSize(prog, ctypes.byref(size)), "nvrtcGetCUBINSize")
        cubin = ctypes.create_string_buffer(size.value)
        check(lib.nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN")
        return cubin.raw
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def _compile_nvcc(source: str, arch: str) -> bytes:
    return _compile_with("nvcc", [f"-arch={arch}", "-cubin", *CUDA_OPTIONS], source, arch, ".cu")


def compile_hip(source: str, arch: str) -> bytes:
    """A code object for an AMD GPU architecture ("gfx90a") from hipcc on PATH. hiprtc,
    which the backend uses, includes the HIP runtime header itself; hipcc needs it named."""
    source = "#include <hip/hip_runtime.h>\n" + source
    amd = {**os.environ, "HIP_PLATFORM": "amd"}  # hipcc would pick nvcc wherever CUDA is installed too
    return _compile_with("hipcc", ["--genco", f"--offload-arch={arch}", *HIP_OPTIONS], source, arch, ".hip", amd)


def _compile_with(compiler: str, flags: list, source: str, arch: str, suffix: str, env=None) -> bytes:
    with tempfile.TemporaryDirectory(prefix=f"hal-{compiler}-") as tmp:
        src, out = os.path.join(tmp, "kernel" + suffix), os.path.join(tmp, "kernel.bin")
        with open(src, "w") as f:
            f.write(source)
        proc = subprocess.run([compiler, *flags, "-o", out, src], capture_output=True, text=True, env=env)
        if proc.returncode:
            raise CudaCompileError(compiler, arch, proc.stdout + proc.stderr)
        with open(out, "rb") as f:
            return f.read()
