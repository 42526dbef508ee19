"""Linear algebra on every device, against NumPy: matmul (1-D operands, batches with
broadcasting, transposed and strided views, ragged sizes that do not fill a tile, empty
contractions, integer, mixed and complex dtypes), tensordot, vecdot, and hal.linalg:
the ops that run on the device (no host transfer), the decompositions and solvers that
run through the host on buffer devices (a HostFallbackWarning once per op, never on the
cpu), and the errors the standard asks for."""

import numpy as np
import pytest

import hal
from helpers import assert_matches, data, fallback_warnings, on_device_only, put


def whole(shape, dtype, seed):
    """Small whole numbers (>= 0 for unsigned dtypes): every product and sum is exact,
    so results compare exactly whatever the order of accumulation."""
    values = data(shape, hal.int8, seed) // 2
    return (np.abs(values) if np.dtype(dtype).kind == "u" else values).astype(dtype)


SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((1, 1), (1, 1)),
    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((2, 1, 3, 4), (5, 4, 2)), ((3,), (2, 3, 4)), ((2, 3, 4), (4,)),
    ((4, 1, 2, 3), (1, 5, 3, 2)), ((3, 0), (0, 2)), ((0, 3), (3, 2)), ((2, 0, 3), (3, 4)), ((17, 16), (16, 15)),
]


@pytest.mark.parametrize("s1, s2", SHAPES, ids=str)
def test_shapes(device, s1, s2):
    a, b = whole(s1, np.float64, 1), whole(s2, np.float64, 2)
    assert_matches(hal.matmul(put(a, device), put(b, device)), np.matmul(a, b), device=device)
    assert_matches(put(a, device) @ put(b, device), a @ b)


@pytest.mark.parametrize("dtype", [hal.float32, hal.float64, hal.int8, hal.int16, hal.int32, hal.int64, hal.uint8,
                                   hal.uint32, hal.uint64], ids=str)
def test_dtypes(device, dtype):
    a, b = whole((5, 7), dtype, 1), whole((7, 3), dtype, 2)
    assert_matches(put(a, device) @ put(b, device), a @ b)


@pytest.mark.parametrize("t1, t2, out", [
    (hal.int8, hal.int16, hal.int16), (hal.int8, hal.uint8, hal.int16), (hal.float32, hal.float64, hal.float64),
    (hal.int32, hal.float32, hal.float32)], ids=str)
def test_mixed_dtypes(device, t1, t2, out):
    a, b = whole((3, 4), t1, 1), whole((4, 2), t2, 2)
    assert_matches(put(a, device) @ put(b, device), a.astype(out) @ b.astype(out))


def test_integer_overflow_wraps_like_numpy(device):
    a = np.full((2, 40), 100, np.int8)
    b = np.full((40, 3), 7, np.int8)
    assert_matches(put(a, device) @ put(b, device), a @ b)


@pytest.mark.parametrize("m, k, n", [(33, 65, 17), (1, 130, 1), (16, 16, 16), (7, 3, 31), (40, 1, 9)], ids=str)
def test_ragged_sizes(device, m, k, n):
    a, b = whole((m, k), np.float32, 1), whole((k, n), np.float32, 2)
    assert_matches(put(a, device) @ put(b, device), a @ b)


@pytest.mark.parametrize("dtype", [hal.float32, hal.float64], ids=str)
def test_random_floats(device, dtype):
    a, b = data((33, 65), dtype, 1), data((65, 17), dtype, 2)
    scale = np.abs(a) @ np.abs(b)  # error bound: a few ulps of the sum of |products|
    got = np.asarray(put(a, device) @ put(b, device))
    assert got.dtype == dtype
    assert np.all(np.abs(got - a @ b) <= 16 * np.finfo(dtype).eps * scale)


GEMM_CONFIGS = [
    {"kind": "block", "RM": 1, "RN": 1, "WX": 1, "WY": 1, "PACK": 0},
    {"kind": "block", "RM": 6, "RN": 32, "WX": 1, "WY": 8, "PACK": 1},
    {"kind": "block", "RM": 12, "RN": 16, "WX": 1, "WY": 4, "PACK": 3},
    {"kind": "block", "RM": 1, "RN": 64, "WX": 4, "WY": 1, "PACK": 0},
    {"kind": "tiled", "TS": 16, "WPT": 2},
]


