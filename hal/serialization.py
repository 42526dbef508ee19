"""Pickling hal arrays (``pickle``, ``copy``, ``multiprocessing``, Dask and Ray workers).

A pickled array carries its bytes, dtype, shape and device name
(https://docs.python.org/3/library/pickle.html#object.__reduce_ex__). With pickle
protocol 5 the bytes travel as a ``pickle.PickleBuffer`` (PEP 574), so a receiver that
takes out-of-band buffers, as ``dask.distributed`` does, gets them without another
copy. Unpickling re-creates the array on the device of the same name where the
receiving process has one; where it has none, on its default device, with a
``DeviceNotFoundWarning``. ``copy.copy`` and ``copy.deepcopy`` copy on the device.
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np

from .array_api.array import Array
from .errors import DeviceError

__all__ = ["DeviceNotFoundWarning"]


class DeviceNotFoundWarning(UserWarning):
    """An unpickled array's device does not exist in this process: it went to the default device."""


def reduce(x: Array, protocol: int):
    """``Array.__reduce_ex__``: one host copy of the data (a device-to-host transfer)."""
    host = np.ascontiguousarray(np.asarray(x))
    data = pickle.PickleBuffer(host) if protocol >= 5 else host.tobytes()
    return rebuild, (data, host.dtype.str, x.shape, x.device.name)


def rebuild(data, dtype: str, shape: tuple, device_name: str) -> Array:
    """The unpickled array, on ``device_name`` where that exists, else on the default device."""
    import hal
    try:
        target = hal.device(device_name)
    except DeviceError:
        target = hal.get_default_device()
        warnings.warn(f"an array pickled on {device_name}, which this process lacks, is unpickled on {target}",
                      DeviceNotFoundWarning, stacklevel=2)
    host = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape)
    return hal.asarray(host, device=target, copy=True)


def device_copy(x: Array) -> Array:
    """``copy.copy`` / ``copy.deepcopy``: a new array on the same device, copied there."""
    import hal
    return hal.asarray(x, copy=True)
