"""The tokenizer a GGUF file describes in its metadata (``tokenizer.ggml.*``), built with
the ``tokenizers`` library so it splits text as llama.cpp does:

- ``gpt2``: byte-level BPE over the file's merges, after the pre-tokenizer the file names
  in ``tokenizer.ggml.pre`` (SmolLM2: ``smollm``, every digit on its own, then GPT-2's
  word split; Llama 3: ``llama3``);
- ``llama``: sentencepiece-style BPE, where the pair whose merged piece has the highest
  score merges first, spaces become "▁", unknown bytes fall back to <0xXX> tokens.

Control and user-defined tokens (``<|im_start|>``) in the text become their ids. A BOS
token goes first when the file's ``add_bos_token`` says so.
"""
import functools

from tokenizers import AddedToken, Regex, Tokenizer as _HFTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers

from .gguf import GGUFError

# Token types (tokenizer.ggml.token_type).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

_GPT2_WORDS = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_LLAMA3_WORDS = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|"
                 r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# tokenizer.ggml.pre -> the regular expressions that split text into words, applied in
# turn (each to the pieces the previous one left), as llama.cpp's vocabulary loader does.
PRE_TOKENIZERS = {
    "smollm": [r"\p{N}", _GPT2_WORDS],
    "starcoder": [r"\p{N}", _GPT2_WORDS],
    "refact": [r"\p{N}", _GPT2_WORDS],
    "llama3": [_LLAMA3_WORDS],
    "llama-bpe": [_LLAMA3_WORDS],
    "gpt-2": [_GPT2_WORDS],
    "default": [r"[\p{P}\$\+<=>\^~\|]+", _GPT2_WORDS, r"\p{N}+", r"[0-9][0-9][0-9]"],
}
# Pre-tokenizers under which a word that is itself a token is not split into merges.
_IGNORE_MERGES = {"llama3", "llama-bpe"}
# Tokens that end generation by their text, as llama.cpp finds them whatever the file
# names (its end-of-turn texts, and fill-in-the-middle's pad, repository and file separator).
END_OF_GENERATION = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
                     "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<eos>",
                     "<end_of_utterance>", "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<|fim_repo|>", "<|repo_name|>",
                     "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>"}
# Chat templates for model files that carry none, by general.architecture (llama.cpp
# builds the same in): Gemma's turns, as Google documents them, a system prompt opening
# the first user turn.
BUILT_IN_TEMPLATES = {
    "gemma3": ("{% set first = messages[0]['content'] ~ '\n\n' if messages[0]['role'] == 'system' else '' %}"
               "{% for m in (messages[1:] if first else messages) %}"
               "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
               "{{ first if loop.first else '' }}{{ m['content'] | trim }}<end_of_turn>\n"
               "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"),
}


