"""Tests for hal.cache: memory and disk levels, corruption recovery, multi-process sharing."""
import hashlib
import json
import logging
import os
import pathlib
import subprocess
import sys
import time

import pytest

from hal import cache

REPO = pathlib.Path(cache.__file__).resolve().parents[1]

# Child process: caches key ("src", argv[1]) -> argv[2] repeated argv[3] times, after waiting until
# wall-clock time argv[4] so that several children hit the cache at the same moment.
CHILD = """
import json, sys, time
from hal import cache
payload = sys.argv[2].encode() * int(sys.argv[3])
def build():
    print("BUILT", flush=True)
    return payload
time.sleep(max(0.0, float(sys.argv[4]) - time.time()))
out = cache.cached("c", ("src", sys.argv[1]), build)
assert out == payload
print("SHA", __import__("hashlib").sha256(out).hexdigest())
print("STATS", json.dumps(cache.stats()))
"""


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    """Isolated cache dir and a clean in-process state for every test."""
    d = tmp_path / "kernels"
    monkeypatch.setenv("HAL_CACHE_DIR", str(d))
    monkeypatch.delenv("HAL_CACHE", raising=False)
    monkeypatch.setattr(cache, "_memory", {})
    monkeypatch.setattr(cache, "_pending", {})
    monkeypatch.setattr(cache, "_stats", dict.fromkeys(cache._stats, 0))
    monkeypatch.setattr(cache, "_warned", set())
    return d


class Builder:
    """A build function that counts its calls."""

    def __init__(self, payload: bytes):
        self.payload, self.calls = payload, 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.payload


def entries(d: pathlib.Path) -> list[pathlib.Path]:
    return sorted(d.glob("*.bin")) if d.exists() else []


