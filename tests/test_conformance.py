"""The conformance kit (hal.conformance): its battery covers every op hal offers, it
judges right, wrong, missing and host-fallback implementations as such, its command
line reports and exits accordingly, and the small battery runs clean on Oclgrind."""
import inspect
import json
import os
import pathlib
import subprocess
import sys
import tomllib

import pytest

import hal
from hal.conformance import cases, run
from hal.conformance.runner import run_case

CPU = hal.device("cpu")


def _functions(module) -> set:
    return {n for n in getattr(module, "__all__", dir(module))
            if not n.startswith("_") and inspect.isfunction(getattr(module, n))}


def _buffer_device():
    found = [d for d in hal.devices() if d.family == "buffer" and d.info.kind != "simulator"]
    if not found:
        pytest.skip("no buffer device (OpenCL) found")
    return found[0]


def test_battery_covers_every_op():
    ops = {c.op for c in cases.battery(CPU.dtypes)}
    expected = (_functions(hal) - cases.NOT_DEVICE_OPS) | {f"linalg.{n}" for n in _functions(hal.linalg)} | \
        {f"fft.{n}" for n in _functions(hal.fft)} | {f"nn.{n}" for n in _functions(hal.nn)}
    assert not expected - ops, f"add cases for {sorted(expected - ops)} to hal/conformance/cases.py"
    assert {"getitem", "setitem mask", "setitem int array"} <= ops
    small = {c.op for c in cases.battery(CPU.dtypes, small=True)}
    assert small == ops


def test_every_op_runs_on_the_reference():
    """Against itself the reference passes every op, and every op has a case that runs
    (not only argument errors): the battery itself is sound."""
    reports = run(CPU, small=True)
    broken = {r.op: r.first_problem for r in reports if r.status != "pass" or r.coverage != "native"}
    assert not broken


def test_a_wrong_kernel_fails(monkeypatch):
    dev = _buffer_device()
    cos = dev.impl("cos")
    monkeypatch.setitem(dev._impls, "sin", cos)
    [report] = run(dev, ops="^sin$", small=True)
    assert report.status == "fail" and "NMSE" in report.first_problem
    assert all(o.status in ("fail", "n/a") or o.case.inputs[0].size <= 1 for o in report.outcomes)


def test_a_missing_op_is_unsupported_not_failed(monkeypatch):
    dev = _buffer_device()

    def missing(*args, **kwargs):
        raise NotImplementedError(f"sin is not implemented on {dev.name}")

    monkeypatch.setitem(dev._impls, "sin", missing)
    [report] = run(dev, ops="^sin$", small=True)
    assert report.status == "unsupported" and report.coverage == "missing"


def test_host_fallbacks_are_reported_as_such():
    dev = _buffer_device()
    reports = {r.op: r for r in run(dev, ops=r"^(linalg\.inv|linalg\.trace)$", small=True)}
    assert reports["linalg.inv"].status == "pass" and reports["linalg.inv"].coverage == "host fallback"
    assert reports["linalg.trace"].coverage == "native"


def test_a_result_where_the_reference_raises_fails():
    bad = cases.Case("sqrt", "accepts a string", (), lambda d: "no error" if d.name != "cpu" else hal.sqrt("x"))
    outcome = run_case(bad, _buffer_device(), CPU)
    assert outcome.status == "fail" and "the reference raises" in outcome.detail


