"""Every portable kernel hal's ops generate compiles as CUDA C for sm_70, sm_80 and
sm_90, with no GPU: NVRTC (CUDA 12 wheel) or nvcc, whichever targets the arch, with the
numerics contract's --fmad=false; and as HIP for AMD GPUs where hipcc exists. The list
of kernels is checked against ops/, so a kernel added there and not here fails."""
import inspect
import os
import pathlib
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cuda_compile import compile_cuda, compile_hip, compilers, supports
from hal import ops, summation
from hal.dialect import kernel_signatures, render
from hal.ops import (elementwise, launch, linalg, manipulation, nn, nn_families, qdot, qdot_k, quant, reduction, scan,
                     selection, sorting)
from hal.ops.launch import C_TYPE

ARCHS = ("sm_70", "sm_80", "sm_90")
_SAMPLE = {"bool": np.dtype("bool"), "int": np.dtype("int32"), "uint": np.dtype("uint8"),
           "float": np.dtype("float32"), "double": np.dtype("float64")}


def _elementwise_kernels():
    """Each op for one dtype of each class it accepts, with contiguous, strided and
    scalar operands and a strided output."""
    from hal.dtypes import KINDS
    for op in elementwise.OPS.values():
        for cls, dtype in _SAMPLE.items():
            if dtype not in KINDS[op.kind] or (op.result == "float" and dtype.kind != "f"):
                continue  # "float" ops compute integers in the default float
            expr, _, helpers = elementwise._specialize(op.name, dtype)
            t = C_TYPE[dtype]
            modes = ("c", "s", "k")[:op.nin]
            out_t = "u8" if op.result == "bool" else t
            yield f"{op.name}-{cls}", launch.elementwise_source(expr, out_t, tuple((m, t, t) for m in modes),
                                                         True, 2, helpers), {}
    yield "where", launch.elementwise_source("x0 ? x1 : x2", "f32", (("s", "u8", "u8"), ("c", "f32", "f32"),
                                                              ("k", "f32", "f32")), False, 3), {}


def _other_kernels():
    for name, (_, combine, identity) in reduction.REDUCTIONS.items():
        for in_t, acc in (("f32", "f32"), ("i8", "i64"), ("f64", "f64")):
            init = f"({acc}){identity}" if identity is not None else f"({acc})p[begin]"
            yield f"{name}-{in_t}", reduction.reduction_source(in_t, acc, acc, combine, init), {"WG": 256}
    yield "prod-c64", reduction.reduction_source("c64", "c64", "c64", "c64_mul(a, b)", "c64_make(1, 0)"), {"WG": 256}
    yield "count_nonzero-f64", reduction.reduction_source("f64", "i64", "i64", "a + b", "(i64)0", "(i64)((v) != 0)"), {"WG": 64}
    for name, dtype in (("argmax", np.dtype("float32")), ("argmin", np.dtype("int8"))):
        t = C_TYPE[dtype]
        yield f"{name}-{t}", reduction.arg_reduction_source(t, reduction._better(name, dtype)), {"WG": 256}
    for t in ("f32", "f64", "i32"):
        fused = int(t != "i32")  # floats accumulate with fma()
        yield f"gemm_block-{t}", linalg.BLOCK_SOURCE, {"T": t, "FUSED": fused, "RM": 4, "RN": 8, "PACK": 3}
        yield f"gemm_tiled-{t}", linalg.TILED_SOURCE, {"T": t, "FUSED": fused, "TS": 16, "WPT": 2}
        yield f"pack-{t}", linalg.PACK_SOURCE, {"T": t, "W": 8}
        yield f"gemv-{t}", linalg.GEMV_SOURCE, {"T": t, "FUSED": fused, "RM": 4, "KV": 8}
    for qtype in quant.TYPES.values():
        yield f"quant-{qtype.name}", quant.source(qtype), quant.defines(qtype, 576, 1, WG=32, ROWS=4, NT=1)
    for name, qtype in quant.TYPES.items():
        if qdot.supports(name):
            yield f"qdot-{name}", qdot.source(name), {"NT": 4, "ROWS": 16, "RPI": 2, "HAS_MIN": int(name == "Q4_1"),
                                                       "BLOCK_BYTES": qtype.block_bytes}
            yield f"qdot_tokens-{name}", qdot.source(name, True), {"TOKENS": 8, "GROUPS": 8, "NT": 1, "ROWS": 1, "RPI": 1,
                                                                    "HAS_MIN": int(name == "Q4_1"),
                                                                    "BLOCK_BYTES": qtype.block_bytes}
    yield "qdot-quantize_tokens", qdot.quantize_source(True), {"TOKENS": 8}
    yield "qdot_k-quantize", qdot_k._QUANTIZE, {}
    yield "qdot_k-tokens_layout", qdot_k._TOKENS_LAYOUT, {"TOKENS": 8}
    yield "qdot_k-rows_per_vector", qdot_k.tokens_source("Q4_K") + qdot_k._PROBE, {"NT": 1, "TOKENS": 16,
                                                                                   "BLOCK_BYTES": 144}
    for name in quant.INTEGER_DOT_K:
        yield f"qdot_k-{name}", qdot_k.source(name), {"NT": 4, "BLOCK_BYTES": quant.TYPES[name].block_bytes}
        yield f"qdot_k_tokens-{name}", qdot_k.tokens_source(name), {"NT": 1, "TOKENS": 8,
                                                                     "BLOCK_BYTES": quant.TYPES[name].block_bytes}
    for order, lanes in summation.LANES.items():  # llama.cpp's AVX2 and AVX-512 orders
        yield f"nn-rows-{order}", nn.ROW_KERNELS, {"WG": 256, "GGML_EPR": lanes}
        yield f"nn-silu_mul-{order}", nn.SILU_MUL, {"GGML_EPR": lanes}
        yield f"nn-attention-{order}", nn.ATTENTION, {"MASKED": "-3e+38f", "GGML_EPR": lanes, "TILE": 1}
        yield f"nn-attention_step-{order}", nn.ATTENTION_STEP, {"MASKED": "-3e+38f", "DIM": 64, "BY_HEAD": 0, "TILE": 1,
                                                                "GGML_EPR": lanes}
    yield "nn-rope", nn.ROPE, {}
    yield "nn-to_half", nn.TO_HALF, {}
    yield "nn_families", nn_families.KERNELS, {}
    for src, dst, op in (("int32", "int64", "sum"), ("complex64", "complex64", "prod"), ("bool", "int64", "sum")):
        yield f"scan-{src}-{op}", scan.scan_source(np.dtype(src), np.dtype(dst), op), {"WG": 256}
    for dtype in map(np.dtype, ("float32", "float64", "int8", "uint64", "complex64")):
        if dtype.kind != "c":
            yield f"sort-{dtype}", sorting.sort_source(dtype), {"WG": 256}
        yield f"search-{dtype}", sorting.search_source(dtype), {}
        yield f"unique-{dtype}", selection.unique_source(dtype), {}
    for t in ("u8", "u16", "u32", "u64", "c128"):
        yield f"gather-{t}", selection.gather_source(t), {}
    for ndim in (1, 3):
        yield f"nonzero-{ndim}d", selection.nonzero_source(ndim), {}
    for t, c in (("f32", "i64"), ("u8", "i32"), ("c64", "i32")):
        yield f"repeat-{t}", manipulation.REPEAT, {"T": t, "C": c}


