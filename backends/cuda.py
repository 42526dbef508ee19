"""The cuda backend: NVIDIA GPUs (``cuda:N``) through CuPy, AMD GPUs (``rocm:N``) through
CuPy's ROCm (HIP) build, see backends/rocm.py.

Memory comes from CuPy's pool, kernels are the portable dialect compiled with NVRTC
(hiprtc on ROCm) through the kernel cache and launched on one stream per device, timed
with events. ``as_cupy`` views a hal array as a CuPy array without a copy, so ops can
call CuPy's libraries (cuBLAS for matmul) where they beat the kernels.
"""
from __future__ import annotations

import contextlib

import cupy
import numpy as np
from cupy.cuda import nvrtc, runtime

from hal import cache, counters, program
from hal.device import BufferDevice, DeviceInfo, Timing
from hal.dialect import TYPES, kernel_signatures, render
from hal.dispatch import register
from hal.errors import CompileError
from hal.memory import Strided
from hal.registry import BackendUnavailable

# --fmad=false: the numerics contract (no a*b + c contracted into an fma behind the kernel's back).
_NVRTC_OPTIONS = ("--fmad=false", "-std=c++17")
_HIPRTC_OPTIONS = ("-ffp-contract=off", "-std=c++17")
_BLOCK = 256  # threads per block when the op leaves the work-group size to the backend


class CudaDevice(BufferDevice):
    target = "cuda"

    def __init__(self, index: int, props: dict):
        self.hip = runtime.is_hip
        self.cupy_device = cupy.cuda.Device(index)
        with self.cupy_device:
            self.stream = cupy.cuda.Stream(non_blocking=True)
        self.arch, self.options = target(props, self.hip)
        info = DeviceInfo(description=props["name"].decode(), vendor="AMD" if self.hip else "NVIDIA",
                          driver=_versions(), kind="gpu", memory=props["totalGlobalMem"], fp64=True, fp16=True,
                          max_work_group=props["maxThreadsPerBlock"], local_memory=props["sharedMemPerBlock"])
        fingerprint = "|".join((info.description, self.arch, info.driver, *self.options))
        super().__init__("rocm" if self.hip else "cuda", index, info, fingerprint)

    def alloc(self, nbytes: int) -> cupy.cuda.MemoryPointer:
        with self.cupy_device, self.stream:
            return cupy.cuda.alloc(nbytes)  # cupy's OutOfMemoryError is a MemoryError: the pool reports it

    def free(self, handle: cupy.cuda.MemoryPointer) -> None:
        pass  # dropping the last reference returns the memory to CuPy's pool

    def copyin(self, handle, byte_offset: int, host: np.ndarray) -> None:
        with self.cupy_device:
            (handle + byte_offset).copy_from_host_async(host.ctypes.data, host.nbytes, self.stream)
            self.stream.synchronize()  # the caller may free ``host`` on return

    def copyout(self, host: np.ndarray, handle, byte_offset: int) -> None:
        with self.cupy_device:
            (handle + byte_offset).copy_to_host_async(host.ctypes.data, host.nbytes, self.stream)
            self.stream.synchronize()

    def compile(self, source: str, defines: dict | None = None) -> program.Module:
        full = render(source, "cuda", {**(defines or {}), "HAL_FP64": 1})
        binary = cache.cached("cuda", (full, " ".join(self.options), self.fingerprint),
                              lambda: build(full, self.options, self.hip))
        with self.cupy_device:
            module = cupy.cuda.function.Module()
            module.load(binary)
        return program.Module(lambda name, params: Program(self, module.get_function(name), name, params),
                              kernel_signatures(source))

    def capture(self):
        return program.capture(Graph(self))

    def synchronize(self) -> None:
        self.stream.synchronize()

    @contextlib.contextmanager
    def timer(self):
        """Device time between two events recorded on the stream around the enclosed launches."""
        timing = Timing()
        with self.cupy_device:
            start, end = cupy.cuda.Event(), cupy.cuda.Event()
            start.record(self.stream)
            yield timing
            end.record(self.stream)
        end.synchronize()
        timing.seconds = cupy.cuda.get_elapsed_time(start, end) * 1e-3

    def as_cupy(self, x: Strided) -> cupy.ndarray:
        """``x`` as a CuPy array sharing its memory (strides in bytes, as CuPy counts them)."""
        size = x.dtype.itemsize
        return cupy.ndarray(x.shape, x.dtype, memptr=x.buf.handle + x.offset * size,
                            strides=tuple(s * size for s in x.strides))


