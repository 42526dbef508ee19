"""The Oclgrind check the suite relies on can fail: a kernel that writes past its buffer
is reported in the log (in a child process, so this run's own log stays clean)."""
import os
import subprocess
import sys

import pytest

import hal

BAD = """
import hal
dev = next(d for d in hal.devices() if d.info.kind == "simulator")
src = "KERNEL void oob(GLOBAL f32 *x, i64 n) { x[GLOBAL_ID(0) + n] = 1; }"
out = dev.empty((4,), hal.float32)
dev.compile(src)["oob"]((4,), None, out.buf, 1000)  # past the pooled 256-byte buffer
dev.synchronize()
"""


@pytest.mark.skipif(not any(d.info.kind == "simulator" for d in hal.devices()), reason="Oclgrind not installed")
def test_out_of_bounds_write_is_reported(tmp_path):
    log = tmp_path / "oclgrind.log"
    env = {**os.environ, "OCLGRIND_LOG": str(log), "HAL_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run([sys.executable, "-c", BAD],
                   env=env, check=True, timeout=120)
    text = log.read_text()
    assert "Invalid write" in text and "oob" in text, text
