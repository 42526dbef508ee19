"""README, "Adding an op": an op is declared once and implemented in one place, then
runs on every device; registration holds implementations to the declaration."""
import numpy as np
import pytest

import hal
from hal.dispatch import Op, declare, register
from hal.ops.launch import C_TYPE, flat_group, program

# The README's example, whole: a declaration, a NumPy implementation for the cpu and a
# portable kernel for every buffer device.
declare(Op("example_axpy", ("a", "x", "y"), "a * x + y, float32", "a * x + y"))

AXPY = """
KERNEL void axpy(GLOBAL T *out, i64 out_off, f32 a, GLOBAL const T *x, i64 x_off,
                 GLOBAL const T *y, i64 y_off, i64 n) {
    i64 i = GLOBAL_ID(0);
    if (i < n) out[out_off + i] = a * x[x_off + i] + y[y_off + i];
}
"""


@register("example_axpy", on=("cpu",))
def axpy_cpu(device, a, x, y):
    return np.float32(a) * x + y


@register("example_axpy", on=("buffer",))
def axpy(device, a, x, y):
    x, y = device.contiguous(x), device.contiguous(y)
    out = device.empty(x.shape, x.dtype)
    program(device, AXPY, "axpy", T=C_TYPE[x.dtype])(
        (x.size,), flat_group(device), *device.kernel_args(out), np.float32(a), *device.kernel_args(x, y), x.size)
    return out


def test_a_new_op_runs_on_every_device(device):
    x, y = np.arange(10, dtype=np.float32), np.linspace(0, 1, 10, dtype=np.float32)
    a, b = hal.asarray(x, device=device), hal.asarray(y[::-1].copy(), device=device)
    out = device.impl("example_axpy")(device, 2.5, a._data, b._data)
    np.testing.assert_allclose(np.asarray(hal.Array._new(out, device)), 2.5 * x + y[::-1], rtol=1e-6)


def test_registration_is_held_to_the_declaration():
    with pytest.raises(NameError, match="no op 'exmaple_axpy' is declared"):
        register("exmaple_axpy", on=("cpu",))
    with pytest.raises(TypeError, match=r"implements example_axpy\('a', 'x', 'y'\) with parameters \('x', 'y'\)"):
        register("example_axpy", on=("cpu",))(lambda device, x, y: x + y)
    with pytest.raises(ValueError, match="declared twice"):
        declare(Op("example_axpy", ("a",), "", ""))
    with pytest.raises(NameError, match="no op 'example_nothing' is declared"):
        hal.device("cpu").impl("example_nothing")


def test_every_op_hal_calls_is_declared():
    # The namespace calls ops by name (device.impl("copy")): a misspelt name there would
    # surface only when that line runs; this finds every such name in the source.
    import pathlib
    import re
    from hal import backends, dispatch, ops
    sources = [p for package in (hal, ops, backends) for p in pathlib.Path(package.__file__).parent.rglob("*.py")]
    called = {m for p in sources for m in re.findall(r"\.(?:impl|library)\(\"(\w+)\"\)", p.read_text())}
    assert called and called <= set(dispatch.ops()), called - set(dispatch.ops())
