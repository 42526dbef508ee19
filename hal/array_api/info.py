"""The inspection API ("Inspection", array API 2025.12): ``__array_namespace_info__()``,
which says what hal can do on each device."""
from __future__ import annotations

from .. import dtypes
from .creation import default_complex
from ..device import device_or_default, devices, get_default_device

__all__ = ["__array_namespace_info__"]


class Info:
    """What ``hal.__array_namespace_info__()`` returns."""
    __module__ = "hal"

    def capabilities(self) -> dict:
        return {"boolean indexing": True, "data-dependent shapes": True, "max dimensions": None}

    def default_device(self):
        return get_default_device()

    def devices(self) -> tuple:
        return tuple(devices())

    def default_dtypes(self, *, device=None) -> dict:
        dev = device_or_default(device)
        return {"real floating": dev.default_float, "complex floating": default_complex(dev),
                "integral": dtypes.int64, "indexing": dtypes.int64}

    def dtypes(self, *, device=None, kind=None) -> dict:
        """The dtypes ``device`` (default: the default device) supports, by canonical
        name, optionally only those of ``kind`` (a kind name or a tuple of them)."""
        dev = device_or_default(device)
        kinds = (kind,) if isinstance(kind, str) else kind
        if kinds is not None and (unknown := [k for k in kinds if k not in dtypes.KINDS]):
            raise ValueError(f"unknown dtype kind {unknown[0]!r}; kinds are {', '.join(dtypes.KINDS)}")
        return {d.name: d for d in dev.dtypes if kinds is None or any(d in dtypes.KINDS[k] for k in kinds)}


def __array_namespace_info__() -> Info:
    return Info()
