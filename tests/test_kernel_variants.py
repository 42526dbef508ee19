"""Fewer kernels to compile on first use (issue 17, "warm from the first use"): the
elementwise kernel is generated per number of dimensions after ``collapse`` merges the
dimensions every operand strides through alike, so one kernel serves every shape that
collapses alike; and the conformance kit runs its battery in worker processes, with the
same outcomes as in one (a worker that crashes fails only the op it was running); and
where a program's build is mostly a fixed cost (PoCL), an elementwise kernel is built in
one program with its siblings."""
import logging

import numpy as np
import pytest

import hal
from hal.conformance import run
from hal.dtypes import KINDS
from hal.ops import elementwise
from hal.ops.launch import collapse, elementwise_program, run_elementwise


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


def _fresh_opencl(batch: bool):
    """A new instance of the first OpenCL device that is not a simulator: nothing built
    on it yet (hal's kernel cache aside), building in batches or not."""
    pytest.importorskip("pyopencl")
    from hal.backends import opencl
    found = [d for d in opencl.discover() if d.info.kind != "simulator"]
    if not found:
        pytest.skip("no OpenCL device")
    found[0].batch_builds = batch
    return found[0]


def _many_ops(dev):
    """Kernels of a StandardScaler fit's kinds on ``dev``: float64 binary ops on arrays and
    with scalars, comparisons, a cast, a math function, a strided copy."""
    rng = np.random.default_rng(0)
    a = hal.asarray(rng.standard_normal((40, 7)), device=dev)
    b = hal.asarray(rng.standard_normal((40, 7)), device=dev)
    i = hal.asarray(rng.integers(-5, 5, (40, 7)), device=dev)
    outs = [a + b, a - b, a * b, a / b, a == b, a <= b, a * 3.0, 2.0 - a, a == 0.5, a ** 2.0,
            hal.sqrt(hal.abs(a)), hal.astype(i, hal.float64), hal.asarray(a.T, copy=True), hal.where(a < b, a, b)]
    return [np.asarray(x) for x in outs]


def test_a_batched_build_brings_the_siblings_and_the_same_results():
    batched, alone = _fresh_opencl(True), _fresh_opencl(False)
    before = hal.stats()["kernel_compiles"]
    got = _many_ops(batched)
    built = hal.stats()["kernel_compiles"] - before
    want = _many_ops(alone)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
        assert g.dtype == w.dtype
    # float64 and int64 families, the strided copy's layout, where (mixed value types)
    assert built <= 4 < len(got)


def test_a_rarer_op_brings_every_op_it_was_not_built_with():
    """The common ops come first; the first use of another (here sin) builds the rest,
    so that a third (cos, then tanh) over the same operands costs no build."""
    dev = _fresh_opencl(True)
    a = hal.asarray(np.linspace(-1, 1, 9), device=dev)
    np.asarray(a + a)
    before = hal.stats()["kernel_compiles"]
    outs = [np.asarray(hal.sin(a))]
    assert hal.stats()["kernel_compiles"] - before == 1
    outs += [np.asarray(hal.cos(a)), np.asarray(hal.tanh(a)), np.asarray(hal.exp(a))]
    assert hal.stats()["kernel_compiles"] - before == 1
    x = np.linspace(-1, 1, 9)
    for got, want in zip(outs, (np.sin(x), np.cos(x), np.tanh(x), np.exp(x))):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_batch_that_fails_to_compile_leaves_each_kernel_to_build_alone(monkeypatch, caplog):
    dev = _fresh_opencl(True)
    f32 = np.dtype(np.float32)
    bad = ("not_declared_anywhere(x0)", f32, (("c", f32, f32),), False, 0, "", None)
    monkeypatch.setattr(elementwise, "siblings", lambda expr, values, layout, dtypes: (bad,))
    x = hal.asarray(np.arange(5, dtype=np.float32), device=dev)
    with caplog.at_level(logging.WARNING, logger="hal.launch"):
        assert np.asarray(hal.negative(x)).tolist() == [0, -1, -2, -3, -4]
        assert np.asarray(hal.square(x)).tolist() == [0, 1, 4, 9, 16]
    # one failed batch, not tried again for that layout; each kernel built alone
    assert caplog.text.count("not_declared_anywhere") == 1
    assert {p.name for key, p in dev.programs.items() if key[1:] == ("ew",)} == {"ew"}
    # A kernel that cannot compile (in a batch that fails too: another layout) reports
    # its own error, not a sibling's or the batch's.
    with pytest.raises(hal.CompileError) as error:
        run_elementwise(dev, "also_undeclared(x0)", dev.empty((5,), f32), [1.5], [f32])
    assert "also_undeclared" in error.value.log and "not_declared_anywhere" not in error.value.source