class Tokenizer:
    """Text to token ids and back, from GGUF metadata (a dict of ``tokenizer.ggml.*``)."""

    def __init__(self, metadata: dict):
        kind = _field(metadata, "tokenizer.ggml.model")
        self.tokens = _field(metadata, "tokenizer.ggml.tokens")
        self.token_types = metadata.get("tokenizer.ggml.token_type") or [NORMAL] * len(self.tokens)
        if len(self.token_types) != len(self.tokens):
            raise GGUFError(f"tokenizer.ggml.token_type has {len(self.token_types)} entries "
                            f"for {len(self.tokens)} tokens")
        if kind == "gpt2":
            self._hf = _byte_level_bpe(metadata, self.tokens)
        elif kind == "llama":
            self._hf = _sentencepiece_bpe(metadata, self.tokens, self.token_types)
        else:
            raise GGUFError(f"tokenizer.ggml.model is '{kind}'; hal reads 'gpt2' and 'llama' tokenizers")
        specials = [AddedToken(t, special=True, normalized=False)
                    for t, kind in zip(self.tokens, self.token_types) if kind in (CONTROL, USER_DEFINED)]
        self._hf.add_special_tokens(specials)
        self.bos_id = metadata.get("tokenizer.ggml.bos_token_id")
        self.eos_id = metadata.get("tokenizer.ggml.eos_token_id")
        # Without add_bos_token, llama.cpp adds BOS for sentencepiece and Llama 3 vocabularies.
        default_bos = kind == "llama" or metadata.get("tokenizer.ggml.pre") in _IGNORE_MERGES
        self.add_bos = metadata.get("tokenizer.ggml.add_bos_token", default_bos) and self.bos_id is not None
        self.chat_template = (metadata.get("tokenizer.chat_template")
                              or BUILT_IN_TEMPLATES.get(metadata.get("general.architecture")))
        eot = metadata.get("tokenizer.ggml.eot_token_id")
        self.stop_ids = ({i for i in (self.eos_id, eot) if i is not None}
                         | {i for i, t in enumerate(self.tokens) if t in END_OF_GENERATION})

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, *, bos: bool | None = None) -> list[int]:
        """The ids of ``text``, led by BOS if ``bos`` (default: the file's add_bos_token)."""
        ids = self._hf.encode(text, add_special_tokens=False).ids
        return ([self.bos_id] if (self.add_bos if bos is None else bos) else []) + ids

    def decode(self, ids, *, skip_special: bool = True) -> str:
        return self._hf.decode(list(ids), skip_special_tokens=skip_special)

    def chat(self, prompt: str, system: str | None = None) -> str:
        """``prompt`` as a user turn in the file's chat template, ready for the reply."""
        return self.render_chat(([{"role": "system", "content": system}] if system else [])
                                + [{"role": "user", "content": prompt}])

    def render_chat(self, messages: list) -> str:
        """The conversation (dicts of role and content) in the file's chat template
        (Jinja as Hugging Face renders it), ready for the reply. jinja2.TemplateError where
        the template rejects the conversation."""
        return self._chat_template.render(messages=messages, add_generation_prompt=True,
                                          bos_token=self._token(self.bos_id), eos_token=self._token(self.eos_id))

    @functools.cached_property
    def _chat_template(self):
        """The chat template compiled once, in Jinja's sandbox: it comes from the model file."""
        if not self.chat_template:
            raise GGUFError("the model has no tokenizer.chat_template (and hal has none built in for it)")
        import jinja2.sandbox
        env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        return env.from_string(self.chat_template)

    def _token(self, i) -> str:
        return self.tokens[i] if i is not None else ""


class TextStream:
    """Decodes generated ids one at a time into the new text each adds, holding back a
    token that ends in the middle of a UTF-8 character until the rest arrives."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer, self.ids, self.text = tokenizer, [], ""

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd"):
            return ""
        new, self.text = text[len(self.text):], text
        return new


def _field(metadata: dict, key: str):
    if key not in metadata:
        raise GGUFError(f"the metadata field '{key}' is missing")
    return metadata[key]


def _byte_level_bpe(metadata: dict, tokens: list) -> _HFTokenizer:
    pre = metadata.get("tokenizer.ggml.pre", "default")
    if pre not in PRE_TOKENIZERS:
        raise GGUFError(f"tokenizer.ggml.pre is '{pre}'; hal knows {', '.join(sorted(PRE_TOKENIZERS))}")
    merges = [tuple(m.split(" ", 1)) for m in _field(metadata, "tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = _HFTokenizer(models.BPE(vocab, merges, ignore_merges=pre in _IGNORE_MERGES))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in PRE_TOKENIZERS[pre]]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    return tok


def _sentencepiece_bpe(metadata: dict, tokens: list, types: list) -> _HFTokenizer:
    """Sentencepiece's BPE as merges: every way to split a normal token into two tokens
    is a merge, ranked by the token's score (higher first), which picks the same pair
    llama.cpp's highest-score-first merging picks."""
    scores = _field(metadata, "tokenizer.ggml.scores")
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = []
    for piece, kind, score in zip(tokens, types, scores):
        if kind != NORMAL:
            continue
        merges += [(-score, vocab[piece], piece[:i], piece[i:]) for i in range(1, len(piece))
                   if piece[:i] in vocab and piece[i:] in vocab]
    merges.sort()
    unk_id = metadata.get("tokenizer.ggml.unknown_token_id", 0)
    tok = _HFTokenizer(models.BPE(vocab, [(a, b) for _, _, a, b in merges], unk_token=tokens[unk_id],
                                  byte_fallback=True, fuse_unk=True))
    space_prefix = metadata.get("tokenizer.ggml.add_space_prefix", True)
    tok.normalizer = normalizers.Sequence(([normalizers.Prepend("▁")] if space_prefix else [])
                                          + [normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
                                    + ([decoders.Strip(" ", 1, 0)] if space_prefix else []))
    return tok
