"""Captured steps: the kernel launches a thread makes inside ``with device.capture() as
graph:`` run as usual and are recorded into ``graph``; ``graph.replay()`` runs them again
in order, without the Python that made them (a SmolLM2 decode step: ~425 launches).

A replay re-reads the arrays the launches were recorded with: whatever changes between
replays must live in an array the kernels read (a token id, a position), never in a
scalar argument or a newly allocated output. The graph keeps those arrays alive. Only
kernel launches are recorded: a library call in between (NumPy on the cpu, cuBLAS) is
not, so a step to capture is made of kernels (hal.llama's is). Each backend that can
capture has its own ``Graph`` (backends/cc.py, opencl.py, cuda.py): its ``record(...)``
(called by its launches) and ``replay()``.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from hal import counters

_recording = threading.local()  # .graph: where this thread's launches go, if anywhere


def recording():
    """The graph this thread's launches are being recorded into, else None."""
    return getattr(_recording, "graph", None)


@contextmanager
def capture(graph):
    if recording() is not None:
        raise RuntimeError("capture() does not nest")
    _recording.graph = graph
    try:
        yield graph
    finally:
        _recording.graph = None
        graph.close()


class Graph:
    """The launches recorded, in order, each with the arrays it uses (kept alive)."""

    def __init__(self):
        self.launches, self._arrays, self.closed = [], [], False

    def add(self, launch, arrays) -> None:
        if self.closed:
            raise RuntimeError("this graph is closed: record into a new capture()")
        self.launches.append(launch)
        self._arrays.append(arrays)

    def __len__(self) -> int:
        return len(self.launches)

    def close(self) -> None:
        self.closed = True

    def replayed(self) -> None:
        """Count a replay's launches (hal.stats)."""
        counters.counters["kernel_launches"] += len(self.launches)
