"""Elementwise ops: each defined once by its dtype rule, its NumPy reference and its
kernel expression, and registered for the cpu (the NumPy ufunc) and for every buffer
backend (the elementwise kernel template).

Expressions use ``x0``, ``x1``, ``x2`` (inputs converted to the compute dtype) and may
differ per dtype class: "signed", "unsigned", "float", "bool". Integer division,
remainder and shifts are guarded so that no input can trap or reach undefined behavior
on any target, and match NumPy's results.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from hal.dispatch import register
from hal.memory import Strided
from hal.shapes import broadcast_shapes

from .templates import C_TYPE, run_elementwise


@dataclass(frozen=True)
class Elementwise:
    name: str
    ufunc: np.ufunc
    kind: str                      # dtypes accepted (hal.dtypes.KINDS)
    expr: dict | str               # C expression, or one per dtype class
    result: str = "promote"        # "promote", "bool" (comparisons) or "float"
    helpers: str = ""              # INLINE functions with {T} for the compute type
    nin: int = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "nin", self.ufunc.nin)

    def expression(self, dtype: np.dtype) -> str:
        if isinstance(self.expr, str):
            return self.expr
        cls = ("bool" if dtype == np.bool_ else "float" if dtype.kind == "f"
               else "unsigned" if dtype.kind == "u" else "signed")
        return self.expr.get(cls, self.expr.get("int" if cls in ("signed", "unsigned") else cls))


_FLOORDIV_F = """
INLINE {T} floordiv_{T}({T} a, {T} b) {{
    if (b == 0) return a / b;
    {T} mod = fmod(a, b), div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
    if (div == 0) return copysign(({T})0, a / b);
    {T} f = floor(div);
    return (div - f > ({T})0.5) ? f + 1 : f;
}}
"""
_REMAINDER_F = """
INLINE {T} remainder_{T}({T} a, {T} b) {{
    {T} mod = fmod(a, b);
    if (b == 0) return mod;
    if (mod != 0) return ((b < 0) != (mod < 0)) ? mod + b : mod;
    return copysign(({T})0, b);
}}
"""
_IPOW = """
INLINE {T} ipow_{T}({T} b, {T} e) {{
    {T} r = 1;
    while (e > 0) {{ if (e & 1) r *= b; b *= b; e >>= 1; }}
    return r;
}}
"""
# Oclgrind cannot run the llvm.abs intrinsic that clang makes of "a < 0 ? -a : a", so
# OpenCL C takes its integer abs builtin (which returns the unsigned type) instead.
_IABS = """
INLINE {T} iabs_{T}({T} a) {{
#ifdef __OPENCL_VERSION__
    return ({T})abs(a);
#else
    return a < 0 ? -a : a;
#endif
}}
"""
_NAN_MAX = "(x0 != x0 || x0 > x1) ? x0 : x1"
_NAN_MIN = "(x0 != x0 || x0 < x1) ? x0 : x1"

OPS = {op.name: op for op in [
    Elementwise("add", np.add, "numeric", "x0 + x1"),
    Elementwise("subtract", np.subtract, "numeric", "x0 - x1"),
    Elementwise("multiply", np.multiply, "numeric", "x0 * x1"),
    Elementwise("divide", np.divide, "numeric", "x0 / x1", result="float"),
    Elementwise("floor_divide", np.floor_divide, "real numeric", {
        "signed": "x1 == 0 ? 0 : x1 == -1 ? -x0 : x0 / x1 - ((x0 % x1 != 0) && ((x0 < 0) != (x1 < 0)))",
        "unsigned": "x1 == 0 ? 0 : x0 / x1",
        "float": "floordiv_{T}(x0, x1)"}, helpers=_FLOORDIV_F),
    Elementwise("remainder", np.remainder, "real numeric", {
        "signed": "(x1 == 0 || x1 == -1) ? 0 : (x0 % x1 != 0 && ((x0 % x1 < 0) != (x1 < 0))) ? x0 % x1 + x1 : x0 % x1",
        "unsigned": "x1 == 0 ? 0 : x0 % x1",
        "float": "remainder_{T}(x0, x1)"}, helpers=_REMAINDER_F),
    Elementwise("pow", np.power, "numeric", {"int": "ipow_{T}(x0, x1)", "float": "pow(x0, x1)"},
                helpers=_IPOW),
    Elementwise("maximum", np.maximum, "real numeric", {"int": "x0 > x1 ? x0 : x1", "float": _NAN_MAX}),
    Elementwise("minimum", np.minimum, "real numeric", {"int": "x0 < x1 ? x0 : x1", "float": _NAN_MIN}),
    Elementwise("equal", np.equal, "any", "x0 == x1", result="bool"),
    Elementwise("not_equal", np.not_equal, "any", "x0 != x1", result="bool"),
    Elementwise("less", np.less, "real numeric", "x0 < x1", result="bool"),
    Elementwise("less_equal", np.less_equal, "real numeric", "x0 <= x1", result="bool"),
    Elementwise("greater", np.greater, "real numeric", "x0 > x1", result="bool"),
    Elementwise("greater_equal", np.greater_equal, "real numeric", "x0 >= x1", result="bool"),
    Elementwise("logical_and", np.logical_and, "bool", "x0 && x1"),
    Elementwise("logical_or", np.logical_or, "bool", "x0 || x1"),
    Elementwise("logical_xor", np.logical_xor, "bool", "x0 != x1"),
    Elementwise("logical_not", np.logical_not, "bool", "!x0"),
    Elementwise("bitwise_and", np.bitwise_and, "integer or boolean", "x0 & x1"),
    Elementwise("bitwise_or", np.bitwise_or, "integer or boolean", "x0 | x1"),
    Elementwise("bitwise_xor", np.bitwise_xor, "integer or boolean", "x0 ^ x1"),
    Elementwise("bitwise_invert", np.invert, "integer or boolean", {"bool": "!x0", "int": "~x0"}),
    Elementwise("bitwise_left_shift", np.left_shift, "integral",
                "(x1 < 0 || x1 >= BITS) ? 0 : x0 << x1"),
    Elementwise("bitwise_right_shift", np.right_shift, "integral",
                "(x1 < 0 || x1 >= BITS) ? (x0 < 0 ? -1 : 0) : x0 >> x1"),
    Elementwise("negative", np.negative, "numeric", "-x0"),
    Elementwise("positive", np.positive, "numeric", "x0"),
    Elementwise("abs", np.abs, "numeric", {"signed": "iabs_{T}(x0)", "unsigned": "x0", "float": "fabs(x0)"},
                helpers=_IABS),
    Elementwise("exp", np.exp, "numeric", "exp(x0)", result="float"),
    Elementwise("log", np.log, "numeric", "log(x0)", result="float"),
    Elementwise("sqrt", np.sqrt, "numeric", "sqrt(x0)", result="float"),
    Elementwise("sin", np.sin, "numeric", "sin(x0)", result="float"),
    Elementwise("cos", np.cos, "numeric", "cos(x0)", result="float"),
    Elementwise("tanh", np.tanh, "numeric", "tanh(x0)", result="float"),
    Elementwise("floor", np.floor, "real numeric", {"int": "x0", "float": "floor(x0)"}),
    Elementwise("ceil", np.ceil, "real numeric", {"int": "x0", "float": "ceil(x0)"}),
    Elementwise("round", np.rint, "numeric", {"int": "x0", "float": "rint(x0)"}),
]}


def _cpu(op: Elementwise):
    ufunc = op.ufunc

    def impl(device, compute, out_dtype, *xs):
        xs = [x.astype(compute) if type(x) is np.ndarray and x.dtype != compute else x for x in xs]
        out = ufunc(*xs)
        return out if type(out) is np.ndarray and out.dtype == out_dtype else np.asarray(out, out_dtype)
    return impl


@lru_cache(maxsize=None)
def _specialize(name: str, compute: np.dtype) -> tuple[str, str]:
    """The expression and helper functions of op ``name`` for one compute dtype."""
    op, t = OPS[name], C_TYPE[compute]
    expr = op.expression(compute).replace("{T}", t).replace("BITS", str(compute.itemsize * 8))
    return expr, (op.helpers.format(T=t) if "{T}" in op.expression(compute) else "")


def _kernel(op: Elementwise):
    def impl(device, compute, out_dtype, *xs):
        expr, helpers = _specialize(op.name, compute)
        out = device.empty(broadcast_shapes(*(x.shape for x in xs if isinstance(x, Strided))), out_dtype)
        return run_elementwise(device, expr, out, xs, (compute,) * len(xs), helpers)
    return impl


for _op in OPS.values():
    register(_op.name, on=("cpu",), kind="library")(_cpu(_op))
    register(_op.name, on=("buffer",))(_kernel(_op))


@register("where", on=("cpu",), kind="library")
def where_cpu(device, dtype, shape, condition, x1, x2):
    return np.where(condition, np.asarray(x1, dtype), np.asarray(x2, dtype))


@register("where", on=("buffer",))
def where(device, dtype, shape, condition, x1, x2):
    return run_elementwise(device, "x0 ? x1 : x2", device.empty(shape, dtype), [condition, x1, x2],
                           [np.dtype(np.bool_), dtype, dtype])
