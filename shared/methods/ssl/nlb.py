"""No-label backdoors: "How to Craft Backdoors with Unlabeled Data Alone?" (Wang, Ma, Jegelka, Wang; arXiv
2404.06694, ICLR 2024 DPFM workshop). Official code: `PKU-ML/nlb` (solo-learn based).

Purpose: robustness research. The method measures how vulnerable self-supervised pretraining is to an attacker
who can poison a share of the *unlabelled* pretraining images but sees no label: how pure a poison set such an
attacker can pick (TPR), and how often a trigger then flips a downstream linear classifier (ASR) while the
clean accuracy stays. Those figures are what a defence has to lower; nothing here targets a deployed system.

Pipeline, as one run whose epochs have two phases (the `sae_probe` pattern), so that it resumes and reports like
any other method:

1. **Split** the train images: ``pretrain_fraction`` of each class (official 90%) to the unlabelled pretraining
   set D_pre, the rest to the clean labelled downstream set D_down; seeded by ``split_seed`` (official 42) and
   the same for every trial seed, as the official fixed index files.
2. **Surrogate** (epochs 1..``surrogate_epochs``): a clean SimCLR encoder on D_pre, exactly the `simclr` loop.
3. **Select** (at the end of the last surrogate epoch): M = floor(poison_rate * |D_pre| / C) images from the
   L2-normalised surrogate features h_i (backbone, un-augmented images; ``selection_space``):
   - ``contrastive``: S = H H^T; score(a) = sum_{k<=M} s_a(k) - sum_{M<k<=2M} s_a(k) over a's sorted
     similarities; the poison set is the M nearest neighbours of argmax_a score(a) (anchor included);
   - ``clustering``: k-means with C clusters (``n_clusters``; 0 = C); the smallest cluster with >= M members,
     its first M members;
   - ``random``: M indices uniformly (the baseline).
   (``shared/poison.py`` has the rules and their equations.)
4. **Poison**: the 3x3 checkerboard is stamped at the image centre of the selected pretraining images, on raw
   pixels before augmentation, alpha = ``trigger_alpha`` (official 1.0). No label changes.
5. **Victim** (the remaining ``epochs - surrogate_epochs``): a SimCLR encoder trained *from scratch* (fresh
   initialisation and optimizer, learning-rate schedule restarted) on the poisoned D_pre.
6. **Evaluate** (frozen encoder, ``eval.feature``): a linear probe (``shared/metrics/probe.py``) fitted on the
   clean D_down. ``clean_acc``: its accuracy on the clean test images. The target class t is the majority true
   label of the poison set (the official ``anchor_label``; the attacker never uses it, it is only how the
   attack is scored). ``attack_success_rate``: among test images whose true label is not t, the share
   predicted t once triggered (official ``attack_success_rate``). ``poison_purity``: the TPR, the share of the
   poison set whose label is t.

What the evaluators report before the victim phase (``victim_epochs = epochs - surrogate_epochs`` may be 0, a
selection-only run):
- before the selection (an ``eval_every`` round inside the surrogate phase): ``poison_purity`` and
  ``attack_success_rate`` are NaN (there is no poison set, hence no target class); ``clean_acc`` is the current
  surrogate's;
- after the selection, before any victim epoch: ``poison_purity`` is final; ``clean_acc`` is the clean
  surrogate's and ``attack_success_rate`` is the *clean* surrogate's rate for this trigger and target (the
  reference a poisoned victim should exceed), since the artifact's encoder is still the surrogate.

Deviations from the official code:
- Backbone, optimizer and scale: the platform's small ConvNet (or ResNet-18), Adam and the platform's SimCLR
  recipe with the official tau 0.2 on colourised digits at 16 px (``configs/methods/nlb.yaml``), instead of
  ResNet-18 / LARS (lr 0.4) / 500 epochs / projector 2048 -> 256 on CIFAR-10; the probe is the platform's full-batch
  L-BFGS logistic regression on frozen features of un-augmented images instead of 100 epochs of SGD on
  augmented images.
- Hue jitter 0.5 (official CIFAR recipe: 0.2) in the defaults: the generated sets paint each image a random
  colour independent of the class, and with a small hue jitter the surrogate's tightest neighbourhoods are
  colours, not classes (measured on digits, 16 surrogate epochs, hue 0.1: the contrastive set is 77-79% one
  hue bin of 8, class TPR 0.27-0.36; hue 0.5: class TPR 1.0, hue-bin purity 0.17-0.20).
- The surrogate and the victim use the same recipe and the same D_pre, as in the paper's main tables; they
  differ by initialisation (victim: torch seed ``victim_seed(seed)``, a stream no trial's surrogate uses) and
  data order.
- k-means is seeded (``random_state = seed``, ``n_init = 3``); the official MiniBatchKMeans is unseeded.
  Random selection draws from its own generator seeded with ``seed`` (official: Python's ``random`` under
  the poison seed 43).
- The contrastive poison set always contains the anchor, listed first (the official top-M of h @ h_anchor
  contains it unless another image duplicates it).
- The trigger's centre is ((H-1)//2, (W-1)//2), i.e. the official (15, 15) at 32 px, for any image size.
  The official 3x3 values are written into a one-channel pattern that broadcasts over R, G, B, so the
  "colour" checkerboard is black and white; it is stamped the same way here.
- The per-class split floors fraction * n_c per class (the official floors |D| / C * fraction, for the balanced
  CIFAR-10) and shuffles D_pre and D_down with numpy's seeded Generator instead of Python's ``random``.
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from shared.augment import SimCLRAugment
from shared.config import ConfigError
from shared.data import ImageDataset, ImageSplit, load_dataset
from shared.method import Evaluator, OptimConfig
from shared.methods.ssl.common import EncoderArtifact, SimCLRTrainer, to_float
from shared.methods.ssl.config import NLBConfig  # torch-free, for the driver
from shared.methods.ssl.specs import NLB as SPEC  # noqa: F401  (the registry's entry; torch-free)
from shared.metrics import linear_probe
from shared.poison import (
    add_checkerboard,
    clustering_selection,
    contrastive_selection,
    majority_label,
    purity,
    random_selection,
)

# ----------------------------------------------------------------------------------------------------
# data: the unlabelled pretraining split (poisoned once the selection has run) and the labelled downstream split


@dataclass
class NLBData(ImageDataset):
    """``train`` is what the encoder trains on: the pretraining split, with the trigger on the poison set once
    it is chosen; ``pretrain`` is the same split kept clean; ``downstream`` is the clean labelled split."""

    pretrain: ImageSplit | None = None
    downstream: ImageSplit | None = None


def subset(split: ImageSplit, idx: torch.Tensor) -> ImageSplit:
    return ImageSplit(split.images[idx], split.labels[idx], {k: v[idx] for k, v in split.factors.items()})


VICTIM_STREAM = 1  # the SeedSequence spawn key of the victim's initialisation


def victim_seed(seed: int) -> int:
    """The victim's torch seed for trial ``seed``: a child of ``seed`` in numpy's SeedSequence tree with the top of
    64 bits set, so that it is never a plain trial seed (< 2**63), i.e. never another trial's surrogate
    initialisation (``seed + 1`` was the next trial's surrogate)."""
    entropy = seed % (1 << 64)  # SeedSequence takes non-negative entropy; torch seeds live in 64 bits anyway
    state = np.random.SeedSequence(entropy, spawn_key=(VICTIM_STREAM,)).generate_state(1, np.uint64)[0]
    return int(state) | (1 << 63)


def split_per_class(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """floor(fraction * n_c) random images of each class c to the first part, the rest to the second; both
    parts shuffled (``misc/cifar10_split.py``)."""
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    first, second = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(fraction * idx.size)
        first.append(idx[:k])
        second.append(idx[k:])
    return (torch.from_numpy(rng.permutation(np.concatenate(first))).long(),
            torch.from_numpy(rng.permutation(np.concatenate(second))).long())


def load_nlb_data(cfg: NLBConfig) -> NLBData:
    data = load_dataset(cfg.data)
    pre, down = split_per_class(data.train.labels, cfg.pretrain_fraction, cfg.split_seed)
    pretrain = subset(data.train, pre)
    return NLBData(name=data.name, train=pretrain, test=data.test, class_names=data.class_names,
                   hue_bins=data.hue_bins, pretrain=pretrain, downstream=subset(data.train, down))


def poison_count(cfg: NLBConfig, n_pretrain: int, num_classes: int) -> int:
    """M = floor(poison_rate * |D_pre| / C) (``main_poison.py``)."""
    return int(cfg.poison_rate * n_pretrain / num_classes)


# ----------------------------------------------------------------------------------------------------
# trainer


class NLBArtifact(EncoderArtifact):
    """The current encoder (the surrogate until the victim phase starts, then the victim) with the poison set
    (None before the selection) and its target class."""

    def __init__(self, model: torch.nn.Module, augment: SimCLRAugment, poison_indices: torch.Tensor | None,
                 target_class: int | None, victim: bool) -> None:
        super().__init__(model, augment)
        self.poison_indices = None if poison_indices is None else poison_indices.clone()
        self.target_class = target_class
        self.victim = victim


class NLBTrainer(SimCLRTrainer):
    config: NLBConfig
    data: NLBData

    def setup(self) -> None:
        cfg = self.config
        self.data = load_nlb_data(cfg)
        self.augment = SimCLRAugment(cfg.augment, cfg.data.image_size)
        n_pre = len(self.data.pretrain)
        if self.steps_per_epoch() == 0:
            raise ConfigError(f"batch_size: {cfg.batch_size} exceeds the {n_pre} pretraining images "
                              f"(pretrain_fraction={cfg.pretrain_fraction} of data.n_train)")
        self.num_poisons = poison_count(cfg, n_pre, self.data.num_classes)
        if self.num_poisons < 1:
            raise ConfigError(f"poison_rate: {cfg.poison_rate} selects no image of {n_pre} pretraining images "
                              f"in {self.data.num_classes} classes")
        self.poison_indices: torch.Tensor | None = None
        self.target_class: int | None = None

    # -- phases ----------------------------------------------------------------------------------
    def in_victim_phase(self) -> bool:
        return self.epoch >= self.config.surrogate_epochs

    def fit_epoch(self) -> dict[str, float]:
        surrogate_epochs = self.config.surrogate_epochs
        if self.epoch < surrogate_epochs:
            metrics = super().fit_epoch()
            if self.epoch == surrogate_epochs:
                start = time.perf_counter()
                self.select()
                metrics["selection_time_s"] = time.perf_counter() - start
            return metrics
        if self.epoch == surrogate_epochs:
            self.start_victim()
        return super().fit_epoch()

    @torch.no_grad()
    def select(self) -> torch.Tensor:
        """Choose the poison set from the current (surrogate) encoder and stamp the trigger on it."""
        cfg, m = self.config, self.num_poisons
        pretrain = self.data.pretrain
        if cfg.selection == "random":
            idx = random_selection(len(pretrain), m, torch.Generator().manual_seed(cfg.seed))
        else:
            features = EncoderArtifact(self.model, self.augment).embed(to_float(pretrain.images),
                                                                       cfg.selection_space)
            if cfg.selection == "contrastive":
                idx = contrastive_selection(features, m)
            else:
                idx = clustering_selection(features, m, cfg.n_clusters or self.data.num_classes, seed=cfg.seed)
        self.poison(idx)
        return idx

    def poison(self, idx: torch.Tensor) -> None:
        pretrain = self.data.pretrain
        self.poison_indices = idx.long().clone()
        self.target_class = majority_label(self.poison_indices, pretrain.labels)
        images = pretrain.images.clone()
        images[self.poison_indices] = add_checkerboard(images[self.poison_indices], self.config.trigger_alpha)
        self.data.train = ImageSplit(images, pretrain.labels, pretrain.factors)

    def start_victim(self) -> None:
        """A fresh encoder and optimizer for the victim; seeded apart from the surrogate's initialisation and
        without touching the global RNG, so that a run resumed at this point draws the same."""
        with torch.random.fork_rng():
            torch.manual_seed(victim_seed(self.config.seed))
            self.model = self.build_model()
        self.optimizer = self.configure_optimizer()

    def learning_rate(self) -> float:
        """The base schedule (warm-up, then constant or cosine) run separately in each phase."""
        cfg = self.config
        opt: OptimConfig = cfg.optim
        steps = self.steps_per_epoch()
        if self.in_victim_phase():
            step, phase_epochs = self.global_step - cfg.surrogate_epochs * steps, cfg.victim_epochs
        else:
            step, phase_epochs = self.global_step, cfg.surrogate_epochs
        warm = opt.warmup_epochs * steps
        if step < warm:
            return opt.lr * (step + 1) / warm
        if opt.schedule == "cosine":
            progress = min((step - warm) / max(phase_epochs * steps - warm, 1), 1.0)
            return opt.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
        return opt.lr

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        selected = self.poison_indices is not None
        return {**super().state_dict(),
                "poison_indices": self.poison_indices.clone() if selected else torch.zeros(0, dtype=torch.long),
                "selected": selected}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        if state["selected"]:
            self.poison(state["poison_indices"])
        else:
            self.poison_indices, self.target_class = None, None
            self.data.train = self.data.pretrain

    def load_prefix_state(self, state: Mapping[str, Any]) -> None:
        """The final state of the surrogate run ``config.prefix_run()`` names: its encoder, optimizer, RNG streams
        and epoch, not its poison set; this run's own selection is made on that surrogate."""
        super().load_state_dict(state)  # SimCLR's, not NLBTrainer's: no poison set
        self.poison_indices, self.target_class = None, None
        self.data.train = self.data.pretrain
        if self.epoch == self.config.surrogate_epochs:
            self.select()

    def artifact(self) -> NLBArtifact:
        return NLBArtifact(self.model, self.augment, self.poison_indices, self.target_class,
                           victim=self.epoch > self.config.surrogate_epochs)


# ----------------------------------------------------------------------------------------------------
# evaluators


class NLBEvaluator(Evaluator):
    config: NLBConfig

    def load_data(self) -> NLBData:
        return load_nlb_data(self.config)

    def downstream_test(self, artifact: NLBArtifact) -> tuple[torch.Tensor, torch.Tensor]:
        space = self.config.eval.feature
        return (artifact.features(self.data.downstream, "downstream", space),
                artifact.features(self.data.test, "test", space))


class PoisonPurity(NLBEvaluator):
    """TPR: the share of the poison set whose true label is its majority label (NaN before the selection)."""

    metrics = ("poison_purity",)

    def evaluate(self, artifact: NLBArtifact) -> dict[str, float]:
        if artifact.poison_indices is None:
            return {"poison_purity": math.nan}
        return {"poison_purity": purity(artifact.poison_indices, self.data.pretrain.labels)}


class CleanAccuracy(NLBEvaluator):
    """Linear probe fitted on the clean downstream split, accuracy on the clean test images."""

    metrics = ("clean_acc",)

    def evaluate(self, artifact: NLBArtifact) -> dict[str, float]:
        xtr, xte = self.downstream_test(artifact)
        acc = linear_probe(xtr, self.data.downstream.labels, xte, self.data.test.labels,
                           weight_decay=self.config.eval.probe_weight_decay)
        return {"clean_acc": acc}


class AttackSuccessRate(NLBEvaluator):
    """Share of triggered test images of true label != target that the clean-split probe calls the target
    (NaN before the selection). The probe is the same deterministic fit as ``clean_acc``'s."""

    metrics = ("attack_success_rate",)

    def evaluate(self, artifact: NLBArtifact) -> dict[str, float]:
        target = artifact.target_class
        if target is None:
            return {"attack_success_rate": math.nan}
        xtr, _ = self.downstream_test(artifact)
        test = self.data.test
        keep = test.labels != target
        triggered = add_checkerboard(test.images[keep], self.config.trigger_alpha)
        x = artifact.embed(to_float(triggered), self.config.eval.feature)
        # accuracy against the constant label `target` = the share predicted as the target
        asr = linear_probe(xtr, self.data.downstream.labels, x, torch.full((x.shape[0],), target),
                           weight_decay=self.config.eval.probe_weight_decay)
        return {"attack_success_rate": asr}
