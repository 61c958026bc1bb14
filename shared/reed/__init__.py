"""REED family code (representation-guided diffusion): the tiny DiT, the frozen targets and the losses. No Ray."""
