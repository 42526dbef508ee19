"""Indexing functions ("Indexing Functions", array API 2025.12): take,
take_along_axis; and nonzero, the compaction that boolean-mask indexing is built on."""
from __future__ import annotations

__all__ = []