@pytest.mark.parametrize("config", GEMM_CONFIGS, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_gemm_kernels_give_the_same_bits_everywhere(device, config):
    """Every GEMM kernel adds an output's k terms in order with fma, and no target
    contracts or reorders on its own: any block or tile, on any device, gives the bits
    of the plainest kernel on the cpu (which with a*b+c contracted by one compiler and
    not another would differ in the last place)."""
    if config["kind"] == "tiled" and device.family == "numpy":
        pytest.skip("local-memory tiles need work-groups; the cpu's C target runs groups of one item")
    from hal.ops import linalg
    a, b = data((2, 37, 45), hal.float32, 1), data((2, 45, 29), hal.float32, 2)

    def run(dev, cfg):
        out = dev.from_host(np.zeros((2, 37, 29), np.float32))
        linalg.gemm_into(dev, cfg, out, dev.from_host(a), dev.from_host(b))
        return np.asarray(dev.to_host(out))

    want = run(hal.device("cpu"), GEMM_CONFIGS[0])
    assert np.array_equal(run(device, config), want)
    assert not np.array_equal(want, np.matmul(a.astype(np.float64), b).astype(np.float32))  # bits are at stake


def test_transposed_and_strided_views(device):
    a, b = whole((6, 9), np.float64, 1), whole((8, 6), np.float64, 2)
    x, y = put(a, device), put(b, device)
    assert_matches(x.T @ y.T, a.T @ b.T)
    assert_matches(x[::2, ::-3] @ y[1:4, ::2], a[::2, ::-3] @ b[1:4, ::2])
    assert_matches(y @ x[:, 1::2], b @ a[:, 1::2])
    assert_matches(x[:, 0] @ y.T, a[:, 0] @ b.T)
    assert_matches(y[2] @ y.mT, b[2] @ b.T)
    c = whole((3, 4, 5), np.float64, 3)
    z = put(c, device)
    assert_matches(z.mT @ z, c.swapaxes(-1, -2) @ c)
    assert_matches(z[::-1, 1:] @ z[0].T[:, ::2], c[::-1, 1:] @ c[0].T[:, ::2])
    assert_matches(hal.permute_dims(z, (1, 0, 2)) @ z[0].T, c.transpose(1, 0, 2) @ c[0].T)


@pytest.mark.parametrize("dtype", [hal.float32, hal.float64, hal.int32], ids=str)
def test_matrix_vector_products(device, dtype):
    """The GEMV kernel's two ways in: rows of a matrix times a column, and a row times a
    matrix stored transposed (how a model applies its weights), batched too; lengths
    that fill no vector of lanes."""
    w, v = whole((45, 131), dtype, 1), whole((131,), dtype, 2)
    batch_w, batch_v = whole((3, 7, 131), dtype, 3), whole((3, 131, 1), dtype, 4)
    x, y, bx, by = put(w, device), put(v, device), put(batch_w, device), put(batch_v, device)
    assert_matches(x @ y, w @ v)
    assert_matches(y @ x.T, v @ w.T)
    assert_matches(y[None, :] @ x.T, v[None, :] @ w.T)
    assert_matches(bx @ by, batch_w @ batch_v)
    assert_matches(by.mT @ bx.mT, batch_v.swapaxes(-1, -2) @ batch_w.swapaxes(-1, -2))
    assert_matches(x.T[:, :5].T @ y, w.T[:, :5].T @ v)          # rows with unit stride, a column view
    assert_matches(x[:, ::2] @ y[::2], w[:, ::2] @ v[::2])      # rows that are not contiguous
    assert_matches(y[::3] @ x.T[::3], v[::3] @ w.T[::3])        # a strided vector


@pytest.mark.heavy
@pytest.mark.parametrize("m, k, n", [(1, 576, 1536), (64, 576, 1536), (130, 257, 259), (2, 1000, 3)], ids=str)
def test_model_sized_products(device, m, k, n):
    a, b = whole((m, k), np.float32, 1), whole((k, n), np.float32, 2)
    assert_matches(put(a, device) @ put(b, device), a @ b)
    assert_matches(put(a, device) @ put(np.ascontiguousarray(b.T), device).T, a @ b)


def test_broadcast_batch_views(device):
    a, b = whole((4, 3), np.float32, 1), whole((2, 3, 5), np.float32, 2)
    x = hal.broadcast_to(put(a, device), (2, 2, 4, 3))
    assert_matches(x @ put(b, device), np.broadcast_to(a, (2, 2, 4, 3)) @ b)


def test_1d_results_are_0d(device):
    a, b = whole((5,), np.int32, 1), whole((5,), np.int32, 2)
    out = put(a, device) @ put(b, device)
    assert out.shape == () and int(out) == int(a @ b)


def test_errors(device):
    x, y = hal.ones((2, 3), device=device), hal.ones((4, 2), device=device)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        x @ y
    with pytest.raises(ValueError):
        hal.matmul(hal.ones(3, device=device), hal.ones(4, device=device))
    with pytest.raises(ValueError):
        hal.matmul(hal.ones((2, 2, 3), device=device), hal.ones((3, 3, 2), device=device))  # batch 2 vs 3
    with pytest.raises(ValueError):
        hal.matmul(hal.asarray(2.0, device=device), x)
    with pytest.raises(TypeError):
        hal.matmul(hal.ones((2, 2), dtype=hal.bool, device=device), hal.ones((2, 2), dtype=hal.bool, device=device))
    with pytest.raises(TypeError):
        hal.matmul(x, np.ones((3, 2)))
    with pytest.raises(TypeError):
        hal.matmul(hal.ones((2, 2), dtype=hal.int64, device=device), hal.ones((2, 2), dtype=hal.uint64, device=device))


# -- complex matmul, tensordot, vecdot ------------------------------------------------

def needs(device, dtype):
    if dtype not in device.dtypes:
        pytest.skip(f"{device} has no {dtype}")


def complex_data(shape, dtype, seed=0):
    real = np.finfo(dtype).dtype
    return data(shape, real, seed) + 1j * data(shape, real, seed + 1)



@pytest.mark.parametrize("dtype", [hal.complex64, hal.complex128], ids=str)
@pytest.mark.parametrize("s1, s2", [((3,), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 1)), ((17, 5), (5, 18))], ids=str)
def test_complex_matmul(device, dtype, s1, s2):
    needs(device, dtype)
    a, b = complex_data(s1, dtype, 1), complex_data(s2, dtype, 3)
    x, y = put(a, device), put(b, device)
    assert_matches(on_device_only(lambda: x @ y), a @ b, rtol=1e-4 if dtype == hal.complex64 else None)
    if x.ndim == 2:
        assert_matches(x.mT @ x, a.T @ a, rtol=1e-4 if dtype == hal.complex64 else None)  # strided views


