"""What tuning adds over the declared defaults (issue 17, "tuned without asking"): for
each key a workload uses, ``hal.autotune.tune`` within a small budget, without storing
anything, and the tuned configuration's time against the default's, both measured in
that tuning run (the default is the first incumbent; a challenger wins only beyond the
noise and again in turns with it, see hal/autotune.py).

    python benchmarks/tuning_gain.py [--device opencl:0] [--budget 3] [--ops REGEX]

The keys are each tunable op's presets (what ``python -m hal tune`` tunes: SmolLM2's
products, norms and softmax, square and LLaMA-shaped GEMMs). Read the load average
printed beside each row: the machine may be shared.
"""
import argparse
import math
import os
import re
import time

import hal
from hal import autotune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="opencl:0")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds per key (default: %(default)s)")
    parser.add_argument("--ops", default=".", help="tunable ops matching this regular expression")
    args = parser.parse_args()
    device = hal.device(args.device)
    print(f"{device.name} ({device.info.description}), budget {args.budget:g} s per key")
    print(f"{'op':24s} {'dtype':9s} {'bucket':16s} {'default ms':>10s} {'tuned ms':>9s} {'gain':>6s} "
          f"{'tune s':>6s}  load  config")
    gains = []
    for name, tunable in sorted(autotune.tunables().items()):
        if not re.search(args.ops, name):
            continue
        for key in tunable.presets(device):
            if len(tunable.space(device, key)) < 2:
                continue
            start = time.perf_counter()
            r = autotune.tune(device, name, key, budget=args.budget, store=False)
            spent = time.perf_counter() - start
            gain = r.default_seconds / r.seconds if r.seconds else math.nan
            gains.append(gain)
            changed = "" if r.config == tunable.default(device, key) else " ".join(f"{k}={v}" for k, v in r.config.items())
            print(f"{name:24s} {key[0]:9s} {'x'.join(map(str, key[1])):16s} {r.default_seconds * 1e3:10.3f} "
                  f"{r.seconds * 1e3:9.3f} {gain:5.2f}x {spent:6.1f}  {os.getloadavg()[0]:4.1f}  {changed or '(default)'}",
                  flush=True)
    if gains:
        geo = math.exp(sum(math.log(g) for g in gains) / len(gains))
        print(f"{len(gains)} keys: geometric mean gain {geo:.3f}x, {sum(g > 1.05 for g in gains)} gain > 5%")


if __name__ == "__main__":
    main()
