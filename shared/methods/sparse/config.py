"""The config schemas of CSR, CSRv2, MRL and SSR, torch-free: the sweep driver loads and validates a config against
them without importing torch (their trainers, in ``common.py``, ``csr.py``, ``csr_v2.py``, ``mrl.py`` and ``ssr.py``,
import it and re-export them). The ``data:`` sections are ``shared/sparse/config.py``'s."""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.config import ConfigError, bounded
from shared.method import MethodConfig, OptimConfig
from shared.sparse.config import EmbeddingDataConfig, TokenDataConfig


@dataclass
class SparseHeadConfig(MethodConfig):
    epochs: int = bounded(20, ge=1)
    k: int = bounded(8, ge=1, help="active dimensions of the code that is evaluated")
    batch_size: int = bounded(256, ge=2)
    data: EmbeddingDataConfig = field(default_factory=EmbeddingDataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=4e-4, weight_decay=0.0))


@dataclass
class CSRConfig(SparseHeadConfig):
    hidden: int = bounded(0, ge=0, help="latents; 0 = 4 x the embedding dimension")
    auxk: int = bounded(0, ge=0, help="dead latents that reconstruct the residual; 0 = hidden / 2")
    auxk_coef: float = bounded(1 / 32, ge=0.0)
    dead_threshold: int = bounded(30, ge=0, help="steps without firing after which a latent is dead")
    multi_topk_coef: float = bounded(1 / 8, ge=0.0, help="weight of the top-4k reconstruction")
    cl_coef: float = bounded(0.1, ge=0.0, help="weight of the contrastive term; 0 = the plain SAE")
    temperature: float = bounded(0.2, gt=0.0)
    recon: str = bounded("nmse", choices=("nmse", "mse"),
                         help="reconstruction loss: per-sample normalised MSE, or the official plain MSE (mean over "
                              "elements)")


@dataclass
class CSRv2Config(CSRConfig):
    k_init: int = bounded(64, ge=0, help="k at step 0, annealed to k; 0 = no annealing")
    k_decay_ratio: float = bounded(0.7, gt=0.0, le=1.0, help="share of the steps over which k anneals")
    supervised_cl: bool = bounded(True, help="SupCon (sum inside the log) on labels instead of in-batch InfoNCE")
    idle_per_pass: bool = bounded(True, help="AuxK idle counters advance per top-k pass (k, 4k, CL view), "
                                             "as the official loop; false: once per step on the k code")


@dataclass
class MRLConfig(SparseHeadConfig):
    nesting: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32, 64],
                               metadata={"help": "prefix lengths with a loss (capped at the embedding dimension)"})

    def check(self) -> None:
        if not self.nesting or min(self.nesting) < 1:
            raise ConfigError(f"nesting: give positive prefix lengths, got {self.nesting}")


@dataclass
class SSRConfig(MethodConfig):
    epochs: int = bounded(10, ge=1)
    k: int = bounded(32, ge=1, help="non-zero latents per token code")
    hidden: int = bounded(0, ge=0, help="latents; 0 = 4 x the token dimension")
    auxk: int = bounded(0, ge=0, help="dead latents that reconstruct the residual; 0 = hidden / 16 (1024 of 16384)")
    auxk_coef: float = bounded(0.1, ge=0.0)
    dead_threshold: int = bounded(30, ge=0, help="steps without firing after which a latent is dead")
    cl_coef: float = bounded(0.1, ge=0.0, help="weight of the contrastive term on mean-pooled codes; 0 = off")
    temperature: float = bounded(0.2, gt=0.0)
    view_dropout: float = bounded(0.1, ge=0.0, lt=1.0, help="dropout on the token vectors that makes the 2 views")
    k_init: int = bounded(0, ge=0, help="k at step 0, annealed to k over k_decay_ratio of the steps; 0 = off")
    k_decay_ratio: float = bounded(0.7, gt=0.0, le=1.0)
    batch_size: int = bounded(64, ge=2, help="sentences per step (their tokens together)")
    prune: int = bounded(8, ge=1, help="pruned mode: latents per query token in the coarse pass")
    candidates: int = bounded(20, ge=1, help="pruned mode: documents reranked exactly")
    kmeans_centroids: int = bounded(0, ge=0, help="the k-means baseline's codebook; 0 = hidden")
    data: TokenDataConfig = field(default_factory=TokenDataConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=4e-3, weight_decay=0.0))