@pytest.mark.parametrize("s1, s2, axes", [((2, 3, 4), (3, 4, 5), 2), ((2, 3), (3, 4), 1), ((2, 3), (4,), 0),
                                          ((2, 3, 4), (4, 2, 3), ([0, 1], [1, 2])), ((3, 4), (4, 3), ([-1], [0])),
                                          ((2, 0), (0, 3), 1), ((), (2,), 0)], ids=str)
def test_tensordot(device, s1, s2, axes):
    a, b = whole(s1, np.float64, 1), whole(s2, np.float64, 2)
    x, y = put(a, device), put(b, device)
    assert_matches(on_device_only(lambda: hal.tensordot(x, y, axes=axes)), np.tensordot(a, b, axes))


def test_tensordot_promotes_and_errors(device):
    a, b = whole((2, 3), np.int8, 1), whole((3, 2), np.int16, 2)
    assert_matches(hal.tensordot(put(a, device), put(b, device), axes=1), np.tensordot(a, b, 1))
    x = hal.ones((2, 3), device=device)
    with pytest.raises(ValueError):
        hal.tensordot(x, x, axes=1)  # 3 against 2
    with pytest.raises(ValueError):
        hal.tensordot(x, x, axes=3)
    with pytest.raises(ValueError):
        hal.tensordot(x, x, axes=([0, 0], [0, 1]))


@pytest.mark.parametrize("s1, s2, axis", [((3,), (3,), -1), ((2, 3), (3,), -1), ((4, 2), (3, 4, 1), -2),
                                          ((2, 3, 4), (2, 3, 4), -3), ((2, 0), (2, 0), -1)], ids=str)
