"""The measures of the image SSL methods, on a frozen :class:`EncoderArtifact`.

- ``ClassProbe``: linear-probe accuracy on the class (the papers' headline measure);
- ``KNNMonitor``: weighted kNN accuracy on the class (k = 200, tau = 0.5, as in CARE's monitor);
- ``ColourProbe``: linear-probe accuracy of the hue bin from un-augmented images, and the hue
  sensitivity 1 - cos(f(x), f(hue_shift(x))): how much colour the representation keeps;
- ``EquivarianceError``: for fixed augmentation pairs (t1, t2), the orthogonal map R that best takes
  f(t1 x) to f(t2 x) is fitted on one half of the test images and its residual measured on the other;
- ``NoisyProbe``: the class probe under symmetric label noise (a share of the train labels replaced by
  another class) and under Gaussian noise on the normalised inputs (train and test), as the
  monosemanticity paper's robustness probes;
- ``Monosemanticity``: that paper's feature statistics (non-negative share, sparsity, active dimensions,
  semantic consistency, effective rank) of the test features, and the semantic consistency of random codes
  with the same number of non-zeros per sample (its control: sparsity alone raises it).

The probes read frozen features of un-augmented images with a full-batch L-BFGS logistic regression
(CARE's ``linear.py`` trains a linear layer with Adam on augmented images instead: cheaper here, the
same question).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from shared.data import hue_shift, load_dataset
from shared.losses.contrastive import gram_discrepancy
from shared.method import Evaluator
from shared.methods.ssl.common import EncoderArtifact, to_float
from shared.metrics import (
    active_dims,
    effective_rank,
    knn_accuracy,
    linear_probe,
    nonneg_ratio,
    procrustes_residual,
    semantic_consistency,
    semantic_consistency_control,
    sparsity,
    symmetric_label_noise,
)


class SSLEvaluator(Evaluator):
    def load_data(self) -> Any:
        return load_dataset(self.config.data)

    def train_test(self, artifact: EncoderArtifact) -> tuple[torch.Tensor, torch.Tensor]:
        space = self.config.eval.feature
        return (artifact.features(self.data.train, "train", space),
                artifact.features(self.data.test, "test", space))


class ClassProbe(SSLEvaluator):
    metrics = ("linear_probe_acc",)

    def evaluate(self, artifact: EncoderArtifact) -> dict[str, float]:
        xtr, xte = self.train_test(artifact)
        acc = linear_probe(xtr, self.data.train.labels, xte, self.data.test.labels,
                           weight_decay=self.config.eval.probe_weight_decay)
        return {"linear_probe_acc": acc}


class KNNMonitor(SSLEvaluator):
    metrics = ("knn_acc",)

    def evaluate(self, artifact: EncoderArtifact) -> dict[str, float]:
        xtr, xte = self.train_test(artifact)
        ev = self.config.eval
        acc = knn_accuracy(xtr, self.data.train.labels, xte, self.data.test.labels,
                           k=ev.knn_k, temperature=ev.knn_temperature)
        return {"knn_acc": acc}


class ColourProbe(SSLEvaluator):
    metrics = ("colour_probe_acc", "hue_sensitivity")

    def evaluate(self, artifact: EncoderArtifact) -> dict[str, float]:
        xtr, xte = self.train_test(artifact)
        ev = self.config.eval
        acc = linear_probe(xtr, self.data.train.factors["hue_bin"], xte, self.data.test.factors["hue_bin"],
                           weight_decay=ev.probe_weight_decay)
        images = to_float(self.data.test.images)
        shifted = artifact.embed(hue_shift(images, ev.hue_shift), ev.feature, normalized=True)
        distance = 1.0 - (F.normalize(xte, dim=1) * shifted).sum(1).mean().item()
        return {"colour_probe_acc": acc, "hue_sensitivity": distance}


class EquivarianceError(SSLEvaluator):
    metrics = ("equiv_error", "equiv_residual", "equiv_rotation_angle", "gram_discrepancy")

    def evaluate(self, artifact: EncoderArtifact) -> dict[str, float]:
        ev = self.config.eval
        images = to_float(self.data.test.images)
        half = images.shape[0] // 2
        generator = torch.Generator().manual_seed(ev.seed)
        sums = {"equiv_error": 0.0, "equiv_residual": 0.0, "equiv_rotation_angle": 0.0, "gram_discrepancy": 0.0}
        for _ in range(ev.equiv_pairs):
            # One pair (t1, t2) applied identically to every test image: chunks=1.
            z1 = self._embed(artifact, artifact.augment.same_per_chunk(images, 1, generator))
            z2 = self._embed(artifact, artifact.augment.same_per_chunk(images, 1, generator))
            fit = procrustes_residual(z1[:half], z2[:half], z1[half:], z2[half:])
            sums["equiv_error"] += fit["relative_residual"]
            sums["equiv_residual"] += fit["residual"]
            sums["equiv_rotation_angle"] += fit["rotation_angle"]
            sums["gram_discrepancy"] += mean_gram_discrepancy(z1[half:], z2[half:])
        return {k: v / ev.equiv_pairs for k, v in sums.items()}

    def _embed(self, artifact: EncoderArtifact, views: torch.Tensor) -> torch.Tensor:
        # The views are already normalised by the augmentation; embed() normalises raw [0,1] images,
        # so pass the augmented views through the model directly.
        with torch.no_grad():
            out = [artifact.model(views[i : i + 512]) for i in range(0, views.shape[0], 512)]
        space = 0 if self.config.eval.equiv_space == "backbone" else 1
        return F.normalize(torch.cat([o[space] for o in out]), dim=1)


def mean_gram_discrepancy(z1: torch.Tensor, z2: torch.Tensor) -> float:
    """CARE's Gram discrepancy per off-diagonal pair (independent of the number of points)."""
    b = z1.shape[0]
    return gram_discrepancy(z1, z2).item() / (2.0 * (b - 1))