def kernels() -> list:
    """(name, source, defines) of every kernel; sources are made through the ops modules'
    attributes, so the coverage test below can see which generators the list uses."""
    return list(_elementwise_kernels()) + list(_other_kernels())


KERNELS = kernels()


def _failures(compile_one) -> list[str]:
    """Compile every kernel, one translation unit each (the generated kernels share names:
    "ew", "reduce"), on every core (NVRTC is thread-safe, nvcc and hipcc are processes);
    every failure, not just the first."""
    def attempt(kernel):
        name, source, defines = kernel
        try:
            compile_one(render(source, "cuda", defines))
        except Exception as e:  # collect all, report together
            return f"{name}: {e}"
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        return [f for f in pool.map(attempt, KERNELS) if f]


@pytest.mark.parametrize("arch", ARCHS)
def test_every_op_kernel_compiles_for_cuda(arch):
    usable = [c for c in compilers() if supports(c, arch)]
    if not usable:
        pytest.skip(f"no CUDA compiler here targets {arch} (install nvidia-cuda-nvrtc-cu12)")
    failures = _failures(lambda source: compile_cuda(source, arch, usable[0]))
    assert not failures, "\n".join(failures[:10])
    assert len(KERNELS) > 80


def _kernel_names(text: str) -> set:
    return set(re.findall(r"KERNEL\s+void\s+(\w+)", text))


def test_the_list_covers_every_kernel_in_ops(monkeypatch):
    """Every kernel ops/ defines is in KERNELS: each kernel name in the ops sources, each
    module-level kernel source (as a part of a listed one), and each ``*_source`` generator function (it is called)."""
    modules = [m for m in vars(ops).values() if inspect.ismodule(m) and m.__name__.startswith("hal.ops.")]
    generators = {f"{m.__name__}.{n}": (m, n, f) for m in modules for n, f in vars(m).items()
                  if n.endswith("source") and callable(f) and getattr(f, "__module__", None) == m.__name__}
    called = set()
    for qualname, (module, name, fn) in generators.items():
        def spy(*args, _fn=fn, _qualname=qualname, **kwargs):
            called.add(_qualname)
            return _fn(*args, **kwargs)
        monkeypatch.setattr(module, name, spy)
    sources = [src for _, src, _ in kernels()]
    listed = set().union(*(kernel_signatures(src) for src in sources))
    in_ops = set().union(*(_kernel_names(p.read_text()) for p in pathlib.Path(ops.__file__).parent.glob("*.py")))
    constants = {f"{m.__name__}.{n}" for m in modules for n, v in vars(m).items()
                 if isinstance(v, str) and _kernel_names(v) and not any(v in src for src in sources)}
    assert {"hal.ops.quant.source", "hal.ops.launch.elementwise_source"} <= called  # the spies work
    assert not in_ops - listed, f"kernels in ops/ not compiled here: {sorted(in_ops - listed)}"
    assert not constants, f"kernel sources in ops/ not compiled here: {sorted(constants)}"
    assert not generators.keys() - called, f"kernel generators not used here: {sorted(generators.keys() - called)}"


@pytest.mark.skipif(not shutil.which("hipcc"), reason="no hipcc on PATH (ROCm not installed): HIP compile not checked")
def test_every_op_kernel_compiles_for_hip():
    """For CDNA2 (MI200) only: hipcc spends ~1.5 s per kernel parsing the HIP headers."""
    failures = _failures(lambda source: compile_hip(source, "gfx90a"))
    assert not failures, "\n".join(failures[:10])
