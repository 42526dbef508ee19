"""The C compiler for the cpu backend's portable kernels (DESIGN.md, "Kernel dialect").

A source is rendered for the "c" target; every kernel gets two hidden leading parameters
(its work-item id and the grid, read by the prelude's GLOBAL_ID/NUM_GROUPS) and a
generated launcher ``hal_launch_NAME(g0, g1, g2, args...)`` that runs the 3-D grid on the
process's thread pool (threads.py), each work-group one work-item (LOCAL_SIZE == 1,
BARRIER() a no-op), so a kernel written for any work-group size stays correct.

The whole is built with the system compiler (``$CC``, else ``cc``) into a cffi extension
module (API mode: its calls cost ~0.2 us against ~0.45 us through ``ffi.dlopen``). cffi
writes the wrapper C; we run the compiler ourselves so that its log can be captured, and
store the shared object's bytes in the kernel cache, so another process loads it without
compiling. The pool has OMP_NUM_THREADS threads if set, else one per core.

A ``Graph`` (hal/program.py) replays recorded launches in one C call: every kernel also
gets a thunk ``hal_thunk_NAME(grid, slots)`` that reads its arguments from 64-bit slots,
and a module's ``hal_replay`` walks a table of thunks. A SmolLM2 decode step's ~425 launches then
cost no Python at all (hal.llama.DecodeStep).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import os
import platform
import re
import shlex
import subprocess
import sysconfig
import tempfile

import cffi
import numpy as np
from cffi.recompiler import make_c_source

from hal import cache, counters, dialect, program
from hal.backends import threads
from hal.summation import cpu_field
from hal.errors import CompileError

# -ffp-contract=off: no fused multiply-adds, so results match NumPy and the other targets;
# -fno-math-errno: kernels never read errno, and without it sqrt() is a call, not an instruction.
FLAGS = ("-O3", "-march=native", "-pthread", "-ffp-contract=off", "-fno-math-errno",
         "-shared", "-fPIC")


_CTYPES = {word: c_type for word, (_, c_type) in dialect.TYPES.items()}

# The grid is walked row-major (i2, i1, i0) and split into one contiguous range per thread,
# which leaves the innermost i0 loop plain so the compiler vectorizes it (a split that
# recomputes (i0, i1, i2) by division for every item measured 2-4x slower). Grids below
# HAL_THREADS_MIN_ITEMS work-items (a define overrides it per source) run on the calling
# thread alone: handing a range to the pool costs ~1 us.
_LAUNCHERS_PRELUDE = """
#include <string.h>
typedef void (*hal_thunk)(const int64_t *grid, const uint64_t *slots);
void hal_replay(int64_t n, const uint64_t *thunks, const int64_t *grids, const uint64_t *slots,
                const int64_t *first_slot) {
    for (int64_t i = 0; i < n; i++) ((hal_thunk)(uintptr_t)thunks[i])(grids + 3 * i, slots + first_slot[i]);
}
static float hal_slot_f32(uint64_t w) { uint32_t b = (uint32_t)w; float f; memcpy(&f, &b, 4); return f; }
static double hal_slot_f64(uint64_t w) { double f; memcpy(&f, &w, 8); return f; }
typedef void (*hal_range_fn)(const void *args, int64_t begin, int64_t end);
static void (*hal_parallel)(hal_range_fn, const void *, int64_t);  /* the process's pool (threads.py) */
void hal_use_pool(uint64_t parallel) { hal_parallel = (void (*)(hal_range_fn, const void *, int64_t))(uintptr_t)parallel; }
#ifndef HAL_THREADS_MIN_ITEMS
#define HAL_THREADS_MIN_ITEMS 4096
#endif
#define HAL_GRID_LOOP(call, begin, end) \\
    for (i64 hal_r = (begin) / hal_g0; hal_r * hal_g0 < (end); hal_r++) { \\
        const i64 hal_i1 = hal_r % hal_g1, hal_i2 = hal_r / hal_g1; \\
        const i64 hal_lo = hal_r * hal_g0 < (begin) ? (begin) - hal_r * hal_g0 : 0; \\
        const i64 hal_hi = (hal_r + 1) * hal_g0 > (end) ? (end) - hal_r * hal_g0 : hal_g0; \\
        for (i64 hal_i0 = hal_lo; hal_i0 < hal_hi; hal_i0++) { \\
            const i64 hal_id[3] = {hal_i0, hal_i1, hal_i2}; \\
            call; \\
        } \\
    }
