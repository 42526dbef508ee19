"""tools/gpu-check.sh's logic where there is no GPU: it stops after ``python -m hal
devices``, says in OUTDIR/report.md that no GPU was found and why (the cuda line of the
devices table), and exits non-zero. CUDA_VISIBLE_DEVICES="" hides any GPU the machine
has, so the test means the same everywhere; the pip step is skipped."""
import os
import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "tools" / "gpu-check.sh"


def _check(*args, **env) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "HAL_GPU_CHECK_SKIP_INSTALL": "1",
           "CUDA_VISIBLE_DEVICES": "", "HIP_VISIBLE_DEVICES": "", **env}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], env=env, capture_output=True,
                           text=True, timeout=60)


def test_without_a_gpu_it_stops_after_the_devices_step_and_says_why(tmp_path):
    out = tmp_path / "report"
    r = _check(out)
    assert r.returncode == 2, r.stderr
    assert "no GPU found" in r.stderr
    report = (out / "report.md").read_text()
    assert "| install | skipped (HAL_GPU_CHECK_SKIP_INSTALL=1) |" in report
    assert "| devices | ok |" in report
    reason = next(line for line in (out / "devices.log").read_text().splitlines() if line.startswith("cuda: "))
    assert reason in report and "**No GPU found**" in report
    assert sorted(p.name for p in out.iterdir()) == ["devices.log", "report.md"]  # nothing else ran


def test_without_an_outdir_it_prints_its_usage():
    r = _check()
    assert r.returncode == 64 and "usage:" in r.stderr


def test_a_steps_list_runs_only_those_steps_after_devices(tmp_path):
    # On the cpu (a dry run of the script itself), as a session splitting the check over two calls does.
    out = tmp_path / "report"
    r = _check(out, HAL_GPU_CHECK_DEVICE="cpu", HAL_GPU_CHECK_STEPS="bench-gemm")
    assert r.returncode == 0, r.stderr + (out / "report.md").read_text()
    report = (out / "report.md").read_text()
    assert "| devices | ok |" in report and "| bench-gemm | ok |" in report
    for left_out in ("conformance", "llama", "llama-cpp", "bench-llama", "tests"):
        assert f"| {left_out} | skipped (not in HAL_GPU_CHECK_STEPS) |" in report
    assert sorted(p.name for p in out.iterdir()) == ["bench-gemm.log", "devices.log", "report.md"]
