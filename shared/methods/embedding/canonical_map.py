"""Canonical maps between independently trained multimodal models: "Canonicalizing Multimodal Contrastive
Representation Learning" (Gupta, Kansal, Jegelka, Isola, Garg; arXiv 2602.17584).

Two CLIP-style models (f, g) and (f~, g~), trained apart, are related by one orthogonal map Q (up to a mean
shift): f~(x) ~ Q f(x) and, with the *same* Q, g~(y) ~ Q g(y). Fitting (official ``compute_standard_procrustes``,
row vectors), on L2-normalised anchor image embeddings X (model A) and Y (model B) of the same images:

    mu_x, mu_y = means;   U S V^T = SVD((X - mu_x)^T (Y - mu_y));   R = U V^T
    image map:  x -> (x - mu_x) R + mu_y           text map:  t -> (t - mu_t^A) R + mu_t^B

The text map reuses R, fitted on images only; its means are those of the text embeddings. The claim: the
map fitted on images transfers to text, and to classes that no anchor came from.

Setting here (the spec card's small-scale check): synthetic paired vectors (``shared/data/paired.py``), two
dual-MLP CLIP models with different seeds, widths and training samples; the first half of the epochs trains
model A, the second half model B. Anchors come from ``anchor_classes`` seen classes; the measures are taken
on test samples of the unseen classes. Deviation from the official ``few_anchors.py``: the text means use
seen-class texts only (the official code averages over all training texts, unseen classes included).
``pairs_b: shuffled`` trains model B on mismatched pairs: the negative control, where no map should transfer.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shared.data.paired import PairedData, make_paired
from shared.losses.contrastive import clip_loss
from shared.method import Evaluator, Trainer, rng_state, set_rng_state
from shared.methods.embedding.config import CanonicalMapConfig  # torch-free, for the driver
from shared.methods.embedding.specs import CANONICAL_MAP as SPEC  # noqa: F401  (the registry's entry)
from shared.metrics import procrustes


class DualEncoder(nn.Module):
    """An image tower and a text tower (2-layer MLPs) into one embedding space."""

    def __init__(self, image_dim: int, text_dim: int, width: int, dim: int) -> None:
        super().__init__()
        self.image = nn.Sequential(nn.Linear(image_dim, width), nn.ReLU(), nn.Linear(width, dim))
        self.text = nn.Sequential(nn.Linear(text_dim, width), nn.ReLU(), nn.Linear(width, dim))

    @torch.no_grad()
    def embed(self, images: torch.Tensor | None = None, texts: torch.Tensor | None = None) -> torch.Tensor:
        out = self.image(images) if images is not None else self.text(texts)
        return F.normalize(out, dim=1)


class CanonicalMapTrainer(Trainer):
    config: CanonicalMapConfig
    data: PairedData

    def __init__(self, config: CanonicalMapConfig) -> None:
        super().__init__(config)
        cfg, d = config, config.data
        self.data = make_paired(d)
        self.models = {}
        for name, width, offset in (("a", cfg.width_a, 0), ("b", cfg.width_b, 1)):
            torch.manual_seed(cfg.seed * 2 + offset)  # independent initialisations
            self.models[name] = DualEncoder(d.image_dim, d.text_dim, width, cfg.embed_dim)
        self.optimizers = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in self.models.items()}
        self.generator = torch.Generator().manual_seed(cfg.seed)
        n = d.n_train
        texts = self.data.train.texts
        # different samples per model; model B's texts optionally mismatched (the negative control)
        self.rows = {"a": torch.arange(0, n, 2), "b": torch.arange(1, n, 2)}
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed + 7))
        self.texts = {"a": texts, "b": texts if cfg.pairs_b == "aligned" else texts[perm]}

    def current(self) -> str:
        return "a" if self.epoch < self.config.epochs // 2 else "b"

    def fit_epoch(self) -> dict[str, float]:
        name, cfg = self.current(), self.config
        model, opt, rows = self.models[name], self.optimizers[name], self.rows[name]
        order = rows[torch.randperm(len(rows), generator=self.generator)]
        total, steps = 0.0, 0
        for start in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            loss = clip_loss(model.image(self.data.train.images[batch]), model.text(self.texts[name][batch]),
                             cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, steps = total + loss.item(), steps + 1
        self.epoch += 1
        return {"loss": total / max(steps, 1), f"clip_loss_{name}": total / max(steps, 1)}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "rng": rng_state(self.generator),
                **{f"model_{k}": m.state_dict() for k, m in self.models.items()},
                **{f"optimizer_{k}": o.state_dict() for k, o in self.optimizers.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        set_rng_state(self.generator, state["rng"])
        for k in self.models:
            self.models[k].load_state_dict(state[f"model_{k}"])
            self.optimizers[k].load_state_dict(state[f"optimizer_{k}"])

    def artifact(self) -> dict[str, DualEncoder]:
        return {k: copy.deepcopy(m).eval() for k, m in self.models.items()}


@dataclass
class CanonicalMap:
    """x -> (x - mu_from) R + mu_to, one R for both modalities, per-modality means."""

    rotation: torch.Tensor
    image_means: tuple[torch.Tensor, torch.Tensor]
    text_means: tuple[torch.Tensor, torch.Tensor]

    def images(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.image_means[0]) @ self.rotation + self.image_means[1]

    def texts(self, t: torch.Tensor) -> torch.Tensor:
        return (t - self.text_means[0]) @ self.rotation + self.text_means[1]


def fit_canonical_map(x: torch.Tensor, y: torch.Tensor, text_a: torch.Tensor, text_b: torch.Tensor,
                      centering: bool = True) -> CanonicalMap:
    """R from anchor image embeddings x (model A) and y (model B) of the same images; text means from text_a,
    text_b (text embeddings of the two models)."""
    zero = torch.zeros(x.shape[1])
    mx, my = (x.mean(0), y.mean(0)) if centering else (zero, zero)
    ta, tb = (text_a.mean(0), text_b.mean(0)) if centering else (zero, zero)
    return CanonicalMap(procrustes(x - mx, y - my), (mx, my), (ta, tb))


def seen_classes(cfg: CanonicalMapConfig) -> torch.Tensor:
    order = torch.randperm(cfg.data.classes, generator=torch.Generator().manual_seed(cfg.seed + 11))
    return order[: cfg.anchor_classes]


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return F.cosine_similarity(a, b, dim=1).mean().item()


def nearest_label_acc(queries: torch.Tensor, keys: torch.Tensor, key_labels: torch.Tensor, labels: torch.Tensor,
                      exclude_self: bool = False) -> float:
    sims = F.normalize(queries, dim=1) @ F.normalize(keys, dim=1).T
    if exclude_self:
        sims.fill_diagonal_(-float("inf"))
    return (key_labels[sims.argmax(1)] == labels).float().mean().item()


class CanonicalMeasures(Evaluator):
    """On test samples of the unseen classes: cosine between model B's embedding and model A's embedding
    before (raw) and after the map, for images and for texts; zero-shot class accuracy with text prototypes
    (mean text embedding of each class's train texts) within model B and across (aligned A images -> B
    prototypes); class top-1 retrieval of B images from aligned A images vs from B images; R's deviation
    from orthogonality."""

    metrics = ("orthogonality_error", "image_cos_before", "image_cos_after", "text_cos_before", "text_cos_after",
               "zero_shot_within", "zero_shot_cross", "retrieval_within", "retrieval_cross")

    def evaluate(self, artifact: dict[str, DualEncoder]) -> dict[str, float]:
        cfg, data = self.config, self.data
        a, b = artifact["a"], artifact["b"]
        seen = seen_classes(cfg)
        train_seen = torch.isin(data.train.labels, seen)
        anchors = torch.nonzero(train_seen).flatten()[: cfg.anchors]
        seen_texts = data.train.texts[train_seen]
        canon = fit_canonical_map(a.embed(data.train.images[anchors]), b.embed(data.train.images[anchors]),
                                  a.embed(texts=seen_texts), b.embed(texts=seen_texts), cfg.centering)
        r = canon.rotation
        test = ~torch.isin(data.test.labels, seen)
        x, t, y = data.test.images[test], data.test.texts[test], data.test.labels[test]
        ia, ib, ta, tb = a.embed(x), b.embed(x), a.embed(texts=t), b.embed(texts=t)
        protos = torch.stack([b.embed(texts=data.train.texts[data.train.labels == c]).mean(0)
                              for c in range(data.classes)])
        classes = torch.arange(data.classes)
        return {
            "orthogonality_error": (r.T @ r - torch.eye(r.shape[0])).abs().max().item(),
            "image_cos_before": cosine(ia, ib), "image_cos_after": cosine(canon.images(ia), ib),
            "text_cos_before": cosine(ta, tb), "text_cos_after": cosine(canon.texts(ta), tb),
            "zero_shot_within": nearest_label_acc(ib, protos, classes, y),
            "zero_shot_cross": nearest_label_acc(canon.images(ia), protos, classes, y),
            "retrieval_within": nearest_label_acc(ib, ib, y, y, exclude_self=True),
            "retrieval_cross": nearest_label_acc(canon.images(ia), ib, y, y, exclude_self=True),
        }

    def load_data(self) -> PairedData:
        return make_paired(self.config.data)
