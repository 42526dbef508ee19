"""GGUF reading (hal.gguf): a tiny llama written here with gguf.GGUFWriter holds every
tensor type hal supports; tensors load to each device still quantized and dequantize
as gguf.quants does; truncated, corrupt and unsupported files are errors naming the
field or tensor. ``write_tiny_llama`` also serves test_llama.py and test_tokenizer.py."""
import numpy as np
import pytest
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

import hal
import hal.gguf
from hal.gguf import GGUFError
from hal.llama import Config, Llama

TINY = dict(dim=64, n_heads=4, n_kv_heads=2, ffn_dim=256, n_layers=3, context=64, theta=10000.0, eps=1e-5)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "a t", "Ġa t"]
# Every supported type, in the places a llama file puts them: K-quants (256-value
# blocks) where the row is the 256-wide ffn, the rest where it is the 64-wide model.
LAYER_TYPES = [
    dict(attn_q=T.F32, attn_k=T.F16, attn_v=T.BF16, attn_output=T.Q8_0, ffn_gate=T.Q4_0, ffn_up=T.Q4_1, ffn_down=T.Q6_K),
    dict(attn_q=T.Q4_1, attn_k=T.Q4_0, attn_v=T.Q8_0, attn_output=T.F16, ffn_gate=T.BF16, ffn_up=T.F32, ffn_down=T.Q4_K),
    dict(attn_q=T.Q5_0, attn_k=T.Q4_1, attn_v=T.F16, attn_output=T.Q4_0, ffn_gate=T.Q5_1, ffn_up=T.Q4_1, ffn_down=T.Q5_K),
]
K_QUANT_SCALES = {T.Q6_K: [208], T.Q4_K: [0, 2], T.Q5_K: [0, 2]}  # byte offsets of the f16 d (and dmin)


def byte_chars() -> list[str]:
    """GPT-2's printable stand-in for each byte (bytes 33-126, 161-172, 174-255 stand
    for themselves; the others map to 256 onwards), in byte order."""
    own = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = iter(range(256, 512))
    return [chr(b) if b in own else chr(next(extra)) for b in range(256)]


def tiny_vocab() -> list[str]:
    return SPECIALS + byte_chars() + [m.replace(" ", "") for m in MERGES]


