"""hostmem: an example third-party hal backend, the smallest that drives the whole
buffer-device contract (hal/device.py, ``BufferDevice``).

Its "device memory" is host bytes (NumPy uint8 arrays) and its kernels are the
portable dialect compiled to C (hal.backends.cc), so every op hal offers on buffer
devices runs here as kernels, with no hardware. A real backend replaces the five
driver calls below (alloc, free, copyin, copyout, compile) with its API's, and keeps
the rest: a ``discover()`` returning its devices, found through the ``hal.backends``
entry point in pyproject.toml.
"""
from __future__ import annotations

import contextlib
import platform
import time

import numpy as np

from hal.backends.cc import compile_c
from hal.device import BufferDevice, DeviceInfo, Timing

MEMORY = 1 << 30  # what the device reports; allocations beyond it fail like a real device's


class HostMemDevice(BufferDevice):
    target = "c"

    def __init__(self):
        info = DeviceInfo(description="host memory, C kernels", vendor="example", driver="hal_hostmem 0.1.0",
                          kind="cpu", memory=MEMORY, fp64=True, fp16=False, max_work_group=1, local_memory=0)
        self.allocated = 0
        super().__init__("hostmem", 0, info, f"hostmem|{platform.machine()}|0.1.0")

    # -- memory: raw allocations (hal pools and reuses them) and copies at byte offsets
    def alloc(self, nbytes: int) -> np.ndarray:
        if self.allocated + nbytes > MEMORY:
            raise MemoryError(f"{MEMORY - self.allocated} bytes free")  # hal makes it an OutOfMemoryError
        self.allocated += nbytes
        return np.empty(nbytes, np.uint8)

    def free(self, handle: np.ndarray) -> None:
        self.allocated -= handle.nbytes

    def copyin(self, handle: np.ndarray, byte_offset: int, host: np.ndarray) -> None:
        handle[byte_offset:byte_offset + host.nbytes] = host.reshape(-1).view(np.uint8)

    def copyout(self, host: np.ndarray, handle: np.ndarray, byte_offset: int) -> None:
        host.reshape(-1).view(np.uint8)[:] = handle[byte_offset:byte_offset + host.nbytes]

    # -- kernels: a dialect source with #defines -> a module whose [name] launches
    def compile(self, source: str, defines: dict | None = None) -> "Module":
        return Module(compile_c(source, defines))

    def synchronize(self) -> None:
        pass  # launches return when done

    @contextlib.contextmanager
    def timer(self):
        timing = Timing()
        start = time.perf_counter()
        yield timing
        timing.seconds = time.perf_counter() - start


class Module:
    def __init__(self, c_module):
        self.c_module = c_module

    def __getitem__(self, name: str):
        kernel = self.c_module[name]

        def launch(global_size, local_size, *args):
            # hal passes its pooled buffers (hal.memory.Buffer); the C kernel takes the bytes.
            kernel(global_size, local_size, *(a.handle if hasattr(a, "handle") else a for a in args))
        return launch


def discover() -> list[HostMemDevice]:
    return [HostMemDevice()]
