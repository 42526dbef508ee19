"""The backend registry: backends by name, loaded lazily, third parties by entry point.

A backend is a module (or object) with ``discover() -> list[Device]``. hal's own
backends are listed here; others register through the ``hal.backends`` entry-point
group (``name = "package.module"``) or ``register()``, and are found without touching
hal. A backend that cannot load (missing package, no driver, no device) is recorded
with the reason instead of failing the import.
"""
from __future__ import annotations

import functools
import importlib
import logging
from importlib.metadata import entry_points

log = logging.getLogger("hal")

_BUILTIN = {"cpu": "hal.backends.cpu", "opencl": "hal.backends.opencl", "cuda": "hal.backends.cuda",
            "rocm": "hal.backends.rocm"}
_sources: dict[str, object] = dict(_BUILTIN)   # name -> module path or backend object
_devices: dict[str, list] = {}                 # name -> discovered devices
_unavailable: dict[str, str] = {}              # name -> why it did not load


class BackendUnavailable(RuntimeError):
    """Raised by a backend's discover() to say why it has no devices here."""


def register(name: str, backend) -> None:
    """Add a backend: a module path or an object with ``discover()``."""
    _sources[name] = backend
    _devices.pop(name, None)
    _unavailable.pop(name, None)


@functools.cache  # (once a process)
def _read_entry_points() -> None:
    for ep in entry_points(group="hal.backends"):
        _sources.setdefault(ep.name, ep.value)


def names() -> list[str]:
    _read_entry_points()
    return list(_sources)


def devices_of(name: str) -> list:
    """The devices of one backend, discovering them on first use ([] if unavailable)."""
    if name not in _devices and name not in _unavailable:
        try:
            backend = _sources[name]
            if isinstance(backend, str):
                backend = importlib.import_module(backend)
            _devices[name] = list(backend.discover())
            if not _devices[name]:
                _unavailable[name] = "no devices found"
        except ImportError as e:
            _unavailable[name] = f"missing package: {e.name or e}"
        except BackendUnavailable as e:
            _unavailable[name] = str(e)
        except Exception as e:  # a broken third-party backend must not break hal
            log.warning("backend %s failed to load: %r", name, e)
            _unavailable[name] = f"failed to load: {e!r}"
    return _devices.get(name, [])


def unavailable() -> dict[str, str]:
    """Backends that loaded no devices, with the reason."""
    for name in names():
        devices_of(name)
    return dict(_unavailable)