def quantized(rng, ggml_type, rows: int, cols: int, scale: float = 0.5) -> np.ndarray:
    """Random (rows, cols) weights in ``ggml_type``'s file layout. gguf cannot quantize
    the K types, so their blocks are random bytes with small f16 scales."""
    if ggml_type in K_QUANT_SCALES:
        block_bytes = {T.Q6_K: 210, T.Q4_K: 144, T.Q5_K: 176}[ggml_type]
        raw = rng.integers(0, 256, (rows, cols // 256, block_bytes), dtype=np.uint8)
        for offset in K_QUANT_SCALES[ggml_type]:
            d = (rng.random((rows, cols // 256)) * 0.02 * scale + 0.001).astype(np.float16)
            raw[:, :, offset:offset + 2] = d.view(np.uint8).reshape(rows, cols // 256, 2)
        return raw.reshape(rows, -1)
    return quantize((rng.standard_normal((rows, cols)) * scale).astype(np.float32), ggml_type)


def add_weight(writer, rng, name, ggml_type, rows, cols, scale=0.5):
    data = quantized(rng, ggml_type, rows, cols, scale)
    if ggml_type in (T.F32, T.F16):
        writer.add_tensor(name, data)
    else:
        writer.add_tensor(name, data, raw_shape=data.shape, raw_dtype=ggml_type)


def write_tiny_llama(path, *, seed=0, tied=False, tokenizer="gpt2", skip=(), extra=None) -> dict:
    """A 3-block llama GGUF at ``path`` with the shapes in TINY, a byte-level BPE vocab
    (``tokenizer="llama"``: a sentencepiece-style one) and every supported tensor type;
    ``skip`` leaves out metadata keys or tensors by name (for the error tests)."""
    rng = np.random.default_rng(seed)
    c = TINY
    vocab = tiny_vocab()
    w = GGUFWriter(str(path), "llama")
    meta = {"llama.block_count": (w.add_uint32, c["n_layers"]), "llama.context_length": (w.add_uint32, c["context"]),
            "llama.embedding_length": (w.add_uint32, c["dim"]),
            "llama.feed_forward_length": (w.add_uint32, c["ffn_dim"]),
            "llama.attention.head_count": (w.add_uint32, c["n_heads"]),
            "llama.attention.head_count_kv": (w.add_uint32, c["n_kv_heads"]),
            "llama.rope.freq_base": (w.add_float32, c["theta"]),
            "llama.attention.layer_norm_rms_epsilon": (w.add_float32, c["eps"])}
    for key, (add, value) in meta.items():
        if key not in skip:
            add(key, value)
    w.add_tokenizer_model(tokenizer)
    if tokenizer == "gpt2":
        w.add_tokenizer_pre("smollm")
        w.add_token_list(vocab)
        w.add_token_merges(MERGES)
        w.add_token_types([3] * len(SPECIALS) + [1] * (len(vocab) - len(SPECIALS)))
    else:
        extra_vocab = extra["vocab"]
        w.add_token_list(extra_vocab["tokens"])
        w.add_token_scores(extra_vocab["scores"])
        w.add_token_types(extra_vocab["types"])
        vocab = extra_vocab["tokens"]
    w.add_bos_token_id(0)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    dim, kv, ffn = c["dim"], c["n_kv_heads"] * c["dim"] // c["n_heads"], c["ffn_dim"]
    shapes = dict(attn_q=(dim, dim), attn_k=(kv, dim), attn_v=(kv, dim), attn_output=(dim, dim),
                  ffn_gate=(ffn, dim), ffn_up=(ffn, dim), ffn_down=(dim, ffn))
    tensors = {"token_embd.weight": (T.Q8_0, (len(vocab), dim), 1.0)}
    if not tied:
        tensors["output.weight"] = (T.Q4_0, (len(vocab), dim), 0.5)
    for i, types in enumerate(LAYER_TYPES):
        for name, ggml_type in types.items():
            tensors[f"blk.{i}.{name}.weight"] = (ggml_type, shapes[name], 0.3)
    for name, (ggml_type, (rows, cols), scale) in tensors.items():
        if name not in skip:
            add_weight(w, rng, name, ggml_type, rows, cols, scale)
    norms = [f"blk.{i}.{n}.weight" for i in range(c["n_layers"]) for n in ("attn_norm", "ffn_norm")]
    for name in norms + ["output_norm.weight"]:
        if name not in skip:
            w.add_tensor(name, (1.0 + 0.1 * rng.standard_normal(dim)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {"vocab": vocab}


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    write_tiny_llama(path)
    return path


def test_read_metadata_and_tensor_table(tiny_path):
    file = hal.gguf.read(tiny_path)
    assert file.field("llama.embedding_length") == 64
    assert file.field("tokenizer.ggml.tokens") == tiny_vocab()
    assert file.field("tokenizer.ggml.token_type")[:4] == [3, 3, 3, 1]
    assert file.tensor("blk.0.ffn_down.weight").ggml_type == T.Q6_K
    assert file.tensor("blk.0.ffn_down.weight").shape == (64, 256)
    assert file.tensor("token_embd.weight").shape == (len(tiny_vocab()), 64)
    assert file.tensor("output_norm.weight").shape == (64,)
    config = Config.from_gguf(file)
    assert (config.n_layers, config.head_dim, config.n_kv_heads, config.vocab_size) == (3, 16, 2, len(tiny_vocab()))


def test_tensors_load_quantized_and_dequantize_like_gguf(tiny_path, device):
    """Every supported type reaches the device in its block layout (the same byte
    count as the file) and dequantizes to what gguf.quants.dequantize gives."""
    file = hal.gguf.read(tiny_path)
    seen = set()
    for tensor in file.tensors.values():
        if len(tensor.shape) != 2 or tensor.ggml_type in seen:
            continue
        seen.add(tensor.ggml_type)
        weight = hal.gguf.load_tensor(tensor, device)
        assert isinstance(weight, hal.nn.QuantizedWeight) and weight.nbytes == tensor.nbytes
        expected = dequantize(tensor.raw.reshape(tensor.shape[0], -1), tensor.ggml_type).reshape(tensor.shape)
        np.testing.assert_allclose(np.asarray(weight.dequantize()), expected, rtol=1e-6, atol=1e-6)
    assert seen == {getattr(T, name) for name in hal.nn.GGML_TYPES}
    norm = hal.gguf.load_tensor(file.tensor("output_norm.weight"), device)
    assert norm.dtype == hal.float32 and norm.device == device


@pytest.mark.parametrize("where, names", [("header", "in the header"),
                                           ("tokens", "metadata field 'tokenizer.ggml.tokens'"),
                                           ("end", "tensor 'output_norm.weight'")])
def test_truncated_file_names_where(tiny_path, tmp_path, where, names):
    data = tiny_path.read_bytes()
    tokens = GGUFReader(tiny_path).fields["tokenizer.ggml.tokens"].offset
    cut = {"header": 12, "tokens": tokens + 100, "end": len(data) - 100}[where]
    short = tmp_path / "short.gguf"
    short.write_bytes(data[:cut])
    with pytest.raises(GGUFError, match="truncated") as error:
        hal.gguf.read(short)
    assert names in str(error.value)


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "junk.gguf"
    path.write_bytes(b"GGML" + bytes(100))
    with pytest.raises(GGUFError, match="not a valid GGUF file.*magic"):
        hal.gguf.read(path)


def _type_offset(path, name) -> int:
    """Where the tensor table stores ``name``'s type id."""
    field = next(t.field for t in GGUFReader(path).tensors if t.name == name)
    return field.offset + 8 + len(name.encode()) + 4 + 8 * int(field.parts[2][0])


def test_corrupt_tensor_type_names_the_tensor(tiny_path, tmp_path):
    data = bytearray(tiny_path.read_bytes())
    offset = _type_offset(tiny_path, "blk.1.attn_k.weight")
    data[offset:offset + 4] = (977).to_bytes(4, "little")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(GGUFError, match=r"tensor 'blk.1.attn_k.weight' has the unknown type 977"):
        hal.gguf.read(bad)


def test_unsupported_tensor_type_names_the_tensor(tmp_path):
    path = tmp_path / "q2k.gguf"
    w = GGUFWriter(str(path), "llama")
    w.add_tensor("blk.0.attn_q.weight", np.zeros((2, 84), np.uint8), raw_shape=(2, 84), raw_dtype=T.Q2_K)
    w.write_header_to_file(), w.write_kv_data_to_file(), w.write_tensors_to_file(), w.close()
    tensor = hal.gguf.read(path).tensor("blk.0.attn_q.weight")
    with pytest.raises(GGUFError, match="'blk.0.attn_q.weight' has the type Q2_K"):
        hal.gguf.load_tensor(tensor, "cpu")


@pytest.mark.parametrize("missing", ["llama.embedding_length", "blk.2.ffn_up.weight"])
def test_missing_field_or_tensor_is_named(tmp_path, missing):
    path = tmp_path / "missing.gguf"
    write_tiny_llama(path, skip={missing})
    with pytest.raises(GGUFError, match=f"'{missing}' is missing"):
        Llama.load(path, "cpu")
