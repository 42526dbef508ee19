"""The tokenizer from GGUF metadata (hal.tokenizer): byte-level BPE with the smollm
pre-tokenizer on the tiny vocab of test_gguf.py and on SmolLM2's, sentencepiece-style
BPE against a direct implementation of llama.cpp's highest-score-first merging, BOS,
special tokens, the chat template, and streaming decode of split UTF-8 characters."""
import heapq

import numpy as np
import pytest
from test_gguf import MERGES, SPECIALS, tiny_vocab
from test_llama import needs_smollm2, smollm2_path

import hal.gguf
import hal.models
from hal.gguf import GGUFError
from hal.tokenizer import CONTROL, NORMAL, TextStream, Tokenizer


def gpt2_metadata(**extra) -> dict:
    vocab = tiny_vocab()
    return {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "smollm", "tokenizer.ggml.tokens": vocab,
            "tokenizer.ggml.merges": MERGES, "tokenizer.ggml.bos_token_id": 0, "tokenizer.ggml.eos_token_id": 2,
            "tokenizer.ggml.token_type": [CONTROL] * len(SPECIALS) + [NORMAL] * (len(vocab) - len(SPECIALS)),
            **extra}


def pieces(tok: Tokenizer, text: str) -> list[str]:
    return [tok.tokens[i] for i in tok.encode(text)]


def test_byte_level_bpe_merges_and_splits():
    tok = Tokenizer(gpt2_metadata())
    assert pieces(tok, "the cat at") == ["t", "he", "Ġ", "c", "at", "Ġat"]
    assert pieces(tok, " the") == ["Ġthe"]
    assert pieces(tok, "in12") == ["in", "1", "2"]  # smollm: every digit on its own
    assert pieces(tok, "<|im_start|>at<|im_end|>") == ["<|im_start|>", "at", "<|im_end|>"]


@pytest.mark.parametrize("text", ["héllo wörld\n\n  tabs\t", "日本語 🙂 the", "x = [1, 22, 333]!?"])
def test_byte_level_round_trip(text):
    tok = Tokenizer(gpt2_metadata())
    assert tok.decode(tok.encode(text)) == text


def test_bos_follows_add_bos_token():
    assert Tokenizer(gpt2_metadata()).encode("at") == [len(SPECIALS) + 256 + 5]
    assert Tokenizer(gpt2_metadata(**{"tokenizer.ggml.add_bos_token": True})).encode("at")[0] == 0
    assert Tokenizer(gpt2_metadata()).encode("at", bos=True)[0] == 0


def test_stream_holds_back_split_characters():
    tok = Tokenizer(gpt2_metadata())
    stream = TextStream(tok)
    assert [stream.push(i) for i in tok.encode("aé!")] == ["a", "", "é", "!"]


def test_chat_template():
    template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tok = Tokenizer(gpt2_metadata(**{"tokenizer.chat_template": template}))
    assert tok.chat("hi") == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    with pytest.raises(GGUFError, match="no tokenizer.chat_template"):
        Tokenizer(gpt2_metadata()).chat("hi")


def test_built_in_chat_template_for_files_without_one():
    """Gemma 3's GGUF carries no template: Gemma's turns, the system prompt opening the
    first user turn."""
    tok = Tokenizer(gpt2_metadata(**{"general.architecture": "gemma3"}))
    assert tok.chat("hi", system="Be brief.") == \
        "<start_of_turn>user\nBe brief.\n\nhi<end_of_turn>\n<start_of_turn>model\n"
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " Hello! "},
             {"role": "user", "content": "Bye."}]
    assert tok.render_chat(turns) == ("<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\nHello!"
                                      "<end_of_turn>\n<start_of_turn>user\nBye.<end_of_turn>\n<start_of_turn>model\n")


def test_end_of_turn_tokens_stop_generation():
    """Tokens that end a turn stop generation even where the file names no EOT
    (<|endoftext|> and <|im_end|> here; not <|im_start|>), as in llama.cpp."""
    assert Tokenizer(gpt2_metadata(**{"tokenizer.ggml.eos_token_id": None})).stop_ids == {0, 2}


@pytest.mark.parametrize("model", ["smollm2", "gemma3"])
def test_stop_ids_are_llama_cpps_end_of_generation_tokens(model):
    llama_cpp = pytest.importorskip("llama_cpp")
    try:
        path = hal.models.path(model)
    except hal.models.ModelNotInstalled as e:
        pytest.skip(str(e))
    llm = llama_cpp.Llama(path, vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    eog = {i for i in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, i)}
    assert Tokenizer(hal.gguf.read(path).metadata).stop_ids == eog


def test_chat_templates_are_sandboxed():
    """A template comes from the model file: it cannot reach Python's internals."""
    import jinja2
    tok = Tokenizer(gpt2_metadata(**{"tokenizer.chat_template": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}))
    with pytest.raises(jinja2.TemplateError):
        tok.chat("hi")