"""

# Local names start with hal_ so that they cannot shadow a kernel's name. A launch packs
# its arguments in a struct for the pool's threads; each range unpacks them into locals
# (so the compiler keeps them in registers, whatever the kernel stores).
_LAUNCHER = """
struct hal_args_{name} {{ i64 g0, g1, g2; {fields} }};
static void hal_range_{name}(const void *hal_p, int64_t hal_begin, int64_t hal_end) {{
    const struct hal_args_{name} *hal_x = hal_p;
    const i64 hal_g0 = hal_x->g0, hal_g1 = hal_x->g1, hal_g2 = hal_x->g2;
    const i64 hal_size[3] = {{hal_g0, hal_g1, hal_g2}};
    {unpack}
    HAL_GRID_LOOP({call}, hal_begin, hal_end)
}}
{decl} {{
    const i64 hal_total = hal_g0 * hal_g1 * hal_g2;
    if (hal_g0 <= 0 || hal_g1 <= 0 || hal_g2 <= 0) return;
    const struct hal_args_{name} hal_x = {{hal_g0, hal_g1, hal_g2{values}}};
    if (hal_total < HAL_THREADS_MIN_ITEMS) hal_range_{name}(&hal_x, 0, hal_total);
    else hal_parallel(hal_range_{name}, &hal_x, hal_total);
}}
"""

# How a thunk reads a parameter of each C type from its 64-bit slot.
_FROM_SLOT = {"void *": "(void *)(uintptr_t){}", "float": "hal_slot_f32({})", "double": "hal_slot_f64({})",
              **{t: f"({t})(int64_t){{}}" for t in _CTYPES.values() if t[0] in "iu"}}
_REPLAY_DECL = ("void hal_replay(int64_t n, const uint64_t *thunks, const int64_t *grids, "
                "const uint64_t *slots, const int64_t *first_slot);\nvoid hal_use_pool(uint64_t parallel);")

_ndarray = np.ndarray
_FFI = cffi.FFI()
_loaded: dict[str, CModule] = {}  # module name (a hash of the cache key) -> loaded module


class CProgram(program.Program):
    """One kernel of a CModule: ``program(global_size, local_size, *args)``."""

    def __init__(self, name: str, params: list, launch, thunk: int, replay, ffi, ctypes: list[str]):
        super().__init__(name, params)
        self._launch = launch
        self.thunk, self.replay = thunk, replay  # (used by Graph)
        self._ffi = ffi
        self._ctypes = ctypes
        self._pointer_args = tuple(i for i, t in enumerate(ctypes) if t == "void *")

    def launch(self, global_size: tuple, local_size: tuple | None, args: tuple):
        if local_size is not None and any(s != 1 for s in local_size):
            raise ValueError(f"kernel {self.name}: the C target runs work-groups of size 1, "
                             f"got local size {tuple(local_size)}")
        if not 1 <= len(global_size) <= 3:
            raise ValueError(f"kernel {self.name}: global size must have 1 to 3 dimensions, "
                             f"got {tuple(global_size)}")
        converted = list(args)
        for i in self._pointer_args:
            a = args[i]
            # A pointer to the array's first element, whatever its strides (the kernel gets
            # offsets and strides as its own arguments); from_buffer is 4x cheaper than .ctypes.
            converted[i] = (self._ffi.from_buffer(a) if type(a) is _ndarray and a.flags.c_contiguous
                            else self._strided(a, i))
        g = (*global_size, 1, 1)
        try:
            # Scalars go as they are: cffi converts Python and NumPy numbers to the
            # launcher's C types (from the parameters' type words), checking range.
            self._launch(g[0], g[1], g[2], *converted)
        except (TypeError, OverflowError) as e:
            raise type(e)(f"kernel {self.name}: {self._culprit(g[:3], converted)}: {e}") from None
        return g[:3], converted

    def slots(self, args: list) -> list[int]:
        """The launch arguments (as converted for the launcher) as the thunk's 64-bit slots."""
        words = []
        for t, a in zip(self._ctypes, args):
            if t == "void *":
                words.append(int(self._ffi.cast("uintptr_t", a)))
            elif t in ("float", "double"):
                words.append(int(np.array(a, "f4" if t == "float" else "f8").view("u4" if t == "float" else "u8")))
            else:
                words.append(int(a) & 0xFFFFFFFFFFFFFFFF)
        return words

    def _strided(self, a, i: int):
        if not isinstance(a, _ndarray):
            raise TypeError(f"kernel {self.name}: argument {i} is a pointer and needs a numpy "
                            f"array, got {type(a).__name__}")
        return self._ffi.cast("void *", a.ctypes.data)

    def _culprit(self, grid: tuple, args: list) -> str:
        """Which value cffi refused (its own message does not say)."""
        candidates = [("global size", "int64_t[]", grid)]
        candidates += [(f"argument {i}", t + "[]", (a,)) for i, (t, a) in enumerate(zip(self._ctypes, args))]
        for what, ctype, values in candidates:
            try:
                self._ffi.new(ctype, values)
            except (TypeError, OverflowError):
                shown = values if len(values) > 1 else values[0]
                return f"{what} {shown!r} does not convert to {ctype[:-2]}"
        return "bad arguments"


