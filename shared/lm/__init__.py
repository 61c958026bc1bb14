"""The small language-model stack shared by the large-model family (SFA, SeqTopK, LongPPL/LongCE,
ReasonCACHE): a GPT-2-style decoder with replaceable attention and MLP blocks (``model``), the GPT-2 BPE
tokeniser loaded offline (``tokenizer``), real English text shipped in installed packages (``corpora``) and
generated long-context tasks (``tasks``), and the config sections a driver validates without torch (``config``).
Plain PyTorch; nothing here imports Ray or downloads anything."""
