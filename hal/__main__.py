"""``python -m hal devices | cache [--clear] | tune [...] | warmup [...] | serve [...]``: what
hal sees on this machine, ahead-of-time tuning of its tunable ops (hal.autotune), ahead-of-time
kernel compiles (hal.warmup), and an OpenAI-compatible server (hal.serve)."""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import hal
from hal import autotune, cache, registry, warmup
from hal.serve import cli as serve_cli


def self_test(device) -> str:
    """"ok", or what went wrong, after a small elementwise + reduction + matmul run on
    ``device`` checked against NumPy."""
    try:
        x = np.arange(-50, 70, dtype=np.float32).reshape(8, 15) / 7
        a = hal.asarray(x, device=device)
        got = np.asarray(hal.sum(hal.exp(a) * 2 - a, axis=1) + hal.matmul(a, a.T)[:, 0])
        want = (np.exp(x) * 2 - x).sum(axis=1) + (x @ x.T)[:, 0]
        return "ok" if np.allclose(got, want, rtol=1e-4) else f"FAIL: wrong result {got[:3]} != {want[:3]}"
    except Exception as e:  # the table reports any failure instead of stopping
        return f"FAIL: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.0f} PiB"


def devices_table() -> str:
    head = ("device", "description", "vendor", "driver", "kind", "memory", "fp64", "fp16",
            "max wg", "local mem", "self-test")
    rows = [head]
    for d in hal.devices():
        i = d.info
        rows.append((d.name, i.description, i.vendor, i.driver, i.kind, _size(i.memory), "yes" if i.fp64 else "no",
                     "yes" if i.fp16 else "no", str(i.max_work_group), _size(i.local_memory), self_test(d)))
    lines = _table(rows)
    for name, why in registry.unavailable().items():
        lines.append(f"{name}: unavailable ({why})")
    lines.append(f"default device: {hal.get_default_device().name}")
    return "\n".join(lines)


def _table(rows: list) -> list[str]:
    """Rows of text cells as aligned lines, a rule under the first (the head)."""
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    return [lines[0], "  ".join("-" * w for w in widths), *lines[1:]]


def cache_report(clear: bool) -> str:
    if clear:
        return f"removed {cache.clear()} entries from {cache.cache_dir()}"
    i = cache.info()
    return (f"kernel cache: {i['dir']} ({'on' if i['enabled'] else 'off: HAL_CACHE=0'})\n"
            f"entries: {i['entries']}, size: {_size(i['bytes'])}")


def _work(tunable) -> tuple:
    """What a tunable's throughput counts: (the Result's field, its unit per second)."""
    return ("bytes", "GB/s") if tunable.bound == "memory" else ("flops", "GFLOP/s")


def tune(device, ops: list[str] | None, budget: float, plot: str | None) -> str:
    """Tune every preset key of ``ops`` (default: all tunables) on ``device``; the table
    of what won."""
    known = autotune.tunables()
    unknown = sorted(set(ops or ()) - set(known))
    if unknown:
        raise SystemExit(f"unknown ops {', '.join(unknown)}; tunable ops are {', '.join(sorted(known))}")
    head = ("op", "dtype", "shape bucket", "best config", "time", "throughput", "vs default")
    rows, results = [head], []
    for name in ops or sorted(known):
        work, unit = _work(known[name])
        for key in known[name].presets(device):
            r = autotune.tune(device, name, key, budget=budget, progress=True)
            results.append(r)
            config = " ".join(f"{k}={v}" for k, v in r.config.items())
            rate = f"{getattr(r, work) / r.seconds / 1e9:.1f} {unit}"
            rows.append((name, key[0], "x".join(map(str, key[1])), config,
                         f"{r.seconds * 1e3:.3f} ms", rate, f"{r.speedup:.2f}x"))
    if plot:
        plot_candidates(device, results, plot)
    return "\n".join([f"tuned on {device.name} ({device.info.description}), "
                      f"stored in {autotune.db_path()}", *_table(rows)])


def plot_candidates(device, results, path: str) -> None:
    """One panel per op: the throughput of every candidate that passed verification,
    per shape bucket; the default circled, the winner starred."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ops = sorted({r.op for r in results})
    fig, axes = plt.subplots(len(ops), 1, figsize=(10, 3.5 * len(ops)), squeeze=False)
    for ax, op in zip(axes[:, 0], ops):
        tunable = autotune.tunables()[op]
        mine = [r for r in results if r.op == op]
        work, unit = _work(tunable)
        for x, r in enumerate(mine):
            default = tunable.default(device, r.key)
            for m in r.candidates:
                if m.status == "ok":
                    rate = getattr(r, work) / m.seconds / 1e9
                    ax.plot(x, rate, "k.", alpha=0.5)
                    if m.config == default:
                        ax.plot(x, rate, "o", mfc="none", mec="tab:blue", ms=10)
            ax.plot(x, getattr(r, work) / r.seconds / 1e9, "*", color="tab:red", ms=12)
        ax.set_xticks(range(len(mine)), [f"{r.key[0]}\n{'x'.join(map(str, r.key[1]))}" for r in mine], fontsize=7)
        ax.set_ylabel(unit)
        ax.set_title(f"{op} on {device.name}: candidates (dots), default (circle), chosen (star)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("devices", help="list devices, their capabilities and a self-test")
    cache_cmd = sub.add_parser("cache", help="show the kernel cache, or clear it")
    cache_cmd.add_argument("--clear", action="store_true", help="delete every cached kernel")
    tune_cmd = sub.add_parser("tune", help="tune the tunable ops ahead of time and show what won")
    tune_cmd.add_argument("--device", help="device to tune (default: hal's default device)")
    tune_cmd.add_argument("--ops", nargs="+", help="ops to tune (default: every tunable op)")
    tune_cmd.add_argument("--budget", type=float, default=autotune.DEFAULT_BUDGET,
                          help="seconds per op and shape bucket (default: %(default)s)")
    tune_cmd.add_argument("--plot", metavar="FILE.png", help="draw the measured candidates per op")
    warmup_cmd = sub.add_parser("warmup", help="compile a workload's kernels into the disk cache ahead of time")
    warmup_cmd.add_argument("--device", help="device to warm up (default: hal's default device)")
    warmup_cmd.add_argument("--model", metavar="PATH.gguf", help="a GGUF model to run briefly (default: the "
                            "conformance kit's small battery)")
    warmup_cmd.add_argument("--jobs", "-j", type=int, default=len(os.sched_getaffinity(0)),
                            help="processes compiling the battery's kernels side by side (default: one per "
                            "core, here %(default)s; a model warms up in one)")
    serve_cli.add_arguments(sub.add_parser("serve", help="serve a GGUF model over the OpenAI API (hal.serve)"))
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve_cli.run(args)
    if args.command == "tune":
        device = hal.device(args.device) if args.device else hal.get_default_device()
        print(tune(device, args.ops, args.budget, args.plot))
        return 0
    if args.command == "warmup":
        try:
            device = hal.device(args.device) if args.device else hal.get_default_device()
            print(warmup.warmup(device, args.model, max(args.jobs, 1)).summary())
        except (OSError, ValueError) as e:  # no such device (hal.DeviceError); a model file missing or unreadable
            raise SystemExit(f"error: {e}")
        return 0
    if args.command == "devices":
        table = devices_table()
        print(table)
        return 1 if "FAIL" in table else 0
    print(cache_report(args.clear))
    return 0


if __name__ == "__main__":
    sys.exit(main())
