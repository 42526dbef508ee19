"""hal's ops (installed as ``hal.ops``): each op defined once, with its implementations
registered per backend. Importing this package imports every module in it, which
registers them all."""
import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
