"""Kernel cache: compiled kernels are cached in memory and on disk.

Compiling a kernel (OpenCL, C, CUDA...) is slow, so every artifact is looked up
first in a per-process dict, then in a directory shared by all processes, and
only built when both miss.  The disk level is an optimisation, never a source of
failure: a bad entry is rebuilt and an unusable directory is merely warned about.

A driver whose artifact for the disk costs more than what the first use needs (PoCL
compiles every kernel of a program again to give its binary) builds what it needs now
(``load``, then ``store_later``) and the artifact is written at ``flush()``: when the
same key is looked up again, when the process exits, or when a caller asks (the
conformance workers and ``python -m hal warmup``, which exist to fill the cache).
"""
import atexit
import hashlib
import logging
import os
import pathlib
import re
import struct
import sys
import tempfile
from typing import Callable

import platformdirs

HAL_VERSION = "0.1.0"
MAGIC = b"HALKC01\n"
_HEADER = struct.Struct("<8s32sQ")  # magic, sha256 of payload, payload length
_KIND = re.compile(r"[A-Za-z0-9_]+")
_ENTRY = re.compile(r"[A-Za-z0-9_]+-[0-9a-f]{64}\.bin")
_TMP_PREFIX, _TMP_SUFFIX = ".hal-", ".tmp"

log = logging.getLogger("hal.cache")
_memory: dict[str, bytes] = {}
_pending: dict[str, Callable[[], bytes]] = {}  # entry name -> what makes its artifact, at flush()
_stats = dict.fromkeys(("memory_hits", "disk_hits", "misses", "corrupt", "builds"), 0)
_warned: set[tuple[str, str]] = set()


def cache_dir() -> pathlib.Path:
    """Read at call time so tests and users can redirect the cache with HAL_CACHE_DIR."""
    override = os.environ.get("HAL_CACHE_DIR")
    if override:
        return pathlib.Path(override).expanduser()
    return pathlib.Path(platformdirs.user_cache_dir("hal")) / "kernels"


def _disk_enabled() -> bool:
    return os.environ.get("HAL_CACHE", "1").strip() != "0"


def _warn_once(what: str, path, detail="") -> None:
    """One warning per problem and path, so a broken cache cannot flood the log."""
    if (what, str(path)) not in _warned:
        _warned.add((what, str(path)))
        log.warning("kernel cache: %s %s%s", what, path, f" ({detail})" if detail else "")


def _digest(kind: str, key: tuple) -> str:
    """Type-tag and length-prefix every part so ("ab", "c"), ("a", "bc") and (1,) vs ("1",) differ.

    hal's version is mixed in so an upgrade never loads kernels built by older code.
    """
    version = getattr(sys.modules.get("hal"), "__version__", HAL_VERSION)
    h = hashlib.sha256()
    for part in (kind, *key, version):
        if isinstance(part, bytes):
            data = b"b" + part
        elif isinstance(part, str):
            data = b"s" + part.encode()
        elif isinstance(part, int):
            data = b"i" + str(part).encode()
        else:
            raise TypeError(f"cache key parts must be str, bytes or int, not {type(part).__name__}")
        h.update(struct.pack("<Q", len(data)) + data)
    return h.hexdigest()


def _load(path: pathlib.Path) -> bytes | None:
    """Return a verified payload, or None; a damaged entry counts as corrupt and is later overwritten."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        _warn_once("cannot read", path, e)
        return None
    if len(data) >= _HEADER.size:
        magic, checksum, length = _HEADER.unpack_from(data)
        payload = data[_HEADER.size:]
        if magic == MAGIC and length == len(payload) and hashlib.sha256(payload).digest() == checksum:
            return payload
    _warn_once("corrupt entry, rebuilding", path)
    _stats["corrupt"] += 1
    return None


def _store(path: pathlib.Path, payload: bytes) -> None:
    """Write to a private temp file then os.replace it in: readers never see a partial entry and
    concurrent writers of the same key each replace atomically (last one wins, contents equal)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_HEADER.pack(MAGIC, hashlib.sha256(payload).digest(), len(payload)) + payload)
            os.replace(tmp, path)
        except BaseException:
            pathlib.Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        _warn_once("cannot write, using memory only:", path.parent, e)


