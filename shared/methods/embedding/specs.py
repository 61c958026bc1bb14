"""The specs of the embedding methods (canonical maps, debias_vl), torch-free: their configs come from ``config.py``
and their trainers and evaluators are named (``LazyClass``), imported only where a trial builds them, so that a
sweep's driver validates a config without importing torch or the text encoder (tests/test_fixed_costs.py). The registry
points here; each method's module re-exports its spec as its ``SPEC``."""
from __future__ import annotations

from shared.method import LazyClass, Measure, MethodSpec, Resources
from shared.methods.embedding.config import CanonicalMapConfig, DebiasConfig

_CM = "shared.methods.embedding.canonical_map"
CANONICAL_MAP = MethodSpec(
    name="canonical_map",
    paper="Canonicalizing Multimodal Contrastive Representation Learning (Gupta et al., 2026)",
    family="embeddings",
    config=CanonicalMapConfig,
    trainer=LazyClass(f"{_CM}:CanonicalMapTrainer"),
    evaluators=(LazyClass(f"{_CM}:CanonicalMeasures", metrics=(
        "orthogonality_error", "image_cos_before", "image_cos_after", "text_cos_before", "text_cos_after",
        "zero_shot_within", "zero_shot_cross", "retrieval_within", "retrieval_cross")),),
    resources=Resources(cpu=1),
    headline=(Measure("text_cos_after"), Measure("retrieval_cross"),
              Measure("zero_shot_cross"), Measure("orthogonality_error", "min")),
    compare=("anchors",),
    description="one orthogonal map (with mean shift) fitted on anchor images aligns two CLIP models, text included",
)

_DV = "shared.methods.embedding.debias_vl"
DEBIAS_VL = MethodSpec(
    name="debias_vl",
    paper="Debiasing Vision-Language Models via Biased Prompts (Chuang et al., 2023)",
    family="embeddings",
    config=DebiasConfig,
    trainer=LazyClass(f"{_DV}:DebiasTrainer"),
    evaluators=(LazyClass(f"{_DV}:DebiasMeasures", metrics=(
        "pair_cos_before", "pair_cos_after", "attribute_alignment_before", "attribute_alignment_after",
        "class_retrieval_before", "class_retrieval_after", "class_cos_before", "class_cos_after")),),
    resources=Resources(cpu=1),
    headline=(Measure("pair_cos_after"), Measure("attribute_alignment_after", "min"), Measure("class_retrieval_after")),
    compare=("lam",),
    description="closed-form calibrated projection P0 (I + lam M)^-1 of text embeddings (MiniLM stands in for CLIP)",
)
