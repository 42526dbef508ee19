"""hal.summation: the host's order from its CPU flags, HAL_SUMMATION over it, and clear
errors for a value that names no order. (That each order gives its llama.cpp build's
bits: tests/test_ggml_numerics.py and tests/test_llama.py.)"""
import os
import subprocess
import sys

import pytest

from hal import summation

CPUINFO = "processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n"
AVX2_HOST = "fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2"  # e.g. an AMD EPYC (Zen 2/3)


@pytest.mark.parametrize("flags, order", [(AVX2_HOST, "avx2"),
                                          (AVX2_HOST + " avx512f avx512dq avx512bw avx512vl", "avx512"),
                                          (AVX2_HOST + " avx512_vnni", "avx2")])  # a flag like it is not AVX-512F
def test_the_host_order_follows_the_cpu_flags(tmp_path, flags, order):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(vendor="AuthenticAMD", flags=flags))
    assert summation.host_order(str(cpuinfo)) == order


def test_without_cpu_flags_the_order_is_avx2(tmp_path):
    assert summation.host_order(str(tmp_path / "missing")) == "avx2"


def _order_in_a_new_process(value):
    env = {k: v for k, v in os.environ.items() if k != summation.VARIABLE}
    if value is not None:
        env[summation.VARIABLE] = value
    return subprocess.run([sys.executable, "-c", "from hal import summation; print(summation.order())"],
                          env=env, capture_output=True, text=True)


@pytest.mark.parametrize("value, order", [("avx2", "avx2"), ("AVX512", "avx512"), ("avx-512", "avx512"),
                                          (None, summation.host_order()), ("", summation.host_order())])
def test_hal_summation_overrides_the_host(value, order):
    run = _order_in_a_new_process(value)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == order


def test_a_value_that_names_no_order_is_a_clear_error():
    run = _order_in_a_new_process("neon")
    assert run.returncode != 0
    assert "ValueError: HAL_SUMMATION must be one of avx2, avx512, not 'neon'" in run.stderr
    with pytest.raises(ValueError, match="one of avx2, avx512"):
        summation.set_order("sse")


def test_set_order_returns_the_previous_order():
    first = summation.order()
    other = "avx2" if first == "avx512" else "avx512"
    try:
        assert summation.set_order(other) == first
        assert summation.order() == other and summation.lanes() == summation.LANES[other]
    finally:
        summation.set_order(first)
