"""Defaults chosen per instruction set at run time (issue 17, "tuned without asking"):
the PoCL GEMM's register block and the cpu's float16 products follow the host's vector
registers."""
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


@pytest.mark.parametrize("vector_bits, gemm_kind, gemv_lanes", [(512, "block", 32), (256, "library", 8)])
def test_the_cpus_float16_defaults_follow_the_hosts_vector_registers(monkeypatch, vector_bits, gemm_kind,
                                                                     gemv_lanes):
    """On the cpu, a float16 product of a few hundred rows runs the C target's 6 x 32 block
    with AVX-512, and BLAS on the decoded halves with AVX2 (whose 16 registers the block
    overflows); a float16 mat-vec decodes x 32 lanes at a time with AVX-512, 8 with AVX2.
    Each default computes the product (verified as the tuner verifies a candidate)."""
    import dataclasses
    from hal.ops import linalg
    cpu = hal.device("cpu")
    monkeypatch.setattr(cpu, "info", dataclasses.replace(cpu.info, vector_bits=vector_bits))
    gemm = linalg._gemm_default(cpu, ("float16", (1, 256, 256, 256)))
    gemv = linalg._gemv_default(cpu, ("float16", (1, 2048, 512)))
    assert gemm["kind"] == gemm_kind and gemv["KV"] == gemv_lanes
    assert linalg._gemm_default(cpu, ("float16", (1, 1, 2048, 512)))["kind"] == "block"  # (one row: never BLAS)
    assert autotune.verify(cpu, "gemm", ("float16", (1, 64, 64, 64)), gemm) == ""
    assert autotune.verify(cpu, "gemv", ("float16", (1, 256, 64)), gemv) == ""
