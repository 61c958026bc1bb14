"""SimCLR: "A Simple Framework for Contrastive Learning of Visual Representations" (Chen et al., 2020),
as the baseline of CARE (Gupta et al., ICLR 2024): the CARE objective with lambda = 0, i.e. InfoNCE only
(CARE's ``infoNCE``, with the 2N-2 other views as negatives, tau = 0.5)."""
from shared.method import Measure, MethodSpec, Resources
from shared.methods.ssl.common import SimCLRConfig, SimCLRTrainer
from shared.methods.ssl.evaluators import SSL_EVALUATORS

SPEC = MethodSpec(
    name="simclr",
    paper="A Simple Framework for Contrastive Learning of Visual Representations (CARE's baseline)",
    family="ssl",
    config=SimCLRConfig,
    trainer=SimCLRTrainer,
    evaluators=SSL_EVALUATORS,
    resources=Resources(cpu=1),
    headline=(Measure("linear_probe_acc"), Measure("colour_probe_acc"), Measure("equiv_error", "min")),
    compare=("temperature",),
    description="InfoNCE on two augmented views; CARE with lambda = 0",
)
