"""Fixtures shared by the array-layer tests: every device found, and the simulator marker.

Oclgrind (``device.info.kind == "simulator"``) runs kernels about a hundred times slower
than a real device, so its parameters carry the ``simulator`` marker: CI can deselect
them with ``-m "not simulator"`` or run only them with ``-m simulator``; tests marked
``heavy`` (large shapes) are skipped on it and run everywhere else. What Oclgrind
reports about the kernels (out-of-bounds accesses, data races) fails the run through
tests/oclgrind_checks.py.
"""
import itertools

import pytest

import hal

DEVICES = hal.devices()


def pytest_configure(config):
    config.addinivalue_line("markers", "simulator: a case on an OpenCL simulator (Oclgrind), ~100x slower")
    config.addinivalue_line("markers", "heavy: large shapes, skipped on simulators")


@pytest.hookimpl(tryfirst=True)  # (before -m deselects)
def pytest_collection_modifyitems(config, items):
    """Heavy cases skip on a simulator; a ``slow_on_simulator`` test's simulator case is
    ``slow``. Both run at collection, before ``-m`` selects: marked here, the default
    ``-m "not slow"`` (pytest.ini) leaves those cases out and ``-m slow`` runs them."""
    skip = pytest.mark.skip(reason="heavy: too slow on a simulator; runs on every other device")
    for item in items:
        if item.get_closest_marker("simulator"):
            if item.get_closest_marker("heavy"):
                item.add_marker(skip)
            if item.get_closest_marker("slow_on_simulator"):
                item.add_marker(pytest.mark.slow)


def _param(value, devices):
    marks = [pytest.mark.simulator] if any(d.info.kind == "simulator" for d in devices) else []
    return pytest.param(value, id="-".join(d.name for d in devices), marks=marks)


@pytest.fixture(scope="module")
def llama_cpp_avx512_order():
    """For a module whose recordings are llama.cpp's AVX-512 build's: hal sums in that
    order (hal.summation) whatever the host, from before any of its models loads."""
    from hal import summation
    previous = summation.set_order("avx512")
    yield
    summation.set_order(previous)


@pytest.fixture(params=[_param(d, [d]) for d in DEVICES])
def device(request):
    """Every device of every available backend (ids: the device names)."""
    return request.param


@pytest.fixture(params=[_param(d, [d]) for d in DEVICES if d.family == "buffer"])
def buffer_device(request):
    """Every device whose arrays live in device memory, not in NumPy arrays."""
    return request.param


@pytest.fixture(params=[_param(p, p) for p in itertools.permutations(DEVICES, 2)])
def device_pair(request):
    """Every ordered pair of two different devices."""
    return request.param
