"""DisentangledSSL: "An Information Criterion for Controlled Disentanglement of Multimodal Data" (Wang, Gupta,
Zhang, Tonekaboni, Jegelka, Jaakkola, Uhler; ICLR 2025, arXiv 2410.23996), on the paper's synthetic task
(``shared/data/multimodal.py``).

Two steps, run as two phases of one run (as ``sae_probe`` does): the first ``step1_epochs`` epochs train
step 1, the remaining ``epochs - step1_epochs`` train step 2 on the frozen step-1 encoders.

**Step 1, shared representation Z_c** (official ``MVInfoMaxModel``). MLP encoders e_m (Linear(d -> hidden),
ReLU, Linear(hidden -> dim)); mu_m = e_m(x^m) / ||e_m(x^m)||; z_m ~ vMF(mu_m, kappa), reparameterised:

    L_1 = SupCon_tau(z_1, z_2) + beta * SKL,        SKL = -(1/N) sum_i cos(mu_1i, mu_2i)

SupCon is the unsupervised two-view form with **cross-view negatives only** (the same-view blocks, self
included, are masked out of the denominator; CLIP-like), for anchors of both views:

    SupCon_tau(a, b) = 1/(2N) sum_i [ -log softmax_j(a_i . b_j / tau)_i  -log softmax_j(b_i . a_j / tau)_i ]

on L2-normalised a, b (tau = base_tau = 0.07, so the official tau / base_tau factor is 1). SKL is the
symmetric KL of two equal-kappa vMFs up to a constant and scale: it bounds the modality-specific
information kept, so a larger beta gives a more *minimal* shared representation.

**Step 2, modality-specific representations Z_s^m** (official ``DisenModel`` with condzs=True,
apdzs=True, usezsx=False, proj=none, ortho_norm=True). New MLP encoders s_m take [x^m, e_m(x^m)] (the
step-1 encoder's output, detached). Per modality, two augmented views x^m and v^m = aug(x^m); the joint
vector of modality 1 is [s_1(x^1), e_2(x^2)] (the shared part from the *other* modality), L2-normalised,
and likewise [s_2(x^2), e_1(x^1)]. With L_perp(s_1, c_1, s_2, c_2) = 0.5 (||S_1^T C_1||_F + ||S_2^T C_2||_F)
over the batch, rows of S_m = s_m(x^m) and C_m = e_m(x^m) L2-normalised, **not squared**:

    L_2 = SupCon(J_1(x), J_1(v)) + SupCon(J_2(x), J_2(v)) + lambda * [L_perp(views x) + L_perp(views v)]

(the official code sums the two views' penalties, each 0.5 (. + .), as here).

**Augmentation** (official ``augment_data``): each sample independently gets one of Gaussian noise
(std ``noise_scale`` = 0.01), zeroing of ``floor(drop_fraction * d)`` random coordinates (d // 10), or
the identity, with probability 1/3 each. Step 1 augments each modality once; step 2 draws
x = aug(x), v = aug(x) (the second view augments the first, as the official loop does).

**Evaluation** (official ``linearprobe`` / ``linearprobe_Disen``): linear probes (``shared.metrics.linear_probe``,
L-BFGS logistic regression on standardised features) of each label (y_s1, y_c, y_s2) from
(a) the shared representation [e_1(x^1), e_2(x^2)] (pre-sampling encoder outputs) -> ``shared_acc_*``;
(b) each specific representation s_m([x^m, e_m(x^m)]) -> ``specific{m}_acc_*``. Un-augmented inputs.
The specific metrics are always reported: before step 2 has run they read the randomly initialised
step-2 encoders (a baseline, not a result). ``shared_gap`` = acc(y_c) - mean acc(y_s1, y_s2) of the
shared representation; ``specific_gap`` = mean over m of acc(y_s^m) - acc(y_c) of Z_s^m: how well each
representation keeps its own factor and drops the other.

**Deviations from the official code** (``uhlerlab/DisentangledSSL``, ``synthetic_task/``):
- vMF sampling: a Gaussian-perturbation approximation for large kappa instead of Wood's rejection
  sampler: z = normalize(mu + P_mu eps), eps ~ N(0, I / kappa), P_mu the projection onto the tangent
  space at mu. For kappa = 1000 the vMF's tangent component is N(0, I_{d-1} / kappa) to first order; the
  approximation keeps every draw on ``self.generator`` so that resume is exact.
- Sized for CPUs: n = 20000 (paper 90000), hidden 256 / embedding 64 (512 / 100), 15 + 10 epochs
  (50 + 30), lr 1e-3 (1e-4) for both steps; cosine annealing per epoch within each step as the official.
- beta and lambda are constants (the official exponential schedulers run with start = end).
- One run holds both steps (the official step 2 loads a step-1 checkpoint by file name, trained with
  seed 0 for every step-2 seed); here step 2 continues the run's own step 1, so seeds vary both steps.
- Data are drawn with torch (the official uses numpy's global RNG): same distributions, other values.
- Linear probes: L-BFGS on standardised features (the official: sklearn LogisticRegression, max_iter 200).
"""
from __future__ import annotations

