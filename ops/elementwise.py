"""Elementwise ops: each defined once by its dtype rule, its NumPy reference and its
kernel expression, and registered for the cpu (NumPy) and for every buffer backend (the
elementwise kernel template).

Expressions use ``x0``, ``x1``, ``x2`` (inputs converted to the compute dtype) and may
differ per dtype class: "signed", "unsigned", "float", "complex", "bool" ("int" stands
for both integer classes). ``{T}`` is the compute type's C name (``f32``, ``c64``, ...),
``{R}`` its real component's. Integer division, remainder and shifts are guarded so
that no input can trap or reach undefined behavior on any target, and match NumPy's
results. Complex values are the dialect's structs; their functions (``c64_exp``, ...)
are in ``_COMPLEX_MATH``, which follows the standard's (C99 Annex G) special cases.
"""
from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy._core._ufunc_config import _extobj_contextvar as _ERRSTATE
from numpy._core._ufunc_config import _make_extobj

from hal.dispatch import Op, declare, register
from hal.dtypes import ALL, KINDS

from .launch import C_TYPE, elementwise, real_dtype


@dataclass(frozen=True)
class Elementwise:
    name: str
    ufunc: object                  # the NumPy reference: a ufunc, or a function of nin arrays
    kind: str                      # dtypes accepted (hal.dtypes.KINDS)
    expr: dict | str               # C expression, or one per dtype class
    result: str = "promote"        # "promote", "bool", "float" (integers compute in the
                                   # default float) or "real" (complex gives its real part's dtype)
    helpers: str = ""              # INLINE functions with {T} for a real compute type
    nin: int = field(default=0)

    def __post_init__(self):
        if not self.nin:
            object.__setattr__(self, "nin", self.ufunc.nin)

    def expression(self, dtype: np.dtype) -> str | None:
        """The C expression for compute dtype ``dtype`` (None: the op has none)."""
        if isinstance(self.expr, str):
            return self.expr
        cls = ("bool" if dtype == np.bool_ else "float" if dtype.kind == "f" else "complex" if dtype.kind == "c"
               else "unsigned" if dtype.kind == "u" else "signed")
        return self.expr.get(cls, self.expr.get("int" if cls in ("signed", "unsigned") else cls))

    def out_dtype(self, compute: np.dtype) -> np.dtype:
        if self.result == "bool":
            return np.dtype(np.bool_)
        return real_dtype(compute) if self.result == "real" else compute


