"""What a first use costs with empty kernel caches: a scikit-learn fit through hal, timed
in a fresh process whose hal, PoCL and pyopencl caches are new empty folders, then the
same fit again in that process (warm), with the kernels the fit used, the programs
built for them (on PoCL one program may hold many: ops/launch.py's batched builds), and
the whole process's wall time (start-up, and the binaries written to the kernel cache
at exit). The device's compiler is started before the clock starts.

    python benchmarks/cold_start.py --device opencl:0 --fit scaler pca --runs 3

Each run is its own process (``--cache DIR`` reuses one folder, to time a warm disk
cache instead). The fits are of a 1000 x 20 float32 hal array, under
``sklearn.set_config(array_api_dispatch=True)`` and ``SCIPY_ARRAY_API=1``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

FITS = {
    "scaler": "from sklearn.preprocessing import StandardScaler as E; fit = lambda x, y: E().fit(x)",
    "pca": "from sklearn.decomposition import PCA as E; fit = lambda x, y: E(n_components=5).fit(x)",
    "lda": ("from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as E;"
            " fit = lambda x, y: E().fit(x, y)"),
}

_CHILD = """
import json, time, warnings
import numpy as np, sklearn, hal
from hal.program import Program
warnings.simplefilter("ignore")
sklearn.set_config(array_api_dispatch=True)
{fit}
rng = np.random.default_rng(0)
x = hal.asarray(rng.standard_normal((1000, 20)).astype(np.float32), device={device!r})
y = hal.asarray((np.arange(1000) % 3).astype(np.int64), device={device!r})
device = hal.device({device!r})  # (found and set up, its compiler started, before the clock starts)
device.compile("KERNEL void start(GLOBAL u8 *x) {{ }}", {{}})

def timed_fit():  # (until its kernels have run: a driver may compile them as they run)
    start = time.perf_counter()
    fit(x, y)
    device.synchronize()
    return time.perf_counter() - start

def kernels():  # (each made at its first use, from the program it was built in)
    return sum(isinstance(p, Program) for p in device.programs.values())

before, made = hal.stats(), kernels()
cold = timed_fit()
after = hal.stats()
warm = timed_fit()
print(json.dumps(dict(cold=cold, warm=warm, built=after["kernel_compiles"] - before["kernel_compiles"],
                      kernels=kernels() - made, from_disk=after["cache_disk_hits"] - before["cache_disk_hits"])))
"""


def run(fit: str, device: str, cache: str | None) -> dict:
    """One fit in a fresh process: its caches under ``cache``, else under a new empty folder."""
    with tempfile.TemporaryDirectory(prefix="hal-cold-") as fresh:
        root = cache or fresh
        env = dict(os.environ, SCIPY_ARRAY_API="1", XDG_CACHE_HOME=root, HAL_CACHE_DIR=os.path.join(root, "hal"),
                   POCL_CACHE_DIR=os.path.join(root, "pocl"))
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _CHILD.format(fit=FITS[fit], device=device)], env=env,
                             check=True, capture_output=True, text=True).stdout
        return dict(json.loads(out.splitlines()[-1]), process=time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="opencl:0")
    parser.add_argument("--fit", nargs="+", choices=sorted(FITS), default=["scaler"])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cache", help="a cache folder to use (and keep) instead of a new empty one")
    args = parser.parse_args()
    for _ in range(args.runs):
        for fit in args.fit:
            r = run(fit, args.device, args.cache)
            print(f"{fit:7} {args.device}: cold {r['cold']:.2f} s, warm {r['warm']:.3f} s, {r['kernels']} kernels "
                  f"from {r['built']} programs built, {r['from_disk']} from the disk cache, process {r['process']:.1f} s",
                  flush=True)


if __name__ == "__main__":
    main()
