"""Sorting functions ("Sorting Functions", array API 2025.12): sort, argsort; and
searchsorted, which shares their kernels."""
from __future__ import annotations

__all__ = []
