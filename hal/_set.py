"""Set functions ("Set Functions", array API 2025.12): unique_all, unique_counts,
unique_inverse, unique_values."""
from __future__ import annotations

__all__ = []
