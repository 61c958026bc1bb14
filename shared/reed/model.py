"""REED's parts at toy scale: the linear interpolant, the alignment loss, the curriculum, a tiny DiT (patch 2) that
exposes its hidden states by depth, the frozen digit CNN whose per-patch features are the image target, and the
synthetic "caption" modality (a fixed random projection of class and attribute words)."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


def interpolant(x: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SiT's linear path: x_t = (1 - t) x + t eps (t = 0 clean) and the v-prediction target eps - x."""
    tt = t.reshape(-1, *([1] * (x.dim() - 1)))
    return (1 - tt) * x + tt * eps, eps - x


def alignment_loss(target: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
    """-mean cos(z, h(hidden)) over every leading index (samples, patches): -1 when aligned."""
    return -F.cosine_similarity(target, projected, dim=-1).mean()


def diffusion_weight(step: int, warmup_steps: int, start_steps: int = 0) -> float:
    """lambda_diff: 0 for the first ``start_steps`` (alignment alone), then a linear ramp to 1 over ``warmup_steps``."""
    if step < start_steps:
        return 0.0
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step - start_steps) / warmup_steps)


def timestep_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = 1000.0 * t.reshape(-1, 1) * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class Block(nn.Module):
    """Pre-LN transformer block with adaLN shift/scale from the conditioning (no gates)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 4 * width))

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, shift2, scale2 = self.modulation(c)[:, None].chunk(4, dim=-1)
        a = self.norm1(h) * (1 + scale1) + shift1
        h = h + self.attn(a, a, a, need_weights=False)[0]
        return h + self.mlp(self.norm2(h) * (1 + scale2) + shift2)


class TinyDiT(nn.Module):
    """A class-conditional DiT on 1 x size x size images, patch ``patch``; class ``classes`` is the null label."""

    def __init__(self, size: int = 8, patch: int = 2, width: int = 64, depth: int = 4, heads: int = 4,
                 classes: int = 10) -> None:
        super().__init__()
        self.size, self.patch, self.width = size, patch, width
        tokens = (size // patch) ** 2
        self.embed = nn.Conv2d(1, width, patch, stride=patch)
        self.position = nn.Parameter(0.02 * torch.randn(1, tokens, width))
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.label = nn.Embedding(classes + 1, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, patch * patch))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The velocity and the hidden states after each block (``hidden[d - 1]`` is depth d), (B, tokens, width)."""
        h = self.embed(x).flatten(2).transpose(1, 2) + self.position
        c = self.time(timestep_features(t, self.width)) + self.label(y)
        hidden = []
        for block in self.blocks:
            h = block(h, c)
            hidden.append(h)
        return self.unpatchify(self.head(h)), hidden

    def unpatchify(self, out: torch.Tensor) -> torch.Tensor:
        b, side, p = out.shape[0], self.size // self.patch, self.patch
        out = out.reshape(b, side, side, p, p).permute(0, 1, 3, 2, 4)
        return out.reshape(b, 1, self.size, self.size)


def projector(width: int, hidden: int, out: int) -> nn.Module:
    """REPA's projector h_j: MLP width -> hidden -> hidden -> out with SiLU."""
    return nn.Sequential(nn.Linear(width, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                         nn.Linear(hidden, out))


class DigitEncoder(nn.Module):
    """The small frozen image encoder: two convolutions to a (size/2)^2 grid of ``channels`` features (one per DiT
    patch: the image target), pooled for the classifier and for the Fréchet distance."""

    def __init__(self, channels: int = 32, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, channels, 3, padding=1, stride=2), nn.ReLU())
        self.classifier = nn.Linear(channels, classes)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(2).transpose(1, 2)  # (B, patches, channels), row-major like the DiT

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return self.patches(x).mean(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pooled(x))


def train_encoder(x: torch.Tensor, y: torch.Tensor, steps: int, generator: torch.Generator) -> DigitEncoder:
    """Fit the encoder on the training digits' labels, then freeze it."""
    encoder = DigitEncoder()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=3e-3)
    with torch.enable_grad():  # also when an evaluator rebuilds it inside its no_grad evaluation
        fit_classifier(encoder, optimizer, x, y, steps, generator)
    return encoder.eval().requires_grad_(False)


def fit_classifier(encoder: DigitEncoder, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                   steps: int, generator: torch.Generator) -> None:
    for _ in range(steps):
        idx = torch.randint(len(x), (64,), generator=generator)
        loss = F.cross_entropy(encoder(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@dataclass
class Captions:
    """The synthetic paired modality: each image's caption is its class word and two attribute words (ink: light,
    medium, heavy; width: narrow, medium, wide, by tertiles of the training set), embedded as the mean of fixed
    random word vectors (a fixed random projection of the caption's bag of words)."""

    words: torch.Tensor  # (vocabulary, dim)
    ink_cuts: torch.Tensor
    width_cuts: torch.Tensor

    @classmethod
    def fit(cls, train_x: torch.Tensor, dim: int, seed: int = 1234) -> Captions:
        ink, width = cls.attributes(train_x)
        words = torch.randn(16, dim, generator=torch.Generator().manual_seed(seed))
        return cls(words, torch.quantile(ink, torch.tensor([1 / 3, 2 / 3])),
                   torch.quantile(width, torch.tensor([1 / 3, 2 / 3])))

    @staticmethod
    def attributes(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ink = (x + 1).mean(dim=(1, 2, 3))  # images in [-1, 1]
        width = ((x + 1).sum(dim=(1, 2)) > 0.5).float().sum(-1).squeeze(-1)
        return ink, width

    def tokens(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B, 3) word indices: class 0-9, ink 10-12, width 13-15."""
        ink, width = self.attributes(x)
        return torch.stack([y, 10 + torch.bucketize(ink, self.ink_cuts), 13 + torch.bucketize(width, self.width_cuts)],
                           dim=1)

    def embed(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.words[self.tokens(x, y)].mean(1)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two feature sets (rows)."""
    from scipy import linalg

    a, b = a.double().numpy(), b.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = torch.cov(torch.from_numpy(a).T).numpy(), torch.cov(torch.from_numpy(b).T).numpy()
    with warnings.catch_warnings():  # a degenerate feature set (an untrained sampler's) is singular: still defined
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + (s_a + s_b - 2 * root).trace())
