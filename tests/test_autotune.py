"""hal.autotune (DESIGN.md, "Autotuner"): wrong or failing candidates are never chosen,
the tuned kernels (GEMM, GEMV, row reductions) are correct for every configuration of
their search spaces on ragged shapes, the database survives corruption and concurrent
tuners, and HAL_TUNE=off|cached|on do what they say. No test asserts a timing."""
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import hal
from hal import autotune
from hal.ops.launch import run_elementwise
from helpers import assert_matches, data, put


@pytest.fixture(autouse=True)
def private_database(tmp_path, monkeypatch):
    """Each test tunes into its own cache folder, from a clean memo."""
    monkeypatch.setenv("HAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HAL_TUNE", "cached")
    autotune.forget()
    yield
    autotune.forget()


def _add(device, out, x, c):
    """out = x + c on any device."""
    if device.family == "numpy":
        np.add(x, c, out=out)
    else:
        run_elementwise(device, f"x0 + {c}", out, [x], [x.dtype])


def _toy_run(device, config, out, x):
    how = config["how"]
    if how == "crash":
        raise RuntimeError("this candidate cannot launch here")
    if how == "tail":  # forgets the last element: the NaN pre-fill shows it
        short = slice(0, x.shape[0] - 1)
        _add(device, out[short] if device.family == "numpy" else out.getitem((short,)),
             x[short] if device.family == "numpy" else x.getitem((short,)), 1)
        return
    if how == "slow" and device.family == "numpy":
        time.sleep(2e-3)  # the right answer, slowly: wrong ones are faster and must still lose
    _add(device, out, x, 2 if how == "wrong" else 1)


TOY = autotune.Tunable(
    op="toy_add_one",
    space=lambda device, key: [{"how": h} for h in ("slow", "wrong", "tail", "crash", "right")],
    default=lambda device, key: {"how": "slow"},
    run=_toy_run,
    reference=lambda x: x + 1,
    problem=lambda key, ragged, rng: (rng.standard_normal(key[1][0] - 3 * ragged).astype(np.float32),),
    work=lambda key: (key[1][0], 8 * key[1][0]),
    presets=lambda device: [("float32", (64,))],
    bound="memory")


@pytest.fixture
def toy():
    autotune.declare(TOY)
    yield TOY.op
    autotune.tunables()  # declared ops stay; the private database is what is dropped


def test_wrong_and_failing_candidates_are_never_chosen(device, toy, caplog):
    result = autotune.tune(device, toy, ("float32", (256,)), budget=60)
    status = {m.config["how"]: m.status for m in result.candidates}
    assert status == {"slow": "ok", "wrong": "wrong", "tail": "wrong", "crash": "failed", "right": "ok"}
    assert result.config["how"] in ("slow", "right")
    assert "relative error" in next(m.detail for m in result.candidates if m.config["how"] == "wrong")
    assert "unwritten" in next(m.detail for m in result.candidates if m.config["how"] == "tail")
    assert "wrong candidate" in caplog.text
    assert autotune.lookup(device, toy, ("float32", (256,))) == result.config


def test_tuned_result_is_what_cached_mode_uses(device, toy):
    key = ("float32", (128,))
    assert autotune.choose(device, toy, key) == {"how": "slow"}  # nothing tuned: the default
    autotune.tune(device, toy, key, budget=60)
    autotune.forget()
    assert autotune.choose(device, toy, key) == autotune.lookup(device, toy, key)


@pytest.mark.parametrize("op, key", [
    ("gemm", ("float32", (1, 32, 32, 32))), ("gemm", ("float32", (1, 1, 64, 32))),
    ("gemm", ("float32", (4, 16, 32, 8))), ("gemv", ("float32", (2, 64, 64))),
    ("reduce_rows", ("float32", (4, 4096)))], ids=str)
def test_every_candidate_is_correct_on_ragged_shapes(device, op, key):
    """Every configuration of the real search spaces, verified as the tuner does."""
    if op == "reduce_rows" and device.family == "numpy":
        pytest.skip("the cpu reduces with NumPy")
    space = autotune.tunables()[op].space(device, key)
    if device.family == "numpy" and op != "reduce_rows":  # the kernels run there too, untuned
        space = space + _c_target_kernels(op, key)
    assert space
    for config in space:
        assert autotune.verify(device, op, key, config) == "", config


def _c_target_kernels(op, key):
    if op == "gemv":
        return [{"kind": "rows", "RM": rm, "KV": kv, "WX": 1} for rm in (1, 2, 4) for kv in (8, 32)]
    rms = (1,) if key[1][1] == 1 else (4, 8, 12)
    return [{"kind": "block", "RM": rm, "RN": rn, "WX": 1, "WY": 1, "PACK": pack}
            for pack in (0, 1, 3) for rm in rms for rn in (16, 64)]


def test_gemm_tuning_picks_a_verified_config(device, monkeypatch):
    key = ("float32", (1, 16, 16, 16))
    space = autotune.tunables()["gemm"].space(device, key)[:3]
    monkeypatch.setattr(autotune.tunables()["gemm"], "space", lambda device, key: space)
    result = autotune.tune(device, "gemm", key, budget=60)
    assert result.config in space + [autotune.tunables()["gemm"].default(device, key)]
    assert result.flops == 2 * 16 ** 3 and result.seconds > 0