def target(props: dict, hip: bool) -> tuple[str, tuple[str, ...]]:
    """The architecture to compile for and the full compiler options. A GPU newer than
    NVRTC knows gets PTX for the newest virtual architecture NVRTC has, which the driver
    compiles when it loads the module. A GPU older than NVRTC knows cannot run what it
    builds (CUDA 13's NVRTC has no sm_70): BackendUnavailable, saying so."""
    if hip:
        arch = props["gcnArchName"].decode()
        return arch, (*_HIPRTC_OPTIONS, f"--offload-arch={arch}")
    cc, known = props["major"] * 10 + props["minor"], nvrtc.getSupportedArchs()
    if cc < min(known):
        raise BackendUnavailable(f"NVRTC {'.'.join(map(str, nvrtc.getVersion()))} compiles for sm_{min(known)} "
                                 f"and newer, not for this GPU's sm_{cc}: install a CuPy of an older CUDA")
    arch = f"sm_{cc}" if cc in known else f"compute_{max(known)}"
    return arch, (*_NVRTC_OPTIONS, f"--gpu-architecture={arch}")


def build(full: str, options: tuple[str, ...], hip: bool = False) -> bytes:
    """NVRTC (or hiprtc): a cubin for an ``sm_`` architecture, else PTX (HIP: a code
    object). Needs no GPU, so tests compile for any architecture with ``target``'s options."""
    return build_module(full, options, hip)[0]


def build_module(full: str, options: tuple[str, ...], hip: bool = False,
                 name_expressions: tuple = ()) -> tuple[bytes, dict]:
    """``build``'s binary, and the name each of ``name_expressions`` (template instances,
    ``"scale<float>"``) is lowered to in it (NVRTC's nvrtcAddNameExpression)."""
    counters.count("kernel_compiles")
    prog = nvrtc.createProgram(full, "hal.cu", (), ())
    try:
        for expression in name_expressions:
            nvrtc.addNameExpression(prog, expression)
        try:
            nvrtc.compileProgram(prog, list(options))
        except nvrtc.NVRTCError:
            raise CompileError(f"{'hiprtc' if hip else 'NVRTC'} {' '.join(options)}",
                               nvrtc.getProgramLog(prog), full) from None
        cubin = not hip and any(o.startswith("--gpu-architecture=sm_") for o in options)
        lowered = {e: nvrtc.getLoweredName(prog, e) for e in name_expressions}
        return (nvrtc.getCUBIN(prog) if cubin else nvrtc.getPTX(prog)), lowered
    finally:
        nvrtc.destroyProgram(prog)


class Program(program.Program):
    def __init__(self, device: CudaDevice, function, name: str, params: list):
        super().__init__(name, params)
        self.device, self.function = device, function

    def launch(self, global_size: tuple, local_size: tuple | None, args: tuple):
        """Over ``global_size`` work-items (OpenCL's grid, rounded up to whole blocks);
        buffer arguments are ``hal.memory.Buffer``s, the rest scalars."""
        block, grid = launch_shape(global_size, local_size)
        if 0 in grid:
            return None  # CUDA rejects an empty grid; there is no work-item to run
        packed = pack_args(self.params, args)
        with self.device.cupy_device:
            self.function(grid, block, packed, stream=self.device.stream)
        return self.function, grid, block, packed


