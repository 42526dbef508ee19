"""hal arrays as Dask chunks (hal/dask.py): zero-size hal meta arrays, Dask's dispatch
registrations, the "hal" array backend, chunks spread across devices, and a real
dask.distributed LocalCluster of 2 worker processes on loopback."""
import warnings

import numpy as np
import pytest

import hal

dask = pytest.importorskip("dask", reason="the dask extra is not installed (pip install -e '.[dask]')")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import hal.dask  # noqa: E402
from dask.array import dispatch  # noqa: E402
from dask.sizeof import sizeof  # noqa: E402
from helpers import assert_matches, put  # noqa: E402

REAL_DEVICES = [d for d in hal.devices() if d.info.kind != "simulator"]


def _matrix(shape=(8, 8), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _workload(x, spread=False):
    """The issue's chunked workload: standardize the columns, multiply, reduce (``dot``
    or ``@``: both join blocks from several devices)."""
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    return (z.dot(z.T) if spread else z @ z.T).sum(axis=1)


def test_chunks_meta_and_results_are_hal_arrays(device):
    a = _matrix()
    x = da.from_array(put(a, device), chunks=4)
    assert isinstance(x._meta, hal.Array) and x._meta.size == 0 and x._meta.device == device
    for name, lazy, expected in [
            ("map_blocks", x.map_blocks(lambda b: b * 2), a * 2),
            ("sum", x.sum(axis=0), a.sum(axis=0)), ("mean", x.mean(axis=1), a.mean(axis=1)),
            ("std", x.std(axis=0), a.std(axis=0)), ("rechunk", x.rechunk((8, 2)), a),
            ("tensordot", da.tensordot(x, x.T, axes=1), a @ a.T), ("@", x @ x, a @ a),
            ("einsum", da.einsum("ij,kj->ik", x, x), a @ a.T), ("median", da.median(x, axis=0), np.median(a, axis=0)),
            ("quantile", da.quantile(x, [0.2, 0.9], axis=1), np.quantile(a, [0.2, 0.9], axis=1)),
            ("topk", da.topk(x, 2, axis=0), np.sort(a, axis=0)[:-3:-1]),
            ("concatenate", da.concatenate([x, x], axis=1), np.concatenate([a, a], axis=1))]:
        assert isinstance(lazy._meta, hal.Array), name
        assert_matches(lazy.compute(scheduler="sync"), expected, rtol=1e-4, atol=1e-4, device=device)


def test_dispatch_registrations(device):
    a = _matrix((6, 4))
    x = put(a, device)
    for lookup in (dispatch.concatenate_lookup, dispatch.tensordot_lookup, dispatch.einsum_lookup,
                   dispatch.take_lookup, dispatch.percentile_lookup, dispatch.numel_lookup,
                   dispatch.nannumel_lookup, dispatch.to_numpy_dispatch):
        assert lookup.dispatch(hal.Array).__module__ == "hal.dask", lookup
    assert_matches(dispatch.concatenate_lookup([x, x], axis=0), np.concatenate([a, a]), device=device)
    assert_matches(dispatch.tensordot_lookup(x, x, axes=([0], [0])), np.tensordot(a, a, axes=([0], [0])),
                   rtol=1e-5, atol=1e-5, device=device)
    assert_matches(dispatch.einsum_lookup("ij,ij->i", x, x), np.einsum("ij,ij->i", a, a), rtol=1e-5, atol=1e-5)
    assert_matches(dispatch.take_lookup(x, np.array([4, 0, 4]), axis=0), a[[4, 0, 4]], device=device)
    values, n = dispatch.percentile_lookup(x[:, 1], [0, 10, 50, 100])
    assert n == 6
    assert_matches(values, np.percentile(a[:, 1], [0, 10, 50, 100]), device=device)
    assert_matches(dispatch.numel_lookup(x, axis=1, keepdims=True), np.full((6, 1), 4.0), device=device)
    with_nan = put(np.where(a > 1, np.nan, a), device)
    assert_matches(dispatch.nannumel_lookup(with_nan, axis=0), np.sum(~np.isnan(np.where(a > 1, np.nan, a)), axis=0))
    host = dispatch.to_numpy_dispatch(x)
    assert type(host) is np.ndarray and np.array_equal(host, a)
    assert sizeof(x) == a.nbytes and sizeof(x[:, 1:3]) == a[:, 1:3].nbytes  # (distributed's memory accounting)


def test_the_hal_array_backend(device):
    # (the sync scheduler: Oclgrind aborts when Dask's threads launch kernels concurrently)
    with hal.default_device(device), dask.config.set({"array.backend": "hal", "scheduler": "sync"}):
        made = {"ones": da.ones((4, 6), chunks=2, dtype=np.float32), "zeros": da.zeros(5, chunks=2, dtype=np.int32),
                "full": da.full((3,), 7, chunks=2, dtype=np.int64), "arange": da.arange(6, chunks=4)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", hal.HostFallbackWarning)  # (random numbers are drawn on the host)
            made["random"] = da.random.RandomState(0).random_sample((4, 4), chunks=2)
            random = made["random"].compute()
        numpy_backed = da.from_array(np.arange(4.0), chunks=2).to_backend("hal")
        assert isinstance(numpy_backed._meta, hal.Array)
        moved = numpy_backed.compute()
    for name, lazy in made.items():
        assert isinstance(lazy._meta, hal.Array), name
    assert_matches(made["ones"].compute(scheduler="sync"), np.ones((4, 6), np.float32), device=device)
    assert_matches(made["zeros"].compute(scheduler="sync"), np.zeros(5, np.int32), device=device)
    assert_matches(made["full"].compute(scheduler="sync"), np.full(3, 7, np.int64), device=device)
    assert_matches(made["arange"].compute(scheduler="sync"), np.arange(6), device=device)
    assert random.device == device and random.shape == (4, 4) and 0 <= float(hal.min(random)) < 1
    assert_matches(moved, np.arange(4.0), device=device)


def test_integer_array_indexing_and_arg_reductions(device):
    """Dask indexes chunks with NumPy arrays (moved to the chunk's device; the chunk's
    data stays there) for integer and boolean indexing and for argmax/argmin."""
    a = _matrix((8, 6), seed=1)
    a[3, 2] = a[5, 4] = np.nan
    x, reference = da.from_array(put(a, device), chunks=3), da.from_array(a, chunks=3)
    for name, select in [("rows", lambda v: v[[5, 0, 7, 5]]), ("columns", lambda v: v[:, np.array([4, 1])]),
                         ("mask", lambda v: v[np.arange(8) % 3 == 0]),
                         ("mask of its own", lambda v: v[v[:, 1] > 0.5]),  # (a chunk indexed [hal mask, :])
                         ("both", lambda v: v[np.array([1, 6])][:, [5, 0, 2]]),
                         ("argmax", lambda v: v.argmax(axis=0)), ("argmin", lambda v: v.argmin(axis=1)),
                         ("argmax of all", lambda v: da.argmax(da.where(da.isnan(v), 0, v))),
                         ("nanargmax", lambda v: da.nanargmax(v, axis=0)),
                         ("nanargmin of all", lambda v: da.nanargmin(v))]:
        lazy = select(x)
        assert isinstance(lazy._meta, hal.Array) or lazy.ndim == 0, name  # (Dask's 0-d metas are NumPy's)
        actual, expected = lazy.compute(scheduler="sync"), select(reference).compute(scheduler="sync")
        assert_matches(actual, expected.astype(actual.dtype), device=device)  # (hal's indices: int64)


def test_searchsorted_and_masked_assignment(device):
    """da.searchsorted offsets each block's indices and writes ``out[out == -1] = 0``,
    and ``x[x < 0] = 0`` writes through a mask: both on the chunks' device."""
    a = np.sort(_matrix((1, 24), seed=2)[0])
    v = _matrix((1, 10), seed=3)[0]
    for sorted_chunks, value_chunks in ((12, 4), (5, 10)):
        x, y = da.from_array(put(a, device), chunks=sorted_chunks), da.from_array(put(v, device), chunks=value_chunks)
        actual = da.searchsorted(x, y).compute(scheduler="sync")
        assert_matches(actual, np.searchsorted(a, v).astype(actual.dtype), device=device)
    y = da.from_array(put(v, device), chunks=4)
    y[y < 0.5] = 0.0
    expected = v.copy()
    expected[expected < 0.5] = 0.0
    assert_matches(y.compute(scheduler="sync"), expected, device=device)


def _mixed_workload(x, y):
    """NumPy code on a float32 and an int32 Dask array, whose chunks are NumPy's or hal's:
    mixed-dtype promotion, bools, integer means and spreads, argwhere and nonzero
    (index grids), stacking, where, clip, floor division of negatives."""
    return {"np.add": np.add(y, x), "int mean": y.mean(axis=0), "int std": y.std(axis=1),
            "sum dtype": y.sum(axis=0, dtype=np.float64), "bool sum": (x > 0).sum(axis=1),
            "bool prod": da.prod(y > -3, axis=0), "bool max": (x > 1).max(axis=0),
            "argwhere": da.argwhere(y > 2), "nonzero": da.nonzero(y)[1], "flatnonzero": da.flatnonzero(x > 1),
            "where of one": da.where(y < 0)[0], "where": da.where(x > 0, x, y),
            "where of scalars": da.where(y > 0, 1, 0),
            "cumsum of bools": da.cumsum(x > 0, axis=1), "concatenate": da.concatenate([x, y], axis=0),
            "stack": da.stack([x, y]), "floor_divide": np.floor_divide(y, -3), "mod": np.mod(y, -4),
            "clip": da.clip(y, -2.5, 2.5), "dot": da.dot(x, y.T), "isin": da.isin(y, [1, 2]),
            "unique": da.unique(y), "sqrt": np.sqrt(abs(y))}


def test_a_mixed_workload_equals_numpy_chunks(device):
    rng = np.random.default_rng(11)
    f, i = rng.standard_normal((12, 10)).astype(np.float32), rng.integers(-5, 6, (12, 10)).astype(np.int32)
    on_hal = _mixed_workload(*(da.from_array(put(v, device), chunks=(5, 4)) for v in (f, i)))
    on_numpy = _mixed_workload(*(da.from_array(v, chunks=(5, 4)) for v in (f, i)))
    for name, lazy in on_hal.items():
        assert_matches(lazy.compute(scheduler="sync"), on_numpy[name].compute(scheduler="sync"), rtol=1e-5,
                       atol=1e-5, device=device)


@pytest.fixture
def stable_numpy_argsort(monkeypatch):
    """Dask's percentile merge sorts the chunks' percentiles with NumPy's default
    argsort, which orders equal values in no defined way; hal's sorts are stable. With a
    stable argsort on NumPy's side too, the two give the same numbers bit for bit."""
    argsort = np.argsort
    monkeypatch.setattr(np, "argsort", lambda a, *args, **kwargs: argsort(a, *args, **{**kwargs, "kind": "stable"})
                        if isinstance(a, np.ndarray) else argsort(a, *args, **kwargs))


def test_percentile_merges_on_the_device(device, stable_numpy_argsort):
    """Off the default device too: Dask's scratch arrays are made on the chunks' device."""
    rng = np.random.default_rng(2)
    for data in (rng.standard_normal(50).astype(np.float32), rng.permutation(40).astype(np.int32)):
        for chunks, q, method in ((7, [10, 50, 90], "linear"), (13, [0, 33.3, 100], "nearest"),
                                  (50, 42, "midpoint"), (10, [5, 95], "lower")):
            if data.dtype.kind == "i" and not device.info.fp64:
                continue  # (Dask's merge interpolates in float64)
            actual = da.percentile(da.from_array(put(data, device), chunks=chunks), q, method=method)
            assert isinstance(actual._meta, hal.Array)
            expected = da.percentile(da.from_array(data, chunks=chunks), q, method=method)
            result, expected = actual.compute(scheduler="sync"), expected.compute(scheduler="sync")
            assert result.device == device and result.dtype == expected.dtype
            assert np.array_equal(np.asarray(result), expected)


def test_argtopk_nanmedian_bincount_and_histogram(device):
    """Dask's argtopk (its index chunks move to the data's device), nanmedian, bincount
    and histogram (NumPy's functions on each chunk) equal Dask's with NumPy chunks."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((9, 7)).astype(np.float32)
    a[2, 3] = a[6, :2] = np.nan
    ints = rng.integers(0, 6, 30).astype(np.int32)
    x, reference = da.from_array(put(a, device), chunks=4), da.from_array(a, chunks=4)
    xi, reference_i = da.from_array(put(ints, device), chunks=8), da.from_array(ints, chunks=8)
    for name, run in [("argtopk", lambda v, i: da.argtopk(da.nan_to_num(v[:, 1]), 3)),
                      ("argtopk smallest", lambda v, i: da.argtopk(da.nan_to_num(v), -2, axis=0)),
                      ("nanmedian", lambda v, i: da.nanmedian(v, axis=0)),
                      ("bincount", lambda v, i: da.bincount(i, minlength=6)),
                      ("histogram", lambda v, i: da.histogram(v, bins=5, range=(-2, 2))[0]),
                      ("list index", lambda v, i: v[[8, 0, 3]])]:
        lazy = run(x, xi)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # (NumPy's for NaN slices)
            expected = run(reference, reference_i).compute(scheduler="sync")
        actual = lazy.compute(scheduler="sync")
        assert isinstance(lazy._meta, hal.Array) or name == "histogram", name  # (Dask gives it NumPy's meta)
        assert_matches(actual, expected.astype(actual.dtype), device=device)  # (hal's indices: int64)


def test_default_rng_under_the_hal_backend(device, monkeypatch):
    """da.random.default_rng draws each chunk with hal.random's Generator: NumPy's bits
    (the same as Dask+NumPy's), copied to the default device, which says so."""
    with dask.config.set({"array.backend": "numpy", "scheduler": "sync"}):
        expected = da.random.default_rng(42).standard_normal((6, 4), chunks=3).compute()
        integers = da.random.default_rng(7).integers(0, 10, size=9, chunks=4).compute()
    monkeypatch.setattr(hal.errors, "_fallbacks_warned", set())  # (each fallback warns once per process)
    with hal.default_device(device), dask.config.set({"array.backend": "hal", "scheduler": "sync"}), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drawn = da.random.default_rng(42).standard_normal((6, 4), chunks=3)
        assert isinstance(drawn._meta, hal.Array)
        assert_matches(drawn.compute(), expected, device=device)
        assert_matches(da.random.default_rng(7).integers(0, 10, size=9, chunks=4).compute(), integers, device=device)
    warned = any(issubclass(w.category, hal.HostFallbackWarning) for w in caught)
    assert warned == (device.name != "cpu")  # (on the cpu the NumPy draw is the hal array's data)
    with pytest.raises(TypeError, match="not hal arrays"):
        hal.random.default_rng(0).normal(put(np.zeros(2), device))


def test_hal_random_draws_numpys_numbers(device, monkeypatch):
    monkeypatch.setattr(hal.errors, "_fallbacks_warned", set())
    with hal.default_device(device), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drawn = hal.random.default_rng(5).standard_normal((2, 3), dtype=np.float32)
        legacy = hal.random.RandomState(5).randint(0, 9, size=4)
        again = hal.random.default_rng(np.random.default_rng(5)).standard_normal((2, 3), dtype=np.float32)
    assert_matches(drawn, np.random.default_rng(5).standard_normal((2, 3), dtype=np.float32), device=device)
    assert_matches(legacy, np.random.RandomState(5).randint(0, 9, size=4), device=device)
    assert_matches(again, np.asarray(drawn), device=device)
    assert [str(w.message) for w in caught if issubclass(w.category, hal.HostFallbackWarning)] == \
        ([] if device.name == "cpu" else [f"random has no kernel on {device.name}: it runs on the host (NumPy), with "
                                          f"its operands and result copied between host and device"])


@pytest.mark.skipif(len(REAL_DEVICES) < 2, reason="spread needs two non-simulated devices")
@pytest.mark.parametrize("by", ["round-robin", "speed"])
def test_spread_places_chunks_across_devices(by):
    a = _matrix((8, 12))
    names = [d.name for d in REAL_DEVICES[:2]]
    x = hal.dask.spread(da.from_array(put(a, "cpu"), chunks=4), devices=names, by=by)
    placed = [[x.blocks[i, j].compute(scheduler="sync").device.name for j in range(3)] for i in range(2)]
    assert placed[0] == placed[1] and set(placed[0]) <= set(names)  # one device per column slab
    if by == "round-robin":
        assert placed[0] == [names[0], names[1], names[0]]
    rows = hal.dask.spread(da.from_array(put(a, "cpu"), chunks=4), devices=names, axis=0)
    assert [rows.blocks[i, 2].compute(scheduler="sync").device.name for i in range(2)] == names
    # blocks on different devices meet in Dask's combining steps, which join them explicitly
    assert_matches(_workload(x, spread=True).compute(scheduler="sync"),
                   _workload(da.from_array(a, chunks=4)).compute(), rtol=1e-3, atol=1e-3)
    for product, expected in ((x @ x.T, a @ a.T), (x.T @ x, a.T @ a), (x.T @ rows, a.T @ a)):
        assert_matches(product.compute(scheduler="sync"), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(len(REAL_DEVICES) < 2, reason="spread needs two non-simulated devices")
def test_percentile_and_topk_join_blocks_across_devices(stable_numpy_argsort):
    """Their merge steps meet blocks from several devices: moved to the first one's."""
    a = _matrix((1, 40), seed=7)[0]
    names = [d.name for d in REAL_DEVICES[:2]]
    x = hal.dask.spread(da.from_array(hal.asarray(a, device="cpu"), chunks=10), devices=names)
    reference = da.from_array(a, chunks=10)
    for name, run in [("percentile", lambda v: da.percentile(v, [10, 50, 90])), ("argtopk", lambda v: da.argtopk(v, 3)),
                      ("argtopk smallest", lambda v: da.argtopk(v, -4)), ("topk", lambda v: da.topk(v, 3))]:
        actual, expected = run(x).compute(scheduler="sync"), run(reference).compute(scheduler="sync")
        assert isinstance(actual, hal.Array), name
        assert np.array_equal(np.asarray(actual), expected), name


def test_speed_weights_share_the_blocks():
    picks = hal.dask._weighted_round_robin(["fast", "slow"], [3.0, 1.0], 8)
    assert picks.count("fast") == 6 and picks.count("slow") == 2
    assert picks[:4].count("fast") == 3  # interleaved, not all the fast ones first
    with pytest.raises(ValueError, match="by is"):
        hal.dask.spread(da.ones(4, chunks=2), devices=["cpu"], by="size")


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker processes on loopback (free ports); the workers inherit
    this environment and import hal.dask at start-up."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0", preload=["hal.dask"]) as cluster, \
            distributed.Client(cluster) as client:
        yield client


SIMULATED = pytest.mark.skip(reason="Oclgrind: each worker process would compile and run every kernel again "
                                    "on a simulator ~100x slower than PoCL; the local tests cover it")


@pytest.mark.parametrize("device_name", [pytest.param(d.name, marks=[SIMULATED] if d.info.kind == "simulator" else [])
                                         for d in hal.devices()])
def test_a_distributed_workload_equals_numpy_chunks(client, device_name):
    a = _matrix((64, 64))
    hal_chunks = _workload(da.from_array(hal.asarray(a, device=device_name), chunks=16)).persist()
    distributed.wait(hal_chunks)
    workers = {w for holders in client.who_has(hal_chunks).values() for w in holders}
    assert len(client.scheduler_info()["workers"]) == 2 and workers
    result = hal_chunks.compute()
    expected = _workload(da.from_array(a, chunks=16)).compute(scheduler="sync")
    x = da.from_array(hal.asarray(a, device=device_name), chunks=16)
    assert np.array_equal(np.asarray(x[[40, 3, 63]].argmax(axis=1).compute()), a[[40, 3, 63]].argmax(axis=1))
    assert isinstance(result, hal.Array) and result.device.name == device_name
    np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-3, atol=1e-3)
    ran_on = client.run(lambda: sorted(k for k in __import__("sys").modules if k == "hal.dask"))
    assert all(mods == ["hal.dask"] for mods in ran_on.values())  # the workers preloaded hal.dask


@pytest.mark.parametrize("device_name", [d.name for d in REAL_DEVICES])
def test_a_mixed_workload_on_the_cluster_equals_numpy_chunks(client, device_name):
    rng = np.random.default_rng(12)
    f, i = rng.standard_normal((12, 10)).astype(np.float32), rng.integers(-5, 6, (12, 10)).astype(np.int32)
    on_hal = _mixed_workload(*(da.from_array(hal.asarray(v, device=device_name), chunks=(5, 4)) for v in (f, i)))
    on_numpy = _mixed_workload(*(da.from_array(v, chunks=(5, 4)) for v in (f, i)))
    results = dask.compute(on_hal)[0]
    for name, result in results.items():
        assert result.device.name == device_name, name
        assert_matches(result, on_numpy[name].compute(scheduler="sync"), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(len(REAL_DEVICES) < 2, reason="spread needs two non-simulated devices")
def test_spread_on_the_cluster(client):
    """Blocks placed by name on each worker's devices; pickled between workers, they land
    on the device of the same name."""
    a = _matrix((64, 64))
    names = [d.name for d in REAL_DEVICES[:2]]
    x = hal.dask.spread(da.from_array(hal.asarray(a, device="cpu"), chunks=16), devices=names)
    devices_used = x.map_blocks(lambda b: np.full((1, 1), names.index(b.device.name), dtype=np.int64),
                                chunks=(1, 1), meta=np.empty((0, 0), np.int64)).compute()
    assert devices_used.tolist() == [[0, 1, 0, 1]] * 4
    result = _workload(x, spread=True).compute()
    np.testing.assert_allclose(np.asarray(result), _workload(da.from_array(a, chunks=16)).compute(scheduler="sync"),
                               rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(np.asarray((x @ x.T).compute()), a @ a.T, rtol=1e-4, atol=1e-4)  # (workers wrap @)
    with dask.config.set({"array.backend": "hal"}):
        drawn = da.random.default_rng(3).standard_normal((8, 8), chunks=4).compute()
    with dask.config.set({"array.backend": "numpy"}):
        assert np.array_equal(np.asarray(drawn), da.random.default_rng(3).standard_normal((8, 8), chunks=4).compute())


@pytest.mark.parametrize("device_name", [d.name for d in REAL_DEVICES])
def test_percentile_argtopk_and_histogram_on_the_cluster(client, device_name, stable_numpy_argsort):
    """The merge steps run on the workers (which preloaded hal.dask) on the chunks' device."""
    a = _matrix((40, 6), seed=6)
    x, reference = da.from_array(hal.asarray(a, device=device_name), chunks=(10, 3)), da.from_array(a, chunks=(10, 3))
    for run in (lambda v: da.percentile(v[:, 2], [5, 50, 95]), lambda v: da.argtopk(v[:, 4], 4),
                lambda v: da.nanmedian(v, axis=0), lambda v: da.histogram(v, bins=4, range=(-3, 3))[0]):
        result, expected = run(x).compute(), run(reference).compute(scheduler="sync")
        assert isinstance(result, hal.Array) and result.device.name == device_name
        np.testing.assert_array_equal(np.asarray(result), expected.astype(result.dtype))
