"""A replica per device behind one endpoint (hal/serve/replicas.py), SmolLM2 on cpu and
opencl:0 through a real uvicorn server and the official ``openai`` client: 16 clients
get the tokens each gets from Llama.generate whichever replica serves it; /metrics has
a device label; a drain moves running sequences (greedy and sampled) to the other
device mid-stream, and a device that raises during a step (hal's driver test hook,
Device.fail_transfers) loses no request: its sequences resume from their KV caches, or
from a re-prefill when the device cannot be read, with the same tokens."""
import contextlib
import re
import threading

import httpx
import pytest
from conftest import DEVICES
from test_llama import needs_smollm2, smollm2_path
from test_serve import running

import hal
from hal.llama import Llama

openai = pytest.importorskip("openai")
pytest.importorskip("uvicorn")
from hal.serve.app import Options  # noqa: E402
from hal.serve.replicas import Replicas, replica_devices, replicated_app  # noqa: E402

pytestmark = [needs_smollm2, pytest.mark.skipif("opencl:0" not in {d.name for d in DEVICES},
                                                reason="needs a second device: opencl:0 (PoCL)")]
MODEL_ID = "SmolLM2-135M-Instruct.Q4_1"
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time", "The best way to learn is",
           "import numpy as np\n", "Water boils at", "My favourite colour is", "The moon is",
           "In 1969,", "Photosynthesis is", "A haiku about rain:", "The quick brown fox",
           "SELECT * FROM", "To make bread, first", "The largest planet is", "Dear Sir or Madam,"]
SAMPLED = {"temperature": 0.8, "top_p": 0.95, "seed": 5}


@pytest.fixture(scope="module")
def models():
    return [(name, Llama.load(smollm2_path(), name)) for name in ("cpu", "opencl:0")]


@contextlib.contextmanager
def serving(models, **options):
    """The replicated app on a free loopback port; yields (URL, the Replicas router)."""
    defaults = {"context": 256, "prefill_chunk": 16, "prefill_per_step": 32, "max_sequences": 8, "max_waiting": 16}
    with running(replicated_app(models, Options(model_id=MODEL_ID, **{**defaults, **options}))) as (url, app):
        yield url, app.state.server.engine


def client(url):
    return openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=300)


def expected(model, prompt, n, **sampling):
    """What Llama.generate makes of ``prompt``: the (text, finish reason) a request must get."""
    seed, temperature = sampling.get("seed"), sampling.get("temperature", 0.0)
    ids = model.generate(model.tokenizer.encode(prompt), n, temperature=temperature,
                         top_p=sampling.get("top_p", 1.0), seed=seed).token_ids
    return model.tokenizer.decode(ids), "length" if len(ids) == n else "stop"


def samples(url, name) -> dict:
    """{device: value} of a hal: metric's samples (summed over its other labels)."""
    out = {}
    for line in httpx.get(url + "/metrics").text.splitlines():
        m = re.match(rf'^{re.escape(name)}\{{(.*)\}} (\S+)$', line)
        if m:
            device = re.search(r'device="([^"]+)"', m[1])[1]
            out[device] = out.get(device, 0.0) + float(m[2])
    return out


def stream_all(url, prompts, n, on_started=None, **sampling):
    """Stream every prompt at once; ``on_started()`` once each has its first token.
    Returns {prompt: (text, finish_reason)}."""
    c, results, started = client(url), {}, threading.Barrier(len(prompts) + 1)

    def one(prompt):
        parts, reason, first = [], None, True
        try:
            with c.completions.create(model=MODEL_ID, prompt=prompt, max_tokens=n, stream=True,
                                      **{"temperature": 0, **sampling}) as stream:
                for chunk in stream:
                    parts.append(chunk.choices[0].text)
                    reason = chunk.choices[0].finish_reason or reason
                    if first and parts[-1]:
                        first = False
                        started.wait()
            results[prompt] = ("".join(parts), reason)
        except Exception as e:  # recorded: a lost request fails the test with its error
            results[prompt] = (f"{type(e).__name__}: {e}", "error")
        finally:
            if first:
                started.abort()

    threads = [threading.Thread(target=one, args=(p,)) for p in prompts]
    for t in threads:
        t.start()
    try:
        started.wait(timeout=300)
        if on_started is not None:
            on_started()
    except threading.BrokenBarrierError:
        pass
    for t in threads:
        t.join()
    return results


def test_devices_all_and_names():
    names = [d.name for d in DEVICES if d.info.kind != "simulator"]
    assert replica_devices(["all"]) == [[n] for n in names]
    assert replica_devices(["opencl:0+cpu", "cpu"]) == [["opencl:0", "cpu"], ["cpu"]]
    with pytest.raises(hal.DeviceError):
        replica_devices(["cpu", "gpu:9"])
    with pytest.raises(ValueError, match="twice"):
        Replicas([("cpu", None), ("cpu", None)], MODEL_ID)


def test_sixteen_clients_over_two_devices(models):
    """Both replicas serve; every text is Llama.generate's; /metrics is per device."""
    cpu = models[0][1]
    with serving(models) as (url, _):
        results = stream_all(url, PROMPTS, 8)
        for prompt in PROMPTS:
            assert results[prompt] == expected(cpu, prompt, 8), prompt
        generated = samples(url, "hal:generation_tokens_total")
        assert set(generated) == {"cpu", "opencl:0"} and all(v > 0 for v in generated.values())
        replicas = httpx.get(url + "/admin/replicas").json()["data"]
        assert [(r["device"], r["routable"], r["running"]) for r in replicas] == [("cpu", True, 0),
                                                                                 ("opencl:0", True, 0)]


