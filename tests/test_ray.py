"""hal serve on Ray Serve (hal/serve/distributed.py): a two-node local Ray cluster on
loopback (ray.cluster_utils.Cluster), one node offering the cpu and the other opencl:0
(Ray resources hal:cpu, hal:opencl:0), the OpenAI routes through Ray Serve's ingress and
the official client; a drain of opencl:0 moves running sequences through the object
store to the cpu node, then a fault in the cpu's replica (the driver's test hook) moves
its sequences to opencl:0, and every stream ends with Llama.generate's text. About a
minute: Ray starts two nodes, Serve and three replicas."""
import json
import os
import re
import socket
import sys
import threading

import pytest
from conftest import DEVICES
from test_llama import needs_smollm2, smollm2_path

# Ray's nodes on 127.0.0.1: Ray takes its node address from the default route unless
# it is told it runs no cluster of machines (read when ray is imported)
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

for _module in ("starlette", "prometheus_client", "pydantic", "jinja2"):  # (what hal.serve.distributed imports)
    pytest.importorskip(_module, reason="hal.serve.distributed needs the distributed extra: "
                        "pip install 'hal[distributed]'")
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

        model, n = Llama.load(smollm2_path(), "cpu"), 160  # (streams long enough to be running when drained
        # or failed: with 64, a fast cpu finished its streams before the injected fault came)

        def streams(prompts, while_running):
            """Stream ``prompts`` at once; ``while_running()`` once each has a token."""
            texts, first_tokens = {}, threading.Barrier(len(prompts) + 1, timeout=120)

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
            while_running()
            for t in threads:
                t.join(120)
            for prompt in prompts:  # each text is Llama.generate's, wherever it was made
                assert texts[prompt] == model.tokenizer.decode(model.generate(model.tokenizer.encode(prompt),
                                                                              n).token_ids)

        # a drain: opencl:0's sequences (the router sends 2 of 4 to each device) move to cpu
        drained = {}
        streams(["Once upon a time", "The moon is", "Water boils at", "In 1969,"], lambda: drained.update(
            httpx.post(url + "/admin/drain", params={"device": "opencl:0"}, timeout=60).json()))
        assert drained["draining"] and drained["moved"] > 0, drained
        assert (f'hal:sequence_migrations_total{{from_device="opencl:0",to_device="cpu"}} '
                f'{float(drained["moved"])}') in httpx.get(url + "/metrics").text
        # a device that fails: cpu raises once in a step (the driver's test hook, in its replica's
        # process); its sequences move, with their KV caches, to opencl:0
        httpx.post(url + "/admin/undrain", params={"device": "opencl:0"}).raise_for_status()
        cpu_replica = serve.get_deployment_handle("hal-cpu", app_name="hal")
        streams(["Photosynthesis is", "The largest planet is", "My favourite colour is", "SELECT * FROM"],
                lambda: cpu_replica.fail_transfers.remote(1).result())
        assert re.search(r'hal:sequence_migrations_total\{from_device="cpu",to_device="opencl:0"\} [1-9]',
                         httpx.get(url + "/metrics").text)
        assert c.completions.create(model="SmolLM2", prompt="Hi", max_tokens=2).usage.completion_tokens == 2
    finally:
        serve.shutdown()
        ray.shutdown()
        cluster.shutdown()
