"""The launch layer every op's kernels go through: ``program`` (a compiled kernel,
memoized per device), the launch helpers, the dtype-to-type-word map with its
conversions, and the generated elementwise kernel (over broadcast strided operands).

Sources are generated once per specialization (memoized), so a steady-state launch
costs a dict lookup for the source, one for the compiled program, and the launch.
"""
from __future__ import annotations

import logging
import math
import re
from functools import lru_cache

import numpy as np

from hal.dialect import TYPES
from hal.errors import CompileError
from hal.memory import Strided, contiguous_strides
from hal.shapes import broadcast_shapes

_log = logging.getLogger("hal.launch")

# The type word of each dtype: the dialect's scalars, bool as u8, the complex structs,
# float16 as its bits (u16: moved, never computed on).
C_TYPE = {dtype: word for word, (dtype, _) in TYPES.items()} | {
    np.dtype(k): v for k, v in {"bool": "u8", "complex64": "c64", "complex128": "c128", "float16": "u16"}.items()}
# The dtype a type word stands for (u8 reads as uint8: bool and uint8 convert alike).
_DTYPE_OF = {word: dtype for word, (dtype, _) in TYPES.items()} | {"c64": np.dtype("complex64"),
                                                                 "c128": np.dtype("complex128")}


def real_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of a complex dtype's components (a real dtype stays itself)."""
    return np.dtype(f"f{dtype.itemsize // 2}") if dtype.kind == "c" else dtype


def convert(expr: str, src: np.dtype, dst: np.dtype) -> str:
    """A C expression converting ``expr`` of dtype ``src`` into ``dst``, as NumPy's
    ``astype`` does (complex to real keeps the real part). Use it wherever a kernel
    changes a value's type: complex values are structs, which C does not cast."""
    src, dst = np.dtype(src), np.dtype(dst)
    if src == dst:
        return f"({expr})"
    if src.kind == "c" and dst.kind == "c":
        return f"{C_TYPE[src]}_to_{C_TYPE[dst]}({expr})"
    if src.kind == "c":
        if dst == np.bool_:
            return f"{C_TYPE[src]}_nonzero({expr})"
        return convert(f"({expr}).re", real_dtype(src), dst)
    if dst.kind == "c":
        part = real_dtype(dst)
        return f"{C_TYPE[dst]}_make({convert(expr, src, part)}, ({C_TYPE[part]})0)"
    if dst == np.bool_:
        return f"(({expr}) != 0)"
    return f"(({C_TYPE[dst]})({expr}))"


def program(device, source: str, name: str, **defines):
    """The compiled kernel ``name`` of ``source`` with ``defines`` on ``device``
    (memoized per device), from the program it was built in with others if it was
    (``elementwise_program``)."""
    key = (source, name, *defines.items())
    try:
        return device.programs[key]
    except KeyError:
        module, name_there = device.programs.pop(("in a batch", key), None) or (_module(device, source, defines), name)
        prog = device.programs[key] = module[name_there]
        return prog


def _module(device, source: str, defines: dict):
    """``source`` built once per device, whichever of its kernels is asked for first."""
    key = ("module", source, *defines.items())
    if key not in device.programs:
        device.programs[key] = device.compile(source, defines)
    return device.programs[key]


def pointer(device, payload):
    """A payload as a kernel's pointer argument, for kernels that take no offset."""
    return device.kernel_args(payload)[0]


def group(device, shape: tuple) -> tuple | None:
    """A launch's work-group: ``shape``, or none where the target has no work-groups (the
    C target runs each work-item on its own, so a configuration's group is moot there)."""
    return shape if device.info.max_work_group > 1 else None


def flat_group(device, size: int = 64) -> tuple:
    """The work-group of a launch with one item per element: ``size`` items where the
    device allows them (one on the C target, which has no work-groups)."""
    return (min(size, device.info.max_work_group),)


def per_element(device, kernel, shape: tuple, *args, dtype=np.float32):
    """A new array of ``shape`` (float32 unless ``dtype``) written by ``kernel(out, *args,
    n)``, one work-item per element (none where it is empty)."""
    out = device.empty(shape, np.dtype(dtype))
    if out.size:
        kernel((out.size,), flat_group(device), pointer(device, out), *args, out.size)
    return out


