"""What every driver's kernels share: ``Program``, a compiled kernel's launch (its
arguments checked against the kernel's parameters, counted, recorded where a capture is
on), and captured steps.

Captured steps: the kernel launches a thread makes inside ``with device.capture() as
graph:`` run as usual and are recorded into ``graph``; ``graph.replay()`` runs them again
in order, without the Python that made them (a SmolLM2 decode step: ~425 launches).

A replay re-reads the arrays the launches were recorded with: whatever changes between
replays must live in an array the kernels read (a token id, a position), never in a
scalar argument or a newly allocated output. The graph keeps those arrays alive. Only
kernel launches are recorded: a library call in between (NumPy on the cpu, cuBLAS) is
not, so a step to capture is made of kernels (hal.llama's is). Each backend that can
capture has its own ``Graph`` (backends/cc.py, opencl.py, cuda.py): its ``record(...)``
(called by its programs' launches) and ``replay()``.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

from hal import counters


class _Recording(threading.local):
    graph = None  # where this thread's launches go, if anywhere


_recording = _Recording()
_counts = counters.counters  # (every launch counts itself: one dict, looked up once)


class Program:
    """One compiled kernel: ``program(global_size, local_size, *args, **named)``, an
    OpenCL-style launch (global size in work-items; ``local_size`` the work-group, or
    None to leave it to the driver). Arguments are given in order, or by parameter name
    after the positional ones; a wrong count or name is a TypeError naming the
    parameters, on every backend. A driver's subclass implements ``launch(global_size,
    local_size, args)``, returning what its Graph records to replay the launch (None:
    nothing ran)."""

    def __init__(self, name: str, params: list):
        self.name, self.params = name, params

    def __call__(self, global_size: tuple, local_size: tuple | None, *args, **named):
        if named or len(args) != len(self.params):
            args = self._bind(args, named)
        _counts["kernel_launches"] += 1
        launched = self.launch(global_size, local_size, args)
        if _recording.graph is not None and launched is not None:
            _recording.graph.record(self, launched, args)

    def prepare(self, global_size: tuple, local_size: tuple | None):
        """This kernel's launch over a fixed grid as ``launch(args)``, every argument
        positional: for a caller that launches one layout again and again (prepared
        elementwise launches, ops/launch.py). A call, less the keywords' per-call work
        (the hot path: it saves each Python step it can)."""
        n_params, driver_launch = len(self.params), self.launch

        def launch(args):
            if len(args) != n_params:
                self._bind(args, {})  # (raises the TypeError naming the parameters)
            _counts["kernel_launches"] += 1
            launched = driver_launch(global_size, local_size, args)
            if _recording.graph is not None and launched is not None:
                _recording.graph.record(self, launched, args)
        return launch

    def _bind(self, args: tuple, named: dict) -> tuple:
        names = [p.name for p in self.params]
        unknown = set(named) - set(names[len(args):])
        if len(args) > len(names) or unknown or len(args) + len(named) != len(names):
            raise TypeError(f"kernel {self.name}({', '.join(names)}) got {len(args)} positional "
                            f"argument(s) and {sorted(named) or 'no'} named: "
                            + (f"unknown or repeated {sorted(unknown)}" if unknown else
                               f"missing {[n for n in names[len(args):] if n not in named]}"
                               if len(args) + len(named) < len(names) else "too many"))
        return tuple(args) + tuple(named[n] for n in names[len(args):])

    def launch(self, global_size: tuple, local_size: tuple | None, args: tuple):
        raise NotImplementedError


class Module:
    """A compiled source of a driver: ``module[name]`` is its kernel ``name``, the Program
    ``make(name, params)`` gives for the kernel's parameters (hal.dialect.kernel_signatures)."""

    def __init__(self, make, signatures: dict):
        self.make, self.signatures = make, signatures

    def __getitem__(self, name: str) -> Program:
        return self.make(name, self.signatures[name])


@contextmanager
def capture(graph):
    if _recording.graph is not None:
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
