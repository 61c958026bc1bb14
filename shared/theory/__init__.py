"""What the theory papers' experiments share: group actions and orbit averaging (``groups``), kernels
(``kernels``), synthetic regression problems (``regression``) and the one-shot experiment contract
(``experiment``). Numpy only (torch where a model is trained); nothing here imports Ray."""