class CModule:
    """The kernels of one compiled source: ``module["name"]`` or ``module.kernel("name")``."""

    def __init__(self, module, kernels: dict[str, tuple]):
        self._module = module  # keeps the shared object loaded
        ffi, lib = module.ffi, module.lib
        lib.hal_use_pool(_pool_address())
        self.kernels = {name: CProgram(name, params, getattr(lib, f"hal_launch_{name}"),
                                       int(ffi.cast("uintptr_t", ffi.addressof(lib, f"hal_thunk_{name}"))),
                                       lib.hal_replay, ffi, ctypes)
                        for name, (params, ctypes) in kernels.items()}

    def kernel(self, name: str) -> CProgram:
        try:
            return self.kernels[name]
        except KeyError:
            raise KeyError(f"no kernel {name!r} here; kernels: {sorted(self.kernels)}") from None

    __getitem__ = kernel


class Graph(program.Graph):
    """C-target launches recorded by ``hal.program.capture``, replayed in order by one C
    call through the kernels' thunks: each launch is (thunk address, grid, slots)."""

    def record(self, prog: CProgram, launched: tuple, args: tuple) -> None:
        """One launch: ``args`` as given, ``launched`` the grid and the arguments as passed
        to the launcher."""
        grid, converted = launched
        self.add((prog.thunk, grid, prog.slots(converted)), args)
        self._replay = prog.replay  # (every module has hal_replay; any will do)

    def close(self) -> None:
        super().close()
        thunks, grids, slots = zip(*self.launches) if self.launches else ((), (), ())
        first = np.cumsum([0] + [len(s) for s in slots[:-1]]) if slots else []
        self._tables = (np.array(thunks, np.uint64), np.array([g for grid in grids for g in grid], np.int64),
                        np.array([w for s in slots for w in s] or [0], np.uint64), np.array(first, np.int64))
        pointers = [_FFI.cast("void *", t.ctypes.data) for t in self._tables]  # (the tables stay alive)
        self._run = (lambda: self._replay(len(thunks), *pointers)) if thunks else (lambda: None)

    def replay(self) -> None:
        """Run every recorded launch again, in order."""
        self._run()
        self.replayed()


def compile_c(source: str, defines: dict | None = None) -> CModule:
    """Compile a dialect source for the C target (through the kernel cache) and load it."""
    text = dialect.render(source, "c", defines) + _LAUNCHERS_PRELUDE
    kernels, decls = {}, []
    for name, params in dialect.kernel_signatures(source).items():
        text = re.sub(rf"\bKERNEL\s+void\s+{name}\s*\(",
                      lambda m: m[0] + "const i64 *hal_gid, const i64 *hal_grid" + (", " if params else ""),
                      text)
        ctypes = ["void *" if p.pointer else _ctype(name, p.word, source, defines) for p in params]
        decl = f"void hal_launch_{name}(int64_t hal_g0, int64_t hal_g1, int64_t hal_g2" + "".join(
            f", {t} hal_a{i}" for i, t in enumerate(ctypes)) + ")"
        call = f"{name}(hal_id, hal_size" + "".join(f", hal_a{i}" for i in range(len(ctypes))) + ")"
        text += _LAUNCHER.format(name=name, decl=decl, call=call,
                                 fields=" ".join(f"{t} a{i};" for i, t in enumerate(ctypes)),
                                 unpack=" ".join(f"{t} const hal_a{i} = hal_x->a{i};" for i, t in enumerate(ctypes)),
                                 values="".join(f", hal_a{i}" for i in range(len(ctypes))))
        thunk = f"void hal_thunk_{name}(const int64_t *hal_g, const uint64_t *hal_s)"
        text += f"{thunk} {{ hal_launch_{name}(hal_g[0], hal_g[1], hal_g[2]" + "".join(
            ", " + _FROM_SLOT[t].format(f"hal_s[{i}]") for i, t in enumerate(ctypes)) + "); }\n"
        kernels[name] = params, ctypes
        decls += [decl + ";", thunk + ";"]
    modname, build = _module("_hal_c_", text, "\n".join(decls + [_REPLAY_DECL]))
    if modname not in _loaded:
        _loaded[modname] = CModule(build(), kernels)
    return _loaded[modname]


