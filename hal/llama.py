"""A llama-architecture language model (SmolLM2, TinyLlama, Llama 2/3 shapes) from a
GGUF file, on any hal device, with its weights kept quantized on the device.

    model = hal.llama.Llama.load(path, "opencl:0")
    result = model.generate(model.tokenizer.encode("The capital of France is"), 16)

The forward pass is llama.cpp's LLM_ARCH_LLAMA graph: token embedding; per block
rms_norm, q/k/v projections, rope ("normal" mode: the GGUF converter permutes q and k
for it), grouped-query causal attention over a KV cache, the output projection and a
residual, rms_norm and the SiLU-gated MLP and a residual; a final rms_norm and the
output projection (the token embedding when the file has no ``output.weight``).

Decoding replays a captured step (``DecodeStep``, hal/program.py) where the device can
capture: one C call per token on the cpu, bare enqueues on OpenCL.
"""
import time
from dataclasses import dataclass, field

import numpy as np

import hal
from hal import nn

from . import gguf
from .gguf import GGUFError
from .tokenizer import Tokenizer

BLOCK_TENSORS = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                 "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")


@dataclass(frozen=True)
class Config:
    n_layers: int
    dim: int
    n_heads: int
    n_kv_heads: int
    ffn_dim: int
    vocab_size: int
    context_length: int
    rope_theta: float
    eps: float

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @classmethod
    def from_gguf(cls, file: gguf.GGUFFile) -> "Config":
        """The hyper-parameters from the ``{arch}.*`` metadata fields."""
        arch = file.field("general.architecture")
        if arch != "llama":
            raise GGUFError(f"{file.path}: general.architecture is '{arch}'; hal runs 'llama' models")
        n_heads = int(file.field("llama.attention.head_count"))
        dim = int(file.field("llama.embedding_length"))
        vocab = file.field("llama.vocab_size", None) or len(file.field("tokenizer.ggml.tokens"))
        config = cls(n_layers=int(file.field("llama.block_count")), dim=dim, n_heads=n_heads,
                     n_kv_heads=int(file.field("llama.attention.head_count_kv", n_heads)),
                     ffn_dim=int(file.field("llama.feed_forward_length")), vocab_size=int(vocab),
                     context_length=int(file.field("llama.context_length", 2048)),
                     rope_theta=float(file.field("llama.rope.freq_base", 10000.0)),
                     eps=float(file.field("llama.attention.layer_norm_rms_epsilon", 1e-5)))
        if n_heads <= 0 or dim % n_heads or config.n_kv_heads <= 0 or n_heads % config.n_kv_heads:
            raise GGUFError(f"{file.path}: llama.attention.head_count {n_heads} and head_count_kv "
                            f"{config.n_kv_heads} do not divide llama.embedding_length {dim}")
        rope_dim = file.field("llama.rope.dimension_count", config.head_dim)
        if rope_dim != config.head_dim:
            raise GGUFError(f"{file.path}: llama.rope.dimension_count is {rope_dim}; hal rotates whole "
                            f"heads of {config.head_dim}")
        if "rope_freqs.weight" in file.tensors or file.field("llama.rope.scaling.type", "none") not in ("none",):
            raise GGUFError(f"{file.path}: rope scaling (llama.rope.scaling.*, rope_freqs.weight) is not supported")
        return config

    def shapes(self) -> dict:
        """Every tensor's expected (rows, cols) or (n,), by its GGUF name."""
        kv = self.n_kv_heads * self.head_dim
        block = {"attn_norm": (self.dim,), "attn_q": (self.dim, self.dim), "attn_k": (kv, self.dim),
                 "attn_v": (kv, self.dim), "attn_output": (self.dim, self.dim), "ffn_norm": (self.dim,),
                 "ffn_gate": (self.ffn_dim, self.dim), "ffn_up": (self.ffn_dim, self.dim),
                 "ffn_down": (self.dim, self.ffn_dim)}
        shapes = {"token_embd.weight": (self.vocab_size, self.dim), "output_norm.weight": (self.dim,),
                  "output.weight": (self.vocab_size, self.dim)}
        for i in range(self.n_layers):
            shapes.update({f"blk.{i}.{name}.weight": shape for name, shape in block.items()})
        return shapes


