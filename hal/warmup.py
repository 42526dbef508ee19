"""``python -m hal warmup [--device D] [--model PATH]``: compile ahead of time the kernels
a workload uses, so that a later process finds them in the on-disk kernel cache
(hal/cache.py) instead of compiling on first use: for container images and CI.

With a model, the GGUF is loaded on the device and runs one short prefill and two
decode steps (the first plain, the second captured, as ``Llama.generate`` does); without
one, the conformance kit's small battery (hal.conformance) runs on the device, which
compiles the array API's kernels for one dtype per kind and the smallest shapes.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass

import hal
from hal import cache

PROMPT = "The capital of France is"
DECODE_STEPS = 2


@dataclass
class Warmup:
    device: str
    workload: str
    compiled: int  # programs built in this process (cache misses on both levels; a batch, one)
    from_disk: int  # kernels an earlier process had already put in the disk cache
    seconds: float

    def summary(self) -> str:
        return (f"warmup on {self.device} ({self.workload}): {self.compiled} kernels compiled, "
                f"{self.from_disk} already in the disk cache, {self.seconds:.1f} s")


def warmup(device, model: str | None = None, jobs: int = 1) -> Warmup:
    """Run the workload on ``device`` and count the kernels it compiled (hal.stats()'s
    counters, taken before and after); the conformance battery in ``jobs`` worker
    processes (hal/conformance/parallel.py), whose counts are added to this process's."""
    before = hal.stats()
    start = time.perf_counter()
    if model is None:
        _conformance(device, jobs)
        workload = "conformance kit, small battery" + (f", {jobs} processes" if jobs > 1 else "")
    else:
        _llama(device, model)
        workload = f"{os.path.basename(model)}: prefill + {DECODE_STEPS} decode steps"
    cache.flush()  # (what the builds deferred, written now: filling the cache is the point)
    seconds = time.perf_counter() - start
    after = hal.stats()
    return Warmup(device.name, workload, after["kernel_compiles"] - before["kernel_compiles"],
                  after["cache_disk_hits"] - before["cache_disk_hits"], seconds)


def _llama(device, path: str) -> None:
    from hal.gguf import read
    from hal.llama import Llama
    model = Llama.load(read(path), device)
    prompt = model.tokenizer.encode(PROMPT)
    model.generate(prompt, 1 + DECODE_STEPS, stop_at_eos=False)


def _conformance(device, jobs: int) -> None:
    from hal.conformance import run
    with warnings.catch_warnings():
        # The kit's cases include ops that run through the host on some devices: warming
        # up is not the place to report them (python -m hal.conformance does).
        warnings.simplefilter("ignore", hal.HostFallbackWarning)
        run(device, small=True, jobs=jobs)