def _kit(*args):
    return subprocess.run([sys.executable, "-m", "hal.conformance", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_command_line_outputs_and_exit_codes():
    table = _kit("--device", "cpu", "--ops", "^(add|sort)$")
    assert table.returncode == 0, table.stderr
    assert "2 ops" in table.stdout and "0 fail" in table.stdout
    as_json = json.loads(_kit("--device", "cpu", "--ops", "^add$", "--output", "json").stdout)
    assert as_json["cpu"]["summary"]["pass"] == 1 and as_json["cpu"]["ops"][0]["op"] == "add"
    as_csv = _kit("--device", "cpu", "--ops", "^add$", "--output", "csv").stdout.splitlines()
    assert as_csv[0].startswith("device,op,status") and as_csv[1].startswith("cpu,add,pass")
    assert _kit("--device", "cpu", "--ops", "^no such op$").returncode == 2
    assert _kit("--device", "nonsense").returncode == 2


SIMULATORS = [pytest.param(d, marks=pytest.mark.simulator, id=d.name) for d in hal.devices()
              if d.info.kind == "simulator"]
# What the kit finds wrong with hal's kernels (on every OpenCL device); add an entry with
# its reason when the kit finds a bug not fixed at once, remove it when it is fixed.
KNOWN_FAILURES = {}


@pytest.mark.parametrize("device", SIMULATORS or [pytest.param(None, marks=pytest.mark.skip("Oclgrind not installed"))])
def test_small_battery_on_oclgrind(device):
    """The whole battery, one dtype per kind and small shapes, under Oclgrind's checks
    (out-of-bounds accesses and data races: tests/oclgrind_checks.py fails the run on
    any report); ~40 s."""
    reports = run(device, small=True)
    failed = {r.op: r.first_problem for r in reports if r.status == "fail"}
    assert failed == KNOWN_FAILURES
    assert all(r.status == "pass" for r in reports if r.op not in KNOWN_FAILURES)


# ---------------------------------------------------------------- a third-party backend

VENDOR = pathlib.Path(__file__).parent / "vendor_backend"


def _as_if_installed(site: pathlib.Path) -> dict:
    """The environment of a process that sees tests/vendor_backend as pip would install
    it: its package importable and a dist-info with its entry points (read from its
    pyproject.toml), so hal finds it through ``hal.backends``; nothing is installed."""
    project = tomllib.loads((VENDOR / "pyproject.toml").read_text())["project"]
    dist = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items())
        for group, points in project["entry-points"].items()))
    path = os.pathsep.join(filter(None, [str(site), str(VENDOR), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "PYTHONWARNINGS": "ignore"}


def test_vendor_backend_is_found_and_passes_the_kit(tmp_path):
    env = _as_if_installed(tmp_path / "site")
    devices = subprocess.run([sys.executable, "-m", "hal", "devices"], env=env, capture_output=True, text=True)
    listed = [line for line in devices.stdout.splitlines() if line.startswith("hostmem:0 ")]
    assert listed and "host memory, C kernels" in listed[0], devices.stdout + devices.stderr
    assert " ok" in listed[0], listed[0]  # its self-test (a matmul) passes
    kit = subprocess.run([sys.executable, "-m", "hal.conformance", "--device", "hostmem:0", "--small", "--ops", VENDOR_OPS,
                          "--output", "json"], env=env, capture_output=True, text=True, timeout=1200)
    assert kit.returncode == (1 if KNOWN_VENDOR_FAILURES else 0), kit.stderr[-3000:]
    ops = {row["op"]: row for row in json.loads(kit.stdout)["hostmem:0"]["ops"]}
    assert set(ops) == set(VENDOR_OPS[2:-2].split("|"))
    failed = {op: row["problem"] for op, row in ops.items() if row["status"] != "pass"}
    assert set(failed) == set(KNOWN_VENDOR_FAILURES), failed
    for op, why in KNOWN_VENDOR_FAILURES.items():
        assert why in failed[op]
    assert all(row["coverage"] == "native" for op, row in ops.items() if op not in failed)


# A few ops of different kernel families (C compiles take ~1 s each, and CI starts cold).
VENDOR_OPS = "^(add|sin|sum|cumulative_sum|sort|nonzero|getitem mask|take|concat|matmul)$"
# What the kit finds wrong with hal on a device whose work-groups have one item (the C
# target's, device.info.max_work_group == 1); remove an entry when hal is fixed.
KNOWN_VENDOR_FAILURES = {}
