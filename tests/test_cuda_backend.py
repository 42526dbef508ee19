"""The cuda backend (backends/cuda.py). Without a GPU: why it is unavailable, that real
hal kernels compile with the backend's own NVRTC options for several architectures, what
--fmad=false does, and how launches are shaped and marshalled. With one: the same
kernels run, cuBLAS matmul, views shared with CuPy. (The array-layer tests cover cuda
devices through the ``device`` fixture.)"""
import contextlib
from types import SimpleNamespace

import numpy as np
import pytest

import hal
from hal import program, registry
from hal.__main__ import devices_table
from hal.dialect import kernel_signatures, render
from hal.ops import nn, reduction

GPUS = [d for d in hal.devices() if d.backend_name in ("cuda", "rocm")]
needs_gpu = pytest.mark.skipif(not GPUS, reason="no CUDA or ROCm device here: "
                               + "; ".join(f"{n}: {registry.unavailable().get(n, '?')}" for n in ("cuda", "rocm")))


def _cuda():
    pytest.importorskip("cupy", reason="the cuda backend needs CuPy (pip install hal[cuda12])")
    from hal.backends import cuda
    return cuda


def _props(major: int, minor: int) -> dict:
    return {"major": major, "minor": minor}


def test_unavailable_backend_says_why():
    if GPUS:
        pytest.skip("a GPU is present: the backend is available")
    for name in ("cuda", "rocm"):
        why = registry.unavailable()[name]
        assert why and why != "no devices found"
        with pytest.raises(hal.DeviceError, match=f"{name} backend is unavailable"):
            hal.device(f"{name}:0")
    assert f"cuda: unavailable ({registry.unavailable()['cuda']})" in devices_table().splitlines()


@pytest.mark.parametrize("cc", [(7, 5), (8, 0), (9, 0)])  # (sm_75: the oldest CUDA 12's and 13's NVRTC both know)
def test_real_kernels_compile_with_the_backend_options(cc):
    cuda = _cuda()
    arch, options = cuda.target(_props(*cc), hip=False)
    assert arch == f"sm_{cc[0]}{cc[1]}" and "--fmad=false" in options
    for source, defines in ((nn.ROW_KERNELS, {"WG": 256, "GGML_EPR": 16}),
                            (reduction.reduction_source("f32", "f32", "f32", "a + b", "(f32)0"), {"WG": 128})):
        cubin = cuda.build(render(source, "cuda", defines), options)
        assert cubin[:4] == b"\x7fELF"  # a cubin: ptxas has checked the code too


def test_a_gpu_older_than_nvrtc_knows_is_unavailable_and_says_why():
    cuda = _cuda()
    with pytest.raises(registry.BackendUnavailable, match=r"compiles for sm_\d+ and newer, not for this GPU's sm_30"):
        cuda.target(_props(3, 0), hip=False)


def test_a_gpu_newer_than_nvrtc_gets_ptx_for_the_newest_architecture():
    cuda = _cuda()
    arch, options = cuda.target(_props(99, 9), hip=False)
    assert arch.startswith("compute_")
    ptx = cuda.build(render(nn.ROPE, "cuda", {}), options)
    assert b".entry rope" in ptx and f".target sm_{arch[8:]}".encode() in ptx


def test_no_fma_unless_the_kernel_writes_one():
    """--fmad=false is the numerics contract: a*b + c stays a multiply and an add."""
    cuda = _cuda()
    _, options = cuda.target(_props(999, 0), hip=False)  # PTX, to read the instructions
    plain = "KERNEL void f(GLOBAL f32 *o, f32 a, f32 b, f32 c) { o[0] = a * b + c; }"
    fused = "KERNEL void f(GLOBAL f32 *o, f32 a, f32 b, f32 c) { o[0] = fma(a, b, c); }"
    ptx = cuda.build(render(plain, "cuda"), options).decode()
    assert "fma.rn.f32" not in ptx and "mul.rn.f32" in ptx and "add.rn.f32" in ptx
    assert "fma.rn.f32" in cuda.build(render(fused, "cuda"), options).decode()
    contracting = tuple(o for o in options if o != "--fmad=false")
    assert "fma.rn.f32" in cuda.build(render(plain, "cuda"), contracting).decode()  # the first check can fail


def test_rocm_compiles_for_the_gpus_own_target_without_contraction():
    arch, options = _cuda().target({"gcnArchName": b"gfx90a:sramecc+:xnack-"}, hip=True)
    assert arch == "gfx90a:sramecc+:xnack-"
    assert "-ffp-contract=off" in options and f"--offload-arch={arch}" in options


def test_compile_error_carries_the_nvrtc_log():
    cuda = _cuda()
    _, options = cuda.target(_props(8, 0), hip=False)
    with pytest.raises(hal.CompileError) as err:
        cuda.build(render("KERNEL void broken(GLOBAL f32 *x) { x[0] = undefined_name; }", "cuda"), options)
    assert "undefined_name" in err.value.log and "NVRTC" in str(err.value) and "KERNEL" in err.value.source


