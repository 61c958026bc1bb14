"""The dense GPT-2-style decoder (Radford et al., 2019, "Language Models are Unsupervised Multitask
Learners"; layout as nanoGPT): the baseline every method of the large-model family is measured against
(dense attention for SFA, a dense MLP for SeqTopK, plain cross-entropy for LongCE, a trained backbone for
ReasonCACHE). Loss: next-token cross-entropy, mean over the targets the data set's loss mask selects."""
from __future__ import annotations

from shared.methods.llm.common import LMTrainer
from shared.methods.llm.config import GPTMethodConfig  # noqa: F401  (torch-free; re-exported)
from shared.methods.llm.specs import GPT as SPEC  # noqa: F401  (the registry's, torch-free)


class GPTTrainer(LMTrainer):
    pass
