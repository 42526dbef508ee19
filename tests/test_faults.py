"""Faults and bad input (DESIGN.md, "Errors"): each says what happened and the process
goes on. Covered elsewhere: an allocation no device can make (test_backends), a kernel
that fails to compile (test_backends), corrupt cache entries and concurrent writers of
fake payloads (test_cache), corrupt and concurrently written tuning databases
(test_autotune), truncated and malformed GGUF files (test_gguf). Here: the same with
real kernels and real processes, a pool that must give back what it holds before it
gives up, a tuner killed mid-write, random bytes as a GGUF file, and threads."""
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

import hal
from hal import autotune, cache
from hal.gguf import GGUFError
from hal.memory import Pool

from test_autotune import TOY


# ---------------------------------------------------------------- memory

class Budget:
    """A raw allocator with a fixed amount of memory."""

    def __init__(self, capacity: int):
        self.capacity, self.used = capacity, 0

    def alloc(self, nbytes: int):
        if self.used + nbytes > self.capacity:
            raise MemoryError(f"{nbytes} bytes asked, {self.capacity - self.used} free")
        self.used += nbytes
        return nbytes

    def free(self, handle: int):
        self.used -= handle


def test_pool_gives_back_what_it_holds_before_running_out():
    memory = Budget(4096)
    pool = Pool("budget", memory.alloc, memory.free)
    a, b = pool.take(1024), pool.take(1024)
    del a, b  # both cached by the pool: the device sees 2048 bytes in use
    big = pool.take(3072)  # fits only once the cached buffers are released
    assert memory.used == 3072 and pool.cached_bytes == 0
    with pytest.raises(hal.OutOfMemoryError, match=r"out of memory on budget: could not allocate 2000 bytes"):
        pool.take(2000)
    del big
    assert pool.take(2048).nbytes == 2048  # the pool still works


def test_beyond_the_device_memory(device):
    too_many = 4 * device.info.memory
    with pytest.raises(hal.OutOfMemoryError) as error:
        hal.empty((too_many,), dtype=hal.uint8, device=device)
    assert device.name in str(error.value) and error.value.nbytes == too_many
    x = hal.arange(6, device=device)
    assert np.asarray(hal.sum(x * x)).item() == 55


# ---------------------------------------------------------------- compiling and the kernel cache

BROKEN = "KERNEL void broken(GLOBAL f32 *x) { x[0] = not_declared_anywhere; }"


def test_a_failed_compile_stores_nothing(device, tmp_path, monkeypatch):
    monkeypatch.setenv("HAL_CACHE_DIR", str(tmp_path))
    for _ in range(2):  # failing again, not a cached success or a cached failure
        with pytest.raises(hal.CompileError) as error:
            device.compile(BROKEN)
        assert "not_declared_anywhere" in error.value.log
    assert list(tmp_path.glob("*.bin")) == []
    x = hal.ones(4, device=device)
    assert float(hal.sum(x + 1)) == 8


# Compiles a few kernels on every device family (C on the cpu, OpenCL C on PoCL) and
# checks their results; prints hal.stats() as its last line. Builds are not batched:
# a batch is left to PoCL's own cache (ops/launch.py), and hal's is under test.
KERNELS = textwrap.dedent("""
    import json, os, sys, tempfile, time
    import numpy as np, hal
    for d in hal.devices():
        d.batch_builds = False
    barrier, count = sys.argv[1], int(sys.argv[2])  # start together, once every process is ready
    tempfile.mkstemp(dir=barrier)
    while len(os.listdir(barrier)) < count:
        time.sleep(0.01)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((33, 17)).astype(np.float32)
    raw = np.concatenate([np.full((40, 2), [0, 60], np.uint8), rng.integers(0, 256, (40, 32), dtype=np.uint8)], 1)
    for name in sys.argv[3:]:
        dev = hal.device(name)
        x = hal.asarray(a, device=dev)
        got = np.asarray(hal.cumulative_sum(hal.exp(x) * 2, axis=1))
        np.testing.assert_allclose(got, np.cumsum(np.exp(a) * 2, axis=1), rtol=1e-5)
        w = hal.nn.QuantizedWeight.from_raw(raw, "Q8_0", (20, 64), device=dev)
        assert np.isfinite(np.asarray(hal.nn.linear(x[:, :16] @ hal.ones((16, 64), device=dev), w))).all()
    print(json.dumps(hal.stats()))
""")


def _kernel_devices() -> list[str]:
    return ["cpu"] + [d.name for d in hal.devices() if d.backend_name == "opencl" and d.info.kind != "simulator"][:1]


