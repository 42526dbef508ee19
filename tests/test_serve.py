"""``hal serve`` (hal/serve/) against the official ``openai`` client: a real uvicorn server
on a free loopback port per device (cpu and each OpenCL device but the simulator),
serving SmolLM2. Streamed and plain calls, 16 concurrent clients whose greedy tokens
equal their tokens alone and Llama.generate's (batch invariance), cancellation, every
error the issue lists (400/401/404/413/503, a device error inside a step), the
metrics, the command's clean stop on SIGTERM, and the chat page in headless Chromium.

Generation lengths stay short (8 tokens) to keep the suite fast.
"""
import contextlib
import logging
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
import pytest
from conftest import DEVICES
from test_llama import needs_smollm2, smollm2_path

import hal
from hal.llama import Llama

openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")
from hal.serve.app import Options, create_app  # noqa: E402
from hal.serve.kvpool import KVPool  # noqa: E402

pytestmark = needs_smollm2
MODEL_ID = "SmolLM2-135M-Instruct.Q4_1"
SERVED = [d for d in DEVICES if d.info.kind != "simulator"]
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time", "The best way to learn is",
           "import numpy as np\n", "Water boils at", "My favourite colour is", "The moon is",
           "In 1969,", "Photosynthesis is", "A haiku about rain:", "The quick brown fox",
           "SELECT * FROM", "To make bread, first", "The largest planet is",
           # longer than the test server's prefill chunk (16) and step budget (32): read over two steps
           "Dear Sir or Madam, I am writing to you about the old oak tree that stands at the end of our "
           "street, because last night a storm broke one of its branches and"]
_models = {}


def model_on(device) -> Llama:
    if device.name not in _models:
        _models[device.name] = Llama.load(smollm2_path(), device)
    return _models[device.name]


@contextlib.contextmanager
def serving(model, **options):
    """A uvicorn server for ``model`` on 127.0.0.1 (a free port), in a thread; yields
    (base URL, the app's Server object)."""
    defaults = {"context": 256, "prefill_chunk": 16, "prefill_per_step": 32}
    with running(create_app(model, Options(model_id=MODEL_ID, **{**defaults, **options}))) as (url, app):
        yield url, app.state.server


@contextlib.contextmanager
def running(app):
    """``app`` under uvicorn on 127.0.0.1 (a free port), in a thread; yields (base URL, app)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                           timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module", params=SERVED, ids=[d.name for d in SERVED])
def server(request):
    with serving(model_on(request.param), max_sequences=16, max_waiting=4) as (url, state):
        yield url, state


def client(url, **kw):
    return openai.OpenAI(base_url=url + "/v1", api_key=kw.pop("api_key", "none"), max_retries=0, timeout=120, **kw)


def metrics(url, **headers) -> dict:
    """The server's hal: samples (labels dropped), e.g. {"hal:kv_cache_usage_perc": 0.0}."""
    text = httpx.get(url + "/metrics", headers=headers).text
    samples = {}
    for line in text.splitlines():
        m = re.match(r"^(hal:\w+)(\{[^}]*\})? (\S+)$", line)
        if m and "_bucket" not in m[1] and "_created" not in m[1]:
            samples[m[1]] = samples.get(m[1], 0.0) + float(m[3])
    return samples


def wait_idle(url, timeout: float = 10.0, **headers) -> dict:
    """/metrics once no request runs or waits (the engine reports after each step)."""
    deadline = time.monotonic() + timeout
    while True:
        m = metrics(url, **headers)
        if (m["hal:num_requests_running"], m["hal:num_requests_waiting"]) == (0, 0) or time.monotonic() > deadline:
            return m
        time.sleep(0.05)


def complete(c, prompt, **kw):
    return c.completions.create(model=MODEL_ID, prompt=prompt, **{"max_tokens": 8, "temperature": 0, **kw})


# ---------------------------------------------------------------- the API

def test_models_and_health(server):
    url, _ = server
    assert [m.id for m in client(url).models.list()] == [MODEL_ID]
    assert client(url).models.retrieve(MODEL_ID).id == MODEL_ID
    assert httpx.get(url + "/health").json() == {"status": "ok"}


