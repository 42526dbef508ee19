"""hal serve on Ray Serve (hal/serve/distributed.py): a two-node local Ray cluster on
loopback (ray.cluster_utils.Cluster), one node offering the cpu and the other opencl:0
(Ray resources hal:cpu, hal:opencl:0), the OpenAI routes through Ray Serve's ingress and
the official client; a drain of opencl:0 moves running sequences through the object
store to the cpu node, and every stream ends with Llama.generate's text. About 45 s:
Ray starts two nodes, Serve and three replicas."""
import json
import os
import socket
import sys
import threading

import pytest
from conftest import DEVICES
from test_llama import needs_smollm2, smollm2_path

# Ray's nodes on 127.0.0.1: Ray takes its node address from the default route unless
# it is told it runs no cluster of machines (read when ray is imported)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from hal.serve import distributed  # noqa: E402


def test_without_ray_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as on a machine without it
    with pytest.raises(ImportError, match=r"pip install 'hal\[distributed\]'"):
        distributed.require_ray()


def test_resources_name_each_device(capsys):
    names = {d.name for d in DEVICES if d.info.kind != "simulator"}
    assert distributed.node_resources() == {f"hal:{n}": 1 for n in names}
    assert distributed.main(["resources"]) == 0  # what `ray start --resources` takes
    assert json.loads(capsys.readouterr().out) == {f"hal:{n}": 1 for n in names}


@needs_smollm2
@pytest.mark.skipif("opencl:0" not in {d.name for d in DEVICES}, reason="needs opencl:0 (PoCL) for the second node")
def test_two_node_cluster_serves_and_moves_sequences_through_the_object_store():
    ray = pytest.importorskip("ray", reason="pip install 'hal[distributed]'")
    serve = pytest.importorskip("ray.serve")
    openai = pytest.importorskip("openai")
    import httpx
    from ray.cluster_utils import Cluster

    from hal.llama import Llama
    from hal.serve.app import Options

    node = {"num_cpus": 1, "object_store_memory": 80 << 20}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False,
                                                            "resources": {distributed.resource("cpu"): 1}})
    cluster.add_node(**node, resources={distributed.resource("opencl:0"): 1})
    try:
        ray.init(address=cluster.address)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        options = Options(model_id="SmolLM2", context=256, max_sequences=4, prefill_chunk=16, prefill_per_step=32)
        serve.run(distributed.build(smollm2_path(), ["cpu", "opencl:0"], options), name="hal", route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        c = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=120)
        assert [m.id for m in c.models.list()] == ["SmolLM2"]

        prompts, texts, n = ["Once upon a time", "The moon is", "Water boils at", "In 1969,"], {}, 24
        first_tokens = threading.Barrier(len(prompts) + 1, timeout=120)

        def stream(prompt):
            parts = []
            with c.completions.create(model="SmolLM2", prompt=prompt, max_tokens=n, temperature=0,
                                      stream=True) as chunks:
                for chunk in chunks:
                    parts.append(chunk.choices[0].text)
                    if len(parts) == 1:
                        first_tokens.wait()
            texts[prompt] = "".join(parts)

        threads = [threading.Thread(target=stream, args=(p,)) for p in prompts]
        for t in threads:
            t.start()
        first_tokens.wait()
        drained = httpx.post(url + "/admin/drain", params={"device": "opencl:0"}, timeout=60).json()
        for t in threads:
            t.join(120)
        assert drained["draining"] and drained["moved"] > 0, drained  # the router sends 2 of 4 to each device
        model = Llama.load(smollm2_path(), "cpu")
        for prompt in prompts:
            assert texts[prompt] == model.tokenizer.decode(model.generate(model.tokenizer.encode(prompt), n).token_ids)
        metrics = httpx.get(url + "/metrics").text
        assert (f'hal:sequence_migrations_total{{from_device="opencl:0",to_device="cpu"}} '
                f'{float(drained["moved"])}') in metrics
        assert c.completions.create(model="SmolLM2", prompt="Hi", max_tokens=2).usage.completion_tokens == 2
    finally:
        serve.shutdown()
        ray.shutdown()
        cluster.shutdown()
