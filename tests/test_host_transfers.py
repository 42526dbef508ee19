"""On buffer devices every function of the namespace runs as device kernels: no array
data crosses to or from the host (the Foundation's transfer counters prove it). The
only exceptions are the ones the README lists: linalg decompositions and solvers and
the fft transforms, which warn once (hal.HostFallbackWarning). Ops with a
data-dependent output shape read back one integer, the size (``size_reads``).

The table below names a call for every function; a test fails when the namespace
gains a function that is not in it, so new functions cannot dodge the check.
"""
import inspect
import warnings

import pytest

import hal

# Functions that move data by definition or do not touch arrays' data.
NOT_KERNELS = {"asarray", "from_dlpack",  # host data in
               "can_cast", "finfo", "iinfo", "isdtype", "result_type", "broadcast_shapes",
               "devices", "device", "default_device", "get_default_device", "set_default_device",
               "stats", "reset_stats"}
# The host fallbacks the issue allows (README, "Through the host").
LINALG_HOST = {"cholesky", "det", "eig", "eigh", "eigvals", "eigvalsh", "inv", "matrix_rank", "pinv",
               "qr", "slogdet", "solve", "svd", "svdvals"}
FFT_DEVICE = {"fftfreq", "rfftfreq", "fftshift", "ifftshift"}


def _calls(dev):
    f = hal.asarray([[0.5, -1.5, 2.0], [3.0, 0.0, -0.25]], dtype=hal.float32, device=dev)
    g = hal.asarray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=hal.float32, device=dev)
    sq = hal.asarray([[2.0, 1.0], [1.0, 3.0]], dtype=hal.float32, device=dev)
    v = hal.asarray([1.0, 2.0, 3.0], dtype=hal.float32, device=dev)
    i = hal.asarray([[3, -1, 2], [0, 7, 5]], dtype=hal.int32, device=dev)
    b = hal.asarray([[True, False, True], [False, False, True]], device=dev)
    z = hal.asarray([1 + 2j, -3j, 0.5], dtype=hal.complex64, device=dev)
    idx = hal.asarray([2, 0], dtype=hal.int64, device=dev)
    srt = hal.asarray([0.0, 1.0, 2.0, 5.0], dtype=hal.float32, device=dev)
    calls = {
        "arange": lambda: hal.arange(5, device=dev), "empty": lambda: hal.empty((2, 3), device=dev),
        "empty_like": lambda: hal.empty_like(f), "eye": lambda: hal.eye(3, device=dev),
        "full": lambda: hal.full((2, 2), 7, device=dev), "full_like": lambda: hal.full_like(f, 2.0),
        "linspace": lambda: hal.linspace(0.0, 1.0, 5, device=dev),
        "meshgrid": lambda: hal.meshgrid(v, v), "ones": lambda: hal.ones(3, device=dev),
        "ones_like": lambda: hal.ones_like(f), "zeros": lambda: hal.zeros(3, device=dev),
        "zeros_like": lambda: hal.zeros_like(f), "tril": lambda: hal.tril(f), "triu": lambda: hal.triu(f),
        "astype": lambda: hal.astype(f, hal.int32),
        "clip": lambda: hal.clip(f, -1.0, 1.0), "where": lambda: hal.where(b, f, g),
        "real": lambda: hal.real(z), "imag": lambda: hal.imag(z), "conj": lambda: hal.conj(z),
        "take": lambda: hal.take(f, idx[:1], axis=1),
        "take_along_axis": lambda: hal.take_along_axis(f, hal.argsort(f, axis=1), axis=1),
        "nonzero": lambda: hal.nonzero(b),
        "matmul": lambda: hal.matmul(f, hal.matrix_transpose(g)),
        "matrix_transpose": lambda: hal.matrix_transpose(f), "tensordot": lambda: hal.tensordot(f, g, axes=2),
        "vecdot": lambda: hal.vecdot(f, g),
        "broadcast_arrays": lambda: hal.broadcast_arrays(f, v), "broadcast_to": lambda: hal.broadcast_to(v, (2, 3)),
        "concat": lambda: hal.concat([f, g]), "expand_dims": lambda: hal.expand_dims(f, axis=0),
        "flip": lambda: hal.flip(f), "moveaxis": lambda: hal.moveaxis(f, 0, 1),
        "permute_dims": lambda: hal.permute_dims(f, (1, 0)), "repeat": lambda: hal.repeat(f, 2, axis=1),
        "reshape": lambda: hal.reshape(f, (3, 2)), "roll": lambda: hal.roll(f, 1, axis=1),
        "squeeze": lambda: hal.squeeze(f[:1], axis=0), "stack": lambda: hal.stack([f, g]),
        "tile": lambda: hal.tile(f, (2, 1)), "unstack": lambda: hal.unstack(f),
        "argmax": lambda: hal.argmax(f, axis=1), "argmin": lambda: hal.argmin(f),
        "count_nonzero": lambda: hal.count_nonzero(i), "searchsorted": lambda: hal.searchsorted(srt, v),
        "isin": lambda: hal.isin(i, idx),
        "unique_all": lambda: hal.unique_all(i), "unique_counts": lambda: hal.unique_counts(i),
        "unique_inverse": lambda: hal.unique_inverse(i), "unique_values": lambda: hal.unique_values(i),
        "sort": lambda: hal.sort(f, axis=1), "argsort": lambda: hal.argsort(f, descending=True, stable=True),
        "cumulative_sum": lambda: hal.cumulative_sum(f, axis=1, include_initial=True),
        "cumulative_prod": lambda: hal.cumulative_prod(g, axis=0),
        "max": lambda: hal.max(f, axis=0), "mean": lambda: hal.mean(f), "min": lambda: hal.min(i),
        "prod": lambda: hal.prod(g), "std": lambda: hal.std(f, correction=1), "sum": lambda: hal.sum(z),
        "var": lambda: hal.var(f, axis=1),
        "einsum": lambda: hal.einsum("ij,kj->ik", f, g), "pad": lambda: hal.pad(f, ((1, 0), (0, 2))),
        "transpose": lambda: hal.transpose(f),  # (NumPy's names, for xarray)
        "all": lambda: hal.all(b, axis=0), "any": lambda: hal.any(i), "diff": lambda: hal.diff(f, axis=1),
        "mask_get": lambda: f[b], "mask_set": lambda: f.__setitem__(b, 0.0),
        "int_array_get": lambda: f[idx[:1], idx], "int_array_set": lambda: g.__setitem__((idx[:1], idx), 9.0),
        "basic_set": lambda: g.__setitem__((0, slice(None)), v),
        "to_device": lambda: f.to_device(dev), "repr_free_ops": lambda: -f + 2 * f @ hal.ones((3, 1), device=dev),
    }
    unary = {"abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "bitwise_invert", "ceil", "cos",
             "cosh", "exp", "expm1", "floor", "isfinite", "isinf", "isnan", "log", "log10", "log1p",
             "log2", "logical_not", "negative", "positive", "reciprocal", "round", "sign", "signbit",
             "sin", "sinh", "sqrt", "square", "tan", "tanh", "trunc"}
    integer_ops = {"bitwise_invert", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
                   "bitwise_right_shift"}
    logical = {"logical_and", "logical_not", "logical_or", "logical_xor"}
    binary = {name for name in _namespace_functions() if name not in calls and name not in unary
              and name not in NOT_KERNELS}
    for name in unary:
        x = i if name in integer_ops else b if name in logical else f
        calls[name] = lambda fn=getattr(hal, name), x=x: fn(x)
    for name in binary:
        fn = getattr(hal, name)
        x1, x2 = (i, hal.abs(i) % 5) if name in integer_ops else (b, b) if name in logical else (f, g)
        calls[name] = lambda fn=fn, x1=x1, x2=x2: fn(x1, x2)
    for name in sorted(n for n in _public(hal.linalg) if n not in LINALG_HOST):
        calls[f"linalg.{name}"] = _linalg_call(name, f, g, sq, v)
    for name in sorted(FFT_DEVICE):
        calls[f"fft.{name}"] = {"fftfreq": lambda: hal.fft.fftfreq(8, device=dev),
                                "rfftfreq": lambda: hal.fft.rfftfreq(8, device=dev),
                                "fftshift": lambda: hal.fft.fftshift(v),
                                "ifftshift": lambda: hal.fft.ifftshift(v)}[name]
    return calls


