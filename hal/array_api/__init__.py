"""The array API standard's namespace (2025.12), one module per function group of the
specification, each with its ``__all__``; ``Array`` is the array object. hal's top
level re-exports it all (with the extensions hal.linalg and hal.fft beside it)."""
from . import (creation, data_type, elementwise, indexing_functions, info, linalg, manipulation, searching, set,
               sorting, statistical, utility)
from .array import Array, _operators

_operators()

_GROUPS = (creation, data_type, elementwise, indexing_functions, info, linalg, manipulation,
           searching, set, sorting, statistical, utility)
globals().update({name: getattr(group, name) for group in _GROUPS for name in group.__all__})
__all__ = ["Array"] + [name for group in _GROUPS for name in group.__all__]
