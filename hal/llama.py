"""Decoder-only language models from GGUF files (llama, Gemma 3, ...), on any hal
device, with their weights kept quantized on the device.

    model = hal.llama.Llama.load(path, "opencl:0")
    result = model.generate(model.tokenizer.encode("The capital of France is"), 16)

One forward pass serves every family: llama.cpp's LLM_ARCH_LLAMA graph (token
embedding; per block rms_norm, q/k/v projections, rope, grouped-query causal attention
over a float16 KV cache, the output projection and a residual, rms_norm, the gated MLP
and a residual; a final rms_norm and the output projection, the token embedding when
the file has no ``output.weight``), with what a family does differently stated once as
data in ``ARCHITECTURES`` (an ``Architecture``): per-head q/k norms, norms after
attention and after the MLP, q/k/v biases, the MLP's activation, the rope mode, the
embedding scale, sliding-window attention on some layers with their own rope base.
Each entry follows llama.cpp's graph for that architecture (src/models/*.cpp).

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
from .kvcache import KVBlocks, KVCache
from .tokenizer import Tokenizer

BLOCK_TENSORS = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                 "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")


@dataclass(frozen=True)
class Architecture:
    """What a model family's forward pass does beyond llama's, as llama.cpp's graph for
    ``general.architecture`` == ``name`` does it."""
    name: str
    neox_rope: bool = False        # rope pairs (i, i + head_dim / 2), ggml's NeoX mode
    qk_norm: bool = False          # rms_norm of each head of q and k before rope (attn_q_norm, attn_k_norm)
    post_norms: bool = False       # rms_norm of the attention's and the MLP's output before each residual
    qkv_bias: bool = False         # q, k and v projections have biases
    activation: str = "silu"       # the gated MLP's: "silu" (SwiGLU) or "gelu" (GELU(tanh), GeGLU)
    embedding_scale: bool = False  # token embeddings times sqrt(dim)
    scale_q: bool = False          # q times the attention scale before attention (not the scores after)
    swa_period: int = 0            # sliding-window layers: all but every swa_period-th (0: none)
    swa_rope_base: float = 10000.0  # those layers' rope base unless {arch}.rope.freq_base_swa says
    fused_qkv: bool = False        # the file's attn_qkv holds q, k and v (split into them as it loads)
    fused_gate_up: bool = False    # the file's ffn_up holds gate then up (split as it loads)

    def block_tensors(self) -> tuple:
        """The tensors of a block, by their GGUF names after ``blk.{i}.``."""
        names = [f"{n}.weight" for n in BLOCK_TENSORS]
        if self.qk_norm:
            names += ["attn_q_norm.weight", "attn_k_norm.weight"]
        if self.post_norms:
            names += ["post_attention_norm.weight", "post_ffw_norm.weight"]
        if self.qkv_bias:
            names += ["attn_q.bias", "attn_k.bias", "attn_v.bias"]
        return tuple(names)


ARCHITECTURES = {a.name: a for a in (
    Architecture("llama"),
    # src/models/gemma3.cpp: sliding windows on 5 layers of 6 (rope base 10000 there),
    # q scaled by 1/sqrt(head_dim) before attention, GeGLU, norms after attention and MLP.
    Architecture("gemma3", neox_rope=True, qk_norm=True, post_norms=True, activation="gelu",
                 embedding_scale=True, scale_q=True, swa_period=6),
    Architecture("qwen2", neox_rope=True, qkv_bias=True),  # src/models/qwen2.cpp
    Architecture("qwen3", neox_rope=True, qk_norm=True),   # src/models/qwen3.cpp
    Architecture("phi3", neox_rope=True, scale_q=True, fused_qkv=True, fused_gate_up=True),  # src/models/phi3.cpp
)}


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
    key_length: int = 0            # head_dim where it is not dim / n_heads (Gemma 3: 256 for 640 / 4)
    arch: Architecture = ARCHITECTURES["llama"]
    windows: tuple = ()            # per layer: its sliding window (0: the whole context)
    rope_thetas: tuple = ()        # per layer: its rope base

    @property
    def head_dim(self) -> int:
        return self.key_length or self.dim // self.n_heads

    @property
    def q_dim(self) -> int:
        return self.n_heads * self.head_dim

    def window(self, layer: int) -> int:
        return self.windows[layer] if self.windows else 0

    def theta(self, layer: int) -> float:
        return self.rope_thetas[layer] if self.rope_thetas else self.rope_theta

    @classmethod
    def from_gguf(cls, file: gguf.GGUFFile) -> "Config":
        """The hyper-parameters from the ``{arch}.*`` metadata fields."""
        name = file.field("general.architecture")
        if name not in ARCHITECTURES:
            raise GGUFError(f"{file.path}: general.architecture is '{name}'; hal runs "
                            f"{', '.join(repr(a) for a in ARCHITECTURES)} models")
        arch = ARCHITECTURES[name]
        key = lambda k, default=KeyError: file.field(f"{name}.{k}", default)  # noqa: E731  (KeyError: required)
        n_heads, dim = int(key("attention.head_count")), int(key("embedding_length"))
        vocab = key("vocab_size", None) or len(file.field("tokenizer.ggml.tokens"))
        n_layers = int(key("block_count"))
        if n_heads <= 0 or dim <= 0:
            raise GGUFError(f"{file.path}: {name}.attention.head_count {n_heads} and {name}.embedding_length "
                            f"{dim} must be positive")
        head_dim = int(key("attention.key_length", dim // n_heads))
        if head_dim <= 0 or int(key("attention.value_length", head_dim)) != head_dim:
            raise GGUFError(f"{file.path}: {name}.attention.key_length and value_length must be one positive size")
        config = cls(n_layers=n_layers, dim=dim, n_heads=n_heads,
                     n_kv_heads=int(key("attention.head_count_kv", n_heads)),
                     ffn_dim=int(key("feed_forward_length")), vocab_size=int(vocab),
                     context_length=int(key("context_length", 2048)),
                     rope_theta=float(key("rope.freq_base", 10000.0)),
                     eps=float(key("attention.layer_norm_rms_epsilon", 1e-5)),
                     key_length=head_dim if head_dim != dim // n_heads else 0, arch=arch,
                     **_sliding_windows(file, arch, n_layers))
        if (config.n_kv_heads <= 0 or n_heads % config.n_kv_heads
                or (not config.key_length and dim % n_heads)):
            raise GGUFError(f"{file.path}: {name}.attention.head_count {n_heads} and head_count_kv "
                            f"{config.n_kv_heads} do not divide {name}.embedding_length {dim}")
        rope_dim = key("rope.dimension_count", config.head_dim)
        if rope_dim != config.head_dim:
            raise GGUFError(f"{file.path}: {name}.rope.dimension_count is {rope_dim}; hal rotates whole "
                            f"heads of {config.head_dim}")
        if "rope_freqs.weight" in file.tensors or key("rope.scaling.type", "none") not in ("none",):
            raise GGUFError(f"{file.path}: rope scaling ({name}.rope.scaling.*, rope_freqs.weight) is not supported")
        if key("final_logit_softcapping", 0.0):
            raise GGUFError(f"{file.path}: {name}.final_logit_softcapping is not supported")
        return config

    @property
    def attention_scale(self) -> float:
        """The scale of q . k: 1 / sqrt(head_dim) (llama.cpp's Gemma 3 27B takes dim / heads)."""
        size = self.dim // self.n_heads if self.arch.name == "gemma3" and self.n_layers == 62 else self.head_dim
        return float(np.float32(1.0) / np.sqrt(np.float32(size)))

    def shapes(self) -> dict:
        """Every tensor's expected (rows, cols) or (n,), by its GGUF name."""
        kv = self.n_kv_heads * self.head_dim
        block = {"attn_norm.weight": (self.dim,), "attn_q.weight": (self.q_dim, self.dim),
                 "attn_k.weight": (kv, self.dim), "attn_v.weight": (kv, self.dim),
                 "attn_output.weight": (self.dim, self.q_dim), "ffn_norm.weight": (self.dim,),
                 "ffn_gate.weight": (self.ffn_dim, self.dim), "ffn_up.weight": (self.ffn_dim, self.dim),
                 "ffn_down.weight": (self.dim, self.ffn_dim),
                 "attn_q_norm.weight": (self.head_dim,), "attn_k_norm.weight": (self.head_dim,),
                 "post_attention_norm.weight": (self.dim,), "post_ffw_norm.weight": (self.dim,),
                 "attn_q.bias": (self.q_dim,), "attn_k.bias": (kv,), "attn_v.bias": (kv,)}
        shapes = {"token_embd.weight": (self.vocab_size, self.dim), "output_norm.weight": (self.dim,),
                  "output.weight": (self.vocab_size, self.dim)}
        for i in range(self.n_layers):
            shapes.update({f"blk.{i}.{name}": block[name] for name in self.arch.block_tensors()})
        for fused, parts in self.fused().items():
            for part, _ in parts:
                del shapes[part]
            shapes[fused] = (sum(rows for _, rows in parts), self.dim)
        return shapes

    def fused(self) -> dict:
        """The file's fused matrices, each as the parts its rows hold, in order:
        {fused name: [(part name, rows), ...]} (Phi-3's attn_qkv and ffn_up)."""
        kv, parts = self.n_kv_heads * self.head_dim, {}
        for i in range(self.n_layers):
            if self.arch.fused_qkv:
                parts[f"blk.{i}.attn_qkv.weight"] = [(f"blk.{i}.attn_q.weight", self.q_dim),
                                                     (f"blk.{i}.attn_k.weight", kv), (f"blk.{i}.attn_v.weight", kv)]
            if self.arch.fused_gate_up:
                parts[f"blk.{i}.ffn_up.weight"] = [(f"blk.{i}.ffn_gate.weight", self.ffn_dim),
                                                   (f"blk.{i}.ffn_up.weight", self.ffn_dim)]
        return parts


def _split_rows(tensor: gguf.Tensor, parts: list) -> list:
    """A fused matrix as its parts [(name, rows), ...]: whole rows of blocks, so each
    part's products are the fused product's columns, bit for bit."""
    row_bytes, start, out = tensor.nbytes // tensor.shape[0], 0, []
    for name, rows in parts:
        out.append(gguf.Tensor(name, tensor.ggml_type, (rows, tensor.shape[1]),
                               tensor.raw[start * row_bytes:(start + rows) * row_bytes]))
        start += rows
    return out


def _sliding_windows(file: gguf.GGUFFile, arch: Architecture, n_layers: int) -> dict:
    """Config's ``windows`` and ``rope_thetas`` for a family with sliding-window layers:
    ``{arch}.attention.sliding_window`` positions on the layers that
    ``sliding_window_pattern`` (a period, or a flag per layer) marks, which turn q and k
    with ``rope.freq_base_swa`` (llama.cpp's llama_hparams::set_swa_pattern)."""
    window = int(file.field(f"{arch.name}.attention.sliding_window", 0) or 0)
    if not arch.swa_period or window <= 0:
        return {}
    pattern = file.field(f"{arch.name}.attention.sliding_window_pattern", arch.swa_period)
    if isinstance(pattern, list):
        sliding = [bool(p) for p in pattern][:n_layers]
        if len(sliding) != n_layers:
            raise GGUFError(f"{file.path}: {arch.name}.attention.sliding_window_pattern has {len(pattern)} "
                            f"flags for {n_layers} layers")
    else:
        period = int(pattern)
        sliding = [period == 0 or i % period < period - 1 for i in range(n_layers)]
    base = float(file.field(f"{arch.name}.rope.freq_base", 10000.0))
    swa_base = float(file.field(f"{arch.name}.rope.freq_base_swa", arch.swa_rope_base))
    return {"windows": tuple(window if s else 0 for s in sliding),
            "rope_thetas": tuple(swa_base if s else base for s in sliding)}


@dataclass
class DecodeStep:
    """A decode step of ``rows`` sequences captured on its device (``Device.capture``),
    or one device's part of it (hal.placement): the recorded launches read the token ids,
    positions, cache rows to write and block tables (and on a split model's later devices
    the incoming x and delta) from ``inputs`` and write ``outputs``, so a step is a few
    small stores and a replay, for any sequences of the pools it was captured on."""
    graph: object
    plan: nn.Plan
    inputs: list    # arrays the graph reads: int64 (rows * (3 + width),), step_inputs'; then x, delta
    outputs: tuple  # (logits (rows, vocab),), or (x, delta) for the next device; replays overwrite them

    def __call__(self, host_inputs: list) -> tuple:
        for array, host in zip(self.inputs, host_inputs):
            self.plan.write(array, host)
        self.graph.replay()
        return self.outputs


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


def read_weights(source, device_of, progress=None) -> tuple:
    """(file, config, tokenizer, weights) of the GGUF ``source``, each tensor checked and
    loaded on ``device_of(its name)``; ``progress(nbytes)`` after each tensor."""
    file = source if isinstance(source, gguf.GGUFFile) else gguf.read(source)
    config = Config.from_gguf(file)
    tokenizer = Tokenizer(file.metadata)
    if tokenizer.vocab_size != config.vocab_size:
        raise GGUFError(f"{file.path}: tokenizer.ggml.tokens has {tokenizer.vocab_size} tokens but "
                        f"{config.arch.name}.vocab_size is {config.vocab_size}")
    weights, fused = {}, config.fused()
    for name, shape in config.shapes().items():
        if name == "output.weight" and name not in file.tensors:
            continue  # tied: the output projection is the token embedding
        tensor = file.tensor(name)
        if tensor.shape != shape:
            raise GGUFError(f"{file.path}: tensor '{name}' has shape {tensor.shape}, expected {shape}")
        for part in _split_rows(tensor, fused[name]) if name in fused else [tensor]:
            weights[part.name] = gguf.load_tensor(part, device_of(part.name))
        if progress is not None:
            progress(tensor.nbytes)
    return file, config, tokenizer, weights


def _one_pool(caches: list, what: str, inputs: list) -> KVBlocks:
    """The one pool of ``caches``, one for each of ``inputs`` (a sequence's tokens)."""
    if not caches or len(inputs) != len(caches):
        raise ValueError(f"{what} needs one or more sequences, as many inputs as caches: got "
                         f"{len(inputs)} and {len(caches)}")
    pool = caches[0].pool
    if any(cache.pool is not pool for cache in caches) or len({id(cache) for cache in caches}) != len(caches):
        raise ValueError(f"{what} needs distinct caches of one pool (Llama.new_pool)")
    return pool


def _token_ids(ids, what: str) -> None:
    """Refuse what is not one or more integer token ids (a float id would be truncated
    silently); ids out of the vocabulary are the embedding's IndexError."""
    if len(ids) == 0:
        raise ValueError(f"{what}: no token ids to read")
    if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in ids):
        raise TypeError(f"{what}: token ids must be integers, got {sorted({type(i).__name__ for i in ids})}")


