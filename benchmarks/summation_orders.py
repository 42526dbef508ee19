"""SmolLM2's speed in each summation order (hal.summation: llama.cpp's AVX2 and AVX-512
builds) on a device, in one process, the orders alternating run by run so that a busy
machine slows both alike: prefill and decode tokens/s and their ratio avx2 / avx512.

    python benchmarks/summation_orders.py [--device cpu] [--prompt-tokens 64] [--decode-tokens 32] [--rounds 6]

Each figure is the best of --rounds runs after a warm-up run.
"""
import argparse
import os
import sys

from hal import summation
from hal.llama import Llama

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
from llama import default_model  # noqa: E402  (examples/llama.py)

TEXT = "The quick brown fox jumps over the lazy dog while the band plays a song about rivers and stars. "


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    models, prompt = {}, None
    for order in summation.ORDERS:  # one model each: a captured decode step keeps its order
        summation.set_order(order)
        models[order] = Llama.load(args.model or default_model(), args.device)
        prompt = (models[order].tokenizer.encode(TEXT) * args.prompt_tokens)[:args.prompt_tokens]
        models[order].generate(prompt, 2, stop_at_eos=False)
    prefill, decode = ({order: float("inf") for order in summation.ORDERS} for _ in range(2))
    for _ in range(args.rounds):
        for order in summation.ORDERS:
            summation.set_order(order)
            run = models[order].generate(prompt, args.decode_tokens, stop_at_eos=False)
            prefill[order] = min(prefill[order], run.prefill_s)
            decode[order] = min(decode[order], run.decode_s / (len(run.token_ids) - 1))
    print(f"{args.device}: prefill tok/s " + ", ".join(f"{o} {len(prompt) / prefill[o]:.1f}" for o in summation.ORDERS)
          + f" (avx2 / avx512 {prefill['avx512'] / prefill['avx2']:.2f}); decode tok/s "
          + ", ".join(f"{o} {1 / decode[o]:.1f}" for o in summation.ORDERS)
          + f" (avx2 / avx512 {decode['avx512'] / decode['avx2']:.2f})")


if __name__ == "__main__":
    main()