def test_chat_plain_equals_streamed(server):
    url, _ = server
    c = client(url)
    messages = [{"role": "system", "content": "You are a poet."},
                {"role": "user", "content": [{"type": "text", "text": "Write a poem about the sea."}]}]
    plain = c.chat.completions.create(model=MODEL_ID, messages=messages, max_tokens=8, temperature=0)
    assert plain.object == "chat.completion" and plain.choices[0].message.role == "assistant"
    assert plain.choices[0].finish_reason == "length" and plain.usage.completion_tokens == 8
    assert plain.choices[0].message.content.strip()
    chunks = list(c.chat.completions.create(model=MODEL_ID, messages=messages, max_completion_tokens=8,
                                            temperature=0, stream=True, stream_options={"include_usage": True}))
    assert all(ch.object == "chat.completion.chunk" for ch in chunks)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == plain.choices[0].message.content
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == plain.usage.model_dump()


def test_completion_stop_seed_and_top_k(server):
    url, _ = server
    c = client(url)
    whole = complete(c, "The capital of France is").choices[0].text  # " Paris.\n\nThe United States has"
    stopped = complete(c, "The capital of France is", stop=["\n"])
    assert stopped.choices[0].text == whole.split("\n")[0] and stopped.choices[0].finish_reason == "stop"
    streamed = "".join(ch.choices[0].text for ch in complete(c, "The capital of France is", stop="\n", stream=True))
    assert streamed == stopped.choices[0].text
    sampled = [complete(c, "Once upon a time", temperature=0.9, top_p=0.9, seed=7, extra_body={"top_k": 40})
               .choices[0].text for _ in range(2)]
    assert sampled[0] == sampled[1]
    by_ids = c.completions.create(model=MODEL_ID, prompt=model_on(hal.device("cpu")).tokenizer.encode(
        "The capital of France is"), max_tokens=8, temperature=0)
    assert by_ids.choices[0].text == whole


