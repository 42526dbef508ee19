"""The case battery: for every op hal offers, calls over each dtype a device has and over
the shapes kernels get wrong (0-d, empty, ragged tails, non-contiguous views,
broadcasting) and the special floating values.

A case is an op name, a label, NumPy inputs and a call ``call(device, *arrays)``; the
runner puts the inputs on the device under test and on the reference (cpu) and makes
the same call on both. A dtype an op does not take is still tried: the reference then
raises, and the device must raise the same error type (argument checks are part of
conformance). ``small`` keeps one dtype per kind and the smallest shapes, for simulators.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

import hal
from hal.array_api import elementwise as _elementwise
from hal.ops import quant

from .data import positive_definite, random, special

# Namespace functions that do not compute on a device's arrays: dtype queries, device
# selection, counters. The battery has a case for every other function.
NOT_DEVICE_OPS = {"can_cast", "finfo", "iinfo", "isdtype", "result_type", "broadcast_shapes", "devices",
                  "device", "default_device", "get_default_device", "set_default_device", "stats",
                  "reset_stats",
                  "einsum", "pad", "transpose"}  # (NumPy's names for xarray: compositions of the ops below)
# The second operand's range where the default [-5, 5] is out of an op's domain.
SECOND_OPERAND = {"bitwise_left_shift": (0, 7), "bitwise_right_shift": (0, 7), "pow": (0, 3)}


@dataclass(frozen=True)
class Case:
    op: str
    label: str
    inputs: tuple
    call: Callable
    values: bool = True  # False: only the results' dtypes and shapes are defined (empty)


class Grid:
    """What to sweep: ``dtypes`` each op is tried with, ``shape_dtypes`` the few the
    shape cases use, ``n`` a ragged length (not a multiple of any work-group size)."""

    def __init__(self, device_dtypes, small: bool):
        kinds = (hal.bool, hal.int32, hal.uint8, hal.float32, hal.complex64)
        self.dtypes = [d for d in device_dtypes if not small or d in kinds]
        self.shape_dtypes = [d for d in (hal.float32, hal.int32) if d in device_dtypes]
        self.floats = [d for d in self.dtypes if d.kind in "fc"]
        self.n = 13 if small else 37
        self.small = small


def elementwise(g: Grid) -> list[Case]:
    cases = []
    for name, spec in _elementwise.OPS.items():
        fn = getattr(hal, name)
        call = (lambda d, x, fn=fn: fn(x)) if spec.nin == 1 else (lambda d, x, y, fn=fn: fn(x, y))
        low, high = SECOND_OPERAND.get(name, (-5, 5))
        operands = lambda shape, dt, seed=0: (random(shape, dt, seed),) + (
            (random(shape, dt, seed + 1, low, high),) if spec.nin == 2 else ())
        for dt in g.dtypes:
            cases.append(Case(name, f"{dt.name} ({g.n},)", operands((g.n,), dt), call))
        for dt in g.floats:
            cases.append(Case(name, f"{dt.name} special values", _special_operands(dt, spec.nin), call))
        for dt in g.shape_dtypes:
            cases.append(Case(name, f"{dt.name} 0-d", operands((), dt), call))
            cases.append(Case(name, f"{dt.name} empty", operands((0, 3), dt), call))
            strided = (lambda d, x, fn=fn: fn(x[:, ::-2])) if spec.nin == 1 else \
                (lambda d, x, y, fn=fn: fn(x[::2, 1:], y.mT[1:, :3]))
            shape = (5, 7) if spec.nin == 1 else (6, 4)
            cases.append(Case(name, f"{dt.name} non-contiguous", operands(shape, dt), strided))
            if spec.nin == 2:
                x, y = random((3, 1), dt), random((1, 4), dt, 1, low, high)
                cases.append(Case(name, f"{dt.name} broadcast (3,1)x(1,4)", (x, y), call))
                cases.append(Case(name, f"{dt.name} with a Python scalar", (x,),
                                  lambda d, x, fn=fn: fn(x, 2)))
        if spec.nin == 2:
            mixed = (random((g.n,), hal.int16), random((g.n,), hal.float32, 1, low, high))
            cases.append(Case(name, "int16 with float32", mixed, call))
    return cases


def _special_operands(dtype, nin: int) -> tuple:
    """Each special value, and for binary ops each pair of them. Complex ones keep only
    finite, non-zero values of moderate size (signed-zero and tiny parts included),
    each paired with an ordinary value: with infinite, NaN or zero operands the standard
    leaves many results (or their signs) unspecified and NumPy departs from C99 Annex G
    in others, e.g. sign(inf+0j), 1/(0+0j); with huge parts a phase such as
    arg(z) * 1e30 is rounding noise."""
    x = special(dtype)
    if np.dtype(dtype).kind == "c":
        parts = np.stack([x.real, x.imag])
        x = x[np.isfinite(parts).all(0) & (np.abs(parts) <= 1e10).all(0) & (x != 0)]
    if nin == 1:
        return (x,)
    if np.dtype(dtype).kind == "c":
        ordinary = random(x.shape, dtype)
        return np.concatenate([x, ordinary]), np.concatenate([ordinary, x])
    return np.repeat(x, len(x)), np.tile(x, len(x))


def _where_clip(g: Grid) -> list[Case]:
    cases = []
    for dt in g.dtypes:
        c, x, y = random((g.n,), hal.bool), random((g.n,), dt, 1), random((g.n,), dt, 2)
        cases.append(Case("where", f"{dt.name} ({g.n},)", (c, x, y), lambda d, c, x, y: hal.where(c, x, y)))
        cases.append(Case("clip", f"{dt.name} ({g.n},)", (x,), lambda d, x: hal.clip(x, -2, 3)))
        cases.append(Case("clip", f"{dt.name} array bounds", (x, y),
                          lambda d, x, y: hal.clip(x, min=y, max=y + 2)))
    for dt in g.shape_dtypes:
        c, x = random((4, 1), hal.bool), random((1, 5), dt)
        cases.append(Case("where", f"{dt.name} broadcast, scalar", (c, x), lambda d, c, x: hal.where(c, x, 0)))
        cases.append(Case("clip", f"{dt.name} non-contiguous, empty", (random((6, 0), dt), random((6, 5), dt)),
                          lambda d, e, x: (hal.clip(e, 0, 1), hal.clip(x.mT[::2], max=0))))
    return cases


def creation(g: Grid) -> list[Case]:
    cases = [Case("arange", "int, float, negative step", (), lambda d: (
                 hal.arange(7, device=d), hal.arange(1.5, 9.0, 0.75, device=d), hal.arange(10, -3, -3, device=d),
                 hal.arange(0, device=d))),
             Case("linspace", "with and without endpoint", (), lambda d: (
                 hal.linspace(-1.0, 1.0, 11, device=d), hal.linspace(0, 1, 7, endpoint=False, device=d),
                 hal.linspace(2, 3, 0, device=d))),
             Case("eye", "square, wide, shifted", (), lambda d: (
                 hal.eye(4, device=d), hal.eye(3, 6, k=2, device=d), hal.eye(5, 2, k=-1, device=d))),
             Case("meshgrid", "xy and ij", (random((3,), hal.float32), random((4,), hal.float32, 1)),
                  lambda d, x, y: (*hal.meshgrid(x, y), *hal.meshgrid(x, y, indexing="ij")))]
    for dt in g.dtypes:
        label = f"{dt.name} (2,{g.n})"
        x = random((2, g.n), dt)
        cases += [Case("empty", label, (), lambda d, dt=dt: hal.empty((2, 3), dtype=dt, device=d), values=False),
                  Case("empty_like", label, (x,), lambda d, x: hal.empty_like(x), values=False),
                  Case("zeros", label, (), lambda d, dt=dt: hal.zeros((2, g.n), dtype=dt, device=d)),
                  Case("ones", label, (), lambda d, dt=dt: hal.ones((2, g.n), dtype=dt, device=d)),
                  Case("full", label, (), lambda d, dt=dt: hal.full((2, g.n), 1, dtype=dt, device=d)),
                  Case("zeros_like", label, (x,), lambda d, x: hal.zeros_like(x)),
                  Case("ones_like", label, (x,), lambda d, x: hal.ones_like(x)),
                  Case("full_like", label, (x,), lambda d, x: hal.full_like(x, True)),
                  Case("tril", label, (x,), lambda d, x: (hal.tril(x), hal.tril(x, k=3))),
                  Case("triu", label, (x,), lambda d, x: (hal.triu(x), hal.triu(x, k=-1))),
                  Case("asarray", label, (x,), lambda d, x: (hal.asarray(x, copy=True), hal.asarray(x[:, ::3]))),
                  Case("from_dlpack", label, (x,), lambda d, x: hal.from_dlpack(x))]
    for dt in g.shape_dtypes:
        cases += [Case("full", f"{dt.name} 0-d and empty", (), lambda d, dt=dt: (
                      hal.full((), 3, dtype=dt, device=d), hal.full((0, 4), 3, dtype=dt, device=d))),
                  Case("tril", f"{dt.name} batched, non-contiguous", (random((2, 5, 4), dt),),
                       lambda d, x: hal.tril(x.mT, k=-1)),
                  Case("asarray", "from Python lists", (), lambda d: (
                      hal.asarray([[1, 2], [3, 4]], device=d), hal.asarray([1.5, -2.0], device=d),
                      hal.asarray(True, device=d)))]
    return cases


def conversion(g: Grid) -> list[Case]:
    cases = []
    for src in g.dtypes:
        x = random((g.n,), src)
        for dst in g.dtypes:
            # A negative float has no unsigned value: C leaves the conversion undefined.
            values = np.abs(x) if src.kind in "fc" and dst.kind == "u" else x
            cases.append(Case("astype", f"{src.name} -> {dst.name}", (values,),
                              lambda d, x, dst=dst: hal.astype(x, dst)))
    for dt in g.floats:
        cases.append(Case("astype", f"{dt.name} special -> bool", (special(dt),), lambda d, x: hal.astype(x, hal.bool)))
    for dt in g.shape_dtypes:
        cases.append(Case("astype", f"{dt.name} non-contiguous, 0-d", (random((4, 6), dt),),
                          lambda d, x: (hal.astype(x[::2, ::-3], hal.int8), hal.astype(x[0, 0], hal.float32))))
    for name in ("real", "imag", "conj"):  # also in elementwise; here: views of complex arrays
        for dt in (c for c in g.dtypes if c.kind == "c"):
            cases.append(Case(name, f"{dt.name} non-contiguous", (random((5, 6), dt),),
                              lambda d, x, fn=getattr(hal, name): fn(x.mT[::2])))
    return cases


def statistics(g: Grid) -> list[Case]:
    cases = []
    reductions = {"sum": {}, "prod": {}, "max": {}, "min": {}, "mean": {}, "std": {"correction": 1}, "var": {},
                  "all": {}, "any": {}, "count_nonzero": {}, "argmax": {}, "argmin": {}}
    for name, kw in reductions.items():
        fn = getattr(hal, name)
        low, high = (-2, 2) if name == "prod" else (-5, 5)
        for dt in g.dtypes:
            x = random((4, 5 if name == "prod" else g.n), dt, 0, low, high)
            axes = (lambda d, x, fn=fn, kw=kw: (fn(x, axis=0, **kw), fn(x, axis=1, **kw)) + (
                () if name in ("argmax", "argmin") else (fn(x, axis=None, keepdims=True, **kw),)))
            cases.append(Case(name, f"{dt.name} (4,{x.shape[1]}) per axis", (x,), axes))
            if name not in ("argmax", "argmin"):
                cases.append(Case(name, f"{dt.name} whole", (x,), lambda d, x, fn=fn, kw=kw: fn(x, **kw)))
        for dt in g.floats:
            cases.append(Case(name, f"{dt.name} special values", (special(dt),), lambda d, x, fn=fn, kw=kw: fn(x, **kw)))
        for dt in g.shape_dtypes:
            x = random((3, 4, 6), dt, 0, low, high)
            cases.append(Case(name, f"{dt.name} non-contiguous, two axes", (x,),
                              lambda d, x, fn=fn, kw=kw: fn(x.mT[:, ::2], axis=(0, 2) if name not in (
                                  "argmax", "argmin") else 1, **kw)))
            cases.append(Case(name, f"{dt.name} 0-d", (random((), dt),), lambda d, x, fn=fn, kw=kw: fn(x, **kw)))
            cases.append(Case(name, f"{dt.name} empty", (random((0, 3), dt),),
                              lambda d, x, fn=fn, kw=kw: fn(x, axis=0, **kw)))
            if not g.small:
                big = random((3, 1000 + 7), dt, 0, low, high)
                cases.append(Case(name, f"{dt.name} long rows", (big,), lambda d, x, fn=fn, kw=kw: fn(x, axis=-1, **kw)))
    for name in ("cumulative_sum", "cumulative_prod"):
        fn = getattr(hal, name)
        low, high = (-2, 2) if name == "cumulative_prod" else (-5, 5)
        for dt in g.dtypes:
            x = random((3, 6 if name == "cumulative_prod" else g.n), dt, 0, low, high)
            cases.append(Case(name, f"{dt.name} both axes, include_initial", (x,), lambda d, x, fn=fn: (
                fn(x, axis=1), fn(x, axis=0, include_initial=True))))
        for dt in g.shape_dtypes:
            cases.append(Case(name, f"{dt.name} 1-d non-contiguous, empty", (random((14,), dt, 0, low, high),),
                              lambda d, x, fn=fn: (fn(x[::-2]), fn(x[:0]))))
            if not g.small:
                cases.append(Case(name, f"{dt.name} long", (random((3000,), dt, 0, -1, 1),), lambda d, x, fn=fn: fn(x)))
    for dt in g.dtypes:
        x = random((3, g.n), dt)
        cases.append(Case("diff", f"{dt.name} n=1,2", (x,), lambda d, x: (hal.diff(x), hal.diff(x, axis=0, n=2))))
    return cases


def searching(g: Grid) -> list[Case]:
    cases = []
    for dt in g.dtypes:
        x = random((3, g.n), dt)
        label = f"{dt.name} (3,{g.n})"
        cases += [Case("sort", label, (x,), lambda d, x: (hal.sort(x), hal.sort(x, axis=0, descending=True))),
                  Case("argsort", label, (x,), lambda d, x: (hal.argsort(x), hal.argsort(x, axis=0, descending=True))),
                  Case("nonzero", label, (x,), lambda d, x: hal.nonzero(x)),
                  Case("unique_values", label, (x,), lambda d, x: hal.unique_values(x)),
                  Case("unique_counts", label, (x,), lambda d, x: tuple(hal.unique_counts(x))),
                  Case("unique_inverse", label, (x,), lambda d, x: tuple(hal.unique_inverse(x))),
                  Case("unique_all", label, (x,), lambda d, x: tuple(hal.unique_all(x))),
                  Case("isin", label, (x, random((5,), dt, 1)), lambda d, x, y: (hal.isin(x, y), hal.isin(x, y, invert=True))),
                  Case("searchsorted", label, (np.sort(random((g.n,), dt)), random((2, 5), dt, 1)),
                       lambda d, s, v: (hal.searchsorted(s, v), hal.searchsorted(s, v, side="right"))),
                  Case("take", label, (x, np.array([2, 0, 1, 0], dtype=np.int64)),
                       lambda d, x, i: (hal.take(x, i, axis=1), hal.take(x, i[:3], axis=0))),
                  Case("take_along_axis", label, (x, random((3, 4), hal.int64, 1, 0, 2)),
                       lambda d, x, i: hal.take_along_axis(x, i, axis=1))]
    for dt in g.floats:
        x = special(dt)
        # Where NaNs go among unique values is unspecified; hal and NumPy agree for reals.
        for name in ("sort", "argsort", "nonzero") + (("unique_values",) if dt.kind == "f" else ()):
            cases.append(Case(name, f"{dt.name} special values", (x,), lambda d, x, fn=getattr(hal, name): fn(x)))
    for dt in g.shape_dtypes:
        x = random((4, 6), dt)
        for name in ("sort", "argsort", "unique_values", "nonzero", "unique_counts"):
            fn = getattr(hal, name)
            cases.append(Case(name, f"{dt.name} non-contiguous, empty", (x,),
                              lambda d, x, fn=fn: (fn(x.mT[::2]), fn(x[:0]))))
        if not g.small:
            long = random((2, 3000 + 5), dt)
            cases.append(Case("sort", f"{dt.name} long rows", (long,), lambda d, x: (hal.sort(x), hal.argsort(x, stable=True))))
    return cases


def manipulation(g: Grid) -> list[Case]:
    cases = []
    for dt in g.dtypes:
        x, y = random((2, 3, g.n), dt), random((2, 3, g.n), dt, 1)
        label = f"{dt.name} (2,3,{g.n})"
        cases += [Case("concat", label, (x, y), lambda d, x, y: (hal.concat([x, y], axis=1), hal.concat([x, y], axis=None))),
                  Case("stack", label, (x, y), lambda d, x, y: (hal.stack([x, y]), hal.stack([x, y], axis=-1))),
                  Case("expand_dims", label, (x,), lambda d, x: hal.expand_dims(x, axis=(0, -1))),
                  Case("flip", label, (x,), lambda d, x: (hal.flip(x), hal.flip(x, axis=(0, 2)))),
                  Case("moveaxis", label, (x,), lambda d, x: hal.moveaxis(x, 0, -1)),
                  Case("permute_dims", label, (x,), lambda d, x: hal.permute_dims(x, (2, 0, 1))),
                  Case("repeat", label, (x,), lambda d, x: (hal.repeat(x, 2, axis=1), hal.repeat(x, 3))),
                  Case("reshape", label, (x,), lambda d, x: (hal.reshape(x, (-1, 2)), hal.reshape(x.mT, (6, -1)))),
                  Case("roll", label, (x,), lambda d, x: (hal.roll(x, 5), hal.roll(x, (1, -2), axis=(0, 2)))),
                  Case("squeeze", label, (x,), lambda d, x: hal.squeeze(x[:1, :, :1], axis=(0, 2))),
                  Case("tile", label, (x,), lambda d, x: hal.tile(x, (2, 1, 2))),
                  Case("unstack", label, (x,), lambda d, x: (*hal.unstack(x), *hal.unstack(x, axis=2))),
                  Case("broadcast_to", label, (x,), lambda d, x: hal.broadcast_to(x[:, :1], (4, 2, 3, x.shape[2]))),
                  Case("broadcast_arrays", label, (x, y), lambda d, x, y: hal.broadcast_arrays(x[:1], y[:, :, :1])),
                  Case("matrix_transpose", label, (x,), lambda d, x: hal.matrix_transpose(x))]
    for dt in g.shape_dtypes:
        x = random((4, 6), dt)
        for name, call in {"concat": lambda d, x: hal.concat([x.mT, x[:0].mT, x.mT[::2]], axis=1),
                           "flip": lambda d, x: (hal.flip(x.mT[::2]), hal.flip(x[0, 0])),
                           "reshape": lambda d, x: (hal.reshape(x.mT, (-1,)), hal.reshape(x[:0], (0, 5, 0))),
                           "roll": lambda d, x: (hal.roll(x.mT, 3, axis=0), hal.roll(x[0, 0], 2)),
                           "repeat": lambda d, x: hal.repeat(x.mT, hal.asarray([1, 0, 2, 1, 0, 3], device=d), axis=0),
                           "tile": lambda d, x: (hal.tile(x.mT, (2,)), hal.tile(x[0, 0], (3,))),
                           "stack": lambda d, x: hal.stack([x[0, 0], x[1, 1]])}.items():
            cases.append(Case(name, f"{dt.name} non-contiguous, 0-d/empty", (x,), call))
    return cases


def linear_algebra(g: Grid) -> list[Case]:
    cases = []
    for dt in g.dtypes:
        a, b, v = random((5, g.n), dt), random((g.n, 3), dt, 1), random((g.n,), dt, 2)
        label = f"{dt.name} ({5},{g.n})@({g.n},3)"
        cases += [Case("matmul", label, (a, b, v), lambda d, a, b, v: (a @ b, hal.matmul(a, v), hal.matmul(v, b))),
                  Case("tensordot", label, (a, b), lambda d, a, b: (hal.tensordot(a, b, axes=1),
                                                                    hal.tensordot(a, a, axes=([1], [1])))),
                  Case("vecdot", label, (a, v), lambda d, a, v: (hal.vecdot(a, v), hal.vecdot(a, a, axis=0))),
                  Case("linalg.outer", label, (v,), lambda d, v: hal.linalg.outer(v, v[::-1])),
                  Case("linalg.trace", label, (a,), lambda d, a: (hal.linalg.trace(a), hal.linalg.trace(a, offset=2))),
                  Case("linalg.diagonal", label, (a,), lambda d, a: (hal.linalg.diagonal(a), hal.linalg.diagonal(a, offset=-1))),
                  Case("linalg.cross", f"{dt.name} (4,3)", (random((4, 3), dt), random((4, 3), dt, 1)),
                       lambda d, x, y: hal.linalg.cross(x, y)),
                  Case("linalg.vector_norm", label, (a,), lambda d, a: (
                      hal.linalg.vector_norm(a), hal.linalg.vector_norm(a, axis=1, ord=1),
                      hal.linalg.vector_norm(a, axis=0, ord=hal.inf))),
                  Case("linalg.matmul", label, (a, b), lambda d, a, b: hal.linalg.matmul(a, b)),
                  Case("linalg.tensordot", label, (a, b), lambda d, a, b: hal.linalg.tensordot(a, b, axes=1)),
                  Case("linalg.vecdot", label, (a,), lambda d, a: hal.linalg.vecdot(a, a)),
                  Case("linalg.matrix_transpose", label, (a,), lambda d, a: hal.linalg.matrix_transpose(a))]
    for dt in g.shape_dtypes:
        a, b = random((2, 1, 6, 5), dt), random((3, 5, 4), dt, 1)
        cases += [Case("matmul", f"{dt.name} batched broadcast, non-contiguous, empty", (a, b), lambda d, a, b: (
                      a @ b, a.mT[..., ::2, :] @ b.mT[..., ::2], a[..., :0] @ b[:, :0], a[0, 0, :, 0] @ b[0, :, 0])),
                  Case("vecdot", f"{dt.name} broadcast", (a, b), lambda d, a, b: hal.vecdot(a[..., :4], b.mT))]
    if not g.small:
        for dt in g.shape_dtypes:
            cases.append(Case("matmul", f"{dt.name} (67,129)@(129,70)", (random((67, 129), dt), random((129, 70), dt, 1)),
                              lambda d, a, b: a @ b))
    square = [dt for dt in g.dtypes if dt.kind in "fc"]
    for dt in square:
        a, spd = random((4, 4), dt), positive_definite(4, dt)
        label = f"{dt.name} 4x4"
        cases += [Case("linalg.matrix_norm", label, (a,), lambda d, a: tuple(
                      hal.linalg.matrix_norm(a, ord=o) for o in ("fro", 1, -1, hal.inf, -hal.inf, 2, -2, "nuc"))),
                  Case("linalg.matrix_power", label, (spd,), lambda d, a: (
                      hal.linalg.matrix_power(a, 0), hal.linalg.matrix_power(a, 3), hal.linalg.matrix_power(a, -2)))]
        for name in ("cholesky", "det", "eigh", "eigvalsh", "inv", "matrix_rank", "pinv", "qr", "slogdet", "svd",
                     "svdvals", "eig", "eigvals"):
            fn = getattr(hal.linalg, name)
            cases.append(Case(f"linalg.{name}", label, (spd,), lambda d, a, fn=fn: _fields(fn(a))))
        cases.append(Case("linalg.solve", label, (spd, random((4, 2), dt)), lambda d, a, b: hal.linalg.solve(a, b)))
    for dt in [d for d in g.dtypes if d.kind in "iu"][:1]:
        cases.append(Case("linalg.matrix_power", f"{dt.name} 3x3", (random((3, 3), dt, 0, -2, 2),),
                          lambda d, a: hal.linalg.matrix_power(a, 3)))
    return cases


def _fields(result):
    """A named tuple of arrays as a plain tuple (the runner compares leaves)."""
    return tuple(result) if isinstance(result, tuple) else result


def fourier(g: Grid) -> list[Case]:
    cases = [Case("fft.fftfreq", "n=8, 9", (), lambda d: (hal.fft.fftfreq(8, device=d), hal.fft.fftfreq(9, d=0.5, device=d))),
             Case("fft.rfftfreq", "n=8, 9", (), lambda d: (hal.fft.rfftfreq(8, device=d), hal.fft.rfftfreq(9, d=0.5, device=d)))]
    for dt in [d for d in g.dtypes if d.kind in "fc"]:
        x = random((3, 8), dt)
        label = f"{dt.name} (3,8)"
        cases += [Case("fft.fftshift", label, (x,), lambda d, x: (hal.fft.fftshift(x), hal.fft.fftshift(x[:, :7], axes=1))),
                  Case("fft.ifftshift", label, (x,), lambda d, x: (hal.fft.ifftshift(x), hal.fft.ifftshift(x[:, :7], axes=1)))]
        complex_only = dt.kind == "c"
        for name in ("fft", "ifft", "fftn", "ifftn", "hfft") if complex_only else ("rfft", "rfftn", "ihfft"):
            cases.append(Case(f"fft.{name}", label, (x,), lambda d, x, fn=getattr(hal.fft, name): fn(x)))
        if complex_only:
            for name in ("irfft", "irfftn"):
                cases.append(Case(f"fft.{name}", label, (x[:, :5],), lambda d, x, fn=getattr(hal.fft, name): fn(x)))
    return cases


def indexing(g: Grid) -> list[Case]:
    cases = []
    for dt in g.dtypes:
        x, m, v = random((4, g.n), dt), random((4, g.n), hal.bool, 1), random((g.n,), dt, 2)
        label = f"{dt.name} (4,{g.n})"
        cases += [Case("getitem", label, (x,), lambda d, x: (x[1], x[::-2, 3:], x[..., None, -1], x[-1, -1], x[2:2])),
                  Case("getitem mask", label, (x, m), lambda d, x, m: (x[m], x[m[:, 0]], x[0][m[0]])),
                  Case("getitem int array", label, (x,), lambda d, x: (
                      x[hal.asarray([3, 0, 0, 2], device=d)], x[hal.asarray([1, 2], device=d), hal.asarray([0, -1], device=d)])),
                  Case("setitem", label, (x, v), lambda d, x, v: _set(x, (slice(1, 3), slice(None, None, -1)), v)),
                  Case("setitem mask", label, (x, m), lambda d, x, m: _set(x, m, x[0, 0])),
                  Case("setitem int array", label, (x, v), lambda d, x, v: _set(
                      x, (hal.asarray([3, 0], device=d), hal.asarray([1, 4], device=d)), v[:2]))]
    return cases


def _set(x, key, value):
    x[key] = value
    return x


def neural(g: Grid) -> list[Case]:
    if hal.float32 not in g.dtypes:
        return []
    rows, cols = 6, 64
    x = random((3, cols), hal.float32)
    cases = [Case("nn.rms_norm", "(3,64), non-contiguous", (x, random((cols,), hal.float32, 1)),
                  lambda d, x, w: (hal.nn.rms_norm(x, w), hal.nn.rms_norm(x[::-2], w, eps=1e-3))),
             Case("nn.softmax", "(3,64) both axes", (x,), lambda d, x: (hal.nn.softmax(x), hal.nn.softmax(x, axis=0))),
             Case("nn.silu_mul", "(3,64)", (x, random((3, cols), hal.float32, 1)), lambda d, x, u: hal.nn.silu_mul(x, u)),
             Case("nn.gelu_mul", "(3,64)", (x, random((3, cols), hal.float32, 1)), lambda d, x, u: hal.nn.gelu_mul(x, u)),
             Case("nn.scale", "(3,64) by 0.125", (x,), lambda d, x: hal.nn.scale(x, 0.125)),
             Case("nn.add_rows", "(3,64) + (64,)", (x, random((cols,), hal.float32, 1)),
                  lambda d, x, b: hal.nn.add_rows(x, b)),
             Case("nn.rope", "(3,2,8)", (random((3, 2, 8), hal.float32), np.array([0, 5, 17])),
                  lambda d, x, p: hal.nn.rope(x, p)),
             Case("nn.attention", "4 heads over 2 kv heads", (random((3, 4, 8), hal.float32), random((9, 2, 8), hal.float32, 1),
                                                                random((9, 2, 8), hal.float32, 2)),
                  lambda d, q, k, v: hal.nn.attention(q, k, v, n_past=4)),
             Case("nn.to_half", "special values, (3,64)", (special(hal.float32), x),
                  lambda d, s, x: (hal.nn.to_half(s), hal.nn.to_half(x * 1e-6), hal.nn.to_half(x * 1e4))),
             Case("nn.attention", "float16 kv cache", (random((2, 4, 8), hal.float32), random((9, 2, 8), hal.float32, 1),
                                                        random((9, 2, 8), hal.float32, 2)),
                  lambda d, q, k, v: hal.nn.attention(q, hal.nn.to_half(k), hal.nn.to_half(v), n_past=3)),
             Case("nn.add_rms_norm", "(3,64), x updated in place", (x, random((3, cols), hal.float32, 1),
                                                                     random((cols,), hal.float32, 2)),
                  lambda d, x, delta, w: _updated(x, lambda y: hal.nn.add_rms_norm(y, delta, w))),
             Case("nn.rope_store", "2 rows into float16 caches", (random((2, 4, 8), hal.float32),
                                                                  random((2, 2, 8), hal.float32, 1),
                                                                  random((2, 2, 8), hal.float32, 2), np.array([3, 7])),
                  lambda d, q, k, v, p: _stored(d, lambda kc, vc: hal.nn.rope_store(q, k, v, kc, vc, p))),
             Case("nn.attention_step", "one row at position 5", (random((1, 4, 8), hal.float32),
                                                                 random((9, 2, 8), hal.float32, 1),
                                                                 random((9, 2, 8), hal.float32, 2), np.array([5])),
                  lambda d, q, k, v, p: hal.nn.attention_step(q, hal.nn.to_half(k), hal.nn.to_half(v), p)),
             Case("nn.sample", "greedy and seeded", (random((50,), hal.float32),), lambda d, x: (
                 hal.nn.sample(x), hal.nn.sample(x, temperature=0.8, top_k=10, top_p=0.9, seed=3))),
             Case("nn.linear", "float weight", (x, random((rows, cols), hal.float32, 1)), lambda d, x, w: hal.nn.linear(x, w)),
             Case("nn.embedding", "float weight", (random((rows, cols), hal.float32), np.array([[5, 0], [2, 2]])),
                  lambda d, w, i: hal.nn.embedding(w, i))]
    for name, qtype in quant.TYPES.items():
        if g.small and name not in ("Q8_0", "Q4_K"):
            continue
        cols_q = qtype.qk if qtype.qk > 1 else 32
        raw = quant.random_raw(qtype, rows, cols_q, np.random.default_rng(0))
        weight = lambda d, raw=raw, name=name, cols_q=cols_q: hal.nn.QuantizedWeight.from_raw(raw, name, (rows, cols_q), device=d)
        cases += [Case("nn.linear", f"{name} weight, 1 and 5 rows", (random((5, cols_q), hal.float32),),
                       lambda d, x, weight=weight: (hal.nn.linear(x[:1], weight(d)), hal.nn.linear(x, weight(d)))),
                  Case("nn.embedding", f"{name} weight", (np.array([5, 0, 3]),),
                       lambda d, i, weight=weight: hal.nn.embedding(weight(d), i))]
    return cases


BUILDERS = (elementwise, _where_clip, creation, conversion, statistics, searching, manipulation, linear_algebra,
            fourier, indexing, neural)


def battery(device_dtypes, small: bool = False) -> list[Case]:
    """Every case for a device with ``device_dtypes``."""
    grid = Grid(device_dtypes, small)
    return [case for build in BUILDERS for case in build(grid)]


def _updated(x, op):
    """``op`` of a copy of ``x`` that it updates in place, and the updated copy."""
    y = hal.asarray(x, copy=True)
    return op(y), y


def _stored(device, op):
    """``op`` of two empty float16 caches (9, 2, 8) that it writes, and both caches."""
    k_cache, v_cache = (hal.zeros((9, 2, 8), dtype=hal.uint16, device=device) for _ in range(2))
    return op(k_cache, v_cache), k_cache, v_cache