def _entry(kind: str, key: tuple) -> str:
    if not _KIND.fullmatch(kind):
        raise ValueError(f"cache kind must be a plain word, got {kind!r}")  # it becomes part of a file name
    return f"{kind}-{_digest(kind, key)}.bin"


def load(kind: str, key: tuple) -> bytes | None:
    """The artifact for (kind, key) from memory, else disk (then kept in memory), else None
    (a miss: the caller builds it, then ``store_later``; ``cached`` is both at once)."""
    name = _entry(kind, key)
    deferred = _pending.pop(name, None)
    if deferred is not None:
        _write(name, deferred)
    if name in _memory:
        _stats["memory_hits"] += 1
        return _memory[name]
    payload = _load(cache_dir() / name) if _disk_enabled() else None
    if payload is None:
        _stats["misses"] += 1
        return None
    _stats["disk_hits"] += 1
    _memory[name] = payload
    return payload


def store_later(kind: str, key: tuple, make: Callable[[], bytes]) -> None:
    """Count a build whose artifact ``make()`` gives, and store that at ``flush()``: for
    a driver whose artifact costs a compile of its own that the first use does not need.
    With the disk level off nothing is made (the caller keeps what it built)."""
    _stats["builds"] += 1
    if _disk_enabled():
        _pending[_entry(kind, key)] = make


def flush() -> None:
    """Make and store every artifact ``store_later`` deferred (hal does at exit)."""
    while _pending:
        _write(*_pending.popitem())  # (one at a time: other threads may add meanwhile)


atexit.register(flush)
# (a forked child leaves them to its parent: a driver does not survive a fork)
os.register_at_fork(after_in_child=lambda: _pending.clear())


def _write(name: str, make: Callable[[], bytes]) -> None:
    try:
        payload = make()
    except Exception as e:  # (at exit a driver may be gone: the next process builds it again)
        _warn_once("cannot make the artifact of", name, e)
        return
    _memory[name] = payload
    if _disk_enabled():
        _store(cache_dir() / name, payload)


def cached(kind: str, key: tuple, build: Callable[[], bytes]) -> bytes:
    """Return the artifact for (kind, key) from memory, else disk, else build() (then store it in both)."""
    payload = load(kind, key)
    if payload is None:
        payload = build()  # may raise: then nothing is stored
        _stats["builds"] += 1
        _write(_entry(kind, key), lambda: payload)
    return payload


def stats() -> dict:
    """Counters for this process only; the disk level is shared, so its totals would be meaningless."""
    return dict(_stats)


def _scan() -> list[pathlib.Path]:
    """Files in the cache dir that hal wrote; anything else there (HAL_CACHE_DIR may be shared) is left alone."""
    d = cache_dir()
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return []
    except OSError as e:
        _warn_once("cannot list", d, e)
        return []
    return [d / n for n in names
            if _ENTRY.fullmatch(n) or (n.startswith(_TMP_PREFIX) and n.endswith(_TMP_SUFFIX))]


def info() -> dict:
    """Describe the disk level (even when HAL_CACHE=0 disables it) plus this process's counters."""
    entries, size = 0, 0
    for p in _scan():
        if p.suffix == ".bin":
            try:
                size += p.stat().st_size
                entries += 1
            except OSError:  # removed by another process meanwhile
                pass
    return {"dir": str(cache_dir()), "enabled": _disk_enabled(), "entries": entries, "bytes": size, **stats()}


def clear() -> int:
    """Empty both levels (leftover temp files of crashed writers too, and what ``store_later``
    deferred); return the entries removed."""
    _memory.clear()
    _pending.clear()
    removed = 0
    for p in _scan():
        try:
            p.unlink()
            removed += p.suffix == ".bin"
        except FileNotFoundError:
            pass
        except OSError as e:
            _warn_once("cannot remove", p, e)
    return removed