def step_inputs(tokens: list, caches: list) -> np.ndarray:
    """A decode step's inputs, checked: the sequences' token ids, positions, the rows of
    the pools their keys and values go to, and their block tables, one after another
    (int64)."""
    _one_pool(caches, "decode_batch", tokens)
    _token_ids(tokens, "decode_batch")
    if any(cache.length >= cache.capacity for cache in caches):
        raise ValueError("a KV cache of the batch is full")
    rows = [cache.rows(cache.length, cache.length + 1) for cache in caches]
    return np.concatenate([tokens, [c.length for c in caches], *rows, *(c.table() for c in caches)]).astype(np.int64)


class Llama:
    def __init__(self, config: Config, weights: dict, tokenizer: Tokenizer, device, name: str = ""):
        self.config, self.weights, self.tokenizer = config, weights, tokenizer
        self.device, self.name = hal.device(device), name
        self.output = weights.get("output.weight", weights["token_embd.weight"])
        self._blocks = [{name: weights[f"blk.{i}.{name}"] for name in config.arch.block_tensors()}
                        for i in range(config.n_layers)]
        self._plan = nn.Plan.of(self.device)  # load() checked every shape: the ops run unchecked
        self._warm = set()  # batch sizes whose plain decode step has run: its kernels are compiled and tuned
        self._spare = None  # generate's last cache, with its captured step: the next reuses it

    @classmethod
    def load(cls, source, device=None, progress=None, *, devices=None, split=None) -> "Llama":
        """The model in ``source`` (a GGUF path, or a file ``hal.gguf.read`` returned) on
        ``device``; ``progress(nbytes)`` is called after each tensor reaches the device.
        With ``devices`` (and a ``split`` ratio, or "measure": by each device's speed)
        instead, its layers in contiguous groups over several devices (hal.placement)."""
        if devices is not None:
            from .placement import load_split
            return load_split(source, device, devices, split, progress)
        if device is None:
            raise TypeError("Llama.load needs a device (or devices)")
        device = hal.device(device)
        file, config, tokenizer, weights = read_weights(source, lambda name: device, progress)
        return cls(config, weights, tokenizer, device, file.metadata.get("general.name", file.path))

    @property
    def bytes_per_token(self) -> int:
        """Weight bytes one decode step reads: every matrix but the embedding (one row),
        and the output projection (which is the embedding when tied)."""
        matrices = [w for n, w in self.weights.items() if isinstance(w, nn.QuantizedWeight) and n != "token_embd.weight"]
        return sum(w.nbytes for w in matrices) + (0 if "output.weight" in self.weights else self.output.nbytes)

    def new_pool(self, count: int, block_size: int = 16, width: int | None = None) -> KVBlocks:
        """Empty KV pools of ``count`` blocks of ``block_size`` positions, one per layer
        for the keys and one for the values, on the layer's device; a sequence holds up to
        ``width`` blocks (default: the model's context)."""
        c = self.config
        width = -(-c.context_length // block_size) if width is None else width
        if count <= 0 or block_size <= 0 or not 0 < width * block_size < c.context_length + block_size:
            raise ValueError(f"KV pools of {count} blocks of {block_size} positions, {width} blocks a sequence: "
                             f"counts > 0 and up to the model's context of {c.context_length} needed")
        shape = (count, block_size, c.n_kv_heads, c.head_dim)  # float16 bits, as llama.cpp's cache
        pools = [[hal.zeros(shape, dtype=hal.uint16, device=d) for d in self.layer_devices()] for _ in "kv"]
        return KVBlocks(*pools, width)

    def layer_devices(self) -> list:
        """Each layer's device."""
        return [self.device] * self.config.n_layers

    def new_cache(self, capacity: int) -> KVCache:
        """An empty KV cache of ``capacity`` positions (in pools of its own)."""
        return self.new_caches(1, capacity)[0]

    def new_caches(self, count: int, capacity: int) -> list:
        """``count`` empty KV caches of ``capacity`` positions, each one block of one
        pool, so that ``decode_batch`` steps any of them together (and replays its
        captured steps for any of them)."""
        if not 0 < capacity <= self.config.context_length or count <= 0:
            raise ValueError(f"{count} KV caches of {capacity} positions; the model's context is "
                             f"{self.config.context_length}")
        pool = self.new_pool(count, capacity, 1)
        return [pool.new_cache(capacity) for _ in range(count)]

    def forward(self, ids, cache: KVCache, *, all_logits: bool = False):
        """Logits (vocab,) after the tokens ``ids`` (or (len(ids), vocab) with
        ``all_logits``), which follow the ``cache.length`` tokens already in ``cache``."""
        _token_ids(ids, "forward")
        c, n_past, seq = self.config, cache.length, len(ids)
        if n_past + seq > cache.capacity:
            raise ValueError(f"{n_past} cached + {seq} new tokens exceed the KV cache's {cache.capacity}")
        if seq == 1 and not all_logits:
            return hal.reshape(self.decode_batch([int(ids[0])], [cache]), (c.vocab_size,))
        logits = self._prefill([ids], [cache], all_logits)
        cache.length = n_past + seq
        return logits if all_logits else hal.reshape(logits, (c.vocab_size,))

    def prefill_batch(self, chunks: list, caches: list) -> hal.Array:
        """The next-token logits (B, vocab) after B prompt chunks read together,
        ``chunks[s]`` (two tokens or more) following ``caches[s]``'s sequence (caches of
        one pool). The products take every chunk's rows at once; each sequence attends
        over its own cache as ``forward`` does, so where the model is
        ``row_independent`` row s equals ``forward(chunks[s], caches[s])`` bit for bit."""
        _one_pool(caches, "prefill_batch", chunks)
        for ids in chunks:
            _token_ids(ids, "prefill_batch")
        if any(len(ids) < 2 for ids in chunks):
            raise ValueError("prefill_batch reads chunks of two tokens or more (one token is a decode step)")
        if any(cache.length + len(ids) > cache.capacity for ids, cache in zip(chunks, caches)):
            raise ValueError("a chunk exceeds its KV cache's capacity")
        logits = self._prefill(chunks, caches)
        for ids, cache in zip(chunks, caches):
            cache.length += len(ids)
        return logits

    def _prefill(self, chunks: list, caches: list, all_logits: bool = False) -> hal.Array:
        """The forward pass of each chunk after its cache's positions (the caches grow after)."""
        segments = [(cache, cache.length, len(ids)) for ids, cache in zip(chunks, caches)]
        positions = [np.arange(n_past, n_past + seq) for _, n_past, seq in segments]
        rows = [cache.rows(n_past, n_past + seq) for cache, n_past, seq in segments]
        host = np.concatenate([np.concatenate(chunks), *positions, *rows]).astype(np.int64)
        return self._logits(hal.asarray(host, device=self.device), len(host) // 3, caches[0].pool, segments,
                            all_logits)

    def decode_batch(self, tokens: list, caches: list) -> hal.Array:
        """The next-token logits (B, vocab) of B sequences at once, ``tokens[s]`` following
        ``caches[s]``'s sequence (each cache grows by one position; the caches are of one
        pool: ``new_pool``, ``new_caches``). The products take all B rows together, so the weights are
        read once per step, not once per sequence, and each block's rope, cache writes and
        attention are one launch for all B. Where the model is ``decode_invariant``, row s
        equals ``forward([tokens[s]], caches[s])`` bit for bit.

        The step is replayed where the device captured one of B sequences over this pool
        (captured once a plain step of B has compiled and tuned its kernels)."""
        host = step_inputs(tokens, caches)
        b, pool = len(tokens), caches[0].pool
        steps = pool.steps.get(b)  # (the next replay overwrites a replay's logits: they are copied)
        logits = self._plain_or_capture(b, host, pool) if steps is None else self._plan.copy(self._replay(steps, host))
        for cache in caches:
            cache.length += 1
        return logits

    def _replay(self, step: DecodeStep, host: np.ndarray) -> hal.Array:
        """The logits of a replay of the captured ``step`` for the step inputs ``host``."""
        return step([host])[0]

    def _plain_or_capture(self, b: int, host: np.ndarray, pool: KVBlocks) -> hal.Array:
        """A plain step of b sequences the first time (its kernels compile and tune), then
        one captured where the device can capture."""
        inputs = hal.asarray(host, device=self.device)
        if self.device.capture is None or b not in self._warm:
            self._warm.add(b)
            return self._logits(inputs, b, pool, None, all_logits=True)
        with self.device.capture() as graph:
            logits = self._logits(inputs, b, pool, None, all_logits=True)
        pool.steps[b] = DecodeStep(graph, self._plan, [inputs], (logits,))
        return self._plan.copy(logits)

    def _split(self, inputs: hal.Array, rows: int) -> tuple:
        """The token ids, positions and cache rows to write in ``inputs`` (``rows`` each,
        one after another: one transfer), and the block tables (rows, width) after them
        in a decode step's (else None), as views."""
        k, width = self._plan, inputs.shape[0] // rows - 3
        table = k.reshape(k.rows(inputs, 3 * rows, inputs.shape[0]), (rows, width)) if width else None
        return (*(k.rows(inputs, i * rows, (i + 1) * rows) for i in range(3)), table)

    @property
    def row_independent(self) -> bool:
        """Whether every product gives each row the same bits at any number of rows, so
        that ``prefill_batch`` is batch-invariant (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 weights: hal.nn)."""
        return all(w.row_independent for w in self.weights.values() if isinstance(w, nn.QuantizedWeight))

    @property
    def decode_invariant(self) -> bool:
        """Whether ``decode_batch`` gives each sequence the bits it gets alone (its products
        ``alike``: the 8-bit block and K-quant types; not float weights)."""
        return all(w.rows_alike for w in self.weights.values() if isinstance(w, nn.QuantizedWeight))

    def _logits(self, inputs, rows: int, pool: KVBlocks, segments, all_logits: bool = False):
        """The forward pass: logits (rows, vocab), or those of each segment's last row.
        ``inputs`` (on the device) holds each row's token id, position and row of the pools
        it goes to (``_split``). ``segments``: the rows as runs of one sequence's next
        positions, (cache, positions cached before, rows) each; None: one position of each
        of several sequences, whose block tables follow in ``inputs`` (a decode step)."""
        tokens, *where = self._split(inputs, rows)
        x, delta = self._embed(tokens), None
        for i in range(self.config.n_layers):
            x, delta = self._block(i, x, delta, where, pool, segments)
        return self._head(x, delta, segments, all_logits)

    def _embed(self, tokens):
        """The token embeddings of ``tokens``, where the pass starts."""
        x = self._plan.embedding(self.weights["token_embd.weight"], tokens)
        if self.config.arch.embedding_scale:  # sqrtf(dim), as llama.cpp's graph
            x = self._plan.scale(x, float(np.sqrt(np.float32(self.config.dim))))
        return x

    def _head(self, x, delta, segments, all_logits: bool):
        """The logits after the last block: of every row, or of each segment's last."""
        if not all_logits:  # (the norm is row by row: only the rows whose logits are wanted)
            x, delta = (t if t is None else self._last_rows(t, segments) for t in (x, delta))
        k = self._plan
        return k.linear(k.norm(x, delta, self.weights["output_norm.weight"], self.config.eps), self.output,
                        alike=segments is None)[0]

    def _last_rows(self, x, segments):
        """The last row of each segment of x."""
        if len(segments) == 1:
            return self._plan.rows(x, x.shape[0] - 1, x.shape[0])
        last = np.cumsum([seq for _, _, seq in segments]) - 1
        return hal.take(x, hal.asarray(last, device=self.device), axis=0)

    def _block(self, i: int, x, delta, where: list, pool: KVBlocks, segments):
        """One transformer block of hal.nn ops (``Plan``: ``load`` checked every shape
        once), its rows as ``_logits``'. Each residual is added by the norm after it
        (``delta``: the block's output still to add to ``x``). A decode step's products give
        each sequence's row the bits it gets alone (``alike``)."""
        c, k, arch, w = self.config, self._plan, self.config.arch, self._blocks[i]
        alike = segments is None
        q, key, value = k.linear(k.norm(x, delta, w["attn_norm.weight"], c.eps), w["attn_q.weight"],
                                 w["attn_k.weight"], w["attn_v.weight"], alike=alike)
        if arch.qkv_bias:
            q, key, value = (k.add_rows(t, w[f"attn_{n}.bias"]) for t, n in ((q, "q"), (key, "k"), (value, "v")))
        if arch.qk_norm:
            q, key = self._head_norm(q, w["attn_q_norm.weight"]), self._head_norm(key, w["attn_k_norm.weight"])
        attended = k.linear(self._attend(i, q, key, value, where, pool, segments),
                            w["attn_output.weight"], alike=alike)[0]
        if arch.post_norms:
            attended = k.norm(attended, None, w["post_attention_norm.weight"], c.eps)
        h = k.norm(x, attended, w["ffn_norm.weight"], c.eps)
        gate, up = k.linear(h, w["ffn_gate.weight"], w["ffn_up.weight"], alike=alike)
        out = k.linear(k.gelu_mul(gate, up) if arch.activation == "gelu" else k.silu_mul(gate, up),
                       w["ffn_down.weight"], alike=alike)[0]
        return x, k.norm(out, None, w["post_ffw_norm.weight"], c.eps) if arch.post_norms else out

    def _head_norm(self, x, weight):
        """rms_norm of each head of x (rows, heads * head_dim)."""
        c, k = self.config, self._plan
        rows = x.shape[0]
        return k.reshape(k.norm(k.reshape(x, (rows * x.shape[1] // c.head_dim, c.head_dim)), None, weight, c.eps),
                         (rows, x.shape[1]))

    def _attend(self, i: int, q, key, value, where: list, pool: KVBlocks, segments):
        """Rope of q and k, k and v into the float16 pools, and attention: (rows, q_dim),
        the rows as ``_logits``' (``where``: their positions, rows of the pools and, in a
        decode step, block tables)."""
        c, k, rows = self.config, self._plan, q.shape[0]
        heads, kv_heads = (c.n_heads, c.head_dim), (c.n_kv_heads, c.head_dim)
        theta, neox, window = c.theta(i), c.arch.neox_rope, c.window(i)
        scale_q = c.attention_scale if c.arch.scale_q else None  # q scaled before its float16 rounding
        scale = 1.0 if scale_q else c.attention_scale
        keys, values, (positions, dest, tables) = pool.keys[i], pool.values[i], where
        q = k.rope_store(k.reshape(q, (rows, *heads)), k.reshape(key, (rows, *kv_heads)),
                         k.reshape(value, (rows, *kv_heads)), keys, values, positions, dest, theta, neox)
        q = k.scale(q, scale_q) if scale_q else q
        if segments is None:  # one row per sequence, positions and blocks read on the device
            scores = self._scores(pool, rows)
            return k.reshape(k.attention_step(q, keys, values, positions, tables, scale, window, scores),
                             (rows, c.q_dim))
        # a prefill: each segment's rows over its cache's first n_past + seq positions
        parts, start = [], 0
        for cache, n_past, seq in segments:
            own = [self._positions_of(part, cache, n_past + seq) for part in (keys, values)]
            parts.append(k.attention(k.rows(q, start, start + seq), *own, n_past, scale, window))
            start += seq
        out = parts[0] if len(parts) == 1 else hal.concat(parts)
        return k.reshape(out, (rows, c.q_dim))

    def _scores(self, pool: KVBlocks, rows: int):
        """The attention scores' workspace of a step of ``rows`` sequences over ``pool``
        on this device: one for every layer and every step of that size (each layer's
        attention is done with it before the next layer's starts), not one each."""
        key = ("scores", self.device.name, rows)
        if key not in pool.scratch:
            shape = (rows, self.config.n_heads, pool.width * pool.block_size)
            pool.scratch[key] = hal.empty(shape, dtype=hal.float32, device=self.device)
        return pool.scratch[key]

    def _positions_of(self, part, cache: KVCache, n: int):
        """A layer's keys or values of ``cache``'s first ``n`` positions (n, kv_heads,
        head_dim), from its pool ``part`` (n_blocks, block_size, kv_heads, head_dim): a view where
        its blocks follow one another, else the runs of its blocks joined."""
        k, size = self._plan, part.shape[1]
        parts = [k.reshape(k.rows(part, first, first + count), (count * size, *part.shape[2:]))
                 for first, count in cache.runs(n)]
        return k.rows(parts[0] if len(parts) == 1 else hal.concat(parts), 0, n)

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
