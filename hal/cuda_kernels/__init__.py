"""CUDA kernels as CuPy users write them, on every hal device: ``RawKernel`` (CUDA C),
``ElementwiseKernel`` and ``ReductionKernel`` (CuPy's parameter strings and expressions).
README.md, "CUDA kernels on every device", lists the supported CUDA subset."""
from .elementwise import ElementwiseKernel
from .raw import RawKernel
from .reduction import ReductionKernel

__all__ = ["RawKernel", "ElementwiseKernel", "ReductionKernel"]
