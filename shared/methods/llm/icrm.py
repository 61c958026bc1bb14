"""icrm: In-Context Risk Minimization, "Context is Environment" (Gupta, Ahuja, Fang, Lopez-Paz, Arjovsky; ICLR 2024).

A causal transformer f reads the unlabelled inputs of one environment, (x_1, ..., x_t), and predicts y_t at every
position; the loss is the mean cross-entropy over all positions of all sequences (ERM over the extended input
(x_t, context_<t)). Labels never enter the input. On a new environment the prediction "zooms in" on that
environment's risk minimiser as its unlabelled context grows.

Environments here (the spec card's synthetic check): ``data.classes`` Gaussian classes on a circle, shifted by an
environment-specific offset s_e ~ N(0, ``data.shift``^2 I); x = mu_y + s_e + noise. A model that sees x alone cannot
tell the shift from the class; the context's mean reveals it. ``arm=erm`` is the baseline that differs only in the
context: the same network and the same examples per step, each example a sequence of its own (no context).
The network is GPT-2's (the project's ``shared.lm.model`` blocks: pre-LN attention and GELU MLP, learned positions,
a final LayerNorm) over a linear read-in of the inputs instead of token embeddings. The evaluation streams each
held-out environment's examples one at a time through the stack's KV cache (``shared.lm.model.KVCache``), as a
deployed model would meet them: the prediction at context c reads the keys and values of the c examples before it
instead of recomputing them; it equals the full forward's at every position (``tests/test_icrm.py``).
Deliberate departure: a linear read-in of the 2-D inputs instead of an image featurizer.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from shared.lm.model import MLP, Block, CausalSelfAttention, GPTConfig, KVCache
from shared.method import Evaluator, StepTrainer, seed_everything
from shared.methods.llm.config import CONTEXTS, Environments, ICRMConfig  # noqa: F401  (torch-free; re-exported)
from shared.methods.llm.specs import ICRM as SPEC  # noqa: F401  (the registry's, torch-free)


class ContextModel(nn.Module):
    """Linear read-in, learned positions, GPT-2's causal pre-LN blocks, final LayerNorm, linear read-out at every
    position."""

    def __init__(self, dim: int, classes: int, width: int, layers: int, heads: int, positions: int) -> None:
        super().__init__()
        cfg = GPTConfig(n_layer=layers, n_head=heads, n_embd=width, block_size=positions, vocab_size=classes,
                        pos="none")
        self.read_in, self.read_out = nn.Linear(dim, width), nn.Linear(width, classes)
        self.positions = nn.Parameter(torch.zeros(positions, width))
        self.blocks = nn.ModuleList(Block(cfg, i, CausalSelfAttention, MLP) for i in range(layers))
        self.ln_f = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """x: (B, T, dim) inputs only; returns (B, T, classes) logits, position t seeing x_1..x_t. ``cache``: x
        continues the sequences the cache has read, whose keys and values it holds (and then holds x's too)."""
        read = 0 if cache is None else cache.length
        h = self.read_in(x) + self.positions[read:read + x.shape[1]]
        for block in self.blocks:
            h = block(h) if cache is None else block(h, cache=cache)
        if cache is not None:
            cache.length = read + x.shape[1]
        return self.read_out(self.ln_f(h))


@torch.no_grad()
def stream(model: ContextModel, x: torch.Tensor) -> torch.Tensor:
    """The logits (B, T, classes) of x read one example at a time through a KV cache: each step computes the new
    position only, attending over the cached keys and values of the examples before it."""
    cache = KVCache(len(model.blocks))
    return torch.cat([model(x[:, i:i + 1], cache) for i in range(x.shape[1])], dim=1)


class ICRMTrainer(StepTrainer):
    config: ICRMConfig

    def __init__(self, config: ICRMConfig) -> None:
        super().__init__(config)
        torch.set_num_threads(config.threads or torch.get_num_threads())
        seed_everything(config.seed)
        d = config.data
        world = np.random.default_rng([d.seed, 0])
        angles = 2 * np.pi * np.arange(d.classes) / d.classes
        self.means = d.radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        self.train_shifts = world.normal(0.0, d.shift, size=(d.n_train_envs, 2))
        self.rng = np.random.default_rng([d.seed, config.seed, 1])
        self.model = ContextModel(2, d.classes, config.width, config.layers, config.heads, config.context_length)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, betas=(0.5, 0.999))

    def sample(self, rng: np.random.Generator, shifts: np.ndarray, n: int, length: int) -> tuple[torch.Tensor, ...]:
        """n sequences of ``length`` examples, each from one environment drawn from ``shifts``."""
        d = self.config.data
        env = shifts[rng.integers(len(shifts), size=n)]
        y = rng.integers(d.classes, size=(n, length))
        x = self.means[y] + env[:, None, :] + d.noise * rng.normal(size=(n, length, 2))
        return torch.tensor(x, dtype=torch.float32), torch.from_numpy(y)

    def fit_epoch(self) -> dict[str, float]:
        c, total = self.config, 0.0
        for _ in range(c.steps_per_epoch):
            x, y = self.sample(self.rng, self.train_shifts, c.batch_size, c.context_length)
            if c.arm == "erm":  # the same examples, each without context
                x, y = x.reshape(-1, 1, 2), y.reshape(-1, 1)
            loss = nn.functional.cross_entropy(self.model(x).flatten(0, 1), y.flatten())
            total += self.step(loss)
        self.epoch += 1
        return {"loss": total / c.steps_per_epoch}

    def artifact(self) -> ICRMTrainer:
        return self




class HeldOutEnvironment(Evaluator):
    """Accuracy on new environments (new offsets): each streams its examples through the model (a KV cache), and
    the prediction of the example after c unlabelled ones is scored at context c."""

    metrics = tuple(f"acc_context_{c}" for c in CONTEXTS)

    @torch.no_grad()
    def evaluate(self, trainer: ICRMTrainer) -> dict[str, float]:
        c = self.config
        rng = np.random.default_rng([c.data.seed, 2])  # the same test environments and examples for every arm
        shifts = rng.normal(0.0, c.data.shift, size=(c.n_test, 2))
        length = min(max(CONTEXTS) + 1, c.context_length)
        x, y = trainer.sample(rng, shifts, c.n_test, length)
        if c.arm == "erm":  # trained without context: it sees each example alone, whatever came before
            logits = trainer.model(x.reshape(-1, 1, 2)).reshape(c.n_test, length, -1)
        else:
            logits = stream(trainer.model, x)
        correct = (logits.argmax(-1) == y).float().mean(0)  # accuracy at every context size 0 .. length - 1
        return {f"acc_context_{k}": float(correct[k]) for k in CONTEXTS if k < length}
