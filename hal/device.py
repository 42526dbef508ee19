"""Devices: the driver contract every backend implements, names, and the default device.

Device strings are ``"cpu"``, ``"opencl:N"``, ``"cuda:N"``, ``"rocm:N"``. Numbering
inside a backend is stable and does not follow the driver's enumeration order: real
GPUs first, then accelerators, then CPUs, simulators last.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import operator
import os
from dataclasses import dataclass

import numpy as np

from . import counters, dispatch, dtypes, registry
from .dtypes import ALL as _ALL_DTYPES
from .errors import DeviceError, UnsupportedDTypeError, warn_host_fallback
from .memory import Pool, Strided

KIND_ORDER = ("gpu", "accelerator", "cpu", "simulator")


@dataclass(frozen=True)
class DeviceInfo:
    """What a device is and can do, as ``python -m hal devices`` shows it."""
    description: str
    vendor: str
    driver: str
    kind: str            # one of KIND_ORDER
    memory: int          # bytes
    fp64: bool
    fp16: bool
    max_work_group: int
    local_memory: int    # bytes per work-group
    vector_bits: int = 0  # the C target's widest integer SIMD on this CPU (AVX-512BW: 512, AVX2: 256); 0 elsewhere


class Timing:
    """What ``device.timer()`` yields: the device time of the enclosed work, set on exit."""
    seconds: float = 0.0


class Device:
    """One device of one backend. Subclasses implement the driver contract:

    - ``family``: the implementations it takes ("numpy": NumPy's, on arrays in host
      memory; "buffer": portable kernels on ``hal.memory.Strided`` views of pooled buffers)
    - ``target``: the kernel dialect target its ``compile`` renders ("c", "opencl", "cuda")
    - ``empty(shape, dtype)``, ``from_host(ndarray)``, ``to_host(payload) -> ndarray``,
      ``write(payload, ndarray)`` (into an existing contiguous payload of that shape)
    - ``compile(source, defines) -> module`` whose ``[name]`` is a launchable program
    - ``synchronize()``, ``timer()`` (a context manager measuring device time)
    - optionally ``capture()``: a context manager recording the kernel launches made in
      it into a graph whose ``replay()`` runs them again (None where a backend cannot)
    - optionally ``batch_builds``: True where a program of many kernels builds in about
      the time of one and each kernel costs only at its first launch; ops/launch.py then
      builds a kernel with its likely siblings, through ``compile(source, defines,
      batch=True)`` (a program most of whose kernels may never run)

    and the payload protocol, the one way code above the drivers touches an array's
    data (a payload: a NumPy array on the cpu, a ``Strided`` view elsewhere):
    ``view(p, key)``, ``reshape(p, shape)`` (a view, or None where the data would have to
    move), ``permute(p, axes)``, ``broadcast(p, shape)``, ``strided(p, shape, strides)``
    (a read-only view from p's first element, strides in elements), ``components(p)`` (a complex array's real parts),
    ``element_strides(p)``, ``is_contiguous(p)``, ``copy(p)`` (contiguous), ``overlaps(value,
    p)`` (an assignment must read before it writes), ``dlpack_device``, ``kernel_args(*payloads)`` (each as
    the pointer and element offset kernels take), ``read_size(p)`` and ``through_host(p,
    op)`` (a NumPy array for a library call; off the host it says so once).
    """
    family = "numpy"
    target: str
    capture = None
    batch_builds = False

    def __init__(self, backend_name: str, index: int | None, info: DeviceInfo, fingerprint: str):
        self.backend_name, self.index, self.info = backend_name, index, info
        self.name = backend_name if index is None else f"{backend_name}:{index}"
        self.fingerprint = fingerprint
        self._impls: dict = {}
        self._libraries: dict = {}  # optional ops: this backend's own implementation, or None
        self.programs: dict = {}  # compiled kernels and prepared launches, see ops.launch
        self.dtypes = tuple(d for d in _ALL_DTYPES if d not in (np.float64, np.complex128) or info.fp64)

    def impl(self, op: str):
        """The implementation of ``op`` here (memoized dispatch)."""
        try:
            return self._impls[op]
        except KeyError:
            fn = self._impls[op] = dispatch.resolve(op, self)
            return fn

    def library(self, op: str):
        """An implementation of ``op`` registered for this backend by name (a library of
        its own, such as NumPy on the cpu), else None: the caller composes the op."""
        try:
            return self._libraries[op]
        except KeyError:
            fn = self._libraries[op] = dispatch.resolve(op, self, optional=True)
            return fn

    _fault = None  # [error, transfers left or None]: fail_transfers' test hook

    def fail_transfers(self, error: Exception | None, count: int | None = None) -> None:
        """A test hook for fault tolerance: the next ``count`` transfers to or from this
        device (all, while ``count`` is None, until ``fail_transfers(None)``) raise
        ``error``, as a driver whose device was lost does. Drivers call ``_transfer_fault``
        first thing in ``write`` and ``to_host``."""
        self._fault = None if error is None else [error, count]

    def _transfer_fault(self) -> None:
        error, count = self._fault
        if count is not None:
            self._fault[1] -= 1
            if self._fault[1] <= 0:
                self._fault = None
        raise error

    def contiguous(self, payload):
        """``payload`` itself where it is C-contiguous, else a contiguous copy."""
        return payload if self.is_contiguous(payload) else self.copy(payload)

    def check_dtype(self, dtype) -> None:
        if dtype not in self.dtypes and dtype not in dtypes.STORAGE_ONLY:  # (every device stores float16)
            raise UnsupportedDTypeError(f"{self.name} ({self.info.description}) has no {dtype} support; "
                                        f"its dtypes are {', '.join(map(str, self.dtypes))}")

    @property
    def default_float(self):
        return np.dtype(np.float64 if self.info.fp64 else np.float32)

    def __repr__(self):
        return f"Device({self.name!r})"

    def __str__(self):
        return self.name

    def __eq__(self, other):
        return self is other or (isinstance(other, Device) and other.name == self.name)

    def __hash__(self):
        return hash(self.name)



def devices() -> list[Device]:
    """Every device of every available backend, best first within each backend."""
    return [d for name in registry.names() for d in registry.devices_of(name)]


def device(spec) -> Device:
    """The Device for a device string or Device; DeviceError if there is no such device."""
    if isinstance(spec, Device):
        return spec
    if not isinstance(spec, str):
        raise DeviceError(f"a device is a Device or a string such as 'cpu' or 'opencl:0', not {spec!r}")
    name, _, index = spec.partition(":")
    found = registry.devices_of(name) if name in registry.names() else None
    if found is None:
        raise DeviceError(f"unknown device {spec!r}: backends are {', '.join(registry.names())}")
    if not found:
        why = registry.unavailable().get(name, "no devices")
        raise DeviceError(f"no device {spec!r}: the {name} backend is unavailable ({why})")
    if not index:
        return found[0]
    if not index.isdigit() or int(index) >= len(found):
        raise DeviceError(f"no device {spec!r}: {name} has {', '.join(d.name for d in found)}")
    return found[int(index)]


_default: contextvars.ContextVar = contextvars.ContextVar("hal_default_device", default=None)


def device_or_default(spec) -> Device:
    """``device(spec)``, or the default device for None (the array API's ``device=None``)."""
    return get_default_device() if spec is None else device(spec)


def get_default_device() -> Device:
    """``with hal.default_device(...)`` or ``hal.set_default_device``, else ``HAL_DEVICE``,
    else the best device found: a GPU, else the cpu."""
    dev = _default.get()
    if dev is None:
        env = os.environ.get("HAL_DEVICE")
        gpu = None if env else next((d for d in devices() if d.info.kind == "gpu"), None)
        dev = device(env) if env else gpu or device("cpu")
        _default.set(dev)
    return dev


def set_default_device(spec) -> None:
    _default.set(device(spec))


@contextlib.contextmanager
def default_device(spec):
    """Make ``spec`` the default device inside a ``with`` block."""
    token = _default.set(device(spec))
    try:
        yield _default.get()
    finally:
        _default.reset(token)


class BufferDevice(Device):
    """A device whose arrays are ``Strided`` views of pooled buffers and whose ops are
    portable kernels. Subclasses provide the raw driver: ``alloc(nbytes)``,
    ``free(handle)``, ``copyin(handle, byte_offset, host)``, ``copyout(host, handle,
    byte_offset)``."""
    family = "buffer"

    def __init__(self, *args):
        super().__init__(*args)
        self.pool = Pool(self.name, self.alloc, self.free)

    def empty(self, shape: tuple, dtype) -> Strided:
        shape = tuple(shape)
        return Strided(self.pool.take(math.prod(shape) * dtype.itemsize), shape, dtype)

    def from_host(self, host: np.ndarray) -> Strided:
        out = self.empty(host.shape, host.dtype)
        self.write(out, host)
        return out

    def write(self, payload: Strided, host: np.ndarray) -> None:
        if self._fault is not None:
            self._transfer_fault()
        if host.size:
            host = np.ascontiguousarray(host)
            self.copyin(payload.buf.handle, payload.offset * payload.dtype.itemsize, host)
            counters.count("host_to_device")
            counters.count("bytes_to_device", host.nbytes)

    def to_host(self, payload: Strided) -> np.ndarray:
        if self._fault is not None:
            self._transfer_fault()
        payload = self.contiguous(payload)
        host = np.empty(payload.shape, payload.dtype)
        if host.size:
            self.copyout(host, payload.buf.handle, payload.offset * payload.dtype.itemsize)
            counters.count("device_to_host")
            counters.count("bytes_to_host", host.nbytes)
        return host

    # -- the payload protocol (see Device) on Strided views: mostly Strided's own methods
    view = staticmethod(Strided.getitem)
    reshape = staticmethod(Strided.reshaped)
    permute = staticmethod(Strided.permute)
    broadcast = staticmethod(Strided.broadcast)
    components = staticmethod(Strided.components)
    element_strides = staticmethod(operator.attrgetter("strides"))
    is_contiguous = staticmethod(operator.attrgetter("contiguous"))

    def strided(self, payload: Strided, shape: tuple, strides: tuple) -> Strided:
        return Strided(payload.buf, tuple(shape), payload.dtype, tuple(strides), payload.offset, writable=False)

    def overlaps(self, value, target: Strided) -> bool:
        return getattr(value, "buf", None) is target.buf

    @property
    def dlpack_device(self) -> tuple:
        return (4, self.index)  # kDLOpenCL, whatever the backend: its memory is not shared

    def copy(self, payload: Strided) -> Strided:
        return self.impl("copy")(self, payload)

    def kernel_args(self, *payloads) -> list:
        return [v for p in payloads for v in (p.buf, p.offset)]

    def through_host(self, payload: Strided, op: str) -> np.ndarray:
        warn_host_fallback(op, self)
        return self.to_host(payload)

    def read_size(self, payload: Strided) -> int:
        """The one integer in ``payload``: how an op with a data-dependent output shape
        (nonzero, unique, boolean masks) learns its size. Counted as a ``size_reads``,
        not as a data transfer: the array data stays on the device."""
        host = np.empty((), payload.dtype)
        self.copyout(host, payload.buf.handle, payload.offset * payload.dtype.itemsize)
        counters.count("size_reads")
        return int(host)
