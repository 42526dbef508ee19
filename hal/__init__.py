"""hal: the Python array API standard (plus the ops an LLM needs) on any accelerator.

    import hal
    x = hal.arange(10, device="opencl:0")
    print(hal.sum(x * x))

See README.md for the tour and ../DESIGN.md for the architecture.
"""
__version__ = "0.1.0"
__array_api_version__ = "2025.12"

from . import ops as _ops  # noqa: F401,E402  (registers every op's implementations)
from ._array import Array, _operators  # noqa: E402
# One module per function group of the standard, each with its __all__.
from ._creation import *  # noqa: F401,F403,E402
from ._data_type import *  # noqa: F401,F403,E402
from ._elementwise import *  # noqa: F401,F403,E402
from ._indexing_functions import *  # noqa: F401,F403,E402
from ._info import *  # noqa: F401,F403,E402
from ._linalg import *  # noqa: F401,F403,E402
from ._manipulation import *  # noqa: F401,F403,E402
from ._searching import *  # noqa: F401,F403,E402
from ._set import *  # noqa: F401,F403,E402
from ._sorting import *  # noqa: F401,F403,E402
from ._statistical import *  # noqa: F401,F403,E402
from ._utility import *  # noqa: F401,F403,E402
from .device import Device, default_device, device, devices, get_default_device, set_default_device  # noqa: E402
from .dtypes import (bool, complex64, complex128, float16, float32, float64, int8, int16, int32, int64,  # noqa: E402
                     uint8, uint16, uint32, uint64)
from .errors import (CompileError, DeviceError, HostFallbackWarning, OutOfMemoryError,  # noqa: E402
                     UnsupportedDTypeError)
from .counters import reset_stats, stats  # noqa: E402
from . import fft, linalg  # noqa: E402
from . import nn  # noqa: E402
from .cuda_kernels import ElementwiseKernel, RawKernel, ReductionKernel  # noqa: E402

_operators()

e, pi, inf, nan = 2.718281828459045, 3.141592653589793, float("inf"), float("nan")
newaxis = None
