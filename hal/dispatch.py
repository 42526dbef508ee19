"""Ops as declared records, their implementations registered per backend, and the
lookup that picks one.

Every op is declared once (``Op``: its name, its implementations' parameters, its
result, the reference the tests hold every device to; ops/declarations.py and the
elementwise table). An implementation registers for the backends it runs on: a backend
name ("cpu", "opencl") or a family ("buffer": every backend whose arrays are
``hal.memory.Strided`` views and which compiles portable kernels). Registration checks
the record, so a misspelt op or a parameter list that disagrees with it fails when its
module is imported. The choice is memoized per device, so the steady-state cost of
dispatch is a dict lookup.
"""
from __future__ import annotations

import inspect
from collections import defaultdict
from typing import NamedTuple


class Op(NamedTuple):
    """One op: ``params``, the parameters of every implementation after ``device``;
    ``result``, what it returns; ``reference``, the semantics every device must match
    (a NumPy function, or the words that define it). An ``optional`` op is one a backend
    may leave out: callers compose it from other ops there (``Device.library``)."""
    name: str
    params: tuple
    result: str
    reference: object
    optional: bool = False


_declared: dict[str, Op] = {}
_registry: dict[str, list] = defaultdict(list)


def declare(*ops: Op) -> None:
    for op in ops:
        if op.name in _declared:
            raise ValueError(f"op {op.name!r} is declared twice")
        _declared[op.name] = op


def register(op: str, *, on: tuple[str, ...]):
    """Decorator: ``fn(device, *params)`` implements the declared ``op`` on ``on``."""
    if op not in _declared:
        raise NameError(f"register: no op {op!r} is declared (ops/declarations.py)")

    def deco(fn):
        params = tuple(inspect.signature(fn).parameters)[1:]
        if params != _declared[op].params:
            raise TypeError(f"{fn.__module__}.{fn.__name__} implements {op}{_declared[op].params} "
                            f"with parameters {params}")
        _registry[op].append((on, fn))
        return fn
    return deco


def resolve(op: str, device, optional: bool = False) -> callable:
    """The implementation of ``op`` on ``device``: one registered for its backend by name
    (a library call such as cuBLAS) before one for its whole family (portable kernels);
    NotImplementedError naming both if the device has none (never a silent host round-trip).
    ``optional``: only one registered for the backend by name, else None."""
    if op not in _declared:
        raise NameError(f"no op {op!r} is declared (ops/declarations.py)")
    impls = _registry.get(op, ())
    for fn in [fn for on, fn in impls if device.backend_name in on] + \
              [fn for on, fn in impls if device.family in on and not optional]:
        return fn
    if optional:
        return None
    raise NotImplementedError(f"{op} is not implemented on {device.name} ({device.backend_name} backend)")


def ops() -> list[str]:
    """The declared ops."""
    return sorted(_declared)
