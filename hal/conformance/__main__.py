"""``python -m hal.conformance [--device D ...] [--ops REGEX] [--output table|csv|json] [--small] [--jobs N]``

Runs the battery on each device against the cpu reference and prints what passes,
fails, or is unsupported per op; exits 1 if any case fails."""
from __future__ import annotations

import argparse
import os
import sys
import time

import hal

from . import report
from .runner import run


def default_devices() -> list:
    """Every device but the reference and simulators (name those with --device)."""
    found = [d for d in hal.devices() if d.name != "cpu" and d.info.kind != "simulator"]
    return found or [hal.device("cpu")]


def _progress(device):
    """On a terminal, the op being checked (the first run compiles every kernel)."""
    if not sys.stderr.isatty():
        return None
    return lambda case: print(f"\r\033[K{device.name}: {case.op}", end="", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hal.conformance", description=__doc__.split("\n\n")[1])
    parser.add_argument("--device", action="append", help="a device to check (repeatable; default: every "
                        "device found except the cpu reference and simulators)")
    parser.add_argument("--ops", help="only the ops whose name matches this regular expression (re.search)")
    parser.add_argument("--output", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--small", action="store_true", help="one dtype per kind and the smallest shapes "
                        "(for simulators such as Oclgrind)")
    parser.add_argument("--jobs", "-j", type=int, default=len(os.sched_getaffinity(0)),
                        help="worker processes running the battery (default: one per core, here %(default)s; "
                        "a first run is spent compiling kernels, which processes do side by side)")
    parser.add_argument("--verbose", "-v", action="store_true", help="list every op in the table, not only "
                        "those with failures or missing cases")
    args = parser.parse_args(argv)
    try:
        devices = [hal.device(d) for d in args.device] if args.device else default_devices()
    except hal.DeviceError as e:
        parser.error(str(e))
    results = {}
    for device in devices:
        start = time.perf_counter()
        reports = run(device, args.ops, args.small, _progress(device), max(args.jobs, 1))
        results[device.name] = (reports, time.perf_counter() - start)
        if sys.stderr.isatty():
            print("\r\033[K", end="", file=sys.stderr)
        if args.output == "table":
            print(report.table(device, reports, results[device.name][1], args.verbose), flush=True)
    if args.output == "csv":
        print(report.to_csv([row for name, (reps, _) in results.items() for row in report.rows(name, reps)]), end="")
    elif args.output == "json":
        print(report.to_json(results))
    if not any(reports for reports, _ in results.values()):
        print(f"no op matches {args.ops!r}", file=sys.stderr)
        return 2
    return 1 if any(r.status == "fail" for reports, _ in results.values() for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
