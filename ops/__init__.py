"""hal's ops (installed as ``hal.ops``): each op declared once (declarations.py), with
its implementations registered per backend. Importing this package imports every
module in it, the declarations first, which registers them all."""
import importlib
import pkgutil

from . import declarations  # noqa: F401  (before any module registers)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
