"""The opencl backend: every OpenCL platform and device found, through pyopencl.

Devices are numbered GPUs first, then accelerators, then CPUs, simulators (Oclgrind,
which claims every device type) last, so the numbering does not follow the ICD
loader's order. Kernels are OpenCL C 1.2 from the portable dialect; program binaries
go through the kernel cache.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np
import pyopencl as cl

from hal import cache, counters, program
from hal.device import KIND_ORDER, BufferDevice, DeviceInfo, Timing
from hal.memory import Buffer
from hal.dialect import TYPES, kernel_signatures, render
from hal.errors import CompileError
from hal.registry import BackendUnavailable

class OpenCLDevice(BufferDevice):
    target = "opencl"

    def __init__(self, index: int, cl_device: cl.Device, info: DeviceInfo, fingerprint: str):
        self.cl_device = cl_device
        self.context = cl.Context([cl_device])
        self.queue = cl.CommandQueue(self.context, properties=cl.command_queue_properties.PROFILING_ENABLE)
        # One launch at a time: a cl.Kernel holds its arguments until the enqueue, so
        # threads launching the same kernel must not interleave setting them
        # (tests/test_faults.py, 8 threads: wrong results and crashes without it).
        self.launch_lock = threading.Lock()
        # Oclgrind runs a queue's kernels in the thread that waits on it, and only one
        # at a time: so there, waits (copies, finish) take the same lock (two threads'
        # first reads failed an assertion inside Oclgrind and aborted the process).
        self.wait_lock = self.launch_lock if info.kind == "simulator" else contextlib.nullcontext()
        self.max_alloc = cl_device.max_mem_alloc_size
        # PoCL's build of a program is mostly clang parsing its OpenCL header (~0.2 s; 100
        # kernels ~0.25 s), and it generates each kernel's code at its first launch: so a
        # kernel's build may as well bring its siblings (ops/launch.py).
        self.batch_builds = cl_device.platform.name == "Portable Computing Language"
        super().__init__("opencl", index, info, fingerprint)

    def alloc(self, nbytes: int) -> cl.Buffer:
        if nbytes > self.max_alloc:
            raise MemoryError(f"larger than the device's largest buffer ({self.max_alloc} bytes)")
        try:
            return cl.Buffer(self.context, cl.mem_flags.READ_WRITE, nbytes)
        except cl.Error as e:
            if e.code in (cl.status_code.MEM_OBJECT_ALLOCATION_FAILURE, cl.status_code.OUT_OF_RESOURCES,
                          cl.status_code.OUT_OF_HOST_MEMORY, cl.status_code.INVALID_BUFFER_SIZE):
                raise MemoryError(str(e)) from None
            raise

    def free(self, handle: cl.Buffer) -> None:
        handle.release()

    def copyin(self, handle: cl.Buffer, byte_offset: int, host: np.ndarray) -> None:
        with self.wait_lock:
            cl.enqueue_copy(self.queue, handle, host, dst_offset=byte_offset, is_blocking=True)

    def copyout(self, host: np.ndarray, handle: cl.Buffer, byte_offset: int) -> None:
        with self.wait_lock:
            cl.enqueue_copy(self.queue, host, handle, src_offset=byte_offset, is_blocking=True)

    def compile(self, source: str, defines: dict | None = None, batch: bool = False) -> program.Module:
        """A program from its binary in the kernel cache, else built from source. A new
        build's binary is stored later (hal.cache.store_later): PoCL makes it by
        compiling every kernel again for any work-group size, which the first use does
        not need, and which, taken after the first launches, carries the kernels
        compiled for their work-group sizes too. A ``batch`` (PoCL's, see
        ``batch_builds``) stays out of hal's cache: its binary would compile every
        kernel (~0.05 s each, mostly never run), and PoCL's own cache keeps the build
        and the kernels that ran (a rebuild in the next process: ~0.05 s)."""
        defines = {**(defines or {}), **({"HAL_FP64": 1} if self.info.fp64 else {})}
        full = render(source, "opencl", defines)
        key = (full, _OPTIONS, self.fingerprint)
        binary = None if batch else cache.load("opencl", key)
        if binary is not None:
            built = cl.Program(self.context, [self.cl_device], [binary]).build(_OPTIONS)
        else:
            built = self._build(full)
            if not batch:
                cache.store_later("opencl", key, lambda: built.get_info(cl.program_info.BINARIES)[0])
        return program.Module(lambda name, params: Program(self, getattr(built, name), params),
                              kernel_signatures(source))

    def _build(self, full: str) -> cl.Program:
        counters.count("kernel_compiles")
        try:
            return cl.Program(self.context, full).build(_OPTIONS)
        except cl.RuntimeError as e:
            raise CompileError(f"OpenCL ({self.name})", str(e), full) from None

    def synchronize(self) -> None:
        with self.wait_lock:
            self.queue.finish()

    def capture(self):
        return program.capture(Graph(self))

    @contextlib.contextmanager
    def timer(self):
        """Device time between two profiling markers around the enclosed launches."""
        timing = Timing()
        start = cl.enqueue_marker(self.queue)
        yield timing
        end = cl.enqueue_marker(self.queue)
        with self.wait_lock:
            end.wait()
        timing.seconds = (end.profile.end - start.profile.start) * 1e-9


_OPTIONS = "-cl-std=CL1.2"


class Program(program.Program):
    def __init__(self, device: OpenCLDevice, kernel: cl.Kernel, params: list):
        super().__init__(kernel.function_name, params)
        self.queue, self.kernel, self.lock = device.queue, kernel, device.launch_lock
        self.arg_dtypes = [None if p.pointer else TYPES[p.word][0] for p in params]
        kernel.set_scalar_arg_dtypes(self.arg_dtypes)
        # Float arguments that are zero are always set again: -0.0 == 0.0, but not bit for bit.
        self._floats = [i for i, t in enumerate(self.arg_dtypes) if t is not None and t.kind == "f"]
        self._set = None  # the arguments the kernel holds: a cl.Kernel keeps them between launches

    def launch(self, global_size: tuple, local_size: tuple | None, args):
        """Buffer arguments are ``hal.memory.Buffer``s, the rest scalars. Only arguments
        that differ from the last launch's are set again: the kernel object keeps them,
        so a loop over the same arrays costs the enqueue alone."""
        if local_size is not None and (len(local_size) > 1 or global_size[0] % local_size[0]):
            # OpenCL 1.2: the global size is a multiple of the local
            global_size = tuple(-(-g // l) * l for g, l in zip(global_size, local_size))
        handles = [a.handle if type(a) is Buffer else a for a in args]
        self.lock.acquire()  # (acquire/release: half the cost of a with block, on every launch)
        try:
            if handles != self._set or (self._floats and any(not handles[i] for i in self._floats)):
                self._set = None  # (until set: a bad argument leaves the kernel's state unknown)
                self.kernel.set_args(*handles)
                self._set = handles
            cl.enqueue_nd_range_kernel(self.queue, self.kernel, global_size, local_size)
        finally:
            self.lock.release()
        return global_size, local_size, handles


class Graph(program.Graph):
    """Launches recorded by ``hal.program.capture``, each into a kernel object of its own
    that keeps its arguments set, so a replay is only the enqueues."""

    def __init__(self, device: OpenCLDevice):
        super().__init__()
        self.queue, self.lock = device.queue, device.launch_lock

    def record(self, prog: Program, launched: tuple, args: tuple) -> None:
        global_size, local_size, handles = launched
        kernel = cl.Kernel(prog.kernel.get_info(cl.kernel_info.PROGRAM), prog.kernel.function_name)
        kernel.set_scalar_arg_dtypes(prog.arg_dtypes)
        kernel.set_args(*handles)
        self.add((kernel, global_size, local_size), args)

    def replay(self) -> None:
        with self.lock:
            for kernel, global_size, local_size in self.launches:
                cl.enqueue_nd_range_kernel(self.queue, kernel, global_size, local_size)
        self.replayed()


def _kind(d: cl.Device) -> str:
    t = d.type
    if bin(t & 0xF).count("1") > 1 or "oclgrind" in d.platform.name.lower():
        return "simulator"  # Oclgrind reports every device type at once
    if t & cl.device_type.GPU:
        return "gpu"
    if t & cl.device_type.ACCELERATOR:
        return "accelerator"
    return "cpu"


def _info(d: cl.Device) -> DeviceInfo:
    return DeviceInfo(description=d.name.strip(), vendor=d.vendor.strip(),
                      driver=f"{d.version.split()[0]} {d.version.split()[1]} / {d.driver_version}", kind=_kind(d),
                      memory=d.global_mem_size, fp64=bool(d.double_fp_config),
                      fp16="cl_khr_fp16" in d.extensions, max_work_group=d.max_work_group_size,
                      local_memory=d.local_mem_size)


def discover() -> list[OpenCLDevice]:
    try:
        found = [d for p in cl.get_platforms() for d in p.get_devices()]
    except cl.Error as e:
        raise BackendUnavailable(f"no OpenCL platform: {e}") from None
    ranked = sorted(found, key=lambda d: (KIND_ORDER.index(_kind(d)), d.platform.name, d.name))
    return [OpenCLDevice(i, d, _info(d), "|".join((d.platform.name, d.platform.version, d.name,
                                                   d.vendor, d.driver_version, d.opencl_c_version)))
            for i, d in enumerate(ranked)]