def test_vecdot(device, s1, s2, axis):
    a, b = data(s1, np.float64, 1), data(s2, np.float64, 2)
    x, y = put(a, device), put(b, device)
    expected = np.sum(np.moveaxis(a, axis, -1) * np.moveaxis(b, axis, -1), axis=-1)
    assert_matches(on_device_only(lambda: hal.vecdot(x, y, axis=axis)), expected)


@pytest.mark.parametrize("dtype", [hal.complex64, hal.complex128], ids=str)
def test_vecdot_conjugates_x1(device, dtype):
    needs(device, dtype)
    a, b = complex_data((2, 3), dtype, 1), complex_data((3,), dtype, 2)
    assert_matches(hal.vecdot(put(a, device), put(b, device)), np.vecdot(a, b), rtol=1e-5)


def test_vecdot_errors(device):
    x = hal.ones((2, 3), device=device)
    with pytest.raises(ValueError):
        hal.vecdot(x, hal.ones((2,), device=device))
    with pytest.raises(ValueError):
        hal.vecdot(x, x, axis=-3)
    with pytest.raises(TypeError):
        hal.vecdot(hal.ones((3,), dtype=hal.bool, device=device), hal.ones((3,), dtype=hal.bool, device=device))


# -- the linalg extension: on the device ----------------------------------------------

@pytest.mark.parametrize("offset", [0, 1, -1, 3, -4], ids=str)
def test_diagonal_and_trace(device, offset):
    a = data((2, 3, 4), hal.int32)
    x = put(a, device)
    out = on_device_only(lambda: hal.linalg.diagonal(x, offset=offset))
    assert_matches(out, np.diagonal(a, offset, -2, -1))
    assert_matches(hal.linalg.diagonal(x.mT, offset=offset), np.diagonal(a.swapaxes(-1, -2), offset, -2, -1))
    assert_matches(hal.linalg.trace(x, offset=offset), np.trace(a, offset, -2, -1).astype(np.int64))
    assert_matches(hal.linalg.trace(x, offset=offset, dtype=hal.float32),
                   np.trace(a, offset, -2, -1).astype(np.float32))


def test_trace_keeps_floats_and_widens_small_ints(device):
    f = data((3, 3), hal.float32)
    assert_matches(hal.linalg.trace(put(f, device)), np.trace(f), rtol=1e-5)
    u = data((3, 3), hal.uint8)
    assert_matches(hal.linalg.trace(put(u, device)), np.trace(u).astype(np.uint64))


@pytest.mark.parametrize("s1, s2, axis", [((3,), (3,), -1), ((2, 3), (3,), -1), ((3, 2), (3, 1), -2), ((4, 3), (2, 1, 3), -1)],
                         ids=str)
def test_cross(device, s1, s2, axis):
    a, b = whole(s1, np.int64, 1), whole(s2, np.int64, 2)
    x, y = put(a, device), put(b, device)
    assert_matches(on_device_only(lambda: hal.linalg.cross(x, y, axis=axis)), np.cross(a, b, axis=axis))


def test_cross_errors(device):
    with pytest.raises(ValueError):
        hal.linalg.cross(hal.ones((2,), device=device), hal.ones((2,), device=device))
    with pytest.raises(ValueError):
        hal.linalg.cross(hal.ones((3,), device=device), hal.ones((3,), device=device), axis=-2)


def test_outer(device):
    a, b = data((3,), hal.int16, 1), data((4,), hal.int8, 2)
    x, y = put(a, device), put(b, device)
    assert_matches(on_device_only(lambda: hal.linalg.outer(x, y)), np.outer(a, b))
    with pytest.raises(ValueError):
        hal.linalg.outer(hal.ones((2, 2), device=device), hal.ones((2,), device=device))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5], ids=str)
def test_matrix_power(device, n):
    a = whole((2, 3, 3), np.float64, 1)
    x = put(a, device)
    assert_matches(on_device_only(lambda: hal.linalg.matrix_power(x, n)), np.linalg.matrix_power(a, n))