def test_every_dtype_s_batch_compiles(caplog):
    """A failing batch costs a build more and its siblings a build each: none may fail."""
    dev = _fresh_opencl(True)
    with caplog.at_level(logging.WARNING, logger="hal.launch"):
        for dtype in dev.dtypes:
            elementwise_program(dev, "x0", dtype, (("c", dtype, dtype),), False, 0)
            elementwise_program(dev, "x0", dtype, (("s", dtype, dtype), ("c", dtype, dtype)), False, 2)
            elementwise_program(dev, "x0", dtype, (("c", dtype, dtype),), True, 3)
            rare = next(op for op in elementwise.OPS.values() if op.name not in elementwise.COMMON and
                        op.nin == 1 and dtype in KINDS[op.kind] and op.expression(dtype) is not None)
            expr, _, helpers = elementwise._specialize(rare.name, dtype)  # (brings every op)
            elementwise_program(dev, expr, rare.out_dtype(dtype), (("c", dtype, dtype),), False, 0, helpers)
        elementwise_program(dev, "i % 2", np.dtype(np.int64), (), False, 0)  # (no inputs: no siblings)
    assert not [key for key in dev.programs if key[0] == "batch failed"] and not caplog.text


def test_the_common_reductions_build_together_and_a_source_builds_once(monkeypatch):
    """On a device that batches its builds, the first reduction builds the common ones
    in one program (sums, products, max and min of each float dtype, float32 summed in
    float64, bool's all and any), a mask's first use what it needs in one program, and
    gather and scatter, one source, build once."""
    dev, builds = _fresh_opencl(True), []
    compile = dev.compile
    monkeypatch.setattr(dev, "compile", lambda source, *args, **kw: builds.append(source) or compile(source, *args, **kw))
    rng = np.random.default_rng(0)
    x32 = hal.asarray(rng.standard_normal((40, 50)).astype(np.float32), device=dev)
    x64, b = hal.astype(x32, hal.float64), x32 > 0
    before = len(builds)
    got = [f(x, axis=1) for x in (x32, x64) for f in (hal.sum, hal.prod, hal.max, hal.min)]
    got += [hal.sum(x32, axis=1, dtype=hal.float64), hal.all(b, axis=1), hal.any(b, axis=1)]
    assert len(builds) - before == 1
    x_np, b_np = np.asarray(x32), np.asarray(b)
    want = [f(x, axis=1) for x in (x_np, x_np.astype(np.float64)) for f in (np.sum, np.prod, np.max, np.min)]
    want += [x_np.sum(axis=1, dtype=np.float64), b_np.all(axis=1), b_np.any(axis=1)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5)
    picked = x32[x32 > 0.5]  # (a mask: its scan, coordinates and gather in one build)
    np.testing.assert_array_equal(np.asarray(picked), x_np[x_np > 0.5])
    masking = [source for source in builds if "KERNEL void nonzero" in source]
    assert len(masking) == 1 and "KERNEL void scan_blocks" in masking[0] and "KERNEL void gather" in masking[0]
    m, idx = hal.asarray(np.arange(8, dtype=np.int16).reshape(2, 4), device=dev), np.array([[3, 1], [0, 2]])
    taken = hal.take_along_axis(m, hal.asarray(idx, device=dev), axis=1)  # (2-byte values: not in that build)
    m[hal.asarray(np.array([1, 0]), device=dev)] = hal.ones((2, 4), dtype=hal.int16, device=dev)  # (scatter)
    assert sum("KERNEL void scatter(GLOBAL u16" in source for source in builds) == 1
    assert np.asarray(taken).tolist() == np.take_along_axis(np.arange(8).reshape(2, 4), idx, 1).tolist()
    assert np.asarray(m).tolist() == np.ones((2, 4)).tolist()