import copy
import math
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shared.data.multimodal import LABELS, MultimodalData, MultimodalSplit, generate
from shared.method import Evaluator, NonFiniteLossError, Trainer, rng_state, seed_everything, set_rng_state
from shared.methods.multimodal.config import DisentangledSSLConfig  # torch-free, for the driver
from shared.methods.multimodal.specs import DISENTANGLED_SSL as SPEC  # noqa: F401  (the registry's entry)
from shared.metrics import linear_probe

# ----------------------------------------------------------------------------------------------------
# the math (pure functions, unit-tested in tests/test_disentangled_ssl.py)


def cross_view_supcon(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """The official ``SupConLoss`` on features [a, b] with only cross-view negatives (CLIP-like).

    Row i of ``a`` and row i of ``b`` are positives; an anchor of one view is contrasted with all N rows
    of the other view (same-view rows, itself included, are left out of the denominator). Mean over
    the 2N anchors. Inputs are L2-normalised here.
    """
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def skl_vmf(mu1: torch.Tensor, mu2: torch.Tensor) -> torch.Tensor:
    """SKL between vMF(mu1, kappa) and vMF(mu2, kappa) up to a constant and scale: -mean cos(mu1, mu2)."""
    return -F.cosine_similarity(mu1, mu2, dim=1).mean()


def ortho_norm(s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """||S^T C||_F of the row-normalised batch embeddings S (N, d_s) and C (N, d_c); not squared."""
    return torch.linalg.matrix_norm(F.normalize(s, dim=1).T @ F.normalize(c, dim=1))


def orthogonality_penalty(s1: torch.Tensor, c1: torch.Tensor, s2: torch.Tensor, c2: torch.Tensor) -> torch.Tensor:
    """L_perp = 0.5 (||S_1^T C_1||_F + ||S_2^T C_2||_F) on row-normalised embeddings."""
    return 0.5 * (ortho_norm(s1, c1) + ortho_norm(s2, c2))


def vmf_sample(mu: torch.Tensor, kappa: float, generator: torch.Generator) -> torch.Tensor:
    """Approximate reparameterised draw from vMF(mu, kappa) for large kappa (mu rows unit-norm):
    normalize(mu + (I - mu mu^T) eps), eps ~ N(0, I / kappa)."""
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype) / math.sqrt(kappa)
    tangent = eps - (eps * mu).sum(1, keepdim=True) * mu
    return F.normalize(mu + tangent, dim=1)


def augment(x: torch.Tensor, generator: torch.Generator, noise_scale: float = 0.01,
            drop_fraction: float = 0.1) -> torch.Tensor:
    """Per sample, one of: + N(0, noise_scale^2) noise, zero floor(drop_fraction * d) random coordinates, identity.

    The official loop draws per sample; here one vectorised draw per batch (the same number of draws
    whatever the choices, so the generator's stream does not depend on the data).
    """
    n, d = x.shape
    choice = torch.randint(0, 3, (n, 1), generator=generator)
    noise = noise_scale * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    drop = int(d * drop_fraction)
    ranks = torch.rand(x.shape, generator=generator).argsort(dim=1).argsort(dim=1)
    keep = (ranks >= drop).to(x.dtype)  # exactly `drop` coordinates per row are zeroed
    return torch.where(choice == 0, x + noise, torch.where(choice == 1, x * keep, x))


def mlp(dim_in: int, hidden: int, dim_out: int, init_std: float) -> nn.Sequential:
    """Linear -> ReLU -> Linear; weights N(0, init_std^2) as the official 'normal' initialisation
    (init_std = 0: torch's default), biases torch's default."""
    net = nn.Sequential(nn.Linear(dim_in, hidden), nn.ReLU(), nn.Linear(hidden, dim_out))
    if init_std > 0:
        for layer in (net[0], net[2]):
            nn.init.normal_(layer.weight, mean=0.0, std=init_std)
    return net


# ----------------------------------------------------------------------------------------------------
# trainer


class DisentangledArtifact:
    """Frozen copies of the step-1 encoders (e1, e2) and the step-2 encoders (s1, s2); caches embeddings."""

    def __init__(self, step1: nn.Module, step2: nn.Module, batch_size: int = 4096) -> None:
        self.step1 = copy.deepcopy(step1).eval()
        self.step2 = copy.deepcopy(step2).eval()
        self.batch_size = batch_size
        self._cache: dict[tuple[str, int], torch.Tensor] = {}

    @torch.no_grad()
    def _rows(self, fn: Any, *xs: torch.Tensor) -> torch.Tensor:
        b = self.batch_size
        return torch.cat([fn(*(x[i : i + b] for x in xs)) for i in range(0, xs[0].shape[0], b)])

    def shared(self, split: MultimodalSplit) -> torch.Tensor:
        """[e1(x1), e2(x2)]: the step-1 encoders' outputs (the vMF means before normalisation)."""
        key = ("shared", id(split))
        if key not in self._cache:
            self._cache[key] = self._rows(lambda a, b: torch.cat([self.step1.e1(a), self.step1.e2(b)], 1),
                                          split.x1, split.x2)
        return self._cache[key]

    def specific(self, split: MultimodalSplit, m: int) -> torch.Tensor:
        """z_s^m = s_m([x^m, e_m(x^m)])."""
        key = (f"specific{m}", id(split))
        if key not in self._cache:
            enc, spec = self.step1[f"e{m}"], self.step2[f"s{m}"]
            x = split.x1 if m == 1 else split.x2
            self._cache[key] = self._rows(lambda a: spec(torch.cat([a, enc(a)], 1)), x)
        return self._cache[key]


class DisentangledSSLTrainer(Trainer):
    config: DisentangledSSLConfig

    def __init__(self, config: DisentangledSSLConfig) -> None:
        super().__init__(config)
        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.data: MultimodalData = generate(config.data)
        d, h, k, std = config.data.dim, config.hidden_dim, config.embed_dim, config.init_std
        self.step1 = nn.ModuleDict({"e1": mlp(d, h, k, std), "e2": mlp(d, h, k, std)})
        self.step2 = nn.ModuleDict({"s1": mlp(d + k, h, k, std), "s2": mlp(d + k, h, k, std)})
        self.optimizer1 = torch.optim.Adam(self.step1.parameters(), lr=config.lr_step1)
        self.optimizer2 = torch.optim.Adam(self.step2.parameters(), lr=config.lr_step2)

    # -- phases -----------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """The step the next epoch trains: 1 or 2."""
        return 1 if self.epoch < self.config.step1_epochs else 2

    def _lr(self, base: float, epoch_in_step: int, epochs_in_step: int) -> float:
        if self.config.schedule == "cosine":  # CosineAnnealingLR(T_max=epochs of the step), stepped per epoch
            return base * 0.5 * (1.0 + math.cos(math.pi * epoch_in_step / epochs_in_step))
        return base

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        train, b = self.data.train, self.config.batch_size
        order = torch.randperm(len(train), generator=self.generator)
        for start in range(0, len(train) - b + 1, b):  # drop_last, as the official DataLoader
            idx = order[start : start + b]
            yield train.x1[idx], train.x2[idx]

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return augment(x, self.generator, self.config.noise_scale, self.config.drop_fraction)

    def step1_loss(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        x1, x2 = self._augment(x1), self._augment(x2)
        mu1 = F.normalize(self.step1.e1(x1), dim=1)
        mu2 = F.normalize(self.step1.e2(x2), dim=1)
        z1 = vmf_sample(mu1, cfg.kappa, self.generator)
        z2 = vmf_sample(mu2, cfg.kappa, self.generator)
        supcon = cross_view_supcon(z1, z2, cfg.temperature)
        skl = skl_vmf(mu1, mu2)
        return supcon + cfg.beta * skl, {"supcon": supcon.item(), "skl": skl.item()}

    def step2_loss(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        x1, x2 = self._augment(x1), self._augment(x2)
        v1, v2 = self._augment(x1), self._augment(x2)
        with torch.no_grad():  # the frozen shared encoders
            c1x, c2x, c1v, c2v = self.step1.e1(x1), self.step1.e2(x2), self.step1.e1(v1), self.step1.e2(v2)
        s1, s2 = self.step2.s1, self.step2.s2
        s1x, s1v = s1(torch.cat([x1, c1x], 1)), s1(torch.cat([v1, c1v], 1))
        s2x, s2v = s2(torch.cat([x2, c2x], 1)), s2(torch.cat([v2, c2v], 1))
        specific = (cross_view_supcon(torch.cat([s1x, c2x], 1), torch.cat([s1v, c2v], 1), cfg.temperature)
                    + cross_view_supcon(torch.cat([s2x, c1x], 1), torch.cat([s2v, c1v], 1), cfg.temperature))
        orth = orthogonality_penalty(s1x, c1x, s2x, c2x) + orthogonality_penalty(s1v, c1v, s2v, c2v)
        return specific + cfg.lam * orth, {"specific": specific.item(), "orth": orth.item()}

    def fit_epoch(self) -> dict[str, float]:
        cfg = self.config
        step = self.step
        if step == 1:
            model, optimizer, loss_fn = self.step1, self.optimizer1, self.step1_loss
            lr = self._lr(cfg.lr_step1, self.epoch, cfg.step1_epochs)
        else:
            model, optimizer, loss_fn = self.step2, self.optimizer2, self.step2_loss
            lr = self._lr(cfg.lr_step2, self.epoch - cfg.step1_epochs, cfg.epochs - cfg.step1_epochs)
            self.step1.eval()
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        sums: dict[str, float] = defaultdict(float)
        n = 0
        start = time.perf_counter()
        for x1, x2 in self.batches():
            loss, parts = loss_fn(x1, x2)
            if not torch.isfinite(loss):
                raise NonFiniteLossError(f"loss is {loss.item()} at epoch {self.epoch + 1} (step {step}, lr={lr:.3g}); "
                                         "this configuration diverged: lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            n += 1
            sums["loss"] += loss.item()
            for key, value in parts.items():
                sums[key] += value
        self.epoch += 1
        metrics = {key: value / max(n, 1) for key, value in sums.items()}
        metrics.update({"step": float(step), "lr": lr, "epoch_time_s": time.perf_counter() - start})
        return metrics

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "step1": self.step1.state_dict(),
            "step2": self.step2.state_dict(),
            "optimizer1": self.optimizer1.state_dict(),
            "optimizer2": self.optimizer2.state_dict(),
            "rng": rng_state(self.generator),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.step1.load_state_dict(state["step1"])
        self.step2.load_state_dict(state["step2"])
        self.optimizer1.load_state_dict(state["optimizer1"])
        self.optimizer2.load_state_dict(state["optimizer2"])
        set_rng_state(self.generator, state["rng"])

    def artifact(self) -> DisentangledArtifact:
        return DisentangledArtifact(self.step1, self.step2)


# ----------------------------------------------------------------------------------------------------
# evaluators


class ProbeEvaluator(Evaluator):
    config: DisentangledSSLConfig

    def load_data(self) -> MultimodalData:
        return generate(self.config.data)

    def probe(self, train_x: torch.Tensor, test_x: torch.Tensor, label: str) -> float:
        ev = self.config.eval
        return linear_probe(train_x, self.data.train.labels[label], test_x, self.data.test.labels[label],
                            weight_decay=ev.probe_weight_decay, max_iter=ev.probe_max_iter)


class SharedProbe(ProbeEvaluator):
    """Linear-probe accuracy of each label from the shared representation [e1(x1), e2(x2)]."""

    metrics = (*(f"shared_acc_{label}" for label in LABELS), "shared_gap")

    def evaluate(self, artifact: DisentangledArtifact) -> dict[str, float]:
        xtr, xte = artifact.shared(self.data.train), artifact.shared(self.data.test)
        out = {f"shared_acc_{label}": self.probe(xtr, xte, label) for label in LABELS}
        out["shared_gap"] = out["shared_acc_yc"] - 0.5 * (out["shared_acc_ys1"] + out["shared_acc_ys2"])
        return out


class SpecificProbe(ProbeEvaluator):
    """Linear-probe accuracy of each label from each modality-specific representation z_s^m
    (before step 2 has trained: the randomly initialised step-2 encoders)."""

    metrics = (*(f"specific{m}_acc_{label}" for m in (1, 2) for label in LABELS), "specific_gap")

    def evaluate(self, artifact: DisentangledArtifact) -> dict[str, float]:
        out = {}
        for m in (1, 2):
            xtr, xte = artifact.specific(self.data.train, m), artifact.specific(self.data.test, m)
            out.update({f"specific{m}_acc_{label}": self.probe(xtr, xte, label) for label in LABELS})
        out["specific_gap"] = 0.5 * sum(out[f"specific{m}_acc_ys{m}"] - out[f"specific{m}_acc_yc"] for m in (1, 2))
        return out