def cpu_device():
    """The cpu device, where references and host-built tables are computed."""
    from hal.device import device
    return device("cpu")


def _dtype(t) -> np.dtype:
    return _DTYPE_OF[t] if isinstance(t, str) else np.dtype(t)


@lru_cache(maxsize=None)
def elementwise_source(expr: str, out_t, operands: tuple, out_strided: bool, ndim: int,
                       helpers: str = "", expr_t=None) -> str:
    """A kernel ``ew`` computing ``out[i] = expr`` over ``n`` elements.

    Types are dtypes or C type words. ``operands`` holds one (mode, storage type, value
    type) per input: mode "c" is a contiguous array of the output's shape (read at
    ``off + i``), "s" a strided or broadcast array (read through the multi-index), "k" a
    scalar argument (a complex one as two real arguments). In ``expr`` the inputs are
    ``x0, x1, ...`` (already converted to their value types) and ``i`` is the flat
    output index; ``expr`` is of type ``expr_t`` (default: the output's), converted to
    the output's type on the store.
    """
    out_dtype = _dtype(out_t)
    expr_dtype = out_dtype if expr_t is None else _dtype(expr_t)
    strided = out_strided or any(m == "s" for m, _, _ in operands)
    dims = range(ndim) if strided else ()
    params = [f"GLOBAL {C_TYPE[out_dtype]} *out", "i64 out_off"] + (
        [f"i64 os{d}" for d in dims] if out_strided else [])
    loads = []
    for j, (mode, storage, value) in enumerate(operands):
        storage, value = _dtype(storage), _dtype(value)
        vt = C_TYPE[value]
        if mode == "k" and value.kind == "c":
            part = C_TYPE[real_dtype(value)]
            params += [f"{part} k{j}_re", f"{part} k{j}_im"]
            loads.append(f"{vt} x{j} = {vt}_make(k{j}_re, k{j}_im);")
            continue
        if mode == "k":
            params.append(f"{vt} k{j}")
            loads.append(f"{vt} x{j} = k{j};")
            continue
        params += [f"GLOBAL const {C_TYPE[storage]} *in{j}", f"i64 off{j}"]
        if mode == "s":
            params += [f"i64 s{j}_{d}" for d in dims]
            index = " + ".join([f"off{j}"] + [f"j{d} * s{j}_{d}" for d in dims])
        else:
            index = f"off{j} + i"
        loads.append(f"{vt} x{j} = {convert(f'in{j}[{index}]', storage, value)};")
    params += ["i64 n"] + [f"i64 d{d}" for d in dims]
    unravel = ["i64 r = i;"] + [f"i64 j{d} = r % d{d}; r /= d{d};" for d in reversed(dims)] if strided else []
    out_index = " + ".join(["out_off"] + [f"j{d} * os{d}" for d in dims]) if out_strided else "out_off + i"
    body = "\n    ".join(unravel + loads + [f"out[{out_index}] = {convert(expr, expr_dtype, out_dtype)};"])
    return f"""{helpers}
KERNEL void ew({", ".join(params)}) {{
    i64 i = GLOBAL_ID(0);
    if (i >= n) return;
    {body}
}}
"""


def elementwise_program(device, expr: str, out_t, operands: tuple, out_strided: bool, ndim: int,
                        helpers: str = "", expr_t=None):
    """The compiled kernel of ``elementwise_source(...)`` (memoized per device). Where a
    program's build is mostly a fixed cost (``device.batch_builds``), a miss builds it
    in one program with its likely siblings (ops/elementwise.py's ``siblings``: ~100
    kernels build in ~1.1x the time of one): a later call of one of them then costs
    only its first launch, not a build."""
    layout = (operands, out_strided, ndim)
    source = elementwise_source(expr, out_t, *layout, helpers, expr_t)
    if device.batch_builds and not built(device, (source, "ew")):
        from .elementwise import first_siblings, siblings  # (that module builds on this one)
        kernels = [(expr, out_t, *layout, helpers, expr_t),
                   *siblings(expr, tuple(_dtype(v) for _, _, v in operands), layout, device.dtypes)]
        if ("first batch",) not in device.programs:
            device.programs["first batch",] = True
            kernels += first_siblings(device.dtypes)
        build_together(device, ("ew", layout), [(elementwise_source(*k), elementwise_source(*k[:5], "", k[6]), {})
                                                 for k in kernels], "".join(dict.fromkeys(k[5] for k in kernels)))
    return program(device, source, "ew")