class NoisyProbe(SSLEvaluator):
    metrics = ("probe_acc_label_noise", "probe_acc_input_noise")

    def evaluate(self, artifact: EncoderArtifact) -> dict[str, float]:
        ev = self.config.eval
        generator = torch.Generator().manual_seed(ev.seed)  # the same noise for every method and trial
        xtr, xte = self.train_test(artifact)
        train_y, test_y = self.data.train.labels, self.data.test.labels
        noisy_y = symmetric_label_noise(train_y, ev.label_noise, self.data.num_classes, generator)
        label_noise = linear_probe(xtr, noisy_y, xte, test_y, weight_decay=ev.probe_weight_decay)
        noisy = [artifact.embed(to_float(split.images), ev.feature, noise_std=ev.input_noise_std, generator=generator)
                 for split in (self.data.train, self.data.test)]
        input_noise = linear_probe(noisy[0], train_y, noisy[1], test_y, weight_decay=ev.probe_weight_decay)
        return {"probe_acc_label_noise": label_noise, "probe_acc_input_noise": input_noise}


class Monosemanticity(SSLEvaluator):
    metrics = ("nonneg_ratio", "sparsity", "active_dims", "semantic_consistency", "semantic_consistency_control",
               "effective_rank")

    def evaluate(self, artifact: EncoderArtifact) -> dict[str, float]:
        _, z = self.train_test(artifact)
        return {"nonneg_ratio": nonneg_ratio(z), "sparsity": sparsity(z), "active_dims": float(active_dims(z)),
                "semantic_consistency": semantic_consistency(z, self.data.test.labels),
                # the same statistic on random codes of the same sparsity: what sparsity alone scores
                "semantic_consistency_control": semantic_consistency_control(z, self.data.test.labels),
                "effective_rank": effective_rank(z)}


SSL_EVALUATORS = (ClassProbe, KNNMonitor, ColourProbe, EquivarianceError, NoisyProbe, Monosemanticity)
