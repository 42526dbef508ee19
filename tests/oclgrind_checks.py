"""A pytest plugin: every kernel the suite runs on Oclgrind is checked for out-of-bounds
accesses (always on) and data races (OCLGRIND_DATA_RACES), and any report fails the run.

Oclgrind writes its reports to OCLGRIND_LOG, read once when the session ends. Its
uninitialized-read plugin is left off: Oclgrind 21.10 aborts on LLVM's ``freeze``
instruction, which current compilers emit for ordinary kernels. Its API checker is off
too: it flags pyopencl's own probing queries, not hal's kernels.
"""
import os
import tempfile

LOG = os.environ.setdefault("OCLGRIND_LOG", os.path.join(tempfile.mkdtemp(prefix="hal-oclgrind-"), "log"))
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
