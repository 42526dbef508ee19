"""``python -m hal devices | cache [--clear]``: what hal sees on this machine."""
from __future__ import annotations

import argparse
import sys

import numpy as np

import hal
from hal import cache, registry


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
        rows.append((d.name, i.description, i.vendor, i.driver, i.kind, _size(i.memory), _yes(i.fp64),
                     _yes(i.fp16), str(i.max_work_group), _size(i.local_memory), self_test(d)))
    widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name, why in registry.unavailable().items():
        lines.append(f"{name}: unavailable ({why})")
    lines.append(f"default device: {hal.get_default_device().name}")
    return "\n".join(lines)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def cache_report(clear: bool) -> str:
    if clear:
        return f"removed {cache.clear()} entries from {cache.cache_dir()}"
    i = cache.info()
    return (f"kernel cache: {i['dir']} ({'on' if i['enabled'] else 'off: HAL_CACHE=0'})\n"
            f"entries: {i['entries']}, size: {_size(i['bytes'])}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("devices", help="list devices, their capabilities and a self-test")
    cache_cmd = sub.add_parser("cache", help="show the kernel cache, or clear it")
    cache_cmd.add_argument("--clear", action="store_true", help="delete every cached kernel")
    args = parser.parse_args(argv)
    if args.command == "devices":
        table = devices_table()
        print(table)
        return 1 if "FAIL" in table else 0
    print(cache_report(args.clear))
    return 0


if __name__ == "__main__":
    sys.exit(main())
