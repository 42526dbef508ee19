"""CUDA kernels as CuPy users write them, on every hal device: ``RawKernel`` and
``RawModule`` (CUDA C),
``ElementwiseKernel`` and ``ReductionKernel`` (CuPy's parameter strings and expressions).
README.md, "CUDA kernels on every device", lists the supported CUDA subset."""
from .elementwise import ElementwiseKernel
from .raw import RawKernel, RawModule
from .reduction import ReductionKernel

__all__ = ["RawKernel", "RawModule", "ElementwiseKernel", "ReductionKernel"]
