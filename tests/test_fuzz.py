"""Differential fuzzing: Hypothesis writes small random array programs (chains of
element-wise, reduction and manipulation ops over random shapes and dtypes); each runs
on the cpu (NumPy) and on a buffer device (OpenCL kernels), and the two must agree:
exactly for integers and bools, within a tolerance for floats. A failure shows the
shrunk program (its steps' names) and both results."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hal

DTYPES = [hal.bool, hal.int8, hal.uint8, hal.int32, hal.int64, hal.float32, hal.float64]


def _kind(x) -> str:
    return "b" if x.dtype == hal.bool else "f" if x.dtype in (hal.float32, hal.float64) else "i"


# name -> (kinds it takes, needs a non-empty array, needs ndim >= 1, the step)
STEPS = {
    "negative": ("if", False, False, lambda x: -x),
    "abs": ("if", False, False, hal.abs),
    "square": ("if", False, False, hal.square),
    "sin": ("f", False, False, hal.sin),
    "exp_of_tanh": ("f", False, False, lambda x: hal.exp(hal.tanh(x))),
    "floor_half": ("f", False, False, lambda x: hal.floor(x * 0.5)),
    "logical_not": ("b", False, False, hal.logical_not),
    "bitwise_invert": ("bi", False, False, hal.bitwise_invert),
    "add_flipped": ("if", False, False, lambda x: x + hal.flip(x)),
    "times_rolled": ("if", False, True, lambda x: x * hal.roll(x, 1, axis=-1)),
    "maximum_with_2": ("if", False, False, lambda x: hal.maximum(x, hal.asarray(2, dtype=x.dtype, device=x.device))),
    "where_positive": ("if", False, False, lambda x: hal.where(x > 0, x, x - 1)),
    "greater_than_mean": ("f", True, False, lambda x: x > hal.mean(x)),
    "sum_last_axis": ("if", False, True, lambda x: hal.sum(x, axis=-1)),
    "max_first_axis": ("if", True, True, lambda x: hal.max(x, axis=0)),
    "any_last_axis": ("bif", False, True, lambda x: hal.any(x, axis=-1)),
    "cumulative_sum": ("if", False, True, lambda x: hal.cumulative_sum(x, axis=-1)),
    "argsort": ("if", False, True, lambda x: hal.argsort(x, axis=-1, stable=True)),
    "sort": ("if", False, True, lambda x: hal.sort(x, axis=-1)),
    "transpose": ("bif", False, False, lambda x: hal.permute_dims(x, tuple(reversed(range(x.ndim))))),
    "every_other": ("bif", False, True, lambda x: x[..., ::2]),
    "flatten": ("bif", False, False, lambda x: hal.reshape(x, (-1,))),
    "concat_self": ("bif", False, True, lambda x: hal.concat([x, hal.flip(x, axis=0)], axis=0)),
    "expand_and_broadcast": ("bif", False, False, lambda x: hal.broadcast_to(x[None], (2,) + x.shape)),
    "to_float32": ("bi", False, False, lambda x: hal.astype(x, hal.float32)),
    "to_int32": ("bf", False, False, lambda x: hal.astype(hal.clip(x, -100, 100) if _kind(x) == "f" else x, hal.int32)),
    "count_nonzero": ("bif", False, False, lambda x: hal.count_nonzero(x)),
    "nonzero_values": ("bif", False, False, lambda x: x[hal.astype(x, hal.bool)] if x.ndim else x),
}


def _applicable(x) -> list[str]:
    return [name for name, (kinds, nonempty, has_axis, _) in STEPS.items()
            if _kind(x) in kinds and (x.size or not nonempty) and (x.ndim or not has_axis)]


@st.composite
def programs(draw):
    """(the input array, the names of the steps): every step applies to what the
    previous ones produce (the kinds and shapes are followed on the cpu)."""
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=3)))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    data = (rng.standard_normal(shape) * 3 if dtype in (hal.float32, hal.float64) else
            rng.integers(-9, 10, shape) if dtype != hal.bool else rng.random(shape) < 0.5)
    if dtype in (hal.uint8,):
        data = np.abs(data)
    start = np.asarray(data).astype(dtype)
    x, steps = hal.asarray(start, device="cpu"), []
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(_applicable(x)))
        steps.append(name)
        x = STEPS[name][3](x)
    return start, steps


def _run(start, steps, device):
    x = hal.asarray(start, device=device, copy=True)
    for name in steps:
        x = STEPS[name][3](x)
    return np.asarray(x)


@pytest.fixture(scope="module")
def kernel_device():
    found = [d for d in hal.devices() if d.family == "buffer" and d.info.kind != "simulator"]
    if not found:
        pytest.skip("no buffer device (OpenCL) found")
    return found[0]


@settings(max_examples=40, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(program=programs())
def test_cpu_and_kernels_agree(kernel_device, program):
    start, steps = program
    with np.errstate(all="ignore"):
        want = _run(start, steps, "cpu")
    got = _run(start, steps, kernel_device)
    assert got.dtype == want.dtype and got.shape == want.shape, (steps, got, want)
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=str(steps))
    else:
        rtol = 1e-4 if want.dtype == np.float32 else 1e-10
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True, err_msg=str(steps))
