"""hal: the Python array API standard (plus the ops an LLM needs) on any accelerator.

    import hal
    x = hal.arange(10, device="opencl:0")
    print(hal.sum(x * x))

See README.md for the tour and its "Architecture" section for the map: the runtime
(devices, dispatch, kernels) in hal/, the namespace in hal/array_api/, the ops in
hal.ops, the drivers in hal.backends, the models (hal.nn, hal.llama) on top.
"""
import importlib.util

if importlib.util.find_spec(f"{__name__}.ops") is None:  # a checkout that was not installed
    raise ImportError("hal is not installed: its ops/ and backends/ folders become hal.ops and "
                      "hal.backends when it is; run `pip install -e .` in the checkout")
__version__ = "0.1.0"
__array_api_version__ = "2025.12"

from . import ops as _ops  # noqa: F401,E402  (registers every op's implementations)
from .array_api import *  # noqa: F401,F403,E402  (the standard's namespace)
from .array_api import Array  # noqa: E402
from .device import Device, default_device, device, devices, get_default_device, set_default_device  # noqa: E402
from .dtypes import (bool, complex64, complex128, float16, float32, float64, int8, int16, int32, int64,  # noqa: E402
                     uint8, uint16, uint32, uint64)
from .serialization import DeviceNotFoundWarning  # noqa: E402
from .errors import (CompileError, DeviceError, HostFallbackWarning, OutOfMemoryError,  # noqa: E402
                     UnsupportedDTypeError)
from .counters import reset_stats, stats  # noqa: E402
from . import fft, linalg  # noqa: E402
from . import nn  # noqa: E402
from .cuda_kernels import ElementwiseKernel, RawKernel, RawModule, ReductionKernel  # noqa: E402
from .numpy_protocols import einsum, lib, pad, transpose  # noqa: E402  (NumPy's names xarray calls on hal)

e, pi, inf, nan = 2.718281828459045, 3.141592653589793, float("inf"), float("nan")
newaxis = None