@pytest.mark.parametrize("ord", [2, 1, 0, -1, -2, 3, 0.5, np.inf, -np.inf], ids=str)
@pytest.mark.parametrize("axis, keepdims", [(None, False), (-1, False), ((0, 2), True), (1, True)], ids=str)
def test_vector_norm(device, ord, axis, keepdims):
    a = data((2, 3, 4), hal.float64, positive=True)
    x = put(a, device)
    out = on_device_only(lambda: hal.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord))
    assert_matches(out, np.linalg.vector_norm(a, axis=axis, keepdims=keepdims, ord=ord))


@pytest.mark.parametrize("dtype", [hal.complex64, hal.complex128], ids=str)
def test_norms_of_complex_are_real(device, dtype):
    needs(device, dtype)
    a = complex_data((2, 3), dtype)
    x = put(a, device)
    assert_matches(hal.linalg.vector_norm(x), np.linalg.vector_norm(a), rtol=1e-5)
    assert_matches(hal.linalg.matrix_norm(x, ord=1), np.linalg.matrix_norm(a, ord=1), rtol=1e-5)


@pytest.mark.parametrize("ord", ["fro", 1, -1, np.inf, -np.inf], ids=str)
@pytest.mark.parametrize("keepdims", [False, True], ids=str)
def test_matrix_norm_on_the_device(device, ord, keepdims):
    a = data((2, 3, 4), hal.float32)
    x = put(a, device)
    out = on_device_only(lambda: hal.linalg.matrix_norm(x, ord=ord, keepdims=keepdims))
    assert_matches(out, np.linalg.matrix_norm(a, ord=ord, keepdims=keepdims), rtol=1e-5)


def test_norm_errors(device):
    with pytest.raises(TypeError):
        hal.linalg.vector_norm(hal.ones((3,), dtype=hal.int32, device=device))
    with pytest.raises(ValueError):
        hal.linalg.matrix_norm(hal.ones((3, 3), device=device), ord=3)
    with pytest.raises(ValueError):
        hal.linalg.matrix_norm(hal.ones((3,), device=device))


# -- the linalg extension: decompositions and solvers (host on buffer devices) -------

SPD = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
GENERAL = np.array([[[2.0, -1.0, 0.5], [0.3, 1.5, -2.0], [1.0, 0.0, 3.0]],
                    [[1.0, 2.0, 0.0], [0.0, 1.0, 4.0], [5.0, 6.0, 0.5]]])

HOST_OPS = {
    "cholesky": (lambda x: hal.linalg.cholesky(x), lambda a: np.linalg.cholesky(a), SPD),
    "cholesky_upper": (lambda x: hal.linalg.cholesky(x, upper=True), lambda a: np.linalg.cholesky(a, upper=True), SPD),
    "det": (hal.linalg.det, np.linalg.det, GENERAL),
    "inv": (hal.linalg.inv, np.linalg.inv, GENERAL),
    "eigvalsh": (hal.linalg.eigvalsh, np.linalg.eigvalsh, SPD),
    "eigh": (lambda x: hal.linalg.eigh(x).eigenvalues, lambda a: np.linalg.eigh(a).eigenvalues, SPD),
    "slogdet": (lambda x: hal.linalg.slogdet(x).logabsdet, lambda a: np.linalg.slogdet(a).logabsdet, GENERAL),
    "slogdet_sign": (lambda x: hal.linalg.slogdet(x).sign, lambda a: np.linalg.slogdet(a).sign, GENERAL),
    "svdvals": (hal.linalg.svdvals, np.linalg.svdvals, GENERAL[:, :2]),
    "svd": (lambda x: hal.linalg.svd(x, full_matrices=False).S, lambda a: np.linalg.svd(a).S, GENERAL),
    "pinv": (hal.linalg.pinv, np.linalg.pinv, GENERAL[:, :, :2]),
    "matrix_rank": (hal.linalg.matrix_rank, np.linalg.matrix_rank, np.array([[1.0, 2.0], [2.0, 4.0]])),
    "qr": (lambda x: hal.linalg.qr(x).R, lambda a: np.linalg.qr(a).R, GENERAL),
    "solve": (lambda x: hal.linalg.solve(x, x[..., 0]), lambda a: np.linalg.solve(a, a[..., 0]), GENERAL[0]),
    "solve_batch": (lambda x: hal.linalg.solve(x, x[0]), lambda a: np.linalg.solve(a, a[0]), GENERAL),
    "matrix_norm_2": (lambda x: hal.linalg.matrix_norm(x, ord=2), lambda a: np.linalg.matrix_norm(a, ord=2), GENERAL),
    "matrix_norm_nuc": (lambda x: hal.linalg.matrix_norm(x, ord="nuc", keepdims=True),
                        lambda a: np.linalg.matrix_norm(a, ord="nuc", keepdims=True), GENERAL),
    "matrix_power_-2": (lambda x: hal.linalg.matrix_power(x, -2), lambda a: np.linalg.matrix_power(a, -2), GENERAL),
}