# An infinite operand gives floor(a / b), as the standard's special cases ask (+-inf for
# inf // finite, a signed zero for finite // inf), where NumPy's fmod-based rule gives NaN and -1.
_FLOORDIV_F = """
INLINE {T} floordiv_{T}({T} a, {T} b) {{
    if (b == 0 || isinf(a) || isinf(b)) return floor(a / b);
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
_LOGADDEXP = """
INLINE {T} logaddexp_{T}({T} a, {T} b) {{
    if (a == b) return a + ({T})0.69314718055994530942;  /* also inf + inf, without inf - inf */
    {T} d = a - b;
    if (d != d) return d;
    return d > 0 ? a + log1p(exp(-d)) : b + log1p(exp(d));
}}
"""
# NaN propagates from x, min or max; then min bounds before max does (NumPy's order).
_CLIP_F = """
INLINE {T} clip_{T}({T} x, {T} lo, {T} hi) {{
    if (x != x || lo != lo || hi != hi) return x + lo + hi;
    return x < lo ? (lo > hi ? hi : lo) : x > hi ? hi : x;
}}
"""
_COMPLEX_MATH = """INLINE {R} {C}_abs({C} z) {{ return hypot(z.re, z.im); }}
INLINE {C} {C}_neg({C} z) {{ return {C}_make(-z.re, -z.im); }}
INLINE {C} {C}_conj({C} z) {{ return {C}_make(z.re, -z.im); }}
INLINE {C} {C}_square({C} z) {{ return {C}_mul(z, z); }}
INLINE {C} {C}_rint({C} z) {{ return {C}_make(rint(z.re), rint(z.im)); }}
INLINE int {C}_isnan({C} z) {{ return z.re != z.re || z.im != z.im; }}
INLINE int {C}_isinf({C} z) {{ return isinf(z.re) || isinf(z.im); }}
INLINE int {C}_isfinite({C} z) {{ return isfinite(z.re) && isfinite(z.im); }}
INLINE {C} {C}_sign({C} z) {{
    if (z.re == 0 && z.im == 0) return {C}_make(0, 0);
    {R} r = hypot(z.re, z.im);
    return {C}_make(z.re / r, z.im / r);
}}
INLINE {C} {C}_exp({C} z) {{
    if (z.im == 0) return {C}_make(exp(z.re), z.im);
    if (isinf(z.re) && !isfinite(z.im)) return z.re < 0 ? {C}_make(0, 0) : {C}_make(z.re, z.im - z.im);
    {R} e = exp(z.re);
    return {C}_make(e * cos(z.im), e * sin(z.im));
}}
INLINE {C} {C}_expm1({C} z) {{
    if (z.im == 0) return {C}_make(z.re == 0 ? 0 : expm1(z.re), z.im);  /* +0 for -0 too */
    if (!isfinite(z.re) || !isfinite(z.im)) {{ {C} e = {C}_exp(z); return {C}_make(e.re - 1, e.im); }}
    {R} s = sin(z.im * ({R})0.5);
    return {C}_make(expm1(z.re) * cos(z.im) - 2 * s * s, exp(z.re) * sin(z.im));
}}
INLINE {C} {C}_log({C} z) {{ return {C}_make(log(hypot(z.re, z.im)), atan2(z.im, z.re)); }}
INLINE {C} {C}_log1p({C} z) {{
    {R} a = z.re, b = z.im;
    if (fabs(a) < ({R})0.5 && fabs(b) < ({R})0.5)  /* |1 + z| close to 1: log1p keeps the digits */
        return {C}_make(({R})0.5 * log1p(a * (2 + a) + b * b), atan2(b, 1 + a));
    return {C}_log({C}_make(1 + a, b));
}}
INLINE {C} {C}_log2({C} z) {{ {C} l = {C}_log(z); return {C}_make(l.re / {LN2}, l.im / {LN2}); }}
INLINE {C} {C}_log10({C} z) {{ {C} l = {C}_log(z); return {C}_make(l.re / {LN10}, l.im / {LN10}); }}
INLINE {C} {C}_sqrt({C} z) {{
    {R} a = z.re, b = z.im;
    if (a == 0 && b == 0) return {C}_make(0, b);
    if (isinf(b)) return {C}_make(fabs(b), b);
    if (a != a) return {C}_make(a, a);
    if (isinf(a)) return a > 0 ? {C}_make(a, b != b ? b : copysign(({R})0, b))
                               : {C}_make(b != b ? b : ({R})0, copysign(-a, b));
    {R} t = sqrt((fabs(a) + hypot(a, b)) * ({R})0.5);
    return a >= 0 ? {C}_make(t, b / (2 * t)) : {C}_make(fabs(b) / (2 * t), copysign(t, b));
}}
INLINE {C} {C}_ipow({C} z, int n) {{
    {C} r = {C}_make(1, 0), p = z;
    for (int k = n < 0 ? -n : n; k > 0; k >>= 1) {{
        if (k & 1) r = {C}_mul(r, p);
        p = {C}_mul(p, p);
    }}
    return n < 0 ? {C}_div({C}_make(1, 0), r) : r;
}}
INLINE {C} {C}_pow({C} z, {C} w) {{
    if (w.re == 0 && w.im == 0) return {C}_make(1, 0);
    if (z.re == 0 && z.im == 0) return w.re > 0 ? {C}_make(0, 0) : {C}_make(sqrt(({R})-1), sqrt(({R})-1));
    if (w.im == 0 && w.re == floor(w.re) && fabs(w.re) < 100) return {C}_ipow(z, (int)w.re);
    return {C}_exp({C}_mul(w, {C}_log(z)));
}}
INLINE {C} {C}_sinh({C} z) {{
    {R} a = z.re, b = z.im;
    if (b == 0) return {C}_make(sinh(a), b);
    if ((a == 0 || isinf(a)) && !isfinite(b)) return {C}_make(a, b - b);
    return {C}_make(sinh(a) * cos(b), cosh(a) * sin(b));
}}
INLINE {C} {C}_cosh({C} z) {{
    {R} a = z.re, b = z.im;
    if (b == 0) return {C}_make(cosh(a), isfinite(a) ? sinh(a) * b : copysign(({R})0, a) * b);
    if (a == 0 && !isfinite(b)) return {C}_make(b - b, 0);
    if (isinf(a) && !isfinite(b)) return {C}_make(fabs(a), b - b);
    return {C}_make(cosh(a) * cos(b), sinh(a) * sin(b));
}}
INLINE {C} {C}_tanh({C} z) {{
    {R} a = z.re, b = z.im;
    if (isinf(a)) return {C}_make(copysign(({R})1, a), copysign(({R})0, b));
    if (b == 0) return {C}_make(tanh(a), b);
    if (!isfinite(b)) return {C}_make(a == 0 ? a : b - b, b - b);
    if (fabs(a) > 22) {{  /* Kahan's formula below overflows; tanh is 1 to the last digit */
        {R} e = exp(-fabs(a));
        return {C}_make(copysign(({R})1, a), 4 * sin(b) * cos(b) * e * e);
    }}
    {R} t = tan(b), beta = 1 + t * t, s = sinh(a), rho = sqrt(1 + s * s), d = 1 + beta * s * s;
    return {C}_make(beta * rho * s / d, t / d);
}}
/* sin, cos, tan and the inverse functions through the hyperbolic ones, as C99 defines
   them: sin(z) = -i sinh(iz), cos(z) = cosh(iz), tan(z) = -i tanh(iz). */
