"""Process-wide counters, so tests and users can see when data crosses to the host."""
from __future__ import annotations

COUNTERS = ("host_to_device", "device_to_host", "bytes_to_device", "bytes_to_host",
            "size_reads", "kernel_launches", "kernel_compiles")

counters = dict.fromkeys(COUNTERS, 0)


def count(name: str, n: int = 1) -> None:
    counters[name] += n


def stats() -> dict:
    """A snapshot of the counters: host transfers (count and bytes in each direction),
    reads of a data-dependent output size, kernel launches and compiles, and the kernel cache's hits and misses."""
    from . import cache
    return {**counters, **{f"cache_{k}": v for k, v in cache.stats().items()}}


def reset_stats() -> None:
    counters.update(dict.fromkeys(counters, 0))
