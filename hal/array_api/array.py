"""hal.Array: the array object of the standard ("Array object", 2025.12) on any device.

An Array is a device plus a payload: a NumPy array on the cpu, a ``hal.memory.Strided``
view on buffer devices. Operators delegate to the namespace functions, so each
operation has one implementation.
"""
from __future__ import annotations

import numpy as np

from .indexing import advanced_kind, normalize_key
from .. import dtypes
from ..errors import DeviceError

_DLPACK_CPU = 1
_allocate = object.__new__


class Array:
    __slots__ = ("_data", "_device", "__weakref__")
    __hash__ = None

    def __init__(self, *args, **kwargs):
        raise TypeError("create arrays with hal.asarray, hal.zeros and the other creation functions")

    @staticmethod
    def _new(data, device) -> "Array":  # (static: a classmethod's binding costs 0.1 us a result)
        obj = _allocate(Array)
        obj._data, obj._device = data, device
        return obj

    # -- attributes --------------------------------------------------------
    @property
    def dtype(self):
        return self._data.dtype

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return len(self._data.shape)

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def device(self):
        return self._device

    @property
    def mT(self) -> "Array":
        from .manipulation import matrix_transpose
        return matrix_transpose(self)

    @property
    def T(self) -> "Array":
        if self.ndim != 2:
            raise ValueError(f"x.T requires a 2-D array, got {self.ndim}-D; use x.mT or permute_dims")
        from .manipulation import permute_dims
        return permute_dims(self, (1, 0))

    # -- NumPy's protocols and pickling: hal/numpy_protocols.py, hal/serialization.py
    __array_priority__ = 0  # (Dask's tensordot reads it; NumPy defers through __array_ufunc__)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return numpy_protocols.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return numpy_protocols.array_function(func, types, args, kwargs, self)

    def __reduce_ex__(self, protocol):
        return serialization.reduce(self, protocol)

    def __deepcopy__(self, memo=None):
        return serialization.device_copy(self)

    __copy__ = __deepcopy__  # (a copy of an array is a new array on its device either way)

    def __array_namespace__(self, *, api_version: str | None = None):
        import hal
        if api_version not in (None, hal.__array_api_version__):
            raise ValueError(f"hal implements array API {hal.__array_api_version__}, not {api_version}")
        return hal

    # -- host and device movement --------------------------------------------
    def to_device(self, device, /, *, stream=None) -> "Array":
        from ..device import device as as_device
        target = as_device(device)
        if target == self._device:
            return self
        host = self._device.to_host(self._data)
        target.check_dtype(self.dtype)
        return Array._new(target.from_host(host), target)

    def __array__(self, dtype=None, copy=None):
        if copy is False and dtype is not None and np.dtype(dtype) != self.dtype:
            raise ValueError(f"copy=False, but converting {self.dtype} to {np.dtype(dtype)} needs a copy")
        host = self._device.to_host(self._data)
        if copy is False and host is not self._data:
            raise ValueError(f"an array on {self._device} cannot be seen from the host without a copy")
        if dtype is not None:
            host = host.astype(dtype, copy=False)
        return host.copy() if copy and host is self._data else host

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """DLPack export; arrays off the cpu are copied to the host when the consumer
        asks for a cpu array (``dl_device=(1, 0)``) and allows a copy."""
        host = self._device.to_host(self._data)
        if host is not self._data and (dl_device is None or tuple(dl_device)[0] != _DLPACK_CPU or copy is False):
            raise BufferError(f"{self._device} memory cannot be shared through DLPack; "
                              f"use numpy.from_dlpack(x, device='cpu') or x.to_device('cpu')")
        kwargs = {"max_version": max_version} if max_version is not None else {}
        return host.__dlpack__(stream=stream, copy=copy, **kwargs) if copy is not None else host.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple:
        return self._device.dlpack_device

    def _scalar(self, kind):
        if self.ndim != 0:
            raise TypeError(f"only 0-d arrays convert to Python {kind.__name__}; this one has shape {self.shape}")
        return kind(self._device.to_host(self._data)[()])

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer arrays can be used as an index, not {self.dtype}")
        return self._scalar(int)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __repr__(self):
        body = np.array2string(np.asarray(self), separator=", ", prefix="Array(")
        shape = f"shape={self.shape}, " if self.size == 0 and self.ndim != 1 else ""  # "[]" alone is ambiguous
        return f"Array({body}, {shape}dtype={self.dtype}, device={self._device.name!r})"

    # -- indexing ----------------------------------------------------------
    def __getitem__(self, key) -> "Array":
        if numpy_protocols.holds_host_index(key):  # (NumPy index arrays: moved to the device)
            return numpy_protocols.getitem(self, key)
        kind = advanced_kind(key)
        if kind == "beside":
            return numpy_protocols.index_beside(self, key)
        if kind:
            from .indexing_functions import getitem_array
            return getitem_array(self, key, kind)
        return Array._new(self._device.view(self._data, normalize_key(key, self.shape)), self._device)

    def __setitem__(self, key, value):
        if numpy_protocols.holds_host_index(key):
            return numpy_protocols.setitem(self, key, value)
        kind = advanced_kind(key)
        if kind == "beside":
            return numpy_protocols.index_beside(self, key, value)
        if kind:
            from .indexing_functions import setitem_array
            return setitem_array(self, key, kind, value)
        from .creation import operand
        target = self._device.view(self._data, normalize_key(key, self.shape))
        value = operand(value, self.dtype, self._device)
        shape = getattr(value, "shape", ())
        from ..shapes import broadcast_shapes
        if broadcast_shapes(shape, target.shape) != target.shape:
            raise ValueError(f"cannot assign an array of shape {shape} to a selection of shape {target.shape}")
        if self._device.overlaps(value, target):  # read before write
            value = self._device.copy(value)
        self._device.impl("assign")(self._device, target, value)


