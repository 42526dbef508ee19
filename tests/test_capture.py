"""A captured step (Device.capture, hal/program.py): launches recorded once and replayed,
reading whatever their arrays hold at the replay (on the cpu by one C call, backends/cc.py;
on OpenCL as bare enqueues, backends/opencl.py; CUDA's in test_cuda_backend.py). The
LLaMA step that uses it is tested in test_llama.py."""
import gc

import numpy as np
import pytest

import hal
from helpers import put

SOURCE = r"""
KERNEL void axpb(GLOBAL f32 *y, GLOBAL const f32 *x, f32 a, f64 b, i64 n, GLOBAL const i64 *shift) {
    i64 i = GLOBAL_ID(0);
    if (i < n) y[i] = a * x[i] + (f32)b + (f32)shift[0];
}
KERNEL void narrow(GLOBAL i64 *out, i8 a, u8 b, i16 c, u16 d, i32 e, u32 f, i64 g, u64 h) {
    out[0] = a; out[1] = b; out[2] = c; out[3] = d; out[4] = e; out[5] = (i64)f; out[6] = g; out[7] = (i64)h;
}
"""


@pytest.fixture
def cpu():
    return hal.device("cpu")


def test_a_replay_runs_the_launches_in_order_on_the_arrays_current_values(cpu):
    module = cpu.compile(SOURCE)
    x, y, z = np.arange(5, dtype=np.float32), np.zeros(5, np.float32), np.zeros(5, np.float32)
    shift = np.zeros(1, np.int64)
    with cpu.capture() as graph:
        module["axpb"]((5,), None, y, x, np.float32(2.0), 0.5, 5, shift)
        module["axpb"]((5,), None, z, y, np.float32(-1.0), 0.25, 5, shift)  # reads the first's output
    np.testing.assert_array_equal(z, -(2 * x + 0.5) + 0.25)  # the captured launches ran
    x[:], shift[0] = 10.0, 3
    launches = hal.stats()["kernel_launches"]
    graph.replay()
    np.testing.assert_array_equal(y, 2 * 10.0 + 0.5 + 3)
    np.testing.assert_array_equal(z, -(2 * 10.0 + 0.5 + 3) + 0.25 + 3)
    assert len(graph) == 2 and hal.stats()["kernel_launches"] == launches + 2


def test_scalars_of_every_width_keep_their_values(cpu):
    out = np.zeros(8, np.int64)
    values = (-128, 255, -32768, 65535, -2**31, 2**32 - 1, -2**63, 2**64 - 1)
    with cpu.capture() as graph:
        cpu.compile(SOURCE)["narrow"]((1,), None, out, *values)
    out[:] = 0
    graph.replay()
    assert list(out[:7]) == list(values[:7]) and out[7] == -1  # (u64 max read back as i64)


def test_the_graph_keeps_its_arrays_alive(cpu):
    module = cpu.compile(SOURCE)
    y = np.zeros(1000, np.float32)
    with cpu.capture() as graph:
        module["axpb"]((1000,), None, y, np.ones(1000, np.float32), np.float32(3.0), 0.0, 1000, np.zeros(1, np.int64))
    gc.collect()
    [np.ones(1000, np.float32) * 7 for _ in range(10)]  # would reuse freed memory
    y[:] = 0
    graph.replay()
    np.testing.assert_array_equal(y, 3.0)


def test_captures_do_not_nest_and_a_closed_graph_records_nothing(cpu):
    module = cpu.compile(SOURCE)
    with cpu.capture() as graph:
        with pytest.raises(RuntimeError, match="nest"):
            with cpu.capture():
                pass
    y = np.zeros(1, np.float32)
    module["axpb"]((1,), None, y, y, np.float32(1.0), 1.0, 1, np.zeros(1, np.int64))  # after: not recorded
    assert len(graph) == 0
    graph.replay()  # nothing to run
    with pytest.raises(RuntimeError, match="closed"):
        graph.record(module["axpb"], ((1, 1, 1), []), ())


def test_an_op_replays_on_every_device_that_captures(device):
    x, delta, w = np.arange(300, dtype=np.float32), np.full(300, 0.5, np.float32), np.ones(300, np.float32)
    payload = put(x, device)._data
    with device.capture() as graph:  # x += delta in place, then its rms_norm
        out = device.impl("nn_add_rms_norm")(device, payload, put(delta, device)._data, put(w, device)._data, 0.0)
    graph.replay()
    graph.replay()
    np.testing.assert_array_equal(device.to_host(payload), x + 1.5)
    np.testing.assert_allclose(device.to_host(out), (x + 1.5) / np.sqrt(np.mean((x + 1.5) ** 2)), rtol=1e-6)
    assert len(graph) == 1


def test_every_built_in_backend_captures():
    for device in hal.devices():
        assert device.capture is not None, device
