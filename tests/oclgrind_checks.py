"""A pytest plugin: every kernel the suite runs on Oclgrind is checked for out-of-bounds
accesses (always on) and data races (OCLGRIND_DATA_RACES), and any report fails the run.

Oclgrind writes its reports to OCLGRIND_LOG, read once when the session ends. Its
uninitialized-read plugin is left off: Oclgrind 21.10 aborts on LLVM's ``freeze``
instruction, which current compilers emit for ordinary kernels. Its API checker is off
too: it flags pyopencl's own probing queries, not hal's kernels.

The log lives in a directory of this process's own, removed when it exits (child
processes inherit OCLGRIND_LOG and write to the same log).
"""
import atexit
import os
import shutil
import tempfile

if "OCLGRIND_LOG" not in os.environ:
    _log_dir = tempfile.mkdtemp(prefix="hal-oclgrind-")
    atexit.register(shutil.rmtree, _log_dir, ignore_errors=True)
    os.environ["OCLGRIND_LOG"] = os.path.join(_log_dir, "log")
LOG = os.environ["OCLGRIND_LOG"]
os.environ.setdefault("OCLGRIND_DATA_RACES", "1")


def reports() -> str:
    try:
        with open(LOG) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def pytest_sessionfinish(session, exitstatus):
    found = reports()
    if found:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            f"Oclgrind reported errors in hal's kernels:\n{found[:20000]}", red=True)
        session.exitstatus = 1
