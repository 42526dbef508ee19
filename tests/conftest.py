"""Fixtures shared by the array-layer tests: every device found, and the simulator marker.

Oclgrind (``device.info.kind == "simulator"``) runs kernels about a hundred times slower
than a real device, so its parameters carry the ``simulator`` marker: CI can deselect
them with ``-m "not simulator"`` or run only them with ``-m simulator``. Oclgrind also
checks every kernel it runs for out-of-bounds accesses; those reports go to stderr and
fail the test that caused them.
"""
import itertools
import sys

import pytest

import hal

DEVICES = hal.devices()

# What Oclgrind prints when a kernel misbehaves (its "Invalid read/write of size N at
# ... memory address", "Data race at ...", "Work-group divergence ...", "Uninitialized ...").
_OCLGRIND_ERRORS = ("Invalid read", "Invalid write", "Data race", "divergence", "Uninitialized value")


def pytest_configure(config):
    config.addinivalue_line("markers", "simulator: a case on an OpenCL simulator (Oclgrind), ~100x slower")


def _param(values, devices):
    marks = [pytest.mark.simulator] if any(d.info.kind == "simulator" for d in devices) else []
    return pytest.param(values, id="-".join(d.name for d in devices), marks=marks)


@pytest.fixture(params=[_param(d, [d]) for d in DEVICES])
def device(request):
    """Every device of every available backend (ids: the device names)."""
    yield from _checked(request, request.param)


@pytest.fixture(params=[_param(d, [d]) for d in DEVICES if d.family == "buffer"])
def buffer_device(request):
    """Every device whose arrays live in device memory (not NumPy arrays on the host)."""
    yield from _checked(request, request.param)


@pytest.fixture(params=[_param(p, p) for p in itertools.permutations(DEVICES, 2)])
def device_pair(request):
    """Every ordered pair of two different devices."""
    yield from _checked(request, *request.param)


def _checked(request, *devices):
    """Yield the device(s); afterwards fail on anything Oclgrind reported on stderr."""
    simulators = [d for d in devices if d.info.kind == "simulator"]
    capfd = request.getfixturevalue("capfd") if simulators else None
    yield devices[0] if len(devices) == 1 else devices
    if simulators:
        for d in simulators:
            d.synchronize()
        out, err = capfd.readouterr()
        sys.stdout.write(out)
        sys.stderr.write(err)
        reports = [line for line in err.splitlines() if any(e in line for e in _OCLGRIND_ERRORS)]
        assert not reports, "Oclgrind reported errors:\n" + err
