"""hal.autotune: verified, persistent, per-device choice of the fastest implementation.

An op with several ways to run (tile sizes, work-group shape, vector width, unrolling,
a library call or a kernel) declares them as a ``Tunable``; at call time it asks
``choose`` for the configuration to use. A tuning run checks every candidate against
the reference first (on inputs with ragged tails, the output pre-filled with NaN, a
tolerance per dtype), skips and logs a failing or wrong one, then times the survivors
with the device's timer (warm-up, then the median of repeats). A challenger replaces
the incumbent only when it is faster beyond the measured noise of both, so the default
keeps its place unless something is clearly better.

Declaring a tunable op (in ops/*.py)::

    from hal import autotune

    def gemm_into(device, config, out, a, b):        # writes a @ b into ``out``
        prog = program(device, SOURCE, "gemm", TS=config["TS"], WPT=config["WPT"])
        ...

    autotune.declare(autotune.Tunable(
        op="gemm",
        version=1,                                   # bump when the kernel changes
        space=lambda device, key: [{"TS": ts, "WPT": w} for ts in (16, 32) for w in (1, 2, 4)],
        default=lambda device, key: {"TS": 16, "WPT": 2},   # used when nothing is tuned
        run=gemm_into,
        reference=np.matmul,                         # reference(*host_inputs) -> host result
        problem=gemm_problem,                        # problem(key, ragged, rng) -> host inputs
        work=lambda key: (2 * m * n * k, bytes_moved),   # of problem(key, ragged=False)
        presets=lambda device: [("float32", (1, 1024, 1024, 1024))],   # what `hal tune` tunes
        bound="compute",                             # report GFLOP/s ("memory": GB/s)
    ))

A key is ``(dtypes, bucket)``: a string naming the operand dtypes and a tuple of ints
standing for a range of shapes (``bucket`` rounds a size to the nearest power of two).
Using the chosen configuration at call time::

    key = ("float32", (autotune.bucket(batch), autotune.bucket(m), ...))
    gemm_into(device, autotune.choose(device, "gemm", key), out, a, b)

``choose`` costs a dict lookup once a key has been seen in this process (an op that
memoizes its own plans on top keys them with ``generation()``). A stored configuration
that is no longer in the space (the op changed without a version bump) gives way to the
default. ``verify(device, op, key, config)`` runs the correctness check alone (tests).

The winner of a sweep is measured again against the default, taking turns for a few
rounds, before it replaces it: a busy machine slows some candidates and not others.

``HAL_TUNE`` says what ``choose`` does for a key with no stored result:

- ``cached`` (the default): use the stored result, else the declared default. Never
  times anything during a program: a tuning run takes seconds to minutes, which would
  land at an unpredictable moment in the middle of someone's computation. Tune ahead of
  time with ``python -m hal tune``.
- ``on``: tune the key on first use (within ``DEFAULT_BUDGET`` seconds), store the
  result, use it.
- ``off``: always the declared defaults; the database is neither read nor written.

Results live in a SQLite database in the kernel cache's folder (``db_path()``), keyed
by (device fingerprint, op, op version, dtypes, bucket), written in short transactions
(safe for concurrent processes), with a schema version; a corrupt or unreadable
database is rebuilt with a ``TuningDatabaseWarning``.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import pathlib
import sqlite3
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import cache

SCHEMA_VERSION = 1
MODES = ("off", "cached", "on")
DEFAULT_BUDGET = 20.0
# Largest error allowed, relative to the largest magnitude of the reference result.
TOLERANCE = {"float16": 1e-3, "float32": 1e-4, "float64": 1e-10,
             "complex64": 1e-4, "complex128": 1e-10}

log = logging.getLogger("hal.autotune")
_tunables: dict[str, "Tunable"] = {}
_chosen: dict[tuple, dict] = {}
_stats = dict.fromkeys(("timed", "tuned", "lookups"), 0)


class TuningDatabaseWarning(UserWarning):
    """The tuning database could not be used as it was and has been rebuilt."""


@dataclass
class Tunable:
    """How to run, check and measure one op's candidate configurations (see the module doc)."""
    op: str
    space: Callable        # (device, key) -> list of configs (dicts of JSON scalars)
    default: Callable      # (device, key) -> config used when nothing is tuned
    run: Callable          # (device, config, out, *inputs) -> None, writes the result into out
    reference: Callable    # (*host_inputs) -> expected host result
    problem: Callable      # (key, ragged, rng) -> tuple of host inputs
    work: Callable         # key -> (flops, bytes) of problem(key, ragged=False)
    presets: Callable = lambda device: []   # device -> keys `python -m hal tune` tunes
    version: int = 1
    bound: str = "compute"  # or "memory": whether reports give GFLOP/s or GB/s