def test_sixteen_clients_batch_invariance(server):
    """Each request's greedy text beside 15 others equals its text alone and the
    text of Llama.generate's tokens (the single-sequence path)."""
    url, state = server
    c = client(url)
    alone = {p: complete(c, p).choices[0].text for p in PROMPTS[:4]}
    barrier, together = threading.Barrier(len(PROMPTS)), {}

    def one(prompt):
        barrier.wait()
        together[prompt] = complete(c, prompt).choices[0].text

    threads = [threading.Thread(target=one, args=(p,)) for p in PROMPTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {p: together[p] for p in alone} == alone
    model = state.model
    for p in PROMPTS:
        ids = model.generate(model.tokenizer.encode(p), 8).token_ids
        assert together[p] == model.tokenizer.decode(ids), p
    m = wait_idle(url)
    assert m["hal:kv_cache_usage_perc"] == 0 and m["hal:num_requests_running"] == 0


def test_disconnect_frees_the_sequence(server):
    url, _ = server
    before = wait_idle(url)
    with client(url).completions.create(model=MODEL_ID, prompt="Once upon a time", max_tokens=200,
                                        temperature=0, stream=True) as stream:
        for _, chunk in zip(range(3), stream):
            assert chunk.choices[0].text is not None
        assert metrics(url)["hal:kv_cache_usage_perc"] > 0
    after = wait_idle(url)
    assert after["hal:num_requests_running"] == 0 and after["hal:kv_cache_usage_perc"] == 0
    generated = after["hal:generation_tokens_total"] - before["hal:generation_tokens_total"]
    assert 3 <= generated < 200  # stopped when the client left, not at max_tokens
    assert after.get("hal:request_success_total") == before.get("hal:request_success_total")
    with pytest.raises(httpx.ReadTimeout):  # a plain (not streamed) request whose client gives up
        httpx.post(url + "/v1/completions", json={"model": MODEL_ID, "prompt": "Once upon a time", "max_tokens": 200,
                                                  "temperature": 0}, timeout=httpx.Timeout(60, read=0.3))
    last = wait_idle(url)
    assert last["hal:kv_cache_usage_perc"] == 0
    assert last.get("hal:request_success_total") == after.get("hal:request_success_total")


def test_requests_wait_for_kv_blocks():
    """With the KV pools bounded (kv_blocks: here one whole context of 16 blocks), a
    request is admitted only when the blocks it may fill are free: each of these needs
    more than half, so they run one at a time, and each gets its tokens alone."""
    model = model_on(hal.device("cpu"))
    with serving(model, max_sequences=4, kv_blocks=16) as (url, state):
        c, texts, most = client(url), {}, [0]
        done = threading.Event()

        def watch():
            while not done.is_set():
                most[0] = max(most[0], len(state.engine.running))
                time.sleep(0.001)

        def one(prompt):
            texts[prompt] = complete(c, prompt, max_tokens=140).choices[0].text

        threads = [threading.Thread(target=f, args=a) for f, a in [(watch, ()), *((one, (p,)) for p in PROMPTS[:3])]]
        for t in threads:
            t.start()
        for t in threads[1:]:
            t.join()
        done.set()
        assert most[0] == 1
        for p in PROMPTS[:3]:
            assert texts[p] == model.tokenizer.decode(model.generate(model.tokenizer.encode(p), 140).token_ids), p
        assert wait_idle(url)["hal:kv_cache_usage_perc"] == 0
    with pytest.raises(ValueError, match="whole context"):
        KVPool(model, 4, 256, blocks=15)


def test_batched_step_equals_single_sequence_steps(server):
    """Llama.decode_batch's logits, row by row, equal Llama.forward's on each sequence
    alone, bit for bit, at different positions."""
    _, state = server
    model = state.model
    assert model.row_independent and state.engine.decode_together  # Q4_1 and Q8_0: the engine batches SmolLM2
    prompts = [model.tokenizer.encode(p) for p in PROMPTS[:4]]
    alone, together = [model.new_cache(64) for _ in prompts], model.new_caches(len(prompts), 64)
    tokens = []
    for ids, a, t in zip(prompts, alone, together):
        model.forward(ids, t)
        tokens.append(int(np.argmax(np.asarray(model.forward(ids, a)))))
    for _ in range(2):
        batched = np.asarray(model.decode_batch(tokens, together))
        single = np.stack([np.asarray(model.forward([t], cache)) for t, cache in zip(tokens, alone)])
        assert np.array_equal(batched, single)
        tokens = [int(i) for i in single.argmax(axis=1)]
    assert [c.length for c in together] == [c.length for c in alone]


def test_prompts_sharing_a_prefix_read_only_the_rest(server):
    """A prompt that begins as an earlier one reads only the rest (prefix caching), to the
    token rather than the block, with prefixes ending in different chunks, and its tokens
    stay Llama.generate's."""
    url, state = server
    c, model = client(url), state.model
    words = PROMPTS[-1].split()  # several of the test server's chunks (16 tokens)
    complete(c, PROMPTS[-1])
    hits = []
    for k in (3, 9, 15, len(words) - 1):
        prompt = " ".join(words[:k]) + " and then"
        ids = model.generate(model.tokenizer.encode(prompt), 8).token_ids
        before = metrics(url)["hal:prefix_cache_hits_total"]
        assert complete(c, prompt).choices[0].text == model.tokenizer.decode(ids), prompt
        hits.append(metrics(url)["hal:prefix_cache_hits_total"] - before)
    assert all(hits) and any(h % 16 for h in hits), hits  # (blocks of 16 positions)


def test_shared_prefix_blocks_give_the_bits_of_the_whole_prompt(server):
    """A cache sharing the blocks of another's prompt prefix (KVBlocks.new_cache), and
    copying the first rows of the block after them, reads only the rest and gets the
    logits of reading the whole prompt, bit for bit, while the other goes on decoding
    into blocks of its own."""
    model = server[1].model
    ids = model.tokenizer.encode(PROMPTS[-1])
    pool = model.new_pool(64, block_size=4, width=16)
    source = pool.new_cache(64)
    model.forward(ids, source)
    whole = np.asarray(model.forward(ids, model.new_cache(64)))
    for blocks, rows in ((1, 0), (2, 3), (5, 1), (0, 2), ((len(ids) - 2) // 4, 0)):
        part = (source.blocks[blocks], rows) if rows else None
        target = pool.new_cache(64, tuple(source.blocks[:blocks]), part)
        assert target.length == 4 * blocks + rows and pool.used == len(source.blocks) + 16 - blocks
        model.forward([7], source)  # writes past the shared blocks
        assert np.array_equal(np.asarray(model.forward(ids[4 * blocks + rows:], target)), whole), blocks
        pool.release(target)


def test_prefill_batch_equals_forward(server):
    """Llama.prefill_batch: several sequences' prompt chunks in one pass give each the
    logits of reading its chunk alone (Llama.forward), bit for bit, first chunks and later."""
    model = server[1].model
    prompts = [model.tokenizer.encode(p) for p in (PROMPTS[-1], PROMPTS[1], PROMPTS[4])]
    alone, together = [model.new_cache(64) for _ in prompts], model.new_caches(len(prompts), 64)
    for part in (slice(0, 3), slice(3, None)):
        chunks = [ids[part] for ids in prompts]
        batched = np.asarray(model.prefill_batch(chunks, together))
        single = np.stack([np.asarray(model.forward(ids, cache)) for ids, cache in zip(chunks, alone)])
        assert np.array_equal(batched, single)
    assert [c.length for c in together] == [len(ids) for ids in prompts]
    with pytest.raises(ValueError, match="two tokens"):
        model.prefill_batch([[1, 2], [3]], model.new_caches(2, 64))


# ---------------------------------------------------------------- errors

def assert_error(response: httpx.Response, status: int, param=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["param"] == param


def test_bad_input_gets_openai_errors(server):
    url, _ = server
    c = client(url)
    post = lambda path, **kw: httpx.post(url + path, timeout=60, **kw)  # noqa: E731
    assert_error(post("/v1/completions", content=b'{"model": "x", "prompt": '), 400)
    assert_error(post("/v1/chat/completions", content=b"[1, 2]"), 400)
    assert_error(post("/v1/completions", json={"model": MODEL_ID, "prompt": "hi", "max_tokens": "8"}), 400,
                 "max_tokens")
    assert_error(post("/v1/completions", json={"model": MODEL_ID, "prompt": "hi", "stream": "yes"}), 400, "stream")
    assert_error(post("/v1/completions", content=b"x" * (2 << 20)), 413)
    assert_error(httpx.get(url + "/v1/nothing"), 404)
    with pytest.raises(openai.NotFoundError) as e:
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "model_not_found" and e.value.param == "model"
    with pytest.raises(openai.BadRequestError) as e:
        complete(c, "word " * 300)
    assert e.value.code == "context_length_exceeded"
    for bad in ({"max_tokens": 0}, {"max_tokens": -3}, {"temperature": -1}, {"top_p": 0}):
        with pytest.raises(openai.BadRequestError) as e:
            c.completions.create(model=MODEL_ID, prompt="hi", **bad)
        assert e.value.param == next(iter(bad))
    for unsupported in ({"n": 2}, {"logprobs": 2}, {"echo": True}, {"presence_penalty": 0.5}):
        with pytest.raises(openai.BadRequestError) as e:
            c.completions.create(model=MODEL_ID, prompt="hi", **unsupported)
        assert e.value.code == "unsupported_value" and e.value.param == next(iter(unsupported))
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=MODEL_ID, messages=[{"role": "robot", "content": "hi"}])
    assert complete(c, "The capital of France is").choices[0].text  # still serving
    assert wait_idle(url)["hal:kv_cache_usage_perc"] == 0


def test_device_error_fails_only_its_request(server):
    """A step that raises a device error for one sequence fails that request (500)
    while the sequence beside it finishes with its usual tokens."""
    url, state = server
    c = client(url)
    model, marker = state.model, [7777, 7778, 7779]
    reference = complete(c, "Once upon a time", max_tokens=16).choices[0].text

    def faulty(ids, cache, **kw):
        if cache.length == 0 and list(ids[:3]) == marker:
            raise hal.OutOfMemoryError(model.device.name, 1 << 40, "simulated")
        return Llama.forward(model, ids, cache, **kw)

    model.forward = faulty
    try:
        with c.completions.create(model=MODEL_ID, prompt="Once upon a time", max_tokens=16, temperature=0,
                                  stream=True) as stream:
            text = next(iter(stream)).choices[0].text
            with pytest.raises(openai.InternalServerError) as e:
                c.completions.create(model=MODEL_ID, prompt=marker, max_tokens=8)
            assert "simulated" in e.value.message
            text += "".join(chunk.choices[0].text for chunk in stream)
    finally:
        del model.forward
    assert text == reference
    assert wait_idle(url)["hal:kv_cache_usage_perc"] == 0


def test_api_key_queue_bound_and_logs(caplog):
    """One running sequence and no waiting room: a second request gets 503 with
    Retry-After; the API key guards every route but /health; prompts reach the logs
    only with log_requests."""
    model = model_on(hal.device("cpu"))
    caplog.set_level(logging.INFO, logger="hal.serve")
    with serving(model, max_sequences=1, max_waiting=0, api_key="sesame", log_requests=True) as (url, _):
        with pytest.raises(openai.AuthenticationError):
            client(url, api_key="wrong").models.list()
        assert_error(httpx.get(url + "/metrics"), 401)
        assert httpx.get(url + "/health").status_code == 200
        c = client(url, api_key="sesame")
        with c.completions.create(model=MODEL_ID, prompt="A secret prompt about owls", max_tokens=100,
                                  temperature=0, stream=True) as stream:
            next(iter(stream))
            with pytest.raises(openai.APIStatusError) as e:
                complete(c, "too many")
            assert e.value.status_code == 503 and int(e.value.response.headers["Retry-After"]) > 0
        assert wait_idle(url, Authorization="Bearer sesame")["hal:kv_cache_usage_perc"] == 0
        assert complete(c, "The capital of France is").choices[0].text
    assert "secret prompt about owls" in caplog.text


def test_prompts_stay_out_of_logs_and_metrics(server, caplog):
    url, _ = server
    caplog.set_level(logging.DEBUG)
    complete(client(url), "A private prompt about herons")
    assert "herons" not in caplog.text and "herons" not in httpx.get(url + "/metrics").text


def test_metrics_have_vllm_names(server):
    url, _ = server
    before = wait_idle(url)
    result = complete(client(url), "Water boils at")
    text = httpx.get(url + "/metrics").text
    for name in ("time_to_first_token_seconds", "inter_token_latency_seconds", "e2e_request_latency_seconds",
                 "request_queue_time_seconds"):
        assert f"# TYPE hal:{name} histogram" in text
    for name in ("prompt_tokens", "generation_tokens"):
        assert re.search(rf"^# TYPE hal:{name}(_total)? counter$", text, re.M)
    for name in ("num_requests_running", "num_requests_waiting", "kv_cache_usage_perc"):
        assert f"# TYPE hal:{name} gauge" in text
    after = wait_idle(url)
    assert after["hal:prompt_tokens_total"] - before["hal:prompt_tokens_total"] == result.usage.prompt_tokens
    assert after["hal:generation_tokens_total"] - before["hal:generation_tokens_total"] == 8
    assert after["hal:time_to_first_token_seconds_count"] - before["hal:time_to_first_token_seconds_count"] == 1
    assert after["hal:inter_token_latency_seconds_count"] - before["hal:inter_token_latency_seconds_count"] == 7
    assert after["hal:e2e_request_latency_seconds_count"] - before["hal:e2e_request_latency_seconds_count"] == 1


# ---------------------------------------------------------------- the command and the page

def test_model_short_names(monkeypatch):
    """--model takes hal.models' short names (smollm2 by default), a path, and says what
    to install for a model package that is not installed."""
    from hal.serve.cli import model_path
    assert model_path(None) == model_path("smollm2") == hal.models.path("smollm2")
    assert model_path("/models/any.gguf") == "/models/any.gguf"
    monkeypatch.setitem(hal.models.INSTALLED, "absent", ("hal_no_such_package", "a.gguf", "pip install absent"))
    with pytest.raises(SystemExit, match="pip install absent"):
        model_path("absent")


def test_command_prints_url_and_stops_cleanly_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "hal", "serve", "--device", "cpu", "--port", "0",
                             "--model", "smollm2", "--context", "256", "--max-sequences", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        assert url, line + proc.stderr.read()
        with client(url[1]).completions.create(model=MODEL_ID, prompt="Once upon a time", max_tokens=24,
                                               temperature=0, stream=True) as stream:
            first = next(iter(stream))
            proc.send_signal(signal.SIGTERM)  # the request in flight still finishes
            chunks = [first, *stream]
        assert chunks[-1].choices[0].finish_reason == "length"
        assert proc.wait(60) == 0
        assert "stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def chromium():
    """Debian's chromium and chromium-driver (tools/install-browser.sh), else None."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.mark.skipif(chromium() is None, reason="needs Debian's chromium and chromium-driver: "
                                               "sh tools/install-browser.sh")
def test_chat_page_in_headless_chromium():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    browser, driver_path = chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    with serving(model_on(hal.device("cpu")), max_sequences=2) as (url, _):
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
        try:
            driver.get(url + "/")
            driver.find_element(By.ID, "prompt").send_keys("Name the capital of France.")
            driver.find_element(By.ID, "send").click()
            WebDriverWait(driver, 90).until(lambda d: "tok/s" in d.find_element(By.CSS_SELECTOR, ".stats").text
                                            or d.find_elements(By.CSS_SELECTOR, ".error"))
            assert not driver.find_elements(By.CSS_SELECTOR, ".error"), driver.find_element(By.CSS_SELECTOR,
                                                                                             ".error").text
            assert driver.find_element(By.CSS_SELECTOR, ".answer").text.strip()
            assert re.search(r"TTFT \d+ ms", driver.find_element(By.CSS_SELECTOR, ".stats").text)
        finally:
            driver.quit()
