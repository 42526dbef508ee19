"""Op implementations registered per backend, and the lookup that picks one.

An op is defined once in ``ops/``; each implementation registers for the backends it
runs on: a backend name ("cpu", "opencl") or a family ("buffer": every backend whose
arrays are ``hal.memory.Strided`` views and which compiles portable kernels). The
choice is memoized per device, so the steady-state cost of dispatch is a dict lookup.
"""
from __future__ import annotations

from collections import defaultdict

_registry: dict[str, list] = defaultdict(list)


def register(op: str, *, on: tuple[str, ...], kind: str = "kernel"):
    """Decorator: ``fn(device, *payloads, **params)`` implements ``op`` on ``on``."""
    def deco(fn):
        _registry[op].append((on, kind, fn))
        return fn
    return deco


def resolve(op: str, device, optional: bool = False) -> callable:
    """The implementation of ``op`` on ``device``: one registered for its backend by name
    (a library call such as cuBLAS) before one for its whole family (portable kernels);
    NotImplementedError naming both if the device has none (never a silent host round-trip).
    ``optional``: only one registered for the backend by name, else None."""
    impls = _registry.get(op, ())
    for fn in [fn for on, _, fn in impls if device.backend_name in on] + \
              [fn for on, _, fn in impls if device.family in on and not optional]:
        return fn
    if optional:
        return None
    raise NotImplementedError(f"{op} is not implemented on {device.name} ({device.backend_name} backend)")


def ops() -> list[str]:
    return sorted(_registry)
