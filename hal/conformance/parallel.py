"""The battery in several worker processes, for the first run on a device, which is
spent compiling kernels (1,584 on PoCL for the whole battery).

Why processes and not threads: PoCL (LLVM) builds one program at a time per process.
Two threads building programs in one process take as long as one thread building both
(measured here: 8 builds, 0.69 s in one thread, 0.70 s in two), while two processes
each have their own compiler. The workers share the on-disk kernel cache (hal/cache.py:
atomic writes, safe across processes), so what one compiles the others and later runs
find there.

Each worker builds the same seeded battery, takes the next op from a shared counter,
runs its cases and sends back each case's outcome (and the kernels it compiled or found
on disk); the parent puts them back in battery order. A worker that dies (a driver
crash) fails the op it was running, and the others go on with the rest.
"""
from __future__ import annotations

import multiprocessing
import queue

import hal

# Seconds between checks that the workers are still alive while waiting for results.
_POLL = 1.0


def run_in_workers(device, ops: str | None, small: bool, by_op: dict, jobs: int, progress) -> list:
    from .runner import OpReport, Outcome
    context = multiprocessing.get_context("spawn")  # (fork would copy the driver's threads and locks)
    counter, results = context.Value("i", 0), context.Queue()
    workers = [context.Process(target=_worker, args=(device.name, ops, small, counter, results), daemon=True)
               for _ in range(min(jobs, len(by_op)))]
    for w in workers:
        w.start()
    names = list(by_op)
    outcomes: dict[int, list] = {}
    running: dict[int, int] = {}  # worker pid -> index of the op it is running
    builds = disk_hits = 0
    try:
        while len(outcomes) < len(names):
            try:
                message = results.get(timeout=_POLL)
            except queue.Empty:
                _fail_dead(workers, running, outcomes, names, by_op, Outcome)
                if not any(w.is_alive() for w in workers) and len(outcomes) < len(names):
                    raise RuntimeError("every conformance worker process died") from None
                continue
            kind, pid, index, payload = message
            if kind == "start":
                running[pid] = index
                continue
            running.pop(pid, None)
            outcomes[index] = [Outcome(case, *fields) for case, fields in zip(by_op[names[index]], payload[0])]
            builds, disk_hits = builds + payload[1], disk_hits + payload[2]
            if progress:
                for case in by_op[names[index]]:
                    progress(case)
    finally:
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
    _count_worker_compiles(builds, disk_hits)
    return [OpReport(name, outcomes[i]) for i, name in enumerate(names)]


def _fail_dead(workers, running, outcomes, names, by_op, Outcome) -> None:
    """Fail the op a worker that died was running (each case, with its exit code). A
    worker that exited normally sent every outcome first, so only a nonzero exit counts."""
    for w in workers:
        if w.exitcode not in (None, 0) and w.pid in running:
            index = running.pop(w.pid)
            detail = f"the worker process running it died (exit code {w.exitcode})"
            outcomes[index] = [Outcome(case, "fail", detail=detail) for case in by_op[names[index]]]


def _count_worker_compiles(builds: int, disk_hits: int) -> None:
    """The workers' builds and kernel cache hits, added to this process's (hal.stats()),
    so that a caller counting compiles (python -m hal warmup) sees them."""
    from hal import cache, counters
    counters.count("kernel_compiles", builds)
    cache._stats["disk_hits"] += disk_hits


def _worker(device_name: str, ops: str | None, small: bool, counter, results) -> None:
    import os
    import warnings

    from hal import cache

    from .runner import _cases_by_op, run_case
    warnings.simplefilter("ignore", hal.HostFallbackWarning)  # (each case records its own)
    device, reference = hal.device(device_name), hal.device("cpu")
    by_op = _cases_by_op(device, ops, small)
    names, pid = list(by_op), os.getpid()
    while True:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        if index >= len(names):
            return
        results.put(("start", pid, index, None))
        before = hal.stats()
        done = []
        for case in by_op[names[index]]:
            done.append(run_case(case, device, reference))
            # (the binaries the case's builds deferred, at once: the other worker may need
            # them next, and would compile them again)
            cache.flush()
        after = hal.stats()
        fields = [(o.status, o.path, o.detail, o.error) for o in done]
        results.put(("done", pid, index, (fields, after["kernel_compiles"] - before["kernel_compiles"],
                                          after["cache_disk_hits"] - before["cache_disk_hits"])))