def test_corrupt_database_is_rebuilt_with_a_warning(toy):
    cpu = hal.device("cpu")
    path = autotune.db_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not an SQLite database" * 100)
    with pytest.warns(autotune.TuningDatabaseWarning, match="rebuilt"):
        assert autotune.lookup(cpu, toy, ("float32", (64,))) is None
    result = autotune.tune(cpu, toy, ("float32", (64,)), budget=60)
    assert autotune.lookup(cpu, toy, ("float32", (64,))) == result.config


def test_other_schema_version_starts_afresh(toy):
    cpu = hal.device("cpu")
    autotune.tune(cpu, toy, ("float32", (64,)), budget=60)
    with sqlite3.connect(autotune.db_path()) as con:
        con.execute("UPDATE meta SET value = '0' WHERE name = 'schema'")
    assert autotune.lookup(cpu, toy, ("float32", (64,))) is None
    with sqlite3.connect(autotune.db_path()) as con:
        assert con.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()[0] == str(autotune.SCHEMA_VERSION)


TUNER = textwrap.dedent("""
    import sys, numpy as np, hal
    from hal import autotune
    sys.path.insert(0, {tests!r})
    from test_autotune import TOY
    autotune.declare(TOY)
    cpu = hal.device("cpu")
    for n in range(64, 64 + 6):
        autotune.tune(cpu, TOY.op, ("float32", (n,)), budget=60)
""")


def test_two_processes_tuning_at_once_leave_a_consistent_database(tmp_path):
    script = tmp_path / "tuner.py"
    script.write_text(TUNER.format(tests=os.path.dirname(__file__)))
    env = {**os.environ, "PYTHONWARNINGS": "error::hal.autotune.TuningDatabaseWarning"}
    procs = [subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()[-2000:]
    with sqlite3.connect(autotune.db_path()) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = con.execute("SELECT bucket, config FROM results").fetchall()
        counts = con.execute("SELECT bucket, COUNT(*) FROM candidates GROUP BY bucket").fetchall()
    assert sorted(b for b, _ in rows) == sorted(str(n) for n in range(64, 70))
    assert all(json.loads(c)["how"] in ("slow", "right") for _, c in rows)
    assert all(count == 5 for _, count in counts) and len(counts) == 6  # one tuner's full set per key


def test_tune_off_times_nothing(device, monkeypatch):
    monkeypatch.setenv("HAL_TUNE", "off")
    monkeypatch.setattr(autotune, "measure", lambda *a, **k: pytest.fail("HAL_TUNE=off timed something"))
    monkeypatch.setattr(autotune, "lookup", lambda *a, **k: pytest.fail("HAL_TUNE=off read the database"))
    before = autotune.stats()
    a, b = data((9, 33), hal.float32, 1), data((33, 5), hal.float32, 2)
    assert_matches(put(a, device) @ put(b, device), a @ b)
    assert_matches(put(a, device) @ put(b[:, :1], device), a @ b[:, :1])
    assert_matches(hal.sum(put(a, device), axis=1), a.sum(axis=1))
    assert autotune.stats()["timed"] == before["timed"] and autotune.stats()["tuned"] == before["tuned"]
    assert not autotune.db_path().exists()


def test_tune_on_tunes_on_first_use_only(toy, monkeypatch):
    monkeypatch.setenv("HAL_TUNE", "on")
    cpu, key = hal.device("cpu"), ("float32", (96,))
    before = autotune.stats()["tuned"]
    chosen = autotune.choose(cpu, toy, key)
    assert autotune.stats()["tuned"] == before + 1 and chosen["how"] in ("slow", "right")
    autotune.forget()
    assert autotune.choose(cpu, toy, key) == chosen
    assert autotune.stats()["tuned"] == before + 1  # the second process-level lookup hit the database


def test_bad_tune_mode_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HAL_TUNE", "sometimes")
    with pytest.raises(ValueError, match="HAL_TUNE must be one of off, cached, on"):
        autotune.mode()


def test_stored_config_outside_the_space_falls_back_to_the_default(toy, monkeypatch):
    cpu, key = hal.device("cpu"), ("float32", (64,))
    autotune.tune(cpu, toy, key, budget=60)
    monkeypatch.setattr(TOY, "space", lambda device, key: [{"how": "slow"}])
    autotune.forget()
    assert autotune.choose(cpu, toy, key) == {"how": "slow"}


def test_cli_table(toy, capsys, tmp_path):
    from hal.__main__ import main
    assert main(["tune", "--device", "cpu", "--ops", toy, "--budget", "30", "--plot", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "toy_add_one" in out and "float32" in out and "GB/s" in out and "vs default" in out
    assert (tmp_path / "c.png").stat().st_size > 0
    with pytest.raises(SystemExit, match="unknown ops"):
        main(["tune", "--device", "cpu", "--ops", "no_such_op"])