def build_together(device, batch: tuple, kernels: list, shared: str = "") -> None:
    """Build in one program the sources of ``kernels`` none of whose kernels is built
    yet: each a triple (the source ``program`` is asked for; its text here, the same but
    for helpers in ``shared`` or renamed by ``apart``; its defines), after the ``shared``
    helpers, with every source's defines. Its kernels are renamed apart here, each left
    for ``program`` to find. A ``batch`` that fails to compile is logged and not tried
    again: ``program`` then builds each source alone, so a bad sibling neither breaks
    the kernel asked for nor stands in for that kernel's own error. (Callers ask only
    when the kernel they need is not built: once built, a batch has nothing to build.)"""
    if ("batch failed", batch) in device.programs:
        return
    todo = {}  # source -> (its text, its defines, its kernels' names)
    for source, text, defines in kernels:
        names = _KERNEL.findall(text)
        if source not in todo and not any(built(device, (source, name, *defines.items())) for name in names):
            todo[source] = text, defines, names
    if len(todo) < 2:
        return
    try:
        module = device.compile(shared + "".join(_KERNEL.sub(rf"KERNEL void \1_{j}(", text)
                                                 for j, (text, _, _) in enumerate(todo.values())),
                                {k: v for _, defines, _ in todo.values() for k, v in defines.items()}, batch=True)
    except CompileError as e:
        _log.warning("a batched build failed; its kernels are built alone:\n%s", e.log.strip())
        device.programs["batch failed", batch] = True
        return
    for j, (source, (_, defines, names)) in enumerate(todo.items()):
        for name in names:  # (each made at its first use: pyopencl takes ~2 ms a kernel)
            device.programs["in a batch", (source, name, *defines.items())] = module, f"{name}_{j}"


_KERNEL = re.compile(r"KERNEL void (\w+)\(")


def apart(text: str, helpers: tuple, tag: int) -> str:
    """``text`` with its ``helpers`` (INLINE functions) renamed by macros with ``tag``:
    the same text in a batch beside others that define helpers of those names."""
    return "".join(f"#define {h} {h}_{tag}\n" for h in helpers) + text + "".join(f"#undef {h}\n" for h in helpers)


def built(device, key: tuple) -> bool:
    """Whether the kernel of ``key`` (``program``'s) is built, alone or in a batch."""
    return key in device.programs or ("in a batch", key) in device.programs


# Work-items per group of an elementwise launch. Fixed rather than left to the driver:
# PoCL compiles a kernel again for every work-group size it picks, which follows the
# array's size, so each new size would cost a compile.
_EW_GROUP = 256


def run_elementwise(device, expr: str, out: Strided, inputs: list, value_types: list,
                    helpers: str = "", expr_type: np.dtype | None = None) -> Strided:
    """Launch ``expr`` over ``out``'s shape. ``inputs`` are Strided arrays (broadcast to
    ``out.shape`` here) or scalars; ``value_types`` are the NumPy dtypes the expression
    sees for each input; ``expr_type`` is the expression's dtype (default: the output's),
    converted to the output's on the store."""
    n = out.size
    if n == 0:
        return out
    arrays = [x if x.shape == out.shape else x.broadcast(out.shape) for x in inputs if type(x) is Strided]
    shape, (out_strides, *strides) = collapse(out.shape, [out.strides] + [x.strides for x in arrays])
    flat = contiguous_strides(shape) if shape else ()
    operands, args, strided, arrays = [], [], out_strides != flat, iter(zip(arrays, strides))
    for x, vt in zip(inputs, value_types):
        if type(x) is not Strided:
            vt = np.dtype(vt)
            operands.append(("k", vt, vt))
            args += [x.real, x.imag] if vt.kind == "c" else [x]
            continue
        x, x_strides = next(arrays)
        if x_strides == flat:  # (the common case: read at off + i)
            operands.append(("c", x.dtype, vt))
            args += [x.buf, x.offset]
        else:
            operands.append(("s", x.dtype, vt))
            args += [x.buf, x.offset, *x_strides]
            strided = True
    head = [out.buf, out.offset, *out_strides] if out_strides != flat else [out.buf, out.offset]
    kernel = elementwise_program(device, expr, out.dtype, tuple(operands), out_strides != flat,
                                 len(shape) if strided else 0, helpers, expr_type)
    kernel((n,), (min(_EW_GROUP, device.info.max_work_group),), *head, *args, n, *(shape if strided else ()))
    return out


