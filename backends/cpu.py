"""The cpu backend: arrays are NumPy arrays; portable kernels compile to C (backends/cc.py)."""
from __future__ import annotations

import contextlib
import math
import os
import platform
import time

import numpy as np

from hal.capture import capture
from hal.device import Device, DeviceInfo, Timing
from hal.errors import OutOfMemoryError


class CPUDevice(Device):
    family = "numpy"

    def empty(self, shape: tuple, dtype) -> np.ndarray:
        try:
            return np.empty(shape, dtype)
        except MemoryError:
            raise OutOfMemoryError(self.name, math.prod(shape) * dtype.itemsize) from None

    def from_host(self, host: np.ndarray) -> np.ndarray:
        return host  # already where it lives; callers copy when the standard asks

    def to_host(self, payload: np.ndarray) -> np.ndarray:
        return payload

    def write(self, payload: np.ndarray, host: np.ndarray) -> None:
        payload[...] = host

    def compile(self, source: str, defines: dict | None = None):
        from hal.backends.cc import compile_c
        return compile_c(source, defines)

    def synchronize(self) -> None:
        pass

    def capture(self):
        from hal.backends.cc import Graph
        return capture(Graph())

    @contextlib.contextmanager
    def timer(self):
        timing = Timing()
        start = time.perf_counter()
        yield timing
        timing.seconds = time.perf_counter() - start


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def discover() -> list[Device]:
    name = _cpu_name()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    info = DeviceInfo(description=f"{name} ({os.cpu_count()} threads)", vendor=platform.machine(),
                      driver=f"numpy {np.__version__}", kind="cpu", memory=memory, fp64=True,
                      fp16=True, max_work_group=1, local_memory=0)
    return [CPUDevice("cpu", None, info, fingerprint=f"cpu|{name}|{platform.machine()}|numpy {np.__version__}")]