@dataclass
class DecodeStep:
    """A decode step of ``rows`` sequences captured on its device (``Device.capture``):
    the recorded launches read the token ids, positions and cache slots from ``inputs``
    and write ``logits``, so a step is one small store and a replay, for any sequences of
    the pool it was captured on."""
    graph: object
    plan: nn.Plan
    inputs: hal.Array  # int64 (3 * rows,): token ids, positions, slots
    logits: hal.Array  # (rows, vocab)

    def __call__(self, host: np.ndarray) -> hal.Array:
        self.plan.write(self.inputs, host)
        self.graph.replay()
        return self.plan.copy(self.logits)  # the next replay overwrites them


@dataclass
class KVCache:
    """One sequence's keys and values: cache ``slot`` of the per-block pools ``keys`` and
    ``values`` (slots, capacity, n_kv_heads, head_dim) of float16 bits
    (``hal.nn.to_half``), which the other caches of its pool share (``Llama.new_caches``);
    ``length`` positions are valid. ``steps`` (shared too) holds the decode steps
    captured over the pool, by their number of sequences."""
    keys: list
    values: list
    slot: int = 0
    length: int = 0
    steps: dict = field(default_factory=dict, repr=False)

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[1]


@dataclass
class Generation:
    prompt_ids: list
    token_ids: list = field(default_factory=list)
    prefill_s: float = 0.0
    decode_s: float = 0.0

    @property
    def prefill_tok_s(self) -> float:
        return len(self.prompt_ids) / self.prefill_s if self.prefill_s else 0.0

    @property
    def decode_tok_s(self) -> float:
        """Tokens after the first (which the prefill produces) per second of decoding."""
        steps = len(self.token_ids) - 1
        return steps / self.decode_s if steps > 0 and self.decode_s else 0.0