def spawn(d, key, payload=b"x", repeat=1, start=0.0):
    env = dict(os.environ, HAL_CACHE_DIR=str(d),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.pop("HAL_CACHE", None)
    return subprocess.Popen([sys.executable, "-c", CHILD, key, payload.decode(), str(repeat), str(start)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    return {"built": "BUILT" in lines,
            "sha": next(l.split()[1] for l in lines if l.startswith("SHA ")),
            "stats": json.loads(next(l[6:] for l in lines if l.startswith("STATS ")))}


def test_memory_hit_skips_build(fresh):
    b = Builder(b"kernel")
    assert cache.cached("c", ("src", b"opts", 3), b) == b"kernel"
    assert cache.cached("c", ("src", b"opts", 3), b) == b"kernel"
    assert b.calls == 1
    assert cache.stats() == {"memory_hits": 1, "disk_hits": 0, "misses": 1, "corrupt": 0, "builds": 1}
    [entry] = entries(fresh)
    assert entry.name.startswith("c-") and len(entry.stem) == 2 + 64


def test_disk_hit_without_memory(fresh):
    b = Builder(b"kernel")
    cache.cached("opencl", ("src",), b)
    cache._memory.clear()
    assert cache.cached("opencl", ("src",), b) == b"kernel"
    assert b.calls == 1 and cache.stats()["disk_hits"] == 1


def test_key_parts_cannot_run_together(fresh):
    b = Builder(b"k")
    keys = [("ab", "c"), ("a", "bc"), ("a", "bsc"), ("asb", "c"), ("abc",), (b"abc",), (1,), ("1",)]
    for key in keys:
        cache.cached("c", key, b)
    assert b.calls == len(keys) and len(entries(fresh)) == len(keys)
    cache.cached("cuda", ("abc",), b)  # the kind is part of the key too
    assert b.calls == len(keys) + 1


def test_bad_kind_or_key_part_rejected(fresh):
    with pytest.raises(ValueError):
        cache.cached("../evil", ("src",), Builder(b"k"))
    with pytest.raises(TypeError):
        cache.cached("c", (1.5,), Builder(b"k"))
    assert entries(fresh) == []


def test_second_process_loads_from_disk(fresh):
    payload = b"compiled-binary"
    first = finish(spawn(fresh, "k1", payload))
    assert first["built"] and first["stats"]["builds"] == 1
    second = finish(spawn(fresh, "k1", payload))
    assert not second["built"]
    assert second["sha"] == first["sha"] == hashlib.sha256(payload).hexdigest()
    assert second["stats"]["disk_hits"] == 1 and second["stats"]["builds"] == 0
    assert len(entries(fresh)) == 1


@pytest.mark.parametrize("damage", ["truncate", "bitflip", "empty", "bad_magic", "bad_length"])
def test_corrupt_entry_is_rebuilt(fresh, damage, caplog):
    payload = bytes(range(256)) * 4
    b = Builder(payload)
    cache.cached("c", ("src",), b)
    [entry] = entries(fresh)
    good = entry.read_bytes()
    data = bytearray(good)
    if damage == "truncate":
        del data[-10:]
    elif damage == "bitflip":
        data[len(data) // 2] ^= 0x01
    elif damage == "empty":
        data.clear()
    elif damage == "bad_magic":
        data[0:8] = b"NOTHAL!\n"
    else:  # payload and checksum intact, declared length wrong
        data[40:48] = (len(payload) - 1).to_bytes(8, "little")

    for _ in range(2):  # warned about once per entry even if it is found bad again
        cache._memory.clear()
        entry.write_bytes(bytes(data))
        with caplog.at_level(logging.WARNING, logger="hal.cache"):
            assert cache.cached("c", ("src",), b) == payload
    assert b.calls == 3
    assert cache.stats()["corrupt"] == 2
    assert entry.read_bytes() == good  # overwritten with a valid entry
    assert len([r for r in caplog.records if r.name == "hal.cache"]) == 1
    cache._memory.clear()
    assert cache.cached("c", ("src",), b) == payload and b.calls == 3


def test_entry_format(fresh):
    cache.cached("c", ("src",), Builder(b"hello"))
    data = entries(fresh)[0].read_bytes()
    assert data[:8] == cache.MAGIC
    assert data[8:40] == hashlib.sha256(b"hello").digest()
    assert int.from_bytes(data[40:48], "little") == 5
    assert data[48:] == b"hello"


def test_disabled_disk_level_writes_nothing(fresh, monkeypatch):
    monkeypatch.setenv("HAL_CACHE", "0")
    b = Builder(b"kernel")
    assert cache.cached("c", ("src",), b) == b"kernel"
    assert cache.cached("c", ("src",), b) == b"kernel"
    assert b.calls == 1  # memory level still works
    assert not fresh.exists()
    assert cache.info()["enabled"] is False


def test_unusable_dir_falls_back_to_memory(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache dir should be")
    monkeypatch.setenv("HAL_CACHE_DIR", str(blocker / "kernels"))
    b = Builder(b"kernel")
    with caplog.at_level(logging.WARNING, logger="hal.cache"):
        assert cache.cached("c", ("src",), b) == b"kernel"
        assert cache.cached("c", ("other",), b) == b"kernel"
        assert cache.cached("c", ("src",), b) == b"kernel"
    assert b.calls == 2
    assert any(r.name == "hal.cache" for r in caplog.records)
    assert cache.info()["entries"] == 0 and cache.clear() == 0


def test_info_and_clear(fresh):
    payloads = {"c": b"a" * 10, "opencl": b"b" * 100, "cuda": b"c" * 1000}
    for kind, p in payloads.items():
        cache.cached(kind, ("src",), Builder(p))
    (fresh / "notes.txt").write_text("not ours")  # clear() must only delete cache entries
    info = cache.info()
    assert info["dir"] == str(fresh) and info["enabled"] is True
    assert info["entries"] == 3
    assert info["bytes"] == sum(len(p) + 48 for p in payloads.values())
    assert info["builds"] == 3
    assert cache.clear() == 3
    assert entries(fresh) == [] and (fresh / "notes.txt").exists()
    assert cache.info()["entries"] == 0 and cache.info()["bytes"] == 0
    b = Builder(b"a" * 10)
    cache.cached("c", ("src",), b)  # memory level was cleared too
    assert b.calls == 1


def test_failing_build_stores_nothing(fresh):
    class Boom(Exception):
        pass

    err = Boom("compiler error")

    def build():
        raise err

    with pytest.raises(Boom) as caught:
        cache.cached("c", ("src",), build)
    assert caught.value is err
    assert entries(fresh) == [] and (not fresh.exists() or list(fresh.iterdir()) == [])
    b = Builder(b"ok")
    assert cache.cached("c", ("src",), b) == b"ok" and b.calls == 1
    assert cache.stats()["builds"] == 1


def test_concurrent_writers_same_key(fresh):
    payload, repeat = b"0123456789abcdef", 1 << 18  # 4 MiB so writes overlap
    start = time.time() + 2.0
    procs = [spawn(fresh, "shared", payload, repeat, start) for _ in range(4)]
    results = [finish(p) for p in procs]
    expected = hashlib.sha256(payload * repeat).hexdigest()
    assert all(r["sha"] == expected for r in results)
    assert sorted(p.name for p in fresh.iterdir()) == [e.name for e in entries(fresh)]  # no temp files left
    assert len(entries(fresh)) == 1
    b = Builder(b"never used")
    assert cache.cached("c", ("src", "shared"), b) == payload * repeat
    assert b.calls == 0 and cache.stats()["disk_hits"] == 1


def test_a_deferred_artifact_is_made_once_at_flush(fresh):
    """store_later counts the build now and makes the artifact only at flush() (or when
    the key is looked up again), once."""
    b = Builder(b"binary")
    assert cache.load("opencl", ("src",)) is None
    cache.store_later("opencl", ("src",), b)
    assert b.calls == 0 and entries(fresh) == []
    assert cache.stats()["builds"] == 1 and cache.stats()["misses"] == 1
    cache.flush()
    assert b.calls == 1 and len(entries(fresh)) == 1
    cache.flush()
    cache._memory.clear()
    assert cache.load("opencl", ("src",)) == b"binary" and b.calls == 1
    assert cache.stats()["disk_hits"] == 1


def test_looking_up_a_deferred_key_makes_its_artifact(fresh):
    b = Builder(b"binary")
    cache.store_later("opencl", ("src",), b)
    assert cache.load("opencl", ("src",)) == b"binary"
    assert b.calls == 1 and len(entries(fresh)) == 1
    assert cache.stats()["memory_hits"] == 1


def test_nothing_deferred_is_made_without_a_disk_level_or_after_clear(fresh, monkeypatch):
    b = Builder(b"binary")
    cache.store_later("opencl", ("a",), b)
    cache.clear()
    monkeypatch.setenv("HAL_CACHE", "0")
    cache.store_later("opencl", ("b",), b)
    cache.flush()
    assert b.calls == 0 and not fresh.exists()


def test_an_artifact_that_cannot_be_made_is_warned_about_and_not_stored(fresh, caplog):
    def gone():
        raise RuntimeError("the driver is gone")

    cache.store_later("opencl", ("src",), gone)
    with caplog.at_level(logging.WARNING, logger="hal.cache"):
        cache.flush()
    assert "the driver is gone" in caplog.text
    assert entries(fresh) == [] and cache.load("opencl", ("src",)) is None


# A kernel built on the device, then the process exits: what its build stored (an OpenCL
# binary is written at exit, hal.cache.store_later) is what the next process loads. Not
# batched: a batch is left to PoCL's own cache (ops/launch.py).
DEVICE_CHILD = """
import sys, numpy as np, hal
from hal import cache
hal.device(sys.argv[1]).batch_builds = False
x = hal.asarray(np.arange(5, dtype=np.float32), device=sys.argv[1])
assert np.asarray(x * 3).tolist() == [0, 3, 6, 9, 12]
print(cache.stats()["builds"], cache.stats()["disk_hits"])
"""


def test_a_device_build_is_on_disk_for_the_next_process(fresh, buffer_device):
    env = dict(os.environ, HAL_CACHE_DIR=str(fresh),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.pop("HAL_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", DEVICE_CHILD, buffer_device.name], env=env, capture_output=True,
                           text=True, timeout=300) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    built, _ = map(int, runs[0].stdout.split())
    assert built > 0 and len(entries(fresh)) >= built
    assert list(map(int, runs[1].stdout.split())) == [0, built]


def test_a_forked_child_leaves_the_deferred_artifacts_to_its_parent(fresh):
    b = Builder(b"binary")
    cache.store_later("opencl", ("src",), b)
    pid = os.fork()
    if pid == 0:
        os._exit(len(cache._pending))
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(cache._pending) == 1
