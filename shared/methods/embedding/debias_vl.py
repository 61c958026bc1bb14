"""Debiasing text embeddings with biased prompts: "Debiasing Vision-Language Models via Biased Prompts"
(Chuang, Jampani, Li, Torralba, Jegelka; arXiv 2302.00070).

Closed form (official ``discriminative/main.py``), for text embeddings z in R^d:

    P0 = I - B (B^T B)^{-1} B^T                      B: a basis of the spurious prompts' span ("Orth-Proj")
    M  = (1/|S|) sum_{(i,j) in S} (z_i - z_j)(z_i - z_j)^T      S: prompt pairs differing only in the attribute
    P* = argmin_P ||P - P0||_F^2 + lam (1/|S|) sum ||P z_i - P z_j||^2 = P0 (I + lam M)^{-1}   ("Orth-Cali")

(setting the gradient 2(P - P0) + 2 lam P M to zero gives P (I + lam M) = P0). A debiased class embedding
is normalize(P t); image embeddings are left as they are. ``variant: orth_proj`` uses P0 alone.

The text encoder is the shipped all-MiniLM-L6-v2 (``shared/text.py``) instead of CLIP's text tower, which is
not available offline; the prompts are configuration (gender as the spurious attribute, professions as the
classes, as in the paper's generative experiment). Pairs of the calibration classes build M; the measures
are taken on held-out classes.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from shared.method import Evaluator, Trainer
from shared.methods.embedding.config import DebiasConfig  # torch-free, for the driver
from shared.methods.embedding.specs import DEBIAS_VL as SPEC  # noqa: F401  (the registry's entry)
from shared.text import encode_texts


def spurious_projection(spurious: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
    """P0 = I - B (B^T B)^{-1} B^T for the span of the rows of ``spurious`` (k x d): the orthogonal projection
    onto its complement, built from an orthonormal basis of the span (the right singular vectors)."""
    _, s, vh = torch.linalg.svd(spurious.double(), full_matrices=False)
    basis = vh[s > tol * s.max()]  # (rank, d)
    return torch.eye(spurious.shape[1], dtype=torch.float64) - basis.T @ basis


def pair_second_moment(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """M = mean over pairs of (z_i - z_j)(z_i - z_j)^T."""
    diff = (first - second).double()
    return diff.T @ diff / diff.shape[0]


def calibrated_projection(p0: torch.Tensor, m: torch.Tensor, lam: float) -> torch.Tensor:
    """P* = P0 (I + lam M)^{-1}, the minimiser of ||P - P0||_F^2 + lam tr(P M P^T)."""
    eye = torch.eye(m.shape[0], dtype=torch.float64)
    return torch.linalg.solve(eye + lam * m.double(), p0.double(), left=False)


def calibration_objective(p: torch.Tensor, p0: torch.Tensor, m: torch.Tensor, lam: float) -> torch.Tensor:
    """||P - P0||_F^2 + lam (1/|S|) sum ||P (z_i - z_j)||^2, written with M."""
    return (p - p0).pow(2).sum() + lam * torch.trace(p @ m @ p.T)


def pair_prompts(cfg: DebiasConfig, classes: list[str]) -> tuple[list[str], list[str]]:
    a, b = cfg.attributes
    return ([cfg.pair_template.format(attribute=a, cls=c) for c in classes],
            [cfg.pair_template.format(attribute=b, cls=c) for c in classes])


class DebiasTrainer(Trainer):
    config: DebiasConfig

    def __init__(self, config: DebiasConfig) -> None:
        super().__init__(config)
        self.projection = torch.eye(0)

    def fit_epoch(self) -> dict[str, float]:
        cfg = self.config
        p0 = spurious_projection(encode_texts(cfg.spurious_prompts))
        first, second = pair_prompts(cfg, cfg.calibration_classes)
        m = pair_second_moment(encode_texts(first), encode_texts(second))
        self.projection = p0 if cfg.variant == "orth_proj" else calibrated_projection(p0, m, cfg.lam)
        self.epoch += 1
        return {"loss": calibration_objective(self.projection, p0, m, cfg.lam).item(),
                "spurious_rank": float(p0.shape[0] - torch.trace(p0).round().item())}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "projection": self.projection}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.projection = state["projection"]

    def artifact(self) -> torch.Tensor:
        return self.projection


def project(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return F.normalize((z.double() @ p.T).float(), dim=1)


class DebiasMeasures(Evaluator):
    """On the held-out classes, before (identity) and after the projection:
    pair_cos: cosine of the two attribute versions of the same class prompt (1 = the attribute is gone);
    attribute_alignment: mean |cos| of the neutral class prompts with the attribute direction, the unit mean
        difference of the original attribute-a and attribute-b prompts (0 = no attribute component);
    class_retrieval: share of attribute prompts whose nearest neutral class prompt is their own class
        (the class information the projection must keep);
    class_cos: mean cosine between different neutral class prompts (they must stay apart)."""

    metrics = tuple(f"{m}_{when}" for m in ("pair_cos", "attribute_alignment", "class_retrieval", "class_cos")
                    for when in ("before", "after"))

    def evaluate(self, artifact: torch.Tensor) -> dict[str, float]:
        cfg = self.config
        classes = cfg.eval_classes
        first, second = (encode_texts(p) for p in pair_prompts(cfg, classes))
        neutral = encode_texts([cfg.class_template.format(cls=c) for c in classes])
        direction = F.normalize((first - second).mean(0), dim=0)  # fixed: measured in the original space
        out = {}
        for when, p in (("before", torch.eye(artifact.shape[0], dtype=torch.float64)), ("after", artifact)):
            a, b, t = project(p, first), project(p, second), project(p, neutral)
            sims = torch.cat([a, b]) @ t.T
            own = torch.arange(len(classes)).repeat(2)
            off = ~torch.eye(len(classes), dtype=torch.bool)
            out[f"pair_cos_{when}"] = (a * b).sum(1).mean().item()
            out[f"attribute_alignment_{when}"] = (t @ direction).abs().mean().item()
            out[f"class_retrieval_{when}"] = (sims.argmax(1) == own).float().mean().item()
            out[f"class_cos_{when}"] = (t @ t.T)[off].mean().item()
        return out