@pytest.mark.filterwarnings("ignore::hal.HostFallbackWarning")
@pytest.mark.parametrize("name", list(HOST_OPS))
def test_host_ops(device, name):
    ours, numpy_fn, a = HOST_OPS[name]
    assert_matches(ours(put(a, device)), numpy_fn(a), device=device, rtol=1e-10, atol=1e-10)


@pytest.mark.filterwarnings("ignore::hal.HostFallbackWarning")
@pytest.mark.parametrize("dtype", [hal.float32, hal.complex64], ids=str)
def test_host_ops_keep_single_precision(device, dtype):
    needs(device, dtype)
    a = (GENERAL + 0.5j * GENERAL[::-1] if dtype.kind == "c" else GENERAL).astype(dtype)
    x = put(a, device)
    assert_matches(hal.linalg.inv(x), np.linalg.inv(a), rtol=1e-4, atol=1e-5)
    assert hal.linalg.svdvals(x).dtype == hal.float32
    if hal.complex64 in device.dtypes:
        assert hal.linalg.eigvals(x).dtype == hal.complex64


@pytest.mark.filterwarnings("ignore::hal.HostFallbackWarning")
def test_eig_is_complex(device):
    needs(device, hal.complex128)
    eig = hal.linalg.eig(put(GENERAL, device))
    expected = np.linalg.eig(GENERAL)
    assert eig.eigenvalues.dtype == hal.complex128 and eig.eigenvectors.dtype == hal.complex128
    assert_matches(hal.linalg.eigvals(put(GENERAL, device)), np.linalg.eigvals(GENERAL).astype(np.complex128))
    np.testing.assert_allclose(np.sort_complex(np.asarray(eig.eigenvalues)[0]), np.sort_complex(expected[0][0]))


@pytest.mark.filterwarnings("ignore::hal.HostFallbackWarning")
def test_qr_and_svd_reconstruct(device):
    x = put(GENERAL, device)
    q, r = hal.linalg.qr(x)
    assert_matches(q @ r, GENERAL)
    u, s, vh = hal.linalg.svd(x)
    assert_matches((u * s[..., None, :]) @ vh, GENERAL)


def test_fallback_warns_once_per_op_on_buffer_devices(device, monkeypatch):
    monkeypatch.setattr(hal.errors, "_fallbacks_warned", set())
    x = put(GENERAL, device)
    fallbacks = fallback_warnings(lambda: (hal.linalg.inv(x), hal.linalg.inv(x), hal.linalg.det(x),
                                           hal.linalg.trace(x)))  # trace: a device op, no warning
    if device.family == "numpy":
        assert fallbacks == []
    else:
        assert len(fallbacks) == 2, fallbacks
        assert "linalg.inv" in fallbacks[0] and "linalg.det" in fallbacks[1]
        assert all(device.name in message for message in fallbacks)


def test_linalg_errors(device):
    x = hal.ones((2, 3), device=device)
    with pytest.raises(ValueError):
        hal.linalg.inv(x)
    with pytest.raises(ValueError):
        hal.linalg.det(hal.ones((3,), device=device))
    with pytest.raises(TypeError):
        hal.linalg.cholesky(hal.ones((2, 2), dtype=hal.int32, device=device))
    with pytest.raises(ValueError):
        hal.linalg.solve(hal.ones((3, 3), device=device), hal.ones((2,), device=device))
    with pytest.raises(ValueError):
        hal.linalg.qr(x, mode="r")
    assert hal.linalg.matmul is hal.matmul and hal.linalg.tensordot is hal.tensordot
