"""The dense GPT-2-style decoder (Radford et al., 2019, "Language Models are Unsupervised Multitask
Learners"; layout as nanoGPT): the baseline every method of the large-model family is measured against
(dense attention for SFA, a dense MLP for SeqTopK, plain cross-entropy for LongCE, a trained backbone for
ReasonCACHE). Loss: next-token cross-entropy, mean over the targets the data set's loss mask selects."""
from __future__ import annotations

from dataclasses import dataclass

from shared.method import Measure, MethodSpec, Resources
from shared.methods.llm.common import LM_EVALUATORS, LMConfig, LMTrainer


@dataclass
class GPTMethodConfig(LMConfig):
    pass


class GPTTrainer(LMTrainer):
    pass


SPEC = MethodSpec(
    name="gpt",
    paper="Language Models are Unsupervised Multitask Learners (GPT-2; dense baseline of the large-model family)",
    family="llm",
    config=GPTMethodConfig,
    trainer=GPTTrainer,
    evaluators=LM_EVALUATORS,
    resources=Resources(cpu=1, distributed="deepspeed"),
    headline=(Measure("val_loss", "min"), Measure("recall_acc")),
    compare=("model.n_embd",),
    description="dense causal decoder; next-token cross-entropy",
)
