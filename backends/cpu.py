"""The cpu backend: arrays are NumPy arrays; portable kernels compile to C (backends/cc.py)."""
from __future__ import annotations

import contextlib
import math
import operator
import os
import platform
import time

import numpy as np

from hal.program import capture
from hal.summation import cpu_field
from hal.device import Device, DeviceInfo, Timing
from hal.errors import OutOfMemoryError


class CPUDevice(Device):
    family = "numpy"
    target = "c"

    def empty(self, shape: tuple, dtype) -> np.ndarray:
        try:
            return np.empty(shape, dtype)
        except MemoryError:
            raise OutOfMemoryError(self.name, math.prod(shape) * dtype.itemsize) from None

    def from_host(self, host: np.ndarray) -> np.ndarray:
        return host  # already where it lives; callers copy when the standard asks

    def to_host(self, payload: np.ndarray) -> np.ndarray:
        if self._fault is not None:
            self._transfer_fault()
        return payload

    def write(self, payload: np.ndarray, host: np.ndarray) -> None:
        if self._fault is not None:
            self._transfer_fault()
        payload[...] = host

    def read_size(self, payload: np.ndarray) -> int:
        return int(payload)

    # -- the payload protocol (hal.device.Device) on NumPy arrays
    def view(self, payload: np.ndarray, key: tuple) -> np.ndarray:
        return payload[key + (Ellipsis,)]  # the Ellipsis keeps a 0-d result an array

    def reshape(self, payload: np.ndarray, shape: tuple) -> np.ndarray | None:
        view = payload.view()
        try:
            view.shape = shape  # (a view or an AttributeError, never a copy)
        except AttributeError:
            return None
        return view

    permute = staticmethod(np.transpose)
    broadcast = staticmethod(np.broadcast_to)

    def strided(self, payload: np.ndarray, shape: tuple, strides: tuple) -> np.ndarray:
        return np.lib.stride_tricks.as_strided(payload, shape, tuple(s * payload.itemsize for s in strides),
                                               writeable=False)

    def components(self, payload: np.ndarray) -> np.ndarray:
        return payload.view(np.finfo(payload.dtype).dtype).reshape(payload.shape + (2,))

    def element_strides(self, payload: np.ndarray) -> tuple:
        return tuple(s // payload.itemsize for s in payload.strides)

    is_contiguous = staticmethod(operator.attrgetter("flags.c_contiguous"))

    def overlaps(self, value, target: np.ndarray) -> bool:
        return False  # NumPy's assignment reads overlapping operands before it writes

    dlpack_device = (1, 0)  # kDLCPU: NumPy shares its memory

    def copy(self, payload: np.ndarray) -> np.ndarray:
        return np.array(payload, order="C")

    def kernel_args(self, *payloads) -> list:
        return [v for p in payloads for v in (p, 0)]

    def through_host(self, payload: np.ndarray, op: str) -> np.ndarray:
        return payload  # already in host memory: NumPy is the cpu's own library

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


def discover() -> list[Device]:
    name = cpu_field("model name") or platform.processor() or platform.machine()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    flags = cpu_field("flags").split()
    info = DeviceInfo(description=f"{name} ({os.cpu_count()} threads)", vendor=platform.machine(),
                      driver=f"numpy {np.__version__}", kind="cpu", memory=memory, fp64=True,
                      fp16=True, max_work_group=1, local_memory=0,
                      vector_bits=512 if "avx512bw" in flags else 256 if "avx2" in flags else 128)
    return [CPUDevice("cpu", None, info, fingerprint=f"cpu|{name}|{platform.machine()}|numpy {np.__version__}")]
