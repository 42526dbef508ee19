"""The array API standard's namespace (2025.12), one module per function group of the
specification, each with its ``__all__``; ``Array`` is the array object. hal's top
level re-exports it all (with the extensions hal.linalg and hal.fft beside it)."""
from . import (creation, data_type, elementwise, indexing_functions, info, linalg, manipulation, searching, set,
               sorting, statistical, utility)
from .array import Array, _operators
from .creation import *  # noqa: F401,F403
from .data_type import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .indexing_functions import *  # noqa: F401,F403
from .info import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .manipulation import *  # noqa: F401,F403
from .searching import *  # noqa: F401,F403
from .set import *  # noqa: F401,F403
from .sorting import *  # noqa: F401,F403
from .statistical import *  # noqa: F401,F403
from .utility import *  # noqa: F401,F403

_operators()

__all__ = ["Array"] + [name for group in (creation, data_type, elementwise, indexing_functions, info, linalg,
                                          manipulation, searching, set, sorting, statistical, utility)
                       for name in group.__all__]
