"""hal's ops (installed as ``hal.ops``): each op defined once, with its implementations
registered per backend. Importing this package registers them all."""
from . import copy, elementwise, linalg, reduction  # noqa: F401
