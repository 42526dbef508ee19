"""The inspection API ("Inspection", array API 2025.12): ``__array_namespace_info__``."""
from __future__ import annotations

__all__ = []