@dataclass
class Measurement:
    config: dict
    status: str                 # "ok", "wrong", "failed", "skipped" (budget)
    seconds: float = math.nan   # median time of one run
    noise: float = math.nan     # half the interquartile range of the samples
    detail: str = ""
    fastest: float = math.nan   # the fastest sample


@dataclass
class Result:
    op: str
    key: tuple
    config: dict
    seconds: float
    default_seconds: float
    flops: int
    bytes: int
    candidates: list = field(default_factory=list)

    @property
    def speedup(self) -> float:
        return self.default_seconds / self.seconds if self.seconds else math.nan


def declare(tunable: Tunable) -> Tunable:
    """Make ``tunable`` known to ``choose``, ``tune`` and ``python -m hal tune``."""
    _tunables[tunable.op] = tunable
    return tunable


def tunables() -> dict[str, Tunable]:
    return dict(_tunables)


def bucket(n: int) -> int:
    """The power of two nearest to ``n`` on a log scale (0 stays 0): sizes that tune alike."""
    if n <= 0:
        return 0
    low = 1 << (n.bit_length() - 1)
    return low * 2 if n * n > 2 * low * low else low


def mode() -> str:
    value = os.environ.get("HAL_TUNE", "cached").strip().lower() or "cached"
    if value not in MODES:
        raise ValueError(f"HAL_TUNE must be one of {', '.join(MODES)}, not {value!r}")
    return value


def stats() -> dict:
    """This process's counters: ``timed`` candidate measurements, ``tuned`` keys, DB ``lookups``."""
    return dict(_stats)


def forget() -> None:
    """Drop this process's memo of chosen configurations (after the database changed)."""
    _chosen.clear()
    _generation[0] += 1


def generation() -> int:
    """A number that changes whenever choices made earlier may no longer hold (the
    memo was dropped, HAL_TUNE or HAL_CACHE_DIR changed): ops that memoize their own
    plans on top of ``choose`` keep them while it stays the same."""
    _follow_environment()
    return _generation[0]


_environment = [None]
_generation = [0]


def _follow_environment() -> None:
    """Forget the memo when HAL_TUNE or HAL_CACHE_DIR changed since the last call."""
    now = (os.environ.get("HAL_TUNE"), os.environ.get("HAL_CACHE_DIR"))
    if now != _environment[0]:
        _environment[0] = now
        forget()


def choose(device, op: str, key: tuple) -> dict:
    """The configuration ``op`` should use on ``device`` for ``key``, per ``HAL_TUNE``."""
    _follow_environment()
    memo = (device.fingerprint, op, key)
    try:
        return _chosen[memo]
    except KeyError:
        pass
    how = mode()
    tunable = _tunables[op]
    config = None
    if how != "off":
        config = lookup(device, op, key)
        if config is None and how == "on":
            config = tune(device, op, key, budget=DEFAULT_BUDGET).config
    if config is None or config not in tunable.space(device, key):
        config = tunable.default(device, key)  # also when the space no longer has the stored one
    _chosen[memo] = config
    return config


# --- measuring --------------------------------------------------------------------------

def tune(device, op: str, key: tuple, budget: float = DEFAULT_BUDGET, progress: bool = False,
         store: bool = True) -> Result:
    """Verify then time every candidate of ``op`` for ``key`` on ``device`` (the default
    first, so it is the first incumbent) until ``budget`` seconds have passed; store and
    return the winner."""
    tunable = _tunables[op]
    rng = np.random.default_rng(0)
    check_in = tunable.problem(key, True, rng)
    bench_in = tunable.problem(key, False, rng)
    want = np.asarray(tunable.reference(*check_in))
    bench_shape = np.asarray(tunable.reference(*bench_in)).shape
    check_dev, bench_dev = ([device.from_host(np.ascontiguousarray(x)) for x in xs] for xs in (check_in, bench_in))
    bench_out = device.from_host(np.zeros(bench_shape, want.dtype))

    default = tunable.default(device, key)
    candidates = [default] + [c for c in tunable.space(device, key) if c != default]
    started, best, results = time.perf_counter(), None, []
    if progress:
        from tqdm import tqdm
        candidates = tqdm(candidates, desc=f"{op} {_bucket_text(key)}", unit="cfg", leave=False)
    for config in candidates:
        if best is not None and time.perf_counter() - started > budget:
            results.append(Measurement(config, "skipped", detail="time budget spent"))
            continue
        m = _try(device, tunable, config, check_dev, want, bench_out, bench_dev)
        results.append(m)
        if m.status != "ok":  # a wrong result is a kernel bug: louder than a config this device cannot run
            (log.warning if m.status == "wrong" else log.info)(
                "autotune %s %s on %s: %s candidate %s skipped (%s)", op, key, device.name, m.status, config, m.detail)
        elif best is None or _beats(m, best):
            best = m
    if best is None:
        raise RuntimeError(f"autotune: no candidate of {op} passed verification for {key} on {device.name}")
    incumbent = next((m for m in results if m.config == default and m.status == "ok"), None)
    if incumbent is not None and best is not incumbent:
        best = _confirm(device, tunable, best, incumbent, bench_out, bench_dev)
    _stats["tuned"] += 1
    default_s = incumbent.seconds if incumbent is not None else math.nan
    result = Result(op, key, best.config, best.seconds, default_s, *tunable.work(key), results)
    if store:
        _store(device, tunable, key, result)
        forget()
    return result