@pytest.mark.parametrize("key, value, message", [("tokenizer.ggml.model", "rwkv", "'rwkv'"),
                                                  ("tokenizer.ggml.pre", "qwen9", "tokenizer.ggml.pre is 'qwen9'")])
def test_unsupported_tokenizers_are_named(key, value, message):
    with pytest.raises(GGUFError, match=message):
        Tokenizer(gpt2_metadata(**{key: value}))


# ---------------------------------------------------------------- sentencepiece style

SPM_PIECES = ["▁", "a", "b", "c", "ab", "bc", "abc", "▁a", "▁ab", "ca", "cab", "▁c", "bb", "▁abc"]


def spm_metadata() -> dict:
    """<unk>, <s>, </s>, the 256 byte tokens, then pieces with distinct scores."""
    rng = np.random.default_rng(1)
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + SPM_PIECES
    scores = [0.0] * 259 + list(-rng.permutation(len(SPM_PIECES)).astype(float))
    types = [2, CONTROL, CONTROL] + [6] * 256 + [NORMAL] * len(SPM_PIECES)
    return {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.scores": scores,
            "tokenizer.ggml.token_type": types, "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
            "tokenizer.ggml.unknown_token_id": 0}


def spm_reference(metadata: dict, text: str) -> list[int]:
    """llama.cpp's sentencepiece tokenization, directly: a space prefix, spaces as "▁",
    then merge the adjacent pair whose joined piece is in the vocabulary with the highest
    score (the leftmost on ties) until none is; characters outside it become byte tokens."""
    tokens, scores = metadata["tokenizer.ggml.tokens"], metadata["tokenizer.ggml.scores"]
    index = {t: i for i, t in enumerate(tokens) if metadata["tokenizer.ggml.token_type"][i] == NORMAL}
    symbols = list(("▁" + text).replace(" ", "▁"))
    while True:
        candidates = [(-scores[index[a + b]], i) for i, (a, b) in enumerate(zip(symbols, symbols[1:])) if a + b in index]
        if not candidates:
            break
        _, i = heapq.nsmallest(1, candidates)[0]
        symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
    ids = []
    for s in symbols:
        ids += [index[s]] if s in index else [tokens.index(f"<0x{b:02X}>") for b in s.encode()]
    return ids


@pytest.mark.parametrize("seed", range(6))
def test_sentencepiece_matches_highest_score_first(seed):
    rng = np.random.default_rng(seed)
    text = "".join(rng.choice(list("abc  é"), size=int(rng.integers(1, 14))))
    metadata = spm_metadata()
    tok = Tokenizer(metadata)
    assert tok.encode(text) == [1] + spm_reference(metadata, text)  # llama vocabularies add BOS by default
    assert tok.decode(tok.encode(text)) == text


# ---------------------------------------------------------------- SmolLM2's vocabulary

# Ids as llama.cpp tokenizes these (test_llama.py checks them against llama_cpp where installed).
SMOLLM2_IDS = {
    "The capital of France is": [504, 3575, 282, 4649, 314],
    "Hello, world! 12345 it's": [19556, 28, 905, 17, 216, 33, 34, 35, 36, 37, 357, 506],
    "<|im_start|>user\nHi<|im_end|>": [1, 4093, 198, 26843, 2],
}


@pytest.fixture(scope="module")
def smollm2():
    return Tokenizer(hal.gguf.read(smollm2_path()).metadata)


@needs_smollm2
def test_smollm2_ids(smollm2):
    for text, ids in SMOLLM2_IDS.items():
        assert smollm2.encode(text) == ids
        assert smollm2.decode(ids, skip_special=False) == text
    assert not smollm2.add_bos and smollm2.stop_ids == {0, 2, 4}  # <|endoftext|>, <|im_end|>, <reponame>


@needs_smollm2
def test_smollm2_ids_equal_llama_cpp(smollm2):
    """The same ids as llama.cpp's tokenizer (llama-cpp-python, where installed) on text
    that exercises the smollm split: digits, spaces, newlines, punctuation, unicode."""
    llama_cpp = pytest.importorskip("llama_cpp")
    llm = llama_cpp.Llama(smollm2_path(), vocab_only=True, verbose=False)
    texts = list(SMOLLM2_IDS) + ["  two  spaces\n\n\tand tabs ", "x=1234.5e-6; y = [a_b, 'c']", "naïve café 東京 🙂!",
                                 "<|im_start|>system\nBe brief.<|im_end|>\n", "I'm, you're, they'll  --  ok?!", ""]
    for text in texts:
        assert smollm2.encode(text) == llm.tokenize(text.encode(), add_bos=True, special=True), text