def test_cupys_out_of_memory_reaches_the_pool_as_a_memory_error():
    """hal.memory.Pool turns a MemoryError from alloc into hal.OutOfMemoryError."""
    _cuda()
    import cupy
    assert issubclass(cupy.cuda.memory.OutOfMemoryError, MemoryError)


class _Buffer:  # what kernels receive for a buffer: a hal.memory.Buffer, its handle a MemoryPointer
    def __init__(self):
        self.handle = object()


def test_arguments_are_packed_with_the_declared_types():
    cuda = _cuda()
    params = kernel_signatures(
        "KERNEL void k(GLOBAL f32 *out, GLOBAL const u8 *m, i64 n, f32 a, u8 flag, i32 s, f64 d) {}")["k"]
    out, mask = _Buffer(), _Buffer()
    packed = cuda.pack_args(params, (out, mask, 5, 0.5, True, -3, 1 / 3))
    assert packed[0] is out.handle and packed[1] is mask.handle
    assert [type(p) for p in packed[2:]] == [np.int64, np.float32, np.uint8, np.int32, np.float64]
    assert packed[2:] == (5, 0.5, 1, -3, 1 / 3)


def test_a_captured_launch_replays_with_its_packed_arguments():
    """hal.program.capture without a GPU: a fake kernel function sees the recorded call again
    at each replay, on the device's stream (ROCm's replay, kernel by kernel; CUDA's captures
    a CUDA graph, which test_capture checks where a GPU is found)."""
    cuda = _cuda()
    calls = []
    device = SimpleNamespace(cupy_device=contextlib.nullcontext(), stream="stream", hip=True)
    params = kernel_signatures("KERNEL void k(GLOBAL f32 *out, i64 n) {}")["k"]
    kernel = cuda.Program(device, lambda grid, block, args, stream: calls.append((grid, block, args, stream)),
                          "k", params)
    out = _Buffer()
    with pytest.raises(TypeError, match=r"kernel k\(out, n\) got 1 positional"):
        kernel((1000,), None, out)
    with program.capture(cuda.Graph(device)) as graph:
        kernel((1000,), None, out, n=1000)
    graph.replay()
    graph.replay()
    assert len(graph) == 1 and len(calls) == 3 and calls[1:] == [calls[0]] * 2
    assert calls[0] == ((4, 1, 1), (256, 1, 1), (out.handle, 1000), "stream")


@pytest.mark.parametrize("global_size, local_size, block, grid", [
    ((1000,), None, (256, 1, 1), (4, 1, 1)),
    ((3,), None, (3, 1, 1), (1, 1, 1)),
    ((100, 60), (16, 16), (16, 16, 1), (7, 4, 1)),
    ((256, 5), (256, 1), (256, 1, 1), (1, 5, 1)),
    ((0,), None, (1, 1, 1), (0, 1, 1)),
])
def test_launch_shape_rounds_the_grid_up_to_whole_blocks(global_size, local_size, block, grid):
    assert _cuda().launch_shape(global_size, local_size) == (block, grid)


@needs_gpu
@pytest.mark.parametrize("device", GPUS, ids=str)
def test_kernels_run_and_match_numpy(device):
    x = np.linspace(-3, 3, 17 * 241, dtype=np.float32).reshape(17, 241)
    a = hal.asarray(x, device=device)
    np.testing.assert_allclose(np.asarray(hal.sum(hal.exp(a) * a, axis=1)), (np.exp(x) * x).sum(axis=1), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(hal.sort(a, axis=1)), np.sort(x, axis=1))


@needs_gpu
@pytest.mark.parametrize("device", GPUS, ids=str)
def test_matmul_is_cublas_on_strided_views(device):
    cuda = _cuda()
    assert device.impl("matmul") is cuda.matmul
    x = np.random.default_rng(0).standard_normal((3, 40, 50))
    a = hal.asarray(x, device=device)
    got = np.asarray(hal.matmul(a[:, ::2, 1:], hal.matrix_transpose(a[:1, :, 1:])))
    np.testing.assert_allclose(got, x[:, ::2, 1:] @ np.swapaxes(x[:1, :, 1:], -1, -2), rtol=1e-12)


@needs_gpu
@pytest.mark.parametrize("device", GPUS, ids=str)
def test_as_cupy_shares_memory(device):
    a = hal.asarray(np.arange(12, dtype=np.int32).reshape(3, 4), device=device)
    view = device.as_cupy(a[1:, ::2]._data)
    device.synchronize()
    assert view.get().tolist() == [[4, 6], [8, 10]]
    view += 100
    device.synchronize()
    assert np.asarray(a)[1].tolist() == [104, 5, 106, 7]
