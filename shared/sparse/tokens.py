"""Token embeddings for multi-vector retrieval (SSR), computed once and cached on disk (keyed by encoder and text).

The shipped MiniLM encoder (``shared/text.py``) embeds every sentence of a gensim corpus (``lee``: 300 news
documents) token by token: its contextual output vectors before pooling, without [CLS] and [SEP] (SSR's token
SAE codes the non-[CLS] tokens), stored as float16. The retrieval task is built from the text: ``seed`` draws a
quarter of the sentences as queries; a document is the tokens of its remaining sentences (so a query never occurs
in its own document), and a query's one relevant document is its source. The SAE trains on the documents' tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from shared.cache import cache_root, save_whole
from shared.sparse.config import TokenDataConfig  # torch-free (the driver validates it); re-exported here
from shared.sparse.embeddings import ENCODER, MIN_SENTENCE_CHARS, cache_key, corpus_sentences, split


@dataclass
class TokenSet:
    """Unit-norm token vectors grouped by owner: ``doc_x`` rows sorted by ``doc_of_token`` (a document's tokens are
    contiguous, as the inverted MaxSim index needs), ``query_x`` by ``query_of_token``."""

    doc_x: torch.Tensor
    doc_of_token: torch.Tensor
    sentence_of_doc_token: torch.Tensor  # which training sentence each document token came from (contiguous too)
    query_x: torch.Tensor
    query_of_token: torch.Tensor
    query_doc: torch.Tensor  # the relevant document of each query
    n_docs: int

    @property
    def dim(self) -> int:
        return self.doc_x.shape[1]

    @property
    def n_sentences(self) -> int:
        return int(self.sentence_of_doc_token.max()) + 1


def sentence_token_embeddings(corpus: str, n_docs: int) -> dict[str, list[torch.Tensor] | torch.Tensor]:
    """{tokens: per sentence (tokens, 384) float16, sentence_doc}: from the cache or encoded once."""
    _, sentences, owner, text_hash = corpus_sentences(corpus, n_docs)
    key = cache_key({"encoder": ENCODER, "corpus": corpus, "text": text_hash, "min_chars": MIN_SENTENCE_CHARS,
                     "output": "token_embeddings without [CLS]/[SEP]"})
    path = cache_root() / "sparse_embeddings" / f"tokens-{corpus}-{key}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    from shared.text import _model  # the encoder only on a cache miss

    out = _model().encode(sentences, output_value="token_embeddings", show_progress_bar=False)
    tokens = [t[1:-1].float().cpu().half() for t in out]  # drop [CLS] and [SEP]
    result = {"tokens": tokens, "sentence_doc": torch.tensor(owner)}
    save_whole(result, path)
    return result


def stack_tokens(tokens: list[torch.Tensor], sentences: torch.Tensor, owner_of: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The sentences' tokens, unit-normalised, stacked in the given order, with each token's owner and sentence."""
    x = torch.cat([tokens[i] for i in sentences.tolist()]).float()
    counts = torch.tensor([len(tokens[i]) for i in sentences.tolist()])
    return F.normalize(x, dim=1), torch.repeat_interleave(owner_of, counts), \
        torch.repeat_interleave(torch.arange(len(sentences)), counts)


def load_tokens(cfg: TokenDataConfig) -> TokenSet:
    emb = sentence_token_embeddings(cfg.corpus, cfg.n_docs)
    tokens, sentence_doc = emb["tokens"], emb["sentence_doc"]
    train, test = split(len(sentence_doc), cfg.test_fraction, cfg.seed)
    train = train[torch.argsort(sentence_doc[train], stable=True)]  # documents contiguous
    doc_x, doc_of_token, sentence_of_token = stack_tokens(tokens, train, sentence_doc[train])
    query_x, query_of_token, _ = stack_tokens(tokens, test, torch.arange(len(test)))
    return TokenSet(doc_x, doc_of_token, sentence_of_token, query_x, query_of_token, sentence_doc[test],
                    int(sentence_doc.max()) + 1)