def verify(device, op: str, key: tuple, config: dict) -> str:
    """"" if ``config`` computes ``op`` correctly for ``key``'s ragged-tail inputs on
    ``device``, else what is wrong (exceptions propagate)."""
    tunable = _tunables[op]
    check_in = tunable.problem(key, True, np.random.default_rng(0))
    return _check(device, tunable, config, [device.from_host(x) for x in check_in],
                  np.asarray(tunable.reference(*check_in)))


def _check(device, tunable, config, check_dev, want) -> str:
    out = device.from_host(np.full(want.shape, _poison(want.dtype), want.dtype))
    tunable.run(device, config, out, *check_dev)
    return _mismatch(np.asarray(device.to_host(out)), want)


def _try(device, tunable, config, check_dev, want, bench_out, bench_dev) -> Measurement:
    try:
        wrong = _check(device, tunable, config, check_dev, want)
        if wrong:
            return Measurement(config, "wrong", detail=wrong)
        return _timed(device, tunable, config, bench_out, bench_dev)
    except Exception as e:  # a candidate that cannot compile or launch here is skipped, not fatal
        return Measurement(config, "failed", detail=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


def _timed(device, tunable, config, out, inputs) -> Measurement:
    samples = measure(device, lambda: tunable.run(device, config, out, *inputs))
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return Measurement(config, "ok", float(med), float(q3 - q1) / 2, fastest=min(samples))


CONFIRM_MARGIN = 0.1


def _confirm(device, tunable, best: Measurement, default: Measurement, bench_out, bench_dev,
             rounds: int = 3) -> Measurement:
    """The winner against the default again, taking turns for a few rounds; it must
    also be faster by ``CONFIRM_MARGIN`` in its fastest sample. A sweep takes long enough
    for other work on the machine to slow some candidates and not others (on a busy
    2-core machine a multithreaded BLAS call measured 100x slower than it runs alone
    for whole seconds), and a default that lost to a disturbance must not be replaced
    for good: the fastest sample is the one least disturbed."""
    again = {"default": [], "best": []}
    for _ in range(rounds):
        again["default"].append(_timed(device, tunable, default.config, bench_out, bench_dev))
        again["best"].append(_timed(device, tunable, best.config, bench_out, bench_dev))
    median = {name: min(ms, key=lambda m: m.seconds) for name, ms in again.items()}
    fastest = {name: min(m.fastest for m in ms) for name, ms in again.items()}
    if _beats(median["best"], median["default"]) and fastest["best"] * (1 + CONFIRM_MARGIN) < fastest["default"]:
        return best
    log.info("autotune: %s did not beat the default %s when measured again; keeping the default",
             best.config, default.config)
    return default


def _poison(dtype: np.dtype):
    """A value no correct kernel writes: NaN for floats, the largest value for integers."""
    if dtype.kind in "fc":
        return np.nan
    return True if dtype == np.bool_ else np.iinfo(dtype).max


def _mismatch(got: np.ndarray, want: np.ndarray) -> str:
    """Why ``got`` is not ``want`` within the dtype's tolerance, or ""."""
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    if want.dtype.kind not in "fc":
        bad = np.count_nonzero(got != want)
        return f"{bad} values differ" if bad else ""
    unwritten = np.count_nonzero(np.isnan(got) & ~np.isnan(want))
    if unwritten:
        return f"{unwritten} outputs left unwritten (NaN)"
    scale = max(float(np.max(np.abs(want), initial=0.0)), np.finfo(want.dtype).tiny)
    err = float(np.max(np.abs(got.astype(want.dtype) - want), initial=0.0)) / scale
    tol = TOLERANCE.get(want.dtype.name, 1e-4)
    return f"relative error {err:.2e} > {tol:.0e}" if not err <= tol else ""


def measure(device, fn, repeats: int = 7, min_sample: float = 2e-3) -> list[float]:
    """Device seconds of one ``fn()``: a warm-up, then ``repeats`` samples, each timing
    enough back-to-back calls to last about ``min_sample`` seconds (short kernels are
    below the timer's resolution alone)."""
    fn()
    device.synchronize()
    with device.timer() as t:
        fn()
    calls = max(1, min(100, math.ceil(min_sample / max(t.seconds, 1e-7))))
    repeats = min(repeats, max(3, int(1.0 / max(t.seconds, 1e-7))))  # about a second for slow ones
    samples = []
    for _ in range(repeats):
        with device.timer() as t:
            for _ in range(calls):
                fn()
        samples.append(t.seconds / calls)
    _stats["timed"] += 1
    return samples


def _beats(challenger: Measurement, incumbent: Measurement) -> bool:
    """Faster beyond the noise: the challenger's slow end below the incumbent's fast end."""
    return challenger.seconds + challenger.noise < incumbent.seconds - incumbent.noise


# --- the database -----------------------------------------------------------------------

def db_path() -> pathlib.Path:
    """The tuning database, in the kernel cache's folder (``HAL_CACHE_DIR`` moves both)."""
    return cache.cache_dir() / "tuning.sqlite"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    fingerprint TEXT, op TEXT, op_version INTEGER, dtypes TEXT, bucket TEXT,
    config TEXT NOT NULL, seconds REAL, default_seconds REAL, flops INTEGER, bytes INTEGER,
    device TEXT, tuned_at REAL,
    PRIMARY KEY (fingerprint, op, op_version, dtypes, bucket));
