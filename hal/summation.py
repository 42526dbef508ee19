"""The summation order of hal's llama.cpp-compatible kernels (ops/nn.py): which x86
build of llama.cpp's CPU backend (ggml-cpu) they reproduce bit for bit.

ggml-cpu sums float32 in vector registers, so its results depend on the width its
build was compiled for (``GGML_F32_EPR`` in ggml-cpu/simd-mappings.h, llamafile's
``tinyBLAS<KN>``) and on that width's ``ggml_v_expf`` (ggml-cpu/vec.h):

- ``"avx512"``: 16 lanes (``__m512``), ``_mm512_reduce_add_ps``, the AVX-512 exp;
- ``"avx2"``: 8 lanes (``__m256``), the AVX reductions, the AVX2 exp.

A llama.cpp built for the host (``GGML_NATIVE``, llama-cpp-python's default) is the
AVX-512 build where the CPU has AVX-512F and the AVX2 build on any other x86-64, so
that is the default: read from the host's CPU flags at start-up. ``HAL_SUMMATION=avx2``
or ``avx512`` overrides it. Every device (cpu, OpenCL, CUDA) uses the same order, so
devices agree with each other bit for bit whichever it is. Integer block products
(Q4_0, Q4_1, Q8_0) and the activations' quantization are exact and alike in both builds.
ARM builds (NEON: 4 lanes) sum in yet other orders, which hal does not reproduce.
"""
from __future__ import annotations

import os

ORDERS = ("avx2", "avx512")
LANES = {"avx2": 8, "avx512": 16}  # ggml's GGML_F32_EPR in each build
VARIABLE = "HAL_SUMMATION"

_current: list = []  # the order in use, once chosen


def cpu_field(field: str, cpuinfo: str = "/proc/cpuinfo") -> str:
    """The first ``field`` line of the host's /proc/cpuinfo ("" where there is none, or
    where the file cannot be read)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def host_order(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The order of the llama.cpp build this host's CPU gets: "avx512" where its flags
    include avx512f, else "avx2" (also where the flags cannot be read)."""
    return "avx512" if "avx512f" in cpu_field("flags", cpuinfo).split() else "avx2"


def _parse(value: str) -> str:
    order = value.strip().lower().replace("-", "")
    if order not in ORDERS:
        raise ValueError(f"{VARIABLE} must be one of {', '.join(ORDERS)}, not {value!r}")
    return order


def order() -> str:
    """The order in use: ``HAL_SUMMATION`` if set, else the host's (chosen at first use,
    then fixed for the process)."""
    if not _current:
        value = os.environ.get(VARIABLE, "").strip()
        _current.append(_parse(value) if value else host_order())
    return _current[0]


def set_order(name: str) -> str:
    """Use order ``name`` from now on (kernels launched later; a model's captured decode
    step keeps the order it was recorded with); returns the previous order."""
    previous, chosen = order(), _parse(name)
    _current[0] = chosen
    return previous


def lanes() -> int:
    """The vector width (float32 lanes) of the order in use."""
    return LANES[order()]
