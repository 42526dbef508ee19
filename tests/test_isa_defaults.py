"""Defaults chosen per instruction set at run time (issue 17, "tuned without asking"):
the PoCL GEMM's register block follows the host's vector registers."""
import pytest

import hal
from hal import autotune


@pytest.mark.parametrize("order, block", [("avx512", (6, 32)), ("avx2", (6, 16))])
def test_the_gemm_default_block_follows_the_hosts_vector_registers(monkeypatch, order, block):
    """On an OpenCL CPU device: 6 x 32 where the host has AVX-512's 32 vector registers,
    6 x 16 where it has AVX2's 16 (read from the CPU flags at run time)."""
    import hal.summation
    from hal.ops import linalg
    dev = next((d for d in hal.devices() if d.name.startswith("opencl") and d.info.kind == "cpu"), None)
    if dev is None:
        pytest.skip("no OpenCL CPU device (PoCL): sh tools/install-opencl.sh")
    monkeypatch.setattr(hal.summation, "host_order", lambda: order)
    config = linalg._gemm_default(dev, ("float32", (1, 1024, 1024, 1024)))
    assert (config["RM"], config["RN"]) == block
    assert autotune.verify(dev, "gemm", ("float32", (1, 64, 64, 64)), config) == ""