class Graph(program.Graph):
    """Launches recorded by ``hal.program.capture``. On CUDA a replay is one CUDA graph
    launch: the first replay captures the recorded launches into a graph (a side stream in
    capture mode runs nothing) and every replay launches it on the device's stream, so a
    SmolLM2 decode step is one launch instead of ~425 from Python. On ROCm, whose CuPy has
    no stream capture, a replay calls the kernels again one by one."""

    def __init__(self, device: CudaDevice):
        super().__init__()
        self.device, self._graph = device, None

    def record(self, prog: Program, launched: tuple, args: tuple) -> None:
        self.add(launched, args)

    def replay(self) -> None:
        with self.device.cupy_device:
            if self.device.hip:
                self._launch(self.device.stream)
            else:
                if self._graph is None:
                    self._graph = self._captured()
                self._graph.launch(stream=self.device.stream)
        self.replayed()

    def _launch(self, stream) -> None:
        for function, grid, block, packed in self.launches:
            function(grid, block, packed, stream=stream)

    def _captured(self):
        stream = cupy.cuda.Stream(non_blocking=True)
        stream.begin_capture(runtime.streamCaptureModeRelaxed)
        try:
            self._launch(stream)
        finally:
            graph = stream.end_capture()
        return graph


def launch_shape(global_size: tuple, local_size: tuple | None) -> tuple[tuple, tuple]:
    """(block, grid) as CUDA 3-vectors for an OpenCL-style launch."""
    block = tuple(local_size) if local_size is not None else (min(global_size[0], _BLOCK) or 1,)
    block += (1,) * (3 - len(block))
    global_size = tuple(global_size) + (1,) * (3 - len(global_size))
    return block, tuple(-(-g // b) for g, b in zip(global_size, block))


def pack_args(params: list, args: tuple) -> tuple:
    """Kernel arguments as CuPy passes them: a buffer as its MemoryPointer, a scalar as a
    NumPy scalar of the parameter type the kernel declares (CuPy would pass a Python int
    as a 64-bit integer whatever the parameter is)."""
    return tuple(a.handle if p.pointer else TYPES[p.word][0].type(a) for p, a in zip(params, args))


@register("matmul", on=("cuda", "rocm"))
def matmul(device: CudaDevice, a: Strided, b: Strided) -> Strided:
    """cuBLAS (rocBLAS) through cupy.matmul, batch dims broadcast; writes a hal buffer."""
    shape = (*np.broadcast_shapes(a.shape[:-2], b.shape[:-2]), a.shape[-2], b.shape[-1])
    out = device.empty(shape, a.dtype)
    if out.size:
        with device.cupy_device, device.stream:
            cupy.matmul(device.as_cupy(a), device.as_cupy(b), out=device.as_cupy(out))
    return out


def _versions() -> str:
    rtc = ".".join(map(str, nvrtc.getVersion()))
    if runtime.is_hip:
        return f"HIP driver {runtime.driverGetVersion()} / runtime {runtime.runtimeGetVersion()} / hiprtc {rtc}"
    return f"CUDA driver {_cuda_version(runtime.driverGetVersion())} / runtime " \
           f"{_cuda_version(runtime.runtimeGetVersion())} / NVRTC {rtc}"


def _cuda_version(n: int) -> str:
    return f"{n // 1000}.{n % 1000 // 10}"  # 12040 is 12.4


_INSUFFICIENT_DRIVER, _NO_DEVICE = 35, 100  # cudaError_t (hipError_t has the same numbers)


def _why_no_device(error: runtime.CUDARuntimeError) -> str:
    if runtime.driverGetVersion() == 0:
        return f"no GPU driver: {'the ROCm driver' if runtime.is_hip else 'libcuda'} is not loadable"
    if error.status == _INSUFFICIENT_DRIVER:
        return f"the GPU driver is older than CuPy's runtime ({error})"
    if error.status == _NO_DEVICE:
        return "no GPU device"
    return str(error)


def discover(hip: bool = False) -> list[CudaDevice]:
    if runtime.is_hip != hip:
        raise BackendUnavailable("CuPy is a ROCm (HIP) build: its devices are rocm:N" if runtime.is_hip
                                 else "CuPy is a CUDA build: its devices are cuda:N")
    try:
        count = runtime.getDeviceCount()
    except runtime.CUDARuntimeError as e:
        raise BackendUnavailable(_why_no_device(e)) from None
    if not count:
        raise BackendUnavailable("no GPU device")
    return [CudaDevice(i, runtime.getDeviceProperties(i)) for i in range(count)]