def checked(x, name: str, kind: str | None = None) -> Array:
    """``x`` where it is a hal array (else the TypeError naming ``name``) whose dtype is
    of ``kind`` (a hal.dtypes.KINDS name), where one is given."""
    if not isinstance(x, Array):
        raise TypeError(f"{name} expects a hal array, got {type(x).__name__}")
    if kind is not None:
        dtypes.check_kind(x.dtype, kind, name)
    return x


def same_device(*arrays: Array):
    """The one device of ``arrays``; DeviceError if they live on different devices."""
    device = arrays[0]._device
    for a in arrays[1:]:
        if a._device is not device and a._device != device:
            raise DeviceError(f"arrays are on different devices ({device} and {a._device}); "
                              f"move one with x.to_device(...)")
    return device


def _inplace(fn):
    def method(self, other):
        result = fn(self, other)
        if result.dtype != self.dtype:
            raise TypeError(f"in-place {fn.__name__} would change the dtype {self.dtype} into {result.dtype}")
        if result.shape != self.shape:  # a broadcasting error, a ValueError as for x[...] = value
            raise ValueError(f"in-place {fn.__name__} would change the shape {self.shape} into {result.shape}")
        self._device.impl("assign")(self._device, self._data, result._data)
        return self
    return method


def _operators():
    """Bind the operators to the namespace functions (after Array exists: they import it)."""
    from . import elementwise as ew
    from .linalg import matmul
    binary = {"add": ew.add, "sub": ew.subtract, "mul": ew.multiply, "truediv": ew.divide,
              "floordiv": ew.floor_divide, "mod": ew.remainder, "pow": ew.pow, "matmul": matmul,
              "and": ew.bitwise_and, "or": ew.bitwise_or, "xor": ew.bitwise_xor,
              "lshift": ew.bitwise_left_shift, "rshift": ew.bitwise_right_shift}
    for name, fn in binary.items():
        setattr(Array, f"__{name}__", fn)
        setattr(Array, f"__r{name}__", lambda self, other, fn=fn: fn(other, self))
        setattr(Array, f"__i{name}__", _inplace(fn))
    for name, fn in {"eq": ew.equal, "ne": ew.not_equal, "lt": ew.less, "le": ew.less_equal,
                     "gt": ew.greater, "ge": ew.greater_equal, "neg": ew.negative, "pos": ew.positive,
                     "abs": ew.abs, "invert": ew.bitwise_invert}.items():
        setattr(Array, f"__{name}__", fn)
    for kind in (bool, int, float, complex):  # __bool__, ...: a 0-d array's value
        setattr(Array, f"__{kind.__name__}__", lambda self, kind=kind: self._scalar(kind))
    for name, method in numpy_protocols.ndarray_methods().items():  # (Dask and xarray call them)
        setattr(Array, name, method)


from .. import numpy_protocols, serialization  # noqa: E402  (they use Array)