def _compile_in(cache_dir, count=1):
    env = {**os.environ, "HAL_CACHE_DIR": str(cache_dir)}
    env.pop("HAL_CACHE", None)
    barrier = tempfile.mkdtemp(dir=cache_dir.parent)
    # Each process gets a PoCL cache of its own: hal's cache is under test, and PoCL's own
    # aborts when processes build one kernel into it at once (pocl_binary.c: `len > 0`).
    procs = [subprocess.Popen([sys.executable, "-c", KERNELS, barrier, str(count), *_kernel_devices()],
                              env={**env, "POCL_CACHE_DIR": tempfile.mkdtemp(dir=cache_dir.parent)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(count)]
    stats = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        stats.append(json.loads(out.splitlines()[-1]))
    return stats


def _sound(cache_dir) -> list:
    """Every entry in the folder, each verified by its checksum; no temporary file left."""
    names = os.listdir(cache_dir)
    assert not [n for n in names if n.endswith(".tmp")], names
    entries = sorted(cache_dir.glob("*.bin"))
    assert entries and all(cache._load(p) is not None for p in entries)
    return entries


def test_four_processes_compile_into_one_empty_cache(tmp_path):
    cache_dir = tmp_path / "cache"
    stats = _compile_in(cache_dir, count=4)
    assert all(s["kernel_compiles"] > 0 for s in stats)  # they did race: each found it empty
    entries = _sound(cache_dir)
    [again] = _compile_in(cache_dir)
    assert again["kernel_compiles"] == 0 and again["cache_disk_hits"] == len(entries)


def test_entries_truncated_mid_write_are_rebuilt(tmp_path):
    cache_dir = tmp_path / "cache"
    [first] = _compile_in(cache_dir)
    entries = _sound(cache_dir)
    for entry in entries:  # what a writer killed mid-write (without the rename) would leave
        data = entry.read_bytes()
        entry.write_bytes(data[:len(data) // 2])
    (cache_dir / ".hal-killed.tmp").write_bytes(b"HALKC01\n" + bytes(20))
    [second] = _compile_in(cache_dir)
    assert second["cache_corrupt"] == len(entries) and second["kernel_compiles"] == first["kernel_compiles"]
    os.unlink(cache_dir / ".hal-killed.tmp")  # stray temp files are python -m hal cache --clear's to remove
    assert len(_sound(cache_dir)) == len(entries)
    [third] = _compile_in(cache_dir)
    assert third["kernel_compiles"] == 0


# ---------------------------------------------------------------- the tuning database

TUNE_FOREVER = textwrap.dedent("""
    import sys, hal
    from hal import autotune
    sys.path.insert(0, {tests!r})
    from test_autotune import TOY
    autotune.declare(TOY)
    cpu = hal.device("cpu")
    n = 64
    while True:
        autotune.tune(cpu, TOY.op, ("float32", (n,)), budget=60)
        n += 1
""")


def _results(path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("kill_after_rows", [1, 3])
def test_a_tuner_killed_mid_write_leaves_a_usable_database(tmp_path, monkeypatch, kill_after_rows):
    monkeypatch.setenv("HAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HAL_TUNE", "cached")
    autotune.forget()
    tuner = subprocess.Popen([sys.executable, "-c", TUNE_FOREVER.format(tests=os.path.dirname(__file__))],
                             env={**os.environ}, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while _results(autotune.db_path()) < kill_after_rows and tuner.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(np.random.default_rng(kill_after_rows).random() * 0.2)  # somewhere in the next write
    finally:
        tuner.send_signal(signal.SIGKILL)
        tuner.wait()
    assert tuner.returncode == -signal.SIGKILL, tuner.stderr.read().decode()[-2000:]
    autotune.declare(TOY)
    cpu = hal.device("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", autotune.TuningDatabaseWarning)  # not even rebuilt: just usable
        assert autotune.lookup(cpu, TOY.op, ("float32", (64,)))["how"] in ("slow", "right")
        result = autotune.tune(cpu, TOY.op, ("float32", (4096,)), budget=60)
        assert autotune.lookup(cpu, TOY.op, ("float32", (4096,))) == result.config
    with sqlite3.connect(autotune.db_path()) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    autotune.forget()


# ---------------------------------------------------------------- model files

@pytest.mark.parametrize("header", ["none", "magic", "magic and counts"])
def test_random_bytes_are_not_a_model(tmp_path, header):
    """Random bytes (behind a real header, or none) are a GGUFError naming the file, or
    (rarely, with a header) a valid GGUF file that holds nothing: never another error."""
    path = tmp_path / "random.gguf"
    for seed in range(60):
        rng = np.random.default_rng(seed)
        body = rng.integers(0, 256, int(rng.integers(0, 4000)), dtype=np.uint8).tobytes()
        prefix = {"none": b"", "magic": b"GGUF" + struct.pack("<I", 3),
                  "magic and counts": b"GGUF" + struct.pack("<IQQ", 3, *rng.integers(0, 5, 2))}[header]
        path.write_bytes(prefix + body)
        try:
            model = hal.gguf.read(path)
        except GGUFError as e:
            assert str(path) in str(e)
            continue
        assert header != "none" and not model.tensors


# ---------------------------------------------------------------- threads

def _thread_work(device, seed: int, rounds: int, failures: list):
    rng = np.random.default_rng(seed)
    try:
        for _ in range(rounds):
            a = rng.standard_normal((19, 23)).astype(np.float32)
            i = rng.integers(-50, 50, 41).astype(np.int32)
            x, k = hal.asarray(a, device=device), hal.asarray(i, device=device)
            checks = [(hal.sum(hal.exp(x * 0.5), axis=1), np.exp(a * np.float32(0.5)).sum(axis=1)),
                      (x @ x.mT, a @ a.T), (hal.sort(k), np.sort(i)), (k[k > seed], i[i > seed]),
                      (hal.cumulative_sum(k + seed), np.cumsum(i + seed))]
            for got, want in checks:
                got = np.asarray(got)
                if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-4):
                    failures.append(f"thread {seed}: {got} != {want}")
    except Exception as e:
        failures.append(f"thread {seed}: {e!r}")


def test_eight_threads_on_one_device(device):
    """Every thread gets its own right answers (a GIL switch after every few bytecodes
    makes interleavings that rarely happen otherwise likely). On Oclgrind, which runs
    queued kernels in whichever thread waits and aborted on two at once (Context.cpp:221:
    m_kernelInvocation == NULL), fewer rounds: it simulates every work-item."""
    rounds = 3 if device.info.kind == "simulator" else 25
    failures = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=_thread_work, args=(device, seed, rounds, failures)) for seed in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not failures, failures[:3]