INLINE {C} {C}_mul_i({C} z) {{ return {C}_make(-z.im, z.re); }}
INLINE {C} {C}_div_i({C} z) {{ return {C}_make(z.im, -z.re); }}
INLINE {C} {C}_sin({C} z) {{ return {C}_div_i({C}_sinh({C}_mul_i(z))); }}
INLINE {C} {C}_cos({C} z) {{ return {C}_cosh({C}_mul_i(z)); }}
INLINE {C} {C}_tan({C} z) {{ return {C}_div_i({C}_tanh({C}_mul_i(z))); }}
INLINE {C} {C}_asinh({C} z) {{
    {R} a = z.re, b = z.im;
    if (isinf(a)) return {C}_make(a, b != b ? b : isinf(b) ? copysign({PI} / 4, b) : copysign(({R})0, b));
    if (isinf(b)) return a != a ? {C}_make(fabs(b), a) : {C}_make(copysign(fabs(b), a), copysign({PI} / 2, b));
    if (a != a || b != b) return b == 0 ? z : {C}_make(a + b, a + b);
    /* In the first quadrant, then mirrored: asinh is odd and commutes with conj. */
    {C} w = {C}_make(fabs(a), fabs(b)), r;
    if (w.re + w.im > ({R})1e8) {{  /* sqrt(w^2 + 1) is w to the last digit */
        r = {C}_log(w);
        r.re += {LN2};
    }} else {{  /* log1p(w + w^2 / (sqrt(w^2 + 1) + 1)): no cancellation for small w */
        {C} w2 = {C}_mul(w, w), s = {C}_sqrt({C}_make(w2.re + 1, w2.im));
        r = {C}_log1p({C}_add(w, {C}_div(w2, {C}_make(s.re + 1, s.im))));
    }}
    return {C}_make(copysign(r.re, a), copysign(r.im, b));
}}
INLINE {C} {C}_asin({C} z) {{ return {C}_div_i({C}_asinh({C}_mul_i(z))); }}
INLINE {C} {C}_acos({C} z) {{
    {R} a = z.re, b = z.im;
    if (isinf(b)) return {C}_make(a != a ? a : isinf(a) ? (a < 0 ? 3 * {PI} / 4 : {PI} / 4) : {PI} / 2, -b);
    if (isinf(a)) return b != b ? {C}_make(b, fabs(a)) : {C}_make(a < 0 ? {PI} : 0, copysign(fabs(a), -b));
    if (b != b) return {C}_make(a == 0 ? {PI} / 2 : b, b);
    if (a != a) return {C}_make(a, a);
    {C} s = {C}_asin(z);
    return {C}_make({PI} / 2 - s.re, -s.im);
}}
INLINE {C} {C}_acosh({C} z) {{
    {C} w = {C}_acos(z);
    if (w.re != w.re && w.im != w.im) return {C}_make(w.im, w.re);
    if (w.re != w.re) return {C}_make(fabs(w.im), w.re);
    if (w.im != w.im) return {C}_make(w.im, w.re);
    return {C}_make(fabs(w.im), copysign(w.re, z.im));
}}
INLINE {C} {C}_atanh({C} z) {{
    {R} a = z.re, b = z.im;
    if (isinf(b)) return {C}_make(copysign(({R})0, a), copysign({PI} / 2, b));
    if (isinf(a)) return {C}_make(copysign(({R})0, a), b != b ? b : copysign({PI} / 2, b));
    if (a != a || b != b) return a == 0 ? z : {C}_make(a + b, a + b);
    {R} x = fabs(a), y = fabs(b), re, im;
    if (x > ({R})1e8 || y > ({R})1e8) {{  /* (1 - x)^2 + y^2 would overflow: atanh(z) ~ 1/z */
        {R} h = hypot(x, y);
        re = x / h / h;
        im = {PI} / 2;
    }} else if (hypot(1 - x, y) < ({R})1e-15) {{  /* near +-1 the squares underflow: logs of hypot */
        re = ({R})0.5 * (log(hypot(1 + x, y)) - log(hypot(1 - x, y)));
        im = ({R})0.5 * atan2(2 * y, (1 - x) * (1 + x) - y * y);
    }} else {{
        re = ({R})0.25 * log1p(4 * x / ((1 - x) * (1 - x) + y * y));
        im = ({R})0.5 * atan2(2 * y, (1 - x) * (1 + x) - y * y);
    }}
    return {C}_make(copysign(re, a), copysign(im, b));
}}
INLINE {C} {C}_atan({C} z) {{ return {C}_div_i({C}_atanh({C}_mul_i(z))); }}
"""
_CONSTANTS = {"PI": "3.14159265358979323846", "LN2": "0.69314718055994530942", "LN10": "2.30258509299404568402"}


def complex_math(c_type: str) -> str:
    """The complex functions for ``c64`` or ``c128`` (literals typed for its parts)."""
    suffix = "f" if c_type == "c64" else ""
    return _COMPLEX_MATH.format(C=c_type, R="f32" if c_type == "c64" else "f64",
                                **{k: v + suffix for k, v in _CONSTANTS.items()})


def _math(name, ufunc, kind="numeric", real_expr=None, complex_expr=None, **kw):
    """A function computed in floating point (integers compute in the default float);
    complex arguments go to its ``{T}_name`` in ``_COMPLEX_MATH``."""
    expr = {"float": real_expr or f"{name}(x0)"}
    if kind == "numeric":
        expr["complex"] = complex_expr or "{T}_%s(x0)" % name
    return Elementwise(name, ufunc, kind, expr, result="float", **kw)


# NumPy references where NumPy departs from the standard (special cases, views).
def floor_divide(x1, x2):
    """np.floor_divide, with floor(x1 / x2) where an operand is infinite (see _FLOORDIV_F)."""
    out = np.floor_divide(x1, x2)
    if np.asarray(out).dtype.kind != "f":
        return out
    return np.where(np.isinf(x1) | np.isinf(x2), np.floor(np.divide(x1, x2)), out)


def expm1(x):
    """np.expm1, with the standard's results for complex arguments that are real or not
    finite (NumPy's complex expm1 loses the sign of zero and infinities there)."""
    out = np.expm1(x)
    if np.asarray(x).dtype.kind != "c":
        return out
    x = np.asarray(x)
    e = np.exp(x)
    re = np.where(x.imag == 0, np.where(x.real == 0, 0, np.expm1(x.real)), np.where(np.isfinite(x), out.real, e.real - 1))
    im = np.where(x.imag == 0, x.imag, np.where(np.isfinite(x), out.imag, e.imag))
    out = np.empty(x.shape, x.dtype)
    out.real, out.imag = re, im
    return out


def tanh(x):
    """np.tanh, with the standard's 1 + 0j (sign of the imaginary zero: the argument's)
    for an infinite real part, where NumPy takes C99's sign of sin(2 * imag)."""
    out = np.tanh(x)
    if np.asarray(x).dtype.kind != "c":
        return out
    x, out = np.asarray(x), np.array(out)
    edge = np.isinf(x.real)
    out.imag = np.where(edge, np.copysign(0, x.imag), out.imag)
    return out


def real(x):
    """np.real, as a new array: np.real of a real array is the array itself."""
    return np.real(x).copy()


def imag(x):
    """np.imag, as a new, writable array."""
    return np.imag(x).copy()


OPS = {op.name: op for op in [
    Elementwise("add", np.add, "numeric", {"complex": "{T}_add(x0, x1)", "int": "x0 + x1", "float": "x0 + x1"}),
    Elementwise("subtract", np.subtract, "numeric", {"complex": "{T}_sub(x0, x1)", "int": "x0 - x1",
                                                     "float": "x0 - x1"}),
    Elementwise("multiply", np.multiply, "numeric", {"complex": "{T}_mul(x0, x1)", "int": "x0 * x1",
                                                     "float": "x0 * x1"}),
    Elementwise("divide", np.divide, "numeric", {"complex": "{T}_div(x0, x1)", "float": "x0 / x1"},
                result="float"),
    Elementwise("floor_divide", floor_divide, "real numeric", {
        "signed": "x1 == 0 ? 0 : x1 == -1 ? -x0 : x0 / x1 - ((x0 % x1 != 0) && ((x0 < 0) != (x1 < 0)))",
        "unsigned": "x1 == 0 ? 0 : x0 / x1",
        "float": "floordiv_{T}(x0, x1)"}, helpers=_FLOORDIV_F, nin=2),
    Elementwise("remainder", np.remainder, "real numeric", {
        "signed": "(x1 == 0 || x1 == -1) ? 0 : (x0 % x1 != 0 && ((x0 % x1 < 0) != (x1 < 0))) ? x0 % x1 + x1 : x0 % x1",
        "unsigned": "x1 == 0 ? 0 : x0 % x1",
        "float": "remainder_{T}(x0, x1)"}, helpers=_REMAINDER_F),
    Elementwise("pow", np.power, "numeric", {"int": "ipow_{T}(x0, x1)", "float": "pow(x0, x1)",
                                             "complex": "{T}_pow(x0, x1)"}, helpers=_IPOW),
    Elementwise("maximum", np.maximum, "real numeric", {"int": "x0 > x1 ? x0 : x1", "float": _NAN_MAX}),
    Elementwise("minimum", np.minimum, "real numeric", {"int": "x0 < x1 ? x0 : x1", "float": _NAN_MIN}),
    Elementwise("equal", np.equal, "any", {"complex": "{T}_eq(x0, x1)", "bool": "x0 == x1", "int": "x0 == x1",
                                           "float": "x0 == x1"}, result="bool"),
    Elementwise("not_equal", np.not_equal, "any", {"complex": "!{T}_eq(x0, x1)", "bool": "x0 != x1",
                                                   "int": "x0 != x1", "float": "x0 != x1"}, result="bool"),
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
    Elementwise("negative", np.negative, "numeric", {"int": "-x0", "float": "-x0", "complex": "{T}_neg(x0)"}),
    Elementwise("positive", np.positive, "numeric", "x0"),
    Elementwise("abs", np.abs, "numeric", {"signed": "iabs_{T}(x0)", "unsigned": "x0", "float": "fabs(x0)",
                                           "complex": "{T}_abs(x0)"}, result="real", helpers=_IABS),
    Elementwise("square", np.square, "numeric", {"int": "x0 * x0", "float": "x0 * x0", "complex": "{T}_square(x0)"}),
    Elementwise("sign", np.sign, "numeric", {
        "signed": "(x0 > 0) - (x0 < 0)", "unsigned": "x0 > 0", "complex": "{T}_sign(x0)",
        "float": "x0 > 0 ? 1 : x0 < 0 ? -1 : x0 == 0 ? 0 : x0"}),
    Elementwise("conj", np.conj, "numeric", {"int": "x0", "float": "x0", "complex": "{T}_conj(x0)"}),
    Elementwise("real", real, "numeric", {"int": "x0", "float": "x0", "complex": "x0.re"},
                result="real", nin=1),
    Elementwise("imag", imag, "complex floating", "x0.im", result="real", nin=1),
    Elementwise("isnan", np.isnan, "numeric", {"int": "0", "float": "x0 != x0", "complex": "{T}_isnan(x0)"},
                result="bool"),
    Elementwise("isinf", np.isinf, "numeric", {"int": "0", "float": "isinf(x0) != 0",
                                               "complex": "{T}_isinf(x0)"}, result="bool"),
    Elementwise("isfinite", np.isfinite, "numeric", {"int": "1", "float": "isfinite(x0) != 0",
                                                     "complex": "{T}_isfinite(x0)"}, result="bool"),
    Elementwise("signbit", np.signbit, "real numeric", {"signed": "x0 < 0", "unsigned": "0",
                                                        "float": "signbit(x0) != 0"}, result="bool"),
    Elementwise("floor", np.floor, "real numeric", {"int": "x0", "float": "floor(x0)"}),
    Elementwise("ceil", np.ceil, "real numeric", {"int": "x0", "float": "ceil(x0)"}),
    Elementwise("trunc", np.trunc, "real numeric", {"int": "x0", "float": "trunc(x0)"}),
    # rint rounds half to even (the standard's rule for round) in the default rounding mode.
    Elementwise("round", np.rint, "numeric", {"int": "x0", "float": "rint(x0)", "complex": "{T}_rint(x0)"}),
    Elementwise("clip", np.clip, "real numeric", {"signed": "x0 < x1 ? x1 : x0 > x2 ? x2 : x0",
                                                  "unsigned": "x0 < x1 ? x1 : x0 > x2 ? x2 : x0",
                                                  "float": "clip_{T}(x0, x1, x2)"}, helpers=_CLIP_F, nin=3),
    _math("exp", np.exp), _math("expm1", expm1, nin=1), _math("log", np.log), _math("log1p", np.log1p),
    _math("log2", np.log2), _math("log10", np.log10), _math("sqrt", np.sqrt),
    _math("sin", np.sin), _math("cos", np.cos), _math("tan", np.tan),
    _math("asin", np.arcsin), _math("acos", np.arccos), _math("atan", np.arctan),
    _math("sinh", np.sinh), _math("cosh", np.cosh), _math("tanh", tanh, nin=1),
    _math("asinh", np.arcsinh), _math("acosh", np.arccosh), _math("atanh", np.arctanh),
    _math("reciprocal", np.reciprocal, real_expr="1 / x0", complex_expr="{T}_div({T}_make(1, 0), x0)"),
    _math("atan2", np.arctan2, "real numeric", "atan2(x0, x1)"),
    _math("hypot", np.hypot, "real numeric", "hypot(x0, x1)"),
    _math("copysign", np.copysign, "real numeric", "copysign(x0, x1)"),
    _math("nextafter", np.nextafter, "real numeric", "nextafter(x0, x1)"),
    _math("logaddexp", np.logaddexp, "real numeric", "logaddexp_{T}(x0, x1)", helpers=_LOGADDEXP),
]}


def _textbook_multiply(x, y):
    """(a + bi)(c + di) = (ac - bd) + (ad + bc)i, one IEEE operation at a time, as the
    kernels compute it: NumPy's own complex loops fuse products on some instruction sets
    (inf + inf*j where the formula gives inf + nan*j)."""
    a, b, c, d = x.real, x.imag, y.real, y.imag
    out = np.empty(np.broadcast_shapes(np.shape(x), np.shape(y)), np.result_type(x, y))
    out.real, out.imag = a * c - b * d, a * d + b * c
    return out


# Complex ops whose NumPy loops are not the textbook formulas on every CPU.
_TEXTBOOK = {"multiply": _textbook_multiply}


class _Quiet(threading.local):
    """A context whose NumPy error state ignores every floating-point error, one per
    thread (a context is entered by one thread at a time). NumPy keeps that state in a
    context variable: running a ufunc in this context costs ~0.05 us, where setting
    and resetting the variable costs 0.4 and np.errstate 1, most of a small op's
    dispatch. Only NumPy's loops run in it, and they read no other variable."""

    def __init__(self):
        self.context = contextvars.Context()
        self.context.run(_ERRSTATE.set, _make_extobj(all="ignore"))


_QUIET = _Quiet()


def _cpu(op: Elementwise):
    ufunc, textbook = op.ufunc, _TEXTBOOK.get(op.name)

    @lru_cache(maxsize=None)
    def runs(compute, out_dtype, convert: bool):
        fn = textbook if textbook is not None and compute.kind == "c" else ufunc

        def run(*xs):
            if convert:
                xs = [x.astype(compute) if type(x) is np.ndarray and x.dtype != compute else x for x in xs]
            out = _QUIET.context.run(fn, *xs)  # the standard defines inf and NaN results, not warnings
            return out if type(out) is np.ndarray and out.dtype is out_dtype else np.asarray(out, out_dtype)

        def run_binary(x1, x2):  # the hot path, without packing arguments (0.3 us)
            out = _QUIET.context.run(fn, x1, x2)
            return out if type(out) is np.ndarray and out.dtype is out_dtype else np.asarray(out, out_dtype)
        return run_binary if op.nin == 2 and not convert else run

    def prepare(device, compute, out_dtype, *xs):  # (NumPy's loops take any layout)
        for x in xs:
            if type(x) is np.ndarray and x.dtype != compute:
                return runs(compute, out_dtype, True)
        return runs(compute, out_dtype, False)
    return prepare


@lru_cache(maxsize=None)
def _specialize(name: str, compute: np.dtype) -> tuple[str, tuple, str]:
    """The expression, its inputs' value types and the helper functions of op ``name``
    for one compute dtype."""
    op, t = OPS[name], C_TYPE[compute]
    template = op.expression(compute)
    expr = (template.replace("{T}", t).replace("{R}", C_TYPE[real_dtype(compute)])
            .replace("BITS", str(compute.itemsize * 8)))
    helpers = complex_math(t) if compute.kind == "c" else op.helpers.format(T=t) if "{T}" in template else ""
    return expr, (compute,) * op.nin, helpers


# The ops array code uses most (a scikit-learn fit uses little else): the ones a build
# brings as siblings. The first use of any other op brings all the others.
COMMON = {"abs", "add", "divide", "equal", "exp", "greater", "greater_equal", "isfinite", "isinf", "isnan",
          "less", "less_equal", "log", "logical_and", "logical_not", "logical_or", "maximum", "minimum",
          "multiply", "negative", "not_equal", "pow", "sqrt", "square", "subtract"}


@lru_cache(maxsize=None)
def first_siblings(dtypes: tuple) -> tuple:
    """What a device's first batched build brings beside its kernel's ``siblings``: the
    ``COMMON`` ops over contiguous arrays and scalars of float32, float64, int64 and
    bool, their casts, and ``where`` over them (a scikit-learn fit on float32 data uses
    all four dtypes: five builds, now one)."""
    common, b = [d for d in map(np.dtype, ("float32", "float64", "int64", "bool")) if d in dtypes], np.dtype(np.bool_)
    return (tuple(k for d in common for k in siblings("", (d,), ((("c", d, d),), False, 0), dtypes))
            + tuple(("x0 ? x1 : x2", d, (("c", b, b), x1, x2), False, 0, "", None) for d in common
                    for x1 in (("c", d, d), ("k", d, d)) for x2 in (("c", d, d), ("k", d, d))))


@lru_cache(maxsize=None)
def siblings(expr: str, values: tuple, layout: tuple, dtypes: tuple) -> tuple:
    """What a device that batches its builds (ops/launch.py's ``elementwise_program``)
    builds with the kernel of ``expr`` whose inputs have the value types ``values`` and
    are laid out as ``layout`` (operands, out_strided, ndim), each as
    ``elementwise_source``'s (expr, out_t, operands, out_strided, ndim, helpers, expr_t).
    Where the values are of one dtype: the ``COMMON`` ops (every op, where ``expr`` is
    another's) over that layout, over contiguous arrays and scalars of that dtype and,
    for a strided layout, over strided ones of its ndim; and one input's conversions to
    each of the device's ``dtypes``. Into a strided output (a copy into a view:
    setitem, concat), only the conversions: ops write new arrays."""
    if not values or values[0] not in ALL or any(t != values[0] for t in values):
        return ()
    rare = any(_specialize(name, values[0])[0] == expr for name, op in OPS.items() if name not in COMMON
               and values[0] in KINDS[op.kind] and op.expression(values[0]) is not None)
    compute, (_, out_strided, ndim) = values[0], layout
    array, scalar, strided = (("c", compute, compute), ("k", compute, compute), ("s", compute, compute))
    if out_strided:
        layouts, of_ops = [layout], []
    else:
        layouts = of_ops = list(dict.fromkeys([layout] + [(operands, False, 0) for operands in (
            (array,), (array, array), (array, scalar), (scalar, array))] + [(operands, False, ndim) for operands in (
                (strided,), (strided, array), (array, strided), (strided, strided), (strided, scalar),
                (scalar, strided)) if ndim]))
    ops = tuple((expr, op.out_dtype(compute), *layout, helpers, None)
                for layout in of_ops for op in OPS.values() if rare or op.name in COMMON
                if op.nin == len(layout[0]) and compute in KINDS[op.kind] and op.expression(compute) is not None
                for expr, _, helpers in [_specialize(op.name, compute)])
    return ops + tuple(("x0", dtype, *layout, "", compute) for layout in layouts if len(layout[0]) == 1
                       for dtype in dtypes if dtype in ALL)


def _kernel(op: Elementwise):
    name = op.name

    def prepare(device, compute, out_dtype, *xs):
        return elementwise(device, *_specialize(name, compute), out_dtype, xs)
    return prepare


# An elementwise op's implementation prepares it for its compute and result dtypes and
# operands laid out as ``xs``: the namespace keeps what it returns, ``run(*payloads)``,
# per device and operand layout, so a call on checked operands is only that run (the
# hot path, every device alike).
for _op in OPS.values():
    declare(Op(_op.name, ("compute", "out_dtype", "xs"), f"run(*payloads): {_op.kind} elementwise", _op.ufunc))
    register(_op.name, on=("cpu",))(_cpu(_op))
    register(_op.name, on=("buffer",))(_kernel(_op))


register("where", on=("cpu",))(lambda device, dtype, shape, condition, x1, x2: np.where(
    condition, np.asarray(x1, dtype), np.asarray(x2, dtype)))


@register("where", on=("buffer",))
def where(device, dtype, shape, condition, x1, x2):
    inputs = (condition, x1, x2)
    return elementwise(device, "x0 ? x1 : x2", (np.dtype(np.bool_), dtype, dtype), "", dtype, inputs)(*inputs)