CREATE TABLE IF NOT EXISTS candidates (
    fingerprint TEXT, op TEXT, op_version INTEGER, dtypes TEXT, bucket TEXT,
    config TEXT, status TEXT, seconds REAL, noise REAL, detail TEXT);
"""


def _bucket_text(key: tuple) -> str:
    return "x".join(map(str, key[1]))


def _open(path: pathlib.Path) -> sqlite3.Connection:
    """A connection to a usable database of this schema version (made if missing);
    sqlite3.DatabaseError if the file is not one."""
    con = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writer
        if con.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("quick_check failed")
        with _transaction(con):
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    con.execute(stmt)
            row = con.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if row is None or row[0] != str(SCHEMA_VERSION):
                if row is not None:  # another schema: its rows mean something else
                    log.info("tuning database %s has schema %s, starting afresh at %s", path, row[0], SCHEMA_VERSION)
                    con.execute("DELETE FROM results")
                    con.execute("DELETE FROM candidates")
                con.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        return con
    except BaseException:
        con.close()
        raise


@contextlib.contextmanager
def _transaction(con: sqlite3.Connection):
    con.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlock between processes
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextlib.contextmanager
def _connect():
    path = db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = _open(path)
    except sqlite3.DatabaseError as e:
        con = _rebuild(path, e)
    try:
        yield con
    finally:
        con.close()


def _rebuild(path: pathlib.Path, error: Exception) -> sqlite3.Connection:
    """Replace an unusable database by an empty one, under a lock file so two processes
    that both found it broken do not delete each other's fresh copy."""
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _open(path)  # another process rebuilt it meanwhile
        except sqlite3.DatabaseError:
            pass
        warnings.warn(f"tuning database {path} was unusable ({error}); rebuilt it empty: "
                      f"run `python -m hal tune` to tune again", TuningDatabaseWarning, stacklevel=4)
        for suffix in ("", "-wal", "-shm", "-journal"):
            pathlib.Path(str(path) + suffix).unlink(missing_ok=True)
        return _open(path)


def lookup(device, op: str, key: tuple) -> dict | None:
    """The stored configuration for ``key``, or None."""
    _stats["lookups"] += 1
    tunable = _tunables[op]
    with _connect() as con:
        row = con.execute("SELECT config FROM results WHERE fingerprint=? AND op=? AND op_version=? "
                          "AND dtypes=? AND bucket=?",
                          (device.fingerprint, op, tunable.version, key[0], _bucket_text(key))).fetchone()
    return None if row is None else json.loads(row[0])


def _store(device, tunable: Tunable, key: tuple, result: Result) -> None:
    ident = (device.fingerprint, tunable.op, tunable.version, key[0], _bucket_text(key))
    where = "fingerprint=? AND op=? AND op_version=? AND dtypes=? AND bucket=?"
    with _connect() as con, _transaction(con):
        con.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (*ident, json.dumps(result.config, sort_keys=True), result.seconds,
                     result.default_seconds, result.flops, result.bytes, device.name, time.time()))
        con.execute(f"DELETE FROM candidates WHERE {where}", ident)
        con.executemany("INSERT INTO candidates VALUES (?,?,?,?,?,?,?,?,?,?)",
                        [(*ident, json.dumps(m.config, sort_keys=True), m.status, m.seconds, m.noise, m.detail)
                         for m in result.candidates])