class Llama:
    def __init__(self, config: Config, weights: dict, tokenizer: Tokenizer, device, name: str = ""):
        self.config, self.weights, self.tokenizer = config, weights, tokenizer
        self.device, self.name = hal.device(device), name
        self.output = weights.get("output.weight", weights["token_embd.weight"])
        self._plan = nn.Plan.of(self.device)  # load() checked every shape: the ops run unchecked
        self._warm = set()  # batch sizes whose plain decode step has run: its kernels are compiled and tuned
        self._spare = None  # generate's last cache, with its captured step: the next reuses it

    @classmethod
    def load(cls, source, device, progress=None) -> "Llama":
        """The model in ``source`` (a GGUF path, or a file ``hal.gguf.read`` returned) on
        ``device``; ``progress(nbytes)`` is called after each tensor reaches the device."""
        file = source if isinstance(source, gguf.GGUFFile) else gguf.read(source)
        device = hal.device(device)
        config = Config.from_gguf(file)
        tokenizer = Tokenizer(file.metadata)
        if tokenizer.vocab_size != config.vocab_size:
            raise GGUFError(f"{file.path}: tokenizer.ggml.tokens has {tokenizer.vocab_size} tokens but "
                            f"llama.vocab_size is {config.vocab_size}")
        weights = {}
        for name, shape in config.shapes().items():
            if name == "output.weight" and name not in file.tensors:
                continue  # tied: the output projection is the token embedding
            tensor = file.tensor(name)
            if tensor.shape != shape:
                raise GGUFError(f"{file.path}: tensor '{name}' has shape {tensor.shape}, expected {shape}")
            weights[name] = gguf.load_tensor(tensor, device)
            if progress is not None:
                progress(tensor.nbytes)
        return cls(config, weights, tokenizer, device, file.metadata.get("general.name", file.path))

    @property
    def bytes_per_token(self) -> int:
        """Weight bytes one decode step reads: every matrix but the embedding (one row),
        and the output projection (which is the embedding when tied)."""
        matrices = [w for n, w in self.weights.items() if isinstance(w, nn.QuantizedWeight) and n != "token_embd.weight"]
        return sum(w.nbytes for w in matrices) + (0 if "output.weight" in self.weights else self.output.nbytes)

    def new_cache(self, capacity: int) -> KVCache:
        """An empty KV cache of ``capacity`` positions."""
        return self.new_caches(1, capacity)[0]

    def new_caches(self, count: int, capacity: int) -> list:
        """``count`` empty KV caches of ``capacity`` positions in one pool per block, so
        that ``decode_batch`` steps any of them together (and replays its captured steps
        for any of them)."""
        c = self.config
        if not 0 < capacity <= c.context_length or count <= 0:
            raise ValueError(f"{count} KV caches of {capacity} positions; the model's context is {c.context_length}")
        shape = (count, capacity, c.n_kv_heads, c.head_dim)  # float16 bits, as llama.cpp's cache
        zeros = lambda: hal.zeros(shape, dtype=hal.uint16, device=self.device)  # noqa: E731
        keys, values, steps = [zeros() for _ in range(c.n_layers)], [zeros() for _ in range(c.n_layers)], {}
        return [KVCache(keys, values, slot, steps=steps) for slot in range(count)]

    def forward(self, ids, cache: KVCache, *, all_logits: bool = False):
        """Logits (vocab,) after the tokens ``ids`` (or (len(ids), vocab) with
        ``all_logits``), which follow the ``cache.length`` tokens already in ``cache``."""
        c, n_past, seq = self.config, cache.length, len(ids)
        if n_past + seq > cache.capacity:
            raise ValueError(f"{n_past} cached + {seq} new tokens exceed the KV cache's {cache.capacity}")
        if seq == 1 and not all_logits:
            return hal.reshape(self.decode_batch([int(ids[0])], [cache]), (c.vocab_size,))
        host = np.concatenate([np.asarray(ids, np.int64), np.arange(n_past, n_past + seq), np.full(seq, cache.slot)])
        logits = self._logits(*self._split(hal.asarray(host, device=self.device), seq), [cache], n_past, all_logits)
        cache.length = n_past + seq
        return logits if all_logits else hal.reshape(logits, (c.vocab_size,))

    def decode_batch(self, tokens: list, caches: list) -> hal.Array:
        """The next-token logits (B, vocab) of B sequences at once, ``tokens[s]`` following
        ``caches[s]``'s sequence (each cache grows by one position; the caches are of one
        pool: ``new_caches``). The products take all B rows together, so the weights are
        read once per step, not once per sequence, and each block's rope, cache writes and
        attention are one launch for all B. Where every weight is ``row_independent``, row
        s equals ``forward([tokens[s]], caches[s])`` bit for bit.

        The step is replayed where the device captured one of B sequences over this pool
        (captured once a plain step of B has compiled and tuned its kernels)."""
        b, pool = len(tokens), caches[0].steps
        if any(cache.steps is not pool for cache in caches) or len({cache.slot for cache in caches}) != b:
            raise ValueError("decode_batch needs distinct caches of one pool (Llama.new_caches)")
        if any(cache.length >= cache.capacity for cache in caches):
            raise ValueError("a KV cache of the batch is full")
        host = np.array([*tokens, *(c.length for c in caches), *(c.slot for c in caches)], np.int64)
        step = pool.get(b)
        if step is not None:
            logits = step(host)
        else:
            inputs = hal.asarray(host, device=self.device)
            if self.device.capture is None or b not in self._warm:
                self._warm.add(b)
                logits = self._logits(*self._split(inputs, b), caches, None, all_logits=True)
            else:
                with self.device.capture() as graph:
                    logits = self._logits(*self._split(inputs, b), caches, None, all_logits=True)
                pool[b] = DecodeStep(graph, self._plan, inputs, logits)
                logits = self._plan.copy(logits)
        for cache in caches:
            cache.length += 1
        return logits

    def _split(self, inputs: hal.Array, rows: int) -> tuple:
        """The token ids, positions and cache slots in ``inputs`` (``rows`` each, one after
        another: one transfer), as views."""
        return tuple(self._plan.rows(inputs, i * rows, (i + 1) * rows) for i in range(3))

    @property
    def row_independent(self) -> bool:
        """Whether every product gives each row the same bits at any number of rows, so
        that ``decode_batch`` is batch-invariant (Q4_0, Q4_1, Q8_0 weights: hal.nn)."""
        return all(w.row_independent for w in self.weights.values() if isinstance(w, nn.QuantizedWeight))

    def _logits(self, tokens, positions, slots, caches: list, n_past, all_logits: bool = False):
        """The forward pass: logits (seq, vocab), or (1, vocab) of the last token."""
        c, k, seq = self.config, self._plan, tokens.shape[0]
        x, delta = k.embedding(self.weights["token_embd.weight"], tokens), None
        for i in range(c.n_layers):
            x, delta = self._block(i, x, delta, positions, slots, caches, n_past)
        if not all_logits:
            x, delta = k.rows(x, seq - 1, seq), delta if delta is None else k.rows(delta, seq - 1, seq)
        return k.linear(k.norm(x, delta, self.weights["output_norm.weight"], c.eps), self.output)[0]

    def _block(self, i: int, x, delta, positions, slots, caches: list, n_past):
        """One transformer block of hal.nn ops (``Plan``: ``load`` checked every shape
        once). Each residual is added by the norm after it (``delta``: the block's output
        still to add to ``x``). The rows of ``x`` are the next positions of ``caches[0]``
        (``n_past`` of them cached), or with ``n_past`` None one row per cache."""
        c, k = self.config, self._plan
        w = {name: self.weights[f"blk.{i}.{name}.weight"] for name in BLOCK_TENSORS}
        q, key, value = k.linear(k.norm(x, delta, w["attn_norm"], c.eps), w["attn_q"], w["attn_k"], w["attn_v"])
        attended = self._attend(i, q, key, value, positions, slots, caches, n_past)
        h = k.norm(x, k.linear(attended, w["attn_output"])[0], w["ffn_norm"], c.eps)
        gate, up = k.linear(h, w["ffn_gate"], w["ffn_up"])
        return x, k.linear(k.silu_mul(gate, up), w["ffn_down"])[0]

    def _attend(self, i: int, q, key, value, positions, slots, caches: list, n_past):
        """Rope of q and k, k and v into the float16 caches, and attention: (rows, dim).
        Row s is at ``positions[s]`` of cache ``slots[s]`` (device arrays)."""
        c, k, seq = self.config, self._plan, q.shape[0]
        heads, kv_heads, scale = (c.n_heads, c.head_dim), (c.n_kv_heads, c.head_dim), c.head_dim ** -0.5
        keys, values = caches[0].keys[i], caches[0].values[i]  # the pools
        q = k.rope_store(k.reshape(q, (seq, *heads)), k.reshape(key, (seq, *kv_heads)),
                         k.reshape(value, (seq, *kv_heads)), keys, values, positions, slots, c.rope_theta)
        if n_past is None or seq == 1:  # one row per sequence, positions read on the device
            return k.reshape(k.attention_step(q, keys, values, positions, slots, scale), (seq, c.dim))
        # a prefill: seq positions of one sequence, over its cache's first n_past + seq rows
        own = [k.rows(k.reshape(k.rows(pool, caches[0].slot, caches[0].slot + 1), pool.shape[1:]), 0, n_past + seq)
               for pool in (keys, values)]
        return k.reshape(k.attention(q, *own, n_past, scale), (seq, c.dim))

    def generate(self, prompt_ids, n: int, *, temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0,
                 seed=None, on_token=None, stop_at_eos: bool = True) -> Generation:
        """Up to ``n`` tokens after ``prompt_ids``: greedy when ``temperature`` is 0,
        else sampled (seeded: the same ``seed`` gives the same tokens on every device).
        ``on_token(id)`` is called as each token is chosen; an end-of-sequence token
        stops generation (and is not returned) unless ``stop_at_eos`` is False."""
        prompt_ids = list(prompt_ids)
        if not prompt_ids:
            raise ValueError("generate needs at least one prompt token")
        result = Generation(prompt_ids)
        if n <= 0:
            return result
        cache = self._take_cache(len(prompt_ids) + n)
        sampler = nn.Sampler(seed, temperature=temperature, top_k=top_k, top_p=top_p)
        try:
            start = time.perf_counter()
            token = sampler(self.forward(prompt_ids, cache))  # reading the id back waits for the device
            result.prefill_s = time.perf_counter() - start
            start = time.perf_counter()
            while not (stop_at_eos and token in self.tokenizer.stop_ids):
                result.token_ids.append(token)
                if on_token is not None:
                    on_token(token)
                if len(result.token_ids) == n or cache.length == cache.capacity:
                    break
                token = sampler(self.forward([token], cache))
            result.decode_s = time.perf_counter() - start
        finally:
            self._spare = cache
        return result

    def _take_cache(self, positions: int) -> KVCache:
        """An empty cache for ``positions``: generate's previous one where it is large
        enough (keeping its captured step: a capture costs ~200 ms on OpenCL), else a new
        one of a whole number of 256 positions. Taken, so a concurrent call makes its own."""
        cache, self._spare = self._spare, None
        context = self.config.context_length
        if cache is None or cache.capacity < min(positions, context):
            cache = self.new_cache(min(-(-positions // 256) * 256, context))
        cache.length = 0  # (positions past length are never read, and rewritten before they are)
        return cache