def _linalg_call(name, f, g, sq, v):
    args = {"cross": (v, v), "diagonal": (f,), "matmul": (sq, sq), "matrix_norm": (sq,),
            "matrix_power": (sq, 3), "matrix_transpose": (f,), "outer": (v, v), "tensordot": (f, g),
            "trace": (sq,), "vecdot": (f, g), "vector_norm": (f,)}[name]
    return lambda: getattr(hal.linalg, name)(*args)


def _public(module):
    return {n for n in getattr(module, "__all__", dir(module))
            if not n.startswith("_") and inspect.isfunction(getattr(module, n))}


def _namespace_functions():
    return _public(hal)


@pytest.fixture(scope="module")
def opencl():
    found = [d for d in hal.devices() if d.family == "buffer" and d.info.kind != "simulator"]
    if not found:
        pytest.skip("no buffer device (OpenCL) found")
    return found[0]


def test_every_function_is_in_the_table(opencl):
    names = set(_calls(opencl))
    missing = sorted(_namespace_functions() - NOT_KERNELS - names)
    assert not missing, f"add a call for {missing} to tests/test_host_transfers.py"
    linalg = {n for n in _public(hal.linalg)} - LINALG_HOST
    assert not linalg - {n[7:] for n in names if n.startswith("linalg.")}


@pytest.mark.parametrize("name", sorted(_calls(hal.devices()[0])))
def test_no_host_transfer(opencl, name):
    call = _calls(opencl)[name]
    call()  # first call: compiles, nothing else
    opencl.synchronize()
    hal.reset_stats()
    with warnings.catch_warnings():
        warnings.simplefilter("error", hal.HostFallbackWarning)
        call()
    stats = hal.stats()
    moved = {k: stats[k] for k in ("host_to_device", "device_to_host", "bytes_to_device", "bytes_to_host")}
    assert moved == dict.fromkeys(moved, 0), f"{name} moved data through the host: {moved}"


@pytest.mark.parametrize("name", ["linalg.inv", "linalg.solve", "fft.fft"])
def test_host_fallbacks_say_so(opencl, name):
    """The allowed host fallbacks do cross the host, and warn."""
    sq = hal.asarray([[2.0, 1.0], [1.0, 3.0]], dtype=hal.float32, device=opencl)
    module, fn = name.split(".")
    args = (sq, sq) if fn == "solve" else (hal.astype(sq, hal.complex64),) if module == "fft" else (sq,)
    hal.reset_stats()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        getattr(getattr(hal, module), fn)(*args)
    assert hal.stats()["device_to_host"] > 0
