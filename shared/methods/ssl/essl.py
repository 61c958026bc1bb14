"""E-SSL: "Understanding the Role of Equivariance in Self-supervised Learning" (Wang, Hu, Gupta, Ye, Wang,
Jegelka; NeurIPS 2024, arXiv 2411.06508).

Equivariant SSL as discrete transformation prediction: each training image gets a uniformly drawn label r,
is transformed by operation r of the task (``shared/pretext.py``: four-fold rotation, flips, colour
inversion, grayscale, blur, 2x2 jigsaw) after a base random crop, and an MLP head predicts r:

    normal:     L = CE(head(f(t_r x)), r)
    add:        L = CE_rot + lambda * CE(cls(f(x_r)), y)          (inject class information)
    eliminate:  the encoder minimises CE_rot - lambda * CE_cls, the classifier minimises CE_cls
                (implemented with a gradient-reversal layer between f and cls)

The modes are the paper's explaining-away verification (official ``verification.py``): class and
transformation are independent a priori but dependent given the image, so class features help to predict
the transformation; adding class information should help rotation prediction and removing it should hurt.
``pretrain: false`` leaves the encoder at its random initialisation (the official ``none`` baseline).

Deviations: the official runs use ResNet-18, SGD with a cosine-shaped LambdaLR multiplier and an online
linear probe; here the encoder is the platform's ConvNet by default, evaluated by the shared offline probes.
Blur levels use a fixed sigma per kernel size (OpenCV's rule) so that each label is one operation.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shared.methods.ssl.common import EncoderArtifact, ImageTrainer, to_float
from shared.methods.ssl.config import ESSLConfig  # torch-free, for the driver
from shared.methods.ssl.evaluators import SSLEvaluator
from shared.methods.ssl.specs import ESSL as SPEC  # noqa: F401  (the registry's entry; torch-free)
from shared.models.vision import ConvNet, EncoderConfig, ResNet18
from shared.pretext import TASKS, apply_transform, random_labels, random_translate


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by -scale (Ganin & Lempitsky, 2015)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


class ESSLModel(nn.Module):
    """Backbone f, transformation head (f -> hidden -> ReLU -> |A|) and a class head for add / eliminate.
    ``forward`` returns (h, transformation logits), the (representation, projection) pair of the SSL
    evaluators."""

    def __init__(self, cfg: EncoderConfig, n_transforms: int, n_classes: int, hidden: int) -> None:
        super().__init__()
        self.backbone = ConvNet(cfg.width) if cfg.backbone == "convnet" else ResNet18(cfg.width)
        d = self.backbone.out_dim
        self.head = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_transforms))
        self.classifier = nn.Linear(d, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone(x)
        return h, self.head(h)


class ESSLTrainer(ImageTrainer):
    config: ESSLConfig

    def build_model(self) -> nn.Module:
        cfg = self.config
        return ESSLModel(cfg.model, TASKS[cfg.task], len(self.data.class_names), cfg.head_hidden)

    def setup(self) -> None:
        super().setup()
        labels = self.data.train.labels
        # the control's labels: a permutation drawn once from the seed, so each image keeps one (meaningless) label
        permutation = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.config.seed + 1))
        self.class_labels = labels[permutation] if self.config.shuffle_classes else labels

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        b = self.config.batch_size
        order = torch.randperm(len(self.data.train), generator=self.generator)
        for step in range(self.steps_per_epoch()):
            rows = order[step * b : (step + 1) * b]
            yield to_float(self.data.train.images[rows]), self.class_labels[rows]

    def fit_epoch(self) -> dict[str, float]:
        if self.config.pretrain:
            return super().fit_epoch()
        self._set_batchnorm_statistics()  # the random-init baseline: no weight is trained
        self.epoch += 1
        return {"loss": 0.0}

    @torch.no_grad()
    def _set_batchnorm_statistics(self) -> None:
        """BatchNorm's running mean and variance set to their averages over the train batches (un-augmented,
        normalised), as any trained arm has them, so that the baseline differs from training only in its weights."""
        norms = {m: m.momentum for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over this pass
        self.model.train()
        for images, _ in self.batches():
            self.model(self.augment.normalize(images))
        for norm, momentum in norms.items():
            norm.momentum = momentum

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        images, classes = batch
        labels = random_labels(cfg.task, images.shape[0], self.generator)
        x = random_translate(images, cfg.max_shift, self.generator)
        h, logits = self.model(self.augment.normalize(apply_transform(cfg.task, x, labels)))
        transform_ce = F.cross_entropy(logits, labels)
        parts = {"transform_ce": transform_ce.item(),
                 "transform_acc": (logits.argmax(1) == labels).float().mean().item()}
        if cfg.mode == "normal":
            return transform_ce, parts
        features = h if cfg.mode == "add" else GradientReversal.apply(h, cfg.lam)
        class_logits = self.model.classifier(features)
        class_ce = F.cross_entropy(class_logits, classes)
        parts.update(class_ce=class_ce.item(), class_acc=(class_logits.argmax(1) == classes).float().mean().item())
        # add: lam weighs the class term for everything; eliminate: the reversal layer applies lam to the
        # encoder's share only, so the classifier still minimises CE_cls at full strength
        weight = cfg.lam if cfg.mode == "add" else 1.0
        return transform_ce + weight * class_ce, parts

    def artifact(self) -> Any:
        return EncoderArtifact(self.model, self.augment)


class TransformPrediction(SSLEvaluator):
    """Held-out accuracy of predicting the task's transformation of un-augmented test images (labels drawn
    with the evaluation seed, so every model sees the same transformed set)."""

    metrics = ("transform_acc",)

    def evaluate(self, artifact: EncoderArtifact) -> dict[str, float]:
        task = self.config.task
        images = to_float(self.data.test.images)
        labels = random_labels(task, images.shape[0], torch.Generator().manual_seed(self.config.eval.seed))
        views = artifact.augment.normalize(apply_transform(task, images, labels))
        with torch.no_grad():
            logits = torch.cat([artifact.model(views[i : i + 512])[1] for i in range(0, len(views), 512)])
        return {"transform_acc": (logits.argmax(1) == labels).float().mean().item()}
