"""SimCLR: "A Simple Framework for Contrastive Learning of Visual Representations" (Chen et al., 2020),
as the baseline of CARE (Gupta et al., ICLR 2024): the CARE objective with lambda = 0, i.e. InfoNCE only
(CARE's ``infoNCE``, with the 2N-2 other views as negatives, tau = 0.5). The trainer is ``common.SimCLRTrainer``;
the spec lives torch-free in ``specs.py`` (the registry's entry), so that a sweep's driver validates without torch."""
from shared.methods.ssl.common import SimCLRConfig, SimCLRTrainer  # noqa: F401  (re-exported)
from shared.methods.ssl.specs import SIMCLR as SPEC  # noqa: F401
