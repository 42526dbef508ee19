"""Fewer kernels to compile on first use (issue 17, "warm from the first use"): the
elementwise kernel is generated per number of dimensions after ``collapse`` merges the
dimensions every operand strides through alike, so one kernel serves every shape that
collapses alike; and the conformance kit runs its battery in worker processes, with the
same outcomes as in one (a worker that crashes fails only the op it was running)."""
import numpy as np
import pytest

import hal
from hal.conformance import run
from hal.ops.launch import collapse


@pytest.mark.parametrize("shape, strides, want", [
    ((3, 4, 5), [(20, 5, 1), (20, 5, 1)], ((60,), [(1,), (1,)])),          # contiguous: one dimension
    ((3, 4, 5), [(20, 5, 1), (40, 5, 1)], ((3, 20), [(20, 1), (40, 1)])),  # rows of a wider array
    ((3, 4), [(4, 1), (0, 1)], ((3, 4), [(4, 1), (0, 1)])),                # a broadcast row stays two
    ((3, 1, 4), [(4, 99, 1), (4, 7, 1)], ((12,), [(1,), (1,)])),           # size-1 dimensions dropped
    ((2, 3), [(3, 1), (0, 0)], ((6,), [(1,), (0,)])),                      # a broadcast scalar
    ((4, 3), [(-3, -1), (3, 1)], ((12,), [(-1,), (1,)])),                  # reversed: still one walk
    ((4, 3), [(1, 4), (3, 1)], ((4, 3), [(1, 4), (3, 1)])),                # a transpose is not merged
    ((1, 1), [(1, 1), (5, 5)], ((), [(), ()])),
])
def test_collapse_keeps_the_elements_and_their_order(shape, strides, want):
    assert collapse(shape, strides) == want


def _walk(shape, strides, offset=0):
    """Element offsets in row-major order of the flat index."""
    return [offset + sum(i * s for i, s in zip(idx, strides)) for idx in np.ndindex(*shape)]


@pytest.mark.parametrize("seed", range(20))
def test_collapse_walks_the_same_offsets(seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(1, 4, size=rng.integers(1, 5))
    shape = tuple(int(n) for n in base)
    arrays = []
    for _ in range(3):
        x = np.empty(tuple(2 * n for n in shape))[tuple(slice(None, None, int(rng.choice([1, 2])))
                                                         for _ in shape)][tuple(slice(0, n) for n in shape)]
        arrays.append(tuple(s // 8 for s in x.strides))
    arrays.append(tuple(0 if rng.random() < 0.5 else s for s in arrays[0]))  # broadcast dimensions
    new_shape, new_strides = collapse(shape, arrays)
    for old, new in zip(arrays, new_strides):
        assert _walk(shape, old) == _walk(new_shape, new)


def _ew_programs(device) -> int:
    return sum(1 for key in device.programs if len(key) >= 2 and key[1] == "ew" and isinstance(key[0], str))


def test_one_kernel_serves_every_shape_that_collapses_alike(buffer_device):
    """After a 1-D contiguous and a 2-D row-sliced maximum have compiled their kernels,
    operands with leading size-1 dimensions (once a 3-D strided kernel) and row slices
    of 3-D arrays (once 3-D too) compile none, and compute right."""
    dev = buffer_device
    x = np.arange(2 * 3 * 9, dtype=np.float32).reshape(2, 3, 9)
    y = -np.arange(2 * 3 * 9, dtype=np.float32).reshape(2, 3, 9) / 7
    a, b = hal.asarray(x, device=dev), hal.asarray(y, device=dev)
    a2, b2 = hal.reshape(a, (6, 9)), hal.reshape(b, (6, 9))
    hal.maximum(a2[0], b2[1])
    hal.maximum(a2[:, 1:], b2[:, 1:])
    before = _ew_programs(dev)
    for got, want in [(hal.maximum(a[0], b[:1]), np.maximum(x[0], y[:1])),
                      (hal.maximum(a[:, :, 1:], b[:, :, 1:]), np.maximum(x[:, :, 1:], y[:, :, 1:]))]:
        np.testing.assert_array_equal(np.asarray(got), want)
    assert _ew_programs(dev) == before


def test_the_battery_in_worker_processes_gives_the_same_outcomes():
    ops = r"^(add|sum|where|linalg\.inv)$"
    alone = run("cpu", ops=ops, small=True)
    workers = run("cpu", ops=ops, small=True, jobs=2)
    assert [r.op for r in workers] == [r.op for r in alone]
    for a, w in zip(alone, workers):
        assert [(o.case.label, o.status, o.path) for o in w.outcomes] == \
            [(o.case.label, o.status, o.path) for o in a.outcomes]



class _Exited:
    def __init__(self, pid, exitcode):
        self.pid, self.exitcode = pid, exitcode


def test_a_worker_that_crashed_fails_the_op_it_was_running_and_only_that():
    """A worker killed by a signal mid-op (a driver crash) fails that op's cases; one that
    exited normally had sent its outcomes, so the op it last started is left alone."""
    from hal.conformance.parallel import _fail_dead
    from hal.conformance.runner import Outcome, _cases_by_op
    by_op = _cases_by_op(hal.device("cpu"), r"^(sin|cos)$", small=True)
    names, outcomes = list(by_op), {}
    running = {11: 0, 12: 1}
    _fail_dead([_Exited(11, -11), _Exited(12, 0)], running, outcomes, names, by_op, Outcome)
    assert list(outcomes) == [0] and running == {12: 1}
    assert [o.status for o in outcomes[0]] == ["fail"] * len(by_op[names[0]])
    assert "died (exit code -11)" in outcomes[0][0].detail