def collapse(shape: tuple, strides: list) -> tuple[tuple, list]:
    """``shape`` and each of ``strides`` (element strides of arrays of that shape) over
    the fewest dimensions that step through the same elements in the same row-major
    order: size-1 dimensions dropped, and a dimension merged into the one before it
    wherever every array strides across both as across one (outer stride = inner stride
    x inner extent). The elementwise kernel is generated per number of dimensions, so
    this makes one kernel serve every shape that collapses alike: a contiguous or
    row-sliced array of any rank reads as one dimension, a broadcast row as two."""
    merged = []  # (extent, strides of each array)
    for extent, dim_strides in zip(shape, zip(*strides)):
        if extent == 1:
            continue
        if merged and all(outer == inner * extent for outer, inner in zip(merged[-1][1], dim_strides)):
            merged[-1] = (merged[-1][0] * extent, dim_strides)
        else:
            merged.append((extent, dim_strides))
    return tuple(e for e, _ in merged), [tuple(s[j] for _, s in merged) for j in range(len(strides))]


def elementwise(device, expr: str, value_types: tuple, helpers: str, out_dtype: np.dtype, inputs: tuple):
    """``run(*inputs)``: ``expr`` over ``inputs`` (Strided arrays or scalars, seen as
    ``value_types``) into a new array of their broadcast shape, for any inputs laid out
    as these (dtypes, shapes, strides). Each layout is worked out once per device: where
    every array is contiguous and of one shape (the common case), a run then only
    allocates and launches."""
    key = (expr, value_types, out_dtype, *[(x.dtype, x.shape, x.strides) if type(x) is Strided else None
                                           for x in inputs])
    run = device.programs.get(key)
    if run is None:
        run = device.programs[key] = _prepare(device, expr, value_types, helpers, out_dtype, inputs)
    return run


def _prepare(device, expr, value_types, helpers, out_dtype, inputs):
    """``run(*inputs)`` for inputs of this layout: for contiguous arrays of one shape and
    real scalars, a fixed launch into a new array; for any other, ``run_elementwise``."""
    arrays = [x for x in inputs if type(x) is Strided]
    shape = broadcast_shapes(*[x.shape for x in arrays])
    n = math.prod(shape)
    if (n == 0 or any(x.shape != shape or not x.contiguous for x in arrays)
            or any(np.dtype(vt).kind == "c" for x, vt in zip(inputs, value_types) if type(x) is not Strided)):
        return lambda *inputs: run_elementwise(device, expr, device.empty(shape, out_dtype), inputs, value_types,
                                               helpers)
    operands = tuple(("c", x.dtype, vt) if type(x) is Strided else ("k", vt, vt) for x, vt in zip(inputs, value_types))
    kernel = elementwise_program(device, expr, out_dtype, operands, False, 0, helpers)
    group = min(_EW_GROUP, device.info.max_work_group)
    grid = (-(-n // group) * group,), (group,)
    # (a driver's kernel may be any launchable callable, the contract; hal's Programs prepare)
    launch = kernel.prepare(*grid) if hasattr(kernel, "prepare") else lambda args: kernel(*grid, *args)
    take = device.pool.taker(n * out_dtype.itemsize)

    def run(*inputs):
        out = Strided(take(), shape, out_dtype)
        args = [out.buf, 0]
        for x in inputs:
            args += (x.buf, x.offset) if type(x) is Strided else (x,)
        args.append(n)
        launch(args)
        return out
    return run
