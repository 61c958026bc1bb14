"""Real English text that ships inside installed packages, tokenised and cached.

- ``wiki``: the 206-page English Wikipedia XML sample in gensim's test data, redirects dropped and wiki markup
  stripped with gensim's own ``filter_wiki`` (templates, links, references, tables), then whitespace collapsed.
- ``lee``: the Lee news corpus in gensim's test data (300 short news documents, raw English).

Documents are joined with the tokeniser's end-of-text id into one token stream; a fixed fraction at the end
of the stream is held out (documents are not shuffled across the split, so held-out text is unseen text).
Nothing downloads: a missing gensim is a ConfigError naming the package to install.
"""
from __future__ import annotations

import bz2
import functools
import re
import xml.etree.ElementTree as ET

from shared.cache import cache_root, save_whole
from shared.config import ConfigError

CORPORA = ("wiki", "lee")
_WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def _datapath(name: str) -> str:
    try:
        from gensim.test.utils import datapath
    except ImportError as err:
        raise ConfigError("the wiki and lee corpora ship in gensim's test data: `pip install gensim==4.4.0` "
                          "(in pyproject.toml)") from err
    return datapath(name)


def _clean_wiki(text: str) -> str:
    from gensim.corpora.wikicorpus import filter_wiki

    text = filter_wiki(text)
    lines = []
    for line in text.splitlines():
        line = re.sub(r"'{2,}", "", line).strip(" *#:;|=!")
        # Section headings, list stubs and table remains are short; prose lines are what an LM should read.
        if len(line) >= 40:
            lines.append(re.sub(r"\s+", " ", line))
    return "\n".join(lines)


def wiki_documents() -> list[str]:
    docs = []
    with bz2.open(_datapath(_WIKI_FILE), "rb") as f:
        for _, elem in ET.iterparse(f):
            if elem.tag.endswith("}text") or elem.tag == "text":
                raw = elem.text or ""
                if raw and not raw.lstrip().upper().startswith("#REDIRECT"):
                    doc = _clean_wiki(raw)
                    if doc:
                        docs.append(doc)
                elem.clear()
    return docs


def lee_documents() -> list[str]:
    with open(_datapath("lee_background.cor"), encoding="utf-8", errors="replace") as f:
        return [line.strip() for line in f if line.strip()]


def documents(name: str) -> list[str]:
    if name == "wiki":
        return wiki_documents()
    if name == "lee":
        return lee_documents()
    raise ConfigError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")


@functools.cache
def token_stream(name: str, tokenizer: str):
    """The whole corpus as one int64 tensor of token ids (documents joined by end-of-text), cached on disk."""
    import torch

    from shared.lm.tokenizer import get_tokenizer

    path = cache_root() / "lm" / f"{name}-{tokenizer}-v1.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    tok = get_tokenizer(tokenizer)
    ids: list[int] = []
    for doc in documents(name):
        ids.extend(tok.encode(doc))
        ids.append(tok.eot)
    stream = torch.tensor(ids, dtype=torch.int64)
    save_whole(stream, path)
    return stream
