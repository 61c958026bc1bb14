"""position_bias: the experiment of "On the Emergence of Position Bias in Transformers" (Wu, Wang, Jadbabaie,
Jegelka; ICML 2025, arXiv 2502.01951). Trains the paper's SAN (:mod:`shared.lm.position_bias`) on Gaussian-mixture
in-context retrieval with the answer at a uniformly random position (unbiased data) and measures the position
preference it develops: on sequences where the query's class appears at the first and at the middle pair with two
different labels, first_minus_middle = P(answer = the first's label) - P(answer = the middle's label), the paper's
acc(IC_first_middle) - acc(IC_middle_first). Claim (Sec. 5): causal NoPE prefers the first position, more so deeper.
It also reports the theory's measure for the configured mask and depth: the last token's cumulative attention on the
first token under uniform attention (``first_token_mass``, Sec. 3).

Deliberate departures: a sequence draws its own label per class (the official code fixes one label per class and
tests on novel classes); with per-sequence labels only in-context retrieval answers, at any number of classes, so
the short CPU runs cannot learn the task in the weights instead. Test classes are novel, as in the paper.
"""
from __future__ import annotations

import numpy as np
import torch

from shared.lm.position_bias import (
    SAN,
    attention_graph,
    class_means,
    first_middle_batch,
    first_token_mass,
    retrieval_batch,
)
from shared.method import Evaluator, StepTrainer, seed_everything
from shared.methods.llm.config import (  # noqa: F401  (torch-free; re-exported)
    PositionBiasConfig,
    RetrievalData,
    SANModel,
)
from shared.methods.llm.specs import POSITION_BIAS as SPEC  # noqa: F401  (the registry's, torch-free)


class PositionBiasTrainer(StepTrainer):
    config: PositionBiasConfig

    def __init__(self, config: PositionBiasConfig) -> None:
        super().__init__(config)
        if config.threads:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)
        d = config.data
        world = np.random.default_rng([d.seed, 0])  # class means and label vectors: the data seed only
        self.means, self.test_means = class_means(world, d.classes, d.dim), class_means(world, d.classes, d.dim)
        self.label_vectors = world.normal(0.0, 1.0 / d.dim, size=(d.labels, d.dim))
        self.rng = np.random.default_rng([d.seed, config.seed, 1])  # training batches
        mask = torch.tensor(attention_graph(config.model.mask, 2 * d.pairs + 1, **config.mask_kwargs()),
                            dtype=torch.float32)
        m = config.model
        self.model = SAN(d.dim, m.hidden, m.layers, d.labels, mask, m.residual)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def fit_epoch(self) -> dict[str, float]:
        c, total = self.config, 0.0
        for _ in range(c.steps_per_epoch):
            tokens, targets = retrieval_batch(self.rng, self.means, self.label_vectors, c.batch_size, c.data.pairs,
                                              c.data.burstiness, c.data.eps)
            loss = torch.nn.functional.cross_entropy(self.model(torch.tensor(tokens, dtype=torch.float32)),
                                                     torch.from_numpy(targets))
            total += self.step(loss)
        self.epoch += 1
        return {"loss": total / c.steps_per_epoch}

    def artifact(self) -> PositionBiasTrainer:
        return self


class PositionPreference(Evaluator):
    """On novel classes: retrieval accuracy (unbiased sequences) and first_minus_middle (see the module)."""

    metrics = ("retrieval_acc", "first_minus_middle", "first_token_mass")

    @torch.no_grad()
    def evaluate(self, trainer: PositionBiasTrainer) -> dict[str, float]:
        c, d = self.config, self.config.data
        rng = np.random.default_rng([d.seed, 2])  # the same test sequences for every run of a data seed
        tokens, targets = retrieval_batch(rng, trainer.test_means, trainer.label_vectors, d.n_test, d.pairs,
                                          d.burstiness, d.eps)
        model = trainer.model.eval()
        acc = (model(torch.tensor(tokens, dtype=torch.float32)).argmax(1).numpy() == targets).mean()
        tokens, first, middle = first_middle_batch(rng, trainer.test_means, trainer.label_vectors, d.n_test, d.pairs,
                                                   d.eps)
        answer = model(torch.tensor(tokens, dtype=torch.float32)).argmax(1).numpy()
        model.train()
        mass = first_token_mass(c.model.mask, 2 * d.pairs + 1, c.model.layers, **c.mask_kwargs())
        return {"retrieval_acc": float(acc), "first_minus_middle": float((answer == first).mean()
                                                                         - (answer == middle).mean()),
                "first_token_mass": mass}
