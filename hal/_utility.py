"""Utility functions ("Utility Functions", array API 2025.12): all, any, diff."""
from __future__ import annotations

__all__ = []
