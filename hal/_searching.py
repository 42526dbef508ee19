"""Searching functions ("Searching Functions", array API 2025.12): argmax, argmin,
count_nonzero. ``where`` is generated with the elementwise functions, ``nonzero`` lives
with indexing and ``searchsorted`` with sorting, the kernels they are built on."""
from __future__ import annotations

__all__ = []
