"""The rocm backend: AMD GPUs (``rocm:N``) through CuPy's ROCm (HIP) build; the driver
is backends/cuda.py, which CuPy's HIP build runs unchanged."""
from hal.backends import cuda


def discover() -> list:
    return cuda.discover(hip=True)
