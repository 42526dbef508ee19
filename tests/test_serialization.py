"""Pickling hal arrays (hal/serialization.py): pickle with protocols 4 and 5, copy and
deepcopy on the device, multiprocessing between processes, and an array whose device the
receiver lacks (the default device, with hal.DeviceNotFoundWarning)."""
import copy
import multiprocessing
import pickle

import numpy as np
import pytest

import hal
from helpers import assert_matches, put

CASES = [np.arange(12, dtype=np.float32).reshape(3, 4), np.array(7, dtype=np.int64),
         np.zeros((0, 3), dtype=np.int16), np.array([True, False]), np.arange(6, dtype=np.float16)]


@pytest.mark.parametrize("protocol", [4, 5])
def test_pickle_round_trip(device, protocol):
    for a in CASES:
        x = put(a, device)
        y = pickle.loads(pickle.dumps(x, protocol=protocol))
        assert y.device == device
        assert_matches(y, a) if a.dtype != np.float16 else np.testing.assert_array_equal(np.asarray(y), a, strict=True)
    view = put(CASES[0], device)[:, ::-2]  # a strided view pickles its elements only
    assert_matches(pickle.loads(pickle.dumps(view)), CASES[0][:, ::-2], device=device)


def test_pickle_out_of_band(device):
    a = np.arange(1000, dtype=np.float32)
    buffers = []
    payload = pickle.dumps(put(a, device), protocol=5, buffer_callback=buffers.append)
    assert len(buffers) == 1 and len(payload) < 200  # the 4000 bytes travel outside the pickle
    assert_matches(pickle.loads(payload, buffers=buffers), a, device=device)


def test_copy_and_deepcopy_stay_on_the_device(device):
    x = put(CASES[0], device)
    for duplicate in (copy.copy(x), copy.deepcopy(x), copy.deepcopy({"a": [x]})["a"][0]):
        assert duplicate is not x and duplicate.device == device
        duplicate[0, 0] = 100.0
        assert float(x[0, 0]) == 0.0  # a copy, not a view
        assert_matches(duplicate[1:], CASES[0][1:])


def test_a_device_the_receiver_lacks_is_the_default_device(buffer_device):
    payload = pickle.dumps(put(CASES[0], buffer_device))
    # (another index of the same backend: a name as long as the device's, so the pickle's
    # length-prefixed string stays whole; opencl:0 -> opencl:9, cuda:0 -> cuda:9)
    name = buffer_device.name.encode()
    lacking = payload.replace(name, name[:-1] + (b"9" if name[-1:] != b"9" else b"8"))
    with pytest.warns(hal.DeviceNotFoundWarning, match=f"{buffer_device.backend_name}:[89]"):
        y = pickle.loads(lacking)
    assert y.device == hal.get_default_device()
    assert_matches(y, CASES[0])


def _double(x):
    return x.device.name, x * 2


def test_multiprocessing_carries_arrays_both_ways():
    arrays = [hal.asarray(CASES[0], device=d) for d in hal.devices() if d.info.kind != "simulator"]
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        results = pool.map(_double, arrays)
    for x, (name_there, doubled) in zip(arrays, results):
        assert name_there == x.device.name and doubled.device == x.device
        assert_matches(doubled, CASES[0] * 2)
