"""Captured steps: the kernel launches a thread makes inside ``with device.capture() as
graph:`` run as usual and are recorded into ``graph``; ``graph.replay()`` runs them again
in order, without the Python that made them (a LLaMA decode step: ~660 launches).

A replay re-reads the arrays the launches were recorded with: whatever changes between
replays must live in an array the kernels read (a token id, a position), never in a
scalar argument or a newly allocated output. The graph keeps those arrays alive. Each
backend that can capture has its own graph (backends/cc.py, backends/opencl.py) with
``record(...)``, ``close()``, ``replay()`` and ``len()``.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

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
