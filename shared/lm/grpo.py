"""GRPO (group relative policy optimisation; Shao et al. 2024, DeepSeekMath) as verl computes it for G1.

For a prompt, n responses are sampled; response i gets the verifier's reward r_i and the advantage

    A_i = (r_i - mean(r)) / (std(r) + 1e-6)                   (std with Bessel's correction, as torch.std in verl)

broadcast to every token of the response. The loss is PPO's clipped surrogate with ratio rho = pi / pi_old,

    L = token-mean over response tokens of  max(-A rho, -A clip(rho, 1 - eps, 1 + eps))
        + beta * k3(pi, pi_ref) - c_H * entropy,

with the "low_var_kl" (k3) estimator of KL(pi || pi_ref) per token, x = log pi_ref - log pi:
k3 = exp(x) - x - 1 >= 0, 0 exactly when the two agree (clamped to [-10, 10] as verl does).

Also here: sampling responses from a decoder-only model (``generate``, ``sample``) and the per-token log-probabilities
of given responses (``response_logprobs``). Both hand over right-padded buffers (a causal model never sees the padding
to the right of the position it predicts from); the sampler itself decodes left-padded prompts with the KV cache.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def group_advantages(rewards: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(groups, n) rewards -> (groups, n) advantages, normalised within each group (zero mean per group)."""
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, keepdim=True) if rewards.shape[1] > 1 else torch.zeros_like(mean)
    return (rewards - mean) / (std + eps)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """verl's ``low_var_kl``: exp(ref - logp) - (ref - logp) - 1 per token, clamped to [-10, 10]."""
    x = (ref_logp - logp).clamp(-20.0, 20.0)
    return (torch.exp(x) - x - 1.0).clamp(-10.0, 10.0)


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                      clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token PPO-clip loss max(-A rho, -A clip(rho)) and whether the clipped branch was taken."""
    ratio = torch.exp(logp - old_logp)
    plain, clipped = -advantages * ratio, -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)
    return torch.maximum(plain, clipped), clipped > plain


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Token-mean over the masked tokens of the whole batch (verl's ``token-mean`` aggregation)."""
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


@dataclass
class GRPOLoss:
    loss: torch.Tensor
    policy_loss: float
    kl: float
    entropy: float
    clip_fraction: float


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor, advantages: torch.Tensor,
              mask: torch.Tensor, clip: float, kl_coef: float, entropy: torch.Tensor | None = None,
              entropy_coef: float = 0.0) -> GRPOLoss:
    """The GRPO objective on (B, T) per-token tensors; ``advantages`` (B,) are broadcast over each response."""
    mask = mask.float()
    per_token, clipped = clipped_surrogate(logp, old_logp, advantages[:, None], clip)
    policy, kl = masked_mean(per_token, mask), masked_mean(k3_kl(logp, ref_logp), mask)
    ent = masked_mean(entropy, mask) if entropy is not None else torch.zeros(())
    loss = policy + kl_coef * kl - entropy_coef * ent
    return GRPOLoss(loss, policy.item(), kl.item(), ent.item(), masked_mean(clipped.float(), mask).item())


def response_logprobs(model: nn.Module, tokens: torch.Tensor,
                      with_entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log pi(tokens[b, t]) for every t >= 1 (B, T - 1), and the entropy of each predictive distribution; the
    caller masks the response positions (target t is predicted at t - 1, so response token j of row b sits at
    column start[b] + j - 1)."""
    logits = model(tokens[:, :-1]).float()
    logprobs = torch.log_softmax(logits, dim=-1)
    taken = logprobs.gather(-1, tokens[:, 1:, None]).squeeze(-1)
    entropy = -(logprobs.exp() * logprobs).sum(-1) if with_entropy else None
    return taken, entropy


@dataclass
class Samples:
    """Sampled completions, right-padded with ``pad``: tokens (B, max prompt + max_new), prompt lengths (B,), the
    response mask over targets (B, T - 1) (True where target t + 1 is a response token, up to and including eot) and
    the policy's log-probability of each response token in the same layout (0 elsewhere): log softmax of the logits
    at temperature 1, what GRPO's ratio and KL read (``response_logprobs`` recomputes them)."""

    tokens: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor
    logprobs: torch.Tensor


@torch.no_grad()
def generate(model: nn.Module, prompts: list[list[int]], max_new: int, eot: int, temperature: float,
             generator: torch.Generator | None = None, pad: int = 0, cache: bool = True) -> Samples:
    """Complete each prompt with up to ``max_new`` tokens, stopping at ``eot`` (kept). temperature 0: greedy.

    ``cache`` (default): the prompts left-padded into one batch, read once into a ``KVCache`` that knows each row's
    padding, then one token per row per step (``shared/lm/model.py``). ``cache=False``: the whole right-padded batch
    recomputed each step (the reference the cached path is tested against). Both draw the same random numbers (one
    ``multinomial`` over all B rows per step, finished rows included, until every row has ended), so with one
    generator they sample the same tokens, up to float rounding at a sampling boundary."""
    core = getattr(model, "module", model)  # a DeepSpeed engine's policy
    was_training = core.training
    core.eval()
    b = len(prompts)
    lengths = torch.tensor([len(p) for p in prompts])
    width = int(lengths.max())
    tokens = torch.full((b, width + max_new), pad, dtype=torch.long)
    for i, p in enumerate(prompts):
        tokens[i, :len(p)] = torch.tensor(p)
    logprobs = torch.zeros(b, width + max_new - 1)
    cursor, done = lengths.clone(), torch.zeros(b, dtype=torch.bool)
    rows = torch.arange(b)
    kv = logits = None
    if cache:
        left = torch.full((b, width), pad, dtype=torch.long)
        for i, p in enumerate(prompts):
            left[i, width - len(p):] = torch.tensor(p)
        kv = core.new_cache(pad=width - lengths)
        logits = core(left, cache=kv)[:, -1].float()
    for step in range(max_new):
        if not cache:
            logits = core(tokens[:, :int(cursor.max())]).float()[rows, cursor - 1]
        if temperature > 0:
            probs = torch.softmax(logits / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        else:
            nxt = logits.argmax(-1)
        live = rows[~done]
        tokens[live, cursor[live]] = nxt[live]
        logprobs[live, cursor[live] - 1] = torch.log_softmax(logits[live], dim=-1).gather(1, nxt[live, None])[:, 0]
        cursor[live] += 1
        done = done | (nxt == eot)
        if bool(done.all()):
            break
        if cache and step + 1 < max_new:
            logits = core(nxt[:, None], cache=kv)[:, -1].float()
    core.train(was_training)
    cols = torch.arange(tokens.shape[1] - 1)[None, :]
    mask = (cols >= lengths[:, None] - 1) & (cols < cursor[:, None] - 1)
    return Samples(tokens, lengths, mask, logprobs)


def sample(model: nn.Module, prompts: list[list[int]], max_new: int, eot: int, temperature: float,
           generator: torch.Generator | None = None, pad: int = 0,
           cache: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``generate``'s tokens (B, max prompt + max_new), prompt lengths (B,) and response mask (B, T - 1)."""
    out = generate(model, prompts, max_new, eot, temperature, generator, pad, cache)
    return out.tokens, out.lengths, out.mask