def _module(prefix: str, text: str, decls: str) -> tuple:
    """(the extension's name, a function that loads it from the kernel cache, compiling
    it there first if need be) for C ``text`` with the cffi declarations ``decls``."""
    cc = shlex.split(os.environ.get("CC", "cc"))
    key = (text, " ".join(cc + list(FLAGS)), _compiler_version(tuple(cc)), _cpu_identity(),
           sysconfig.get_config_var("EXT_SUFFIX") or "", cffi.__version__)
    modname = prefix + hashlib.sha256("\0".join(key).encode()).hexdigest()[:24]
    return modname, lambda: _load(modname, cache.cached("c", key, lambda: _build(cc, modname, text, decls)))


@functools.cache
def _pool():
    """The process's thread pool (backends/threads.py), built once through the kernel
    cache; the cache of this function keeps its module loaded."""
    module = _module("_hal_pool_", threads.SOURCE, threads.DECLS)[1]()
    threads.configure(module.lib)
    return module


def _pool_address() -> int:
    pool = _pool()
    return int(pool.ffi.cast("uintptr_t", pool.ffi.addressof(pool.lib, "hal_parallel")))


def _ctype(kernel: str, word: str, source: str, defines: dict | None) -> str:
    """The C type of a scalar parameter, following #define'd type words (T -> f32 -> float)."""
    aliases = dict(re.findall(r"^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+(\w+)[ \t]*$", source, re.M))
    aliases.update((k, str(v)) for k, v in (defines or {}).items())
    original = word
    for _ in range(16):  # bounded: a cycle of aliases must not hang
        if word in _CTYPES or word not in aliases:
            break
        word = aliases[word]
    if word not in _CTYPES:
        raise ValueError(f"kernel {kernel}: scalar parameter type {original!r} is not one of "
                         f"the dialect's types {' '.join(_CTYPES)}")
    return _CTYPES[word]


def _build(cc: list[str], modname: str, text: str, decls: str) -> bytes:
    ffi = cffi.FFI()
    ffi.cdef(decls)
    with tempfile.TemporaryDirectory(prefix="hal-cc-") as tmp:
        c_file, so_file = os.path.join(tmp, modname + ".c"), os.path.join(tmp, modname + ".so")
        # The #line makes the compiler's messages point at lines of `text` (kernel.c:N).
        make_c_source(ffi, modname, f'#line 1 "kernel.c"\n{text}', c_file)
        cmd = [*cc, *FLAGS, "-I", sysconfig.get_paths()["include"], c_file, "-o", so_file]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            raise CompileError("c", f"cannot run the C compiler {cc[0]!r}: {e}", text) from None
        if proc.returncode != 0:
            raise CompileError("c", f"$ {shlex.join(cmd)}\n{proc.stdout}{proc.stderr}", text)
        counters.count("kernel_compiles")
        with open(so_file, "rb") as f:
            return f.read()


def _load(modname: str, binary: bytes):
    """Load a cached extension module from a private temporary copy (gone once loaded)."""
    fd, path = tempfile.mkstemp(prefix=modname, suffix=".so")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(binary)
        loader = importlib.machinery.ExtensionFileLoader(modname, path)
        spec = importlib.machinery.ModuleSpec(modname, loader, origin=path)
        module = loader.create_module(spec)
        loader.exec_module(module)
        return module
    finally:
        os.unlink(path)


@functools.lru_cache(maxsize=None)
def _compiler_version(cc: tuple[str, ...]) -> str:
    try:
        out = subprocess.run([*cc, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return "unavailable"  # the build reports it, with the reason
    return out.splitlines()[0] if out else "unknown"


@functools.lru_cache(maxsize=None)
def _cpu_identity() -> str:
    """-march=native ties a binary to the CPU: its model and a hash of its feature flags."""
    flags = cpu_field("flags") or cpu_field("Features")  # (x86, ARM)
    return (f"{platform.machine()} {cpu_field('model name') or platform.processor()} "
            f"{hashlib.sha256(flags.encode()).hexdigest()[:16]}")