def test_drain_moves_running_sequences_with_their_tokens(models):
    cpu = models[0][1]
    prompts, n = PROMPTS[:6], 24
    with serving(models) as (url, router):
        drained = {}

        def drain():
            running = {r.name: len(r.engine.running) for r in router.replicas}
            assert running["opencl:0"] > 0, running
            drained.update(httpx.post(url + "/admin/drain", params={"device": "opencl:0"}, timeout=60).json())

        results = stream_all(url, prompts, n, on_started=drain, **SAMPLED)
        assert drained["draining"] and drained["moved"] > 0
        for prompt in prompts:
            assert results[prompt] == expected(cpu, prompt, n, **SAMPLED), prompt
        moved = samples(url, "hal:sequence_migrations_total")  # (labelled by from_device, not device)
        text = httpx.get(url + "/metrics").text
        assert f'hal:sequence_migrations_total{{from_device="opencl:0",how="kv_cache",to_device="cpu"}} ' \
               f'{float(drained["moved"])}' in text, (moved, text[-2000:])
        before = samples(url, "hal:generation_tokens_total")
        client(url).completions.create(model=MODEL_ID, prompt="Hello", max_tokens=4, temperature=0)
        after = samples(url, "hal:generation_tokens_total")
        assert after["opencl:0"] == before["opencl:0"] and after["cpu"] == before["cpu"] + 4  # routed to cpu only
        assert httpx.post(url + "/admin/undrain", params={"device": "opencl:0"}).json()["draining"] is False


def test_drain_errors(models):
    with serving(models) as (url, _):
        for params, status in (({}, 400), ({"device": "tpu:0"}, 404)):
            response = httpx.post(url + "/admin/drain", params=params)
            assert response.status_code == status and response.json()["error"]["param"] == "device"
        assert httpx.post(url + "/admin/drain", params={"device": "cpu"}).json()["moved"] == 0
        response = httpx.post(url + "/admin/drain", params={"device": "opencl:0"})  # the last one serving
        assert response.status_code == 409, response.text


@pytest.mark.parametrize("lost", [False, True], ids=["one-fault", "device-lost"])
def test_a_failing_device_loses_no_request(models, lost):
    """16 clients; opencl:0 raises in a step (once: its KV caches are read and move; or
    on every transfer from then on: its sequences are prefilled again on cpu)."""
    cpu, gpu = models[0][1], hal.device("opencl:0")
    n = 16

    def fail():
        gpu.fail_transfers(hal.DeviceError("injected: opencl:0 was lost"), count=None if lost else 1)

    try:
        with serving(models) as (url, _):
            results = stream_all(url, PROMPTS, n, on_started=fail)
            for prompt in PROMPTS:
                assert results[prompt] == expected(cpu, prompt, n), prompt
            replicas = {r["device"]: r for r in httpx.get(url + "/admin/replicas").json()["data"]}
            assert replicas["opencl:0"]["failed"] and not replicas["opencl:0"]["routable"]
            text = httpx.get(url + "/metrics").text
            how = "prefill" if lost else "kv_cache"
            assert re.search(rf'hal:sequence_migrations_total\{{from_device="opencl:0",how="{how}",'
                             rf'to_device="cpu"\}} [1-9]', text), text[-1500:]
            assert client(url).completions.create(model=MODEL_ID, prompt="Hi", max_tokens=2).usage  # still serving
    finally:
        gpu.fail_transfers(None)


def test_command_serves_every_device():
    import signal
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "hal", "serve", "--devices", "cpu", "opencl:0", "--port", "0",
                             "--context", "128", "--max-sequences", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"on cpu opencl:0 at (http://127\.0\.0\.1:\d+)/", line)
        assert url, line + proc.stderr.read()
        assert client(url[1]).completions.create(model=MODEL_ID, prompt="Hi", max_tokens=2).usage.completion_tokens
        assert set(samples(url[1], "hal:num_requests_running")) == {"cpu", "opencl:0"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    bad = subprocess.run([sys.executable, "-m", "hal", "serve", "--devices", "cpu", "tpu:3"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "tpu:3" in bad.stderr


def test_a_replica_split_over_two_devices(models):
    """``--devices cpu opencl:0+cpu``: the split replica serves its share with the same text."""
    cpu = models[0][1]
    split = Llama.load(smollm2_path(), devices=["opencl:0", "cpu"])
    with serving([("cpu", cpu), ("opencl:0+cpu", split)]) as (url, _):
        results = stream_all(url, PROMPTS[:4], 8)
        for prompt in PROMPTS[:4]:
            assert results[prompt] == expected(cpu, prompt, 8), prompt
        assert samples(url, "hal:generation_tokens_total")["opencl:0+cpu"] > 0


def test_rebalance_evens_out_running_sequences(models):
    """Six streams on opencl:0 (cpu drained while they start), then cpu back and a
    rebalance: three move to cpu mid-stream, every text unchanged."""
    cpu, prompts, n = models[0][1], PROMPTS[:6], 24
    with serving(models) as (url, router):
        assert httpx.post(url + "/admin/drain", params={"device": "cpu"}).json()["moved"] == 0
        rebalanced = {}

        def rebalance():
            assert [len(r.engine.running) for r in router.replicas] == [0, 6]
            httpx.post(url + "/admin/undrain", params={"device": "cpu"}).raise_for_status()
            rebalanced.update(httpx.post(url + "/admin/rebalance", timeout=60).json())

        results = stream_all(url, prompts, n, on_started=rebalance)
        assert rebalanced == {"moved": 3}
        for prompt in prompts:
            assert results[prompt] == expected(cpu, prompt, n), prompt
        assert httpx.post(url + "/admin/rebalance").json() == {"moved": 0}  # (nothing runs)
