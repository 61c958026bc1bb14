"""The config schemas of RAM and REED, torch-free: the sweep driver loads and validates a config against them without
importing torch (their trainers, in ``ram.py`` and ``reed.py``, import it and re-export them)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from shared.config import ConfigError, bounded
from shared.method import MethodConfig, OptimConfig


@dataclass
class ToyData:
    seed: int = bounded(0, ge=0, help="draws the pretraining set")
    n_train: int = bounded(4000, ge=10, le=1_000_000, help="pretraining samples of the three-mode mixture")
    rewarded_mode: int = bounded(1, ge=0, le=2, help="reward 1 on this mode's basin, 0 elsewhere")
    digit: int = bounded(3, ge=0, le=9, help="task=digits: the rewarded class")
    classifier_steps: int = bounded(400, ge=1, le=100_000, help="task=digits: training steps of the frozen classifier")


@dataclass
class RAMConfig(MethodConfig):
    epochs: int = bounded(6, ge=1, le=10_000)
    pretrain_epochs: int = bounded(3, ge=1, le=10_000, help="flow matching on the data; fine-tuning after")
    arm: str = bounded("ram", choices=["ram", "rwfm"], help="rwfm: the same loss without the v_ref anchor")
    task: str = bounded("toy", choices=["toy", "digits"], help="digits: 64-d digits, reward p(digit | x)")
    grid_dir: str = bounded("", help="task=digits: the evaluator writes a PNG of samples before and after there")
    pretrain_steps: int = bounded(1000, ge=1, le=1_000_000, help="flow-matching steps per pretraining epoch")
    finetune_steps: int = bounded(100, ge=1, le=1_000_000, help="reward steps per fine-tuning epoch")
    batch_size: int = bounded(256, ge=1, le=65536, help="pretraining batch")
    endpoints: int = bounded(128, ge=1, le=65536, help="samples X_0 (reward queries) per fine-tuning step")
    noisings: int = bounded(4, ge=1, le=256, help="(t, eps) draws per endpoint, sharing its one reward")
    lam: float = bounded(1.0, gt=0.0, le=1e6, help="KL weight lambda of the target tilt")
    reward_scale: float = bounded(0.0, ge=0.0, le=1e6, help="R = reward_scale (r - baseline); 0 = 1 / lambda")
    baseline: str = bounded("none", choices=["none", "mean"], help="subtract the step's mean reward")
    sampler: str = bounded("ode", choices=["ode", "sde"], help="fine-tuning sampler: Euler ODE or memoryless SDE")
    sample_steps: int = bounded(20, ge=1, le=10_000)
    width: int = bounded(128, ge=4, le=4096)
    depth: int = bounded(3, ge=1, le=16)
    lr: float = bounded(2e-3, gt=0.0, le=1.0, help="pretraining")
    finetune_lr: float = bounded(3e-4, gt=0.0, le=1.0)
    n_eval: int = bounded(4000, ge=10, le=1_000_000)
    eval_steps: int = bounded(50, ge=1, le=10_000)
    threads: int = 1
    data: ToyData = field(default_factory=ToyData)

    def prefix_run(self) -> tuple[str, RAMConfig] | None:
        """The pretraining epochs are the same for both arms: they are the run with ``epochs=pretrain_epochs``."""
        if self.epochs <= self.pretrain_epochs:
            return None
        return "ram", replace(self, epochs=self.pretrain_epochs, arm="ram")


@dataclass
class DigitsSplit:
    seed: int = bounded(0, ge=0, help="draws the train/test split of sklearn digits")
    n_test: int = bounded(400, ge=50, le=1000)


@dataclass
class REEDConfig(MethodConfig):
    epochs: int = bounded(4, ge=1, le=10_000)
    steps_per_epoch: int = bounded(250, ge=1, le=1_000_000)
    batch_size: int = bounded(64, ge=1, le=4096)
    alignment: str = bounded("both", choices=["none", "image", "both"], help="image = REPA; both = REED")
    warmup_steps: int = bounded(200, ge=0, help="lambda_diff ramps 0 -> 1 over these steps (0: no curriculum)")
    start_steps: int = bounded(0, ge=0, help="alignment alone before the ramp")
    image_depth: int = bounded(2, ge=1, le=64)
    text_depth: int = bounded(3, ge=1, le=64)
    image_coeff: float = bounded(1.0, ge=0.0)
    text_coeff: float = bounded(0.5, ge=0.0)
    proj_coeff: float = bounded(0.5, ge=0.0)
    width: int = bounded(64, ge=8, le=1024)
    depth: int = bounded(4, ge=1, le=64)
    heads: int = bounded(4, ge=1, le=64)
    projector_width: int = bounded(128, ge=8, le=4096)
    caption_dim: int = bounded(32, ge=2, le=4096)
    label_dropout: float = bounded(0.1, ge=0.0, le=1.0)
    encoder_steps: int = bounded(300, ge=1, le=100_000, help="training steps of the frozen image encoder")
    grad_clip: float = bounded(1.0, ge=0.0)
    sample_steps: int = bounded(20, ge=1, le=10_000)
    grid_dir: str = bounded("", help="when set, the evaluator writes a PNG grid of samples (a row per class) there")
    threads: int = 1
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adamw", lr=1e-3, weight_decay=0.0))
    data: DigitsSplit = field(default_factory=DigitsSplit)

    def check(self) -> None:
        if max(self.image_depth, self.text_depth) > self.depth:
            raise ConfigError(f"alignment depths image_depth={self.image_depth}, text_depth={self.text_depth} exceed "
                              f"the DiT's depth={self.depth} blocks")
