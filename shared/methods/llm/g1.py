"""g1: "G1: Teaching LLMs to Reason on Graphs with Reinforcement Learning" (NeurIPS 2025,
arXiv 2505.18499), at small scale: supervised fine-tuning on Erdős graph tasks, then GRPO with the tasks' verifiers
as the reward.

Pipeline. Phase 1 (``sft_epochs``): next-token cross-entropy on the gold answers (the paper's "naive SFT": direct
answers). Phase 2 (the remaining epochs): GRPO (``shared/lm/grpo.py``): per step, ``grpo.prompts`` training prompts,
``grpo.group_size`` sampled responses each (n = 5 in the paper), reward = the task's verifier
(``shared/lm/graph_verify.py``: exact match, float tolerance, validity checkers, Jaccard partial credit),

    A_i = (r_i - mean_group r) / (std_group r + 1e-6),
    L = token-mean max(-A rho, -A clip(rho, 1 - 0.2, 1 + 0.2)) + 0.001 k3(pi, pi_ref) - 0.001 H(pi),

rho = pi / pi_old (the policy that sampled the batch; ``grpo.minibatches`` optimizer steps per batch, as verl's PPO
mini-batches), pi_ref the frozen SFT model. ``grpo.reward=shuffled`` is the control that differs only in the
verifier's signal: the same rewards, permuted within each group before the advantages, so they no longer say which
response was right. ``grpo.reward=none`` is the SFT-only arm: the same run, whose GRPO epochs make no update (so it
shares every other knob, smoke sizes included, with the GRPO arms and its final measures are the SFT model's).

Measures (``G1Eval``): greedy-decoded verified accuracy and mean reward on held-out task instances (other graphs,
drawn from another random stream) after SFT and after GRPO, overall and per task tier (``test_acc_<tier>``, the
paper's easy / medium / hard / challenging, for the tiers ``data.tasks`` holds), and the k3 KL of the policy to the
reference.

Deliberate departures: the policy is a 2-layer character-level GPT trained from scratch (not Qwen2.5-3B/7B), so the
tasks are the easy tier on 3-5 node graphs in a compact prompt (``compact_prompt``: task letter, task arguments,
edges as digit pairs, e.g. ``D3:01,05,12=``) with the answer as the bare text that would go inside ``\\boxed{}``
(``Yes``, ``2``, ``[0, 4]``), no reasoning trace; the paper's full prompt is what ``ErdosItem.prompt()`` renders.
The SFT stage is naive SFT, not the paper's rejection-sampled
SFT (RFT), which needs a teacher LLM.

Two loops drive the same steps. Both phases are written as ``batches()`` (SFT: teacher batches; GRPO: per step one
rollout from the current policy, cut into its minibatches, each carrying its old and reference log-probabilities and
advantages; the next rollout is sampled after their optimizer steps), ``loss(batch)`` and ``batch_weight(batch)``
(the response tokens a minibatch holds: every term of the loss is a token-mean). ``fit_epoch`` steps one torch
optimizer on them; ``actors/distributed.py`` runs them under Ray Train + DeepSpeed (``jobs/train_distributed.py g1``,
2 gloo workers on CPU, ZeRO-2; each rank samples the same rollouts from the same generator, or receives rank 0's from
its generation pool, and trains on its slice of every minibatch, so a step is the plain step up to float rounding).
SFT -> GRPO clears the optimizer's state and the learning rate becomes ``grpo.lr`` (the paper's fresh optimizer,
without a second one DeepSpeed would not know).
ZeRO-3 is refused: the frozen reference is a copy of the whole policy. Sweeps and studies run the plain loop
(``Resources.distributed="deepspeed-optional"``).

Rollouts. ``grpo.generation_actors=N`` samples each step's rollouts from N Ray generation actors (``actors/
generation.py``): the step's prompts in N contiguous shares (``RolloutShard``), share k sampled by ``sample_shard``
from seed s + k, s drawn from the trainer's generator, after the learner has published its current weights. The pool
is attached by whatever runs the trainer: a Tune trial (in the trial's placement group), a ``jobs/reproduce.py`` run (in
the run's own placement group), the DeepSpeed loop (rank 0 publishes the engine's module weights to the pool, samples
and broadcasts the rollouts to every rank). Without a pool (a trainer driven by hand) the same shares are sampled in
the learner's process, with the same results. ``grpo.generation_cpus``: CPUs each actor reserves (0: a share of the
run's). N = 0 (default): one batch from the trainer's generator, as before.
Rollouts and the held-out evaluation are decoded with the KV cache
(``kv_cache``, default: the prompts left-padded into one batch, read once, then one token per row per step;
``shared/lm/grpo.py``'s ``generate``). ``kv_cache=false`` recomputes the whole right-padded batch every token, as G1
did before 2026-12-03: the same random draws, so the same tokens up to float rounding at a sampling boundary.
"""
from __future__ import annotations

import copy
import functools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from shared.lm.erdos import TASKS, TIERS, ErdosItem, generate
from shared.lm.graph_verify import score_answer
from shared.lm.grpo import group_advantages, grpo_loss, k3_kl, masked_mean, response_logprobs, sample
from shared.lm.model import GPT, GPTConfig
from shared.method import (
    Evaluator,
    LocalShardMap,
    Trainer,
    rng_state,
    seed_everything,
    set_rng_state,
    split_loss,
)
from shared.methods.llm.config import (  # noqa: F401  (torch-free; re-exported)
    COMPACT_CLASSES,
    ErdosData,
    G1Config,
    GRPOConfig,
    PolicyShape,
)
from shared.methods.llm.specs import G1 as SPEC  # noqa: F401  (the registry's, torch-free)

EOT = 0  # end of answer (and padding): ASCII NUL never appears in a prompt
VOCAB = 128
TASK_LETTER = {task: chr(ord("A") + i) for i, task in enumerate(TASKS)}


def compact_prompt(item: ErdosItem) -> str:
    """The tiny policy's prompt: task letter, arguments, edges as digit pairs, '='; e.g. ``D3:01,05,12=``."""
    edges = ",".join(f"{e[0]}{e[1]}" for e in item.edges)
    return f"{TASK_LETTER[item.task]}{''.join(map(str, item.samples))}:{edges}="


def encode(text: str) -> list[int]:
    return [ord(c) for c in text]


def decode_response(tokens: torch.Tensor, start: int) -> str:
    """The response text of one row: from ``start`` up to the end token (or the buffer's end)."""
    out = []
    for t in tokens[start:].tolist():
        if t == EOT:
            break
        out.append(chr(t))
    return "".join(out)


@dataclass
class G1Data:
    train: list[ErdosItem]
    test: list[ErdosItem]


def load_g1_data(d: ErdosData) -> G1Data:
    """Training and held-out items from separate random streams (different graphs)."""
    nodes = (d.nodes_min, d.nodes_max)
    return G1Data(generate(d.tasks, d.n_train, f"{d.seed}-train", nodes, d.source),
                  generate(d.tasks, d.n_test, f"{d.seed}-test", nodes, d.source))


def teacher_batch(items: list[ErdosItem]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded prompt + answer + end tokens, and the mask of the answer and end targets (B, T - 1)."""
    rows = [(encode(compact_prompt(it)), encode(it.answer_text()) + [EOT]) for it in items]
    width = max(len(p) + len(a) for p, a in rows)
    tokens = torch.full((len(rows), width), EOT, dtype=torch.long)
    mask = torch.zeros(len(rows), width - 1, dtype=torch.bool)
    for i, (p, a) in enumerate(rows):
        tokens[i, :len(p) + len(a)] = torch.tensor(p + a)
        mask[i, len(p) - 1:len(p) + len(a) - 1] = True
    return tokens, mask


def rollout_rewards(items: list[ErdosItem], tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return torch.tensor([score_answer(it, decode_response(tokens[i], int(lengths[i]))) for i, it in enumerate(items)])


@dataclass
class RolloutShard:
    """One generation actor's share of a GRPO step: its prompts (items) and the seed its sampling starts from."""

    items: list[ErdosItem]
    seed: int
    group_size: int
    max_answer: int
    temperature: float
    cache: bool = True  # decode with the KV cache (G1Config.kv_cache)


@dataclass
class Rollout:
    """One step's sampled responses: tokens (B, T), response mask over targets (B, T - 1), rewards (prompts, n)."""

    tokens: torch.Tensor
    mask: torch.Tensor
    rewards: torch.Tensor


def concat_rollouts(parts: list[Rollout]) -> Rollout:
    """Rollouts of disjoint prompt groups (e.g. from several generation actors) as one, right-padded to one width."""
    width = max(p.tokens.shape[1] for p in parts)
    tokens = torch.cat([nn.functional.pad(p.tokens, (0, width - p.tokens.shape[1]), value=EOT) for p in parts])
    mask = torch.cat([nn.functional.pad(p.mask, (0, width - 1 - p.mask.shape[1]), value=False) for p in parts])
    return Rollout(tokens, mask, torch.cat([p.rewards for p in parts]))


def sample_group(model: nn.Module, prompts: list[ErdosItem], group_size: int, max_answer: int, temperature: float,
                 generator: torch.Generator, cache: bool = True) -> Rollout:
    """``group_size`` responses sampled from ``model`` to each prompt, and the verifier's rewards (prompts, n)."""
    items = [it for it in prompts for _ in range(group_size)]
    tokens, lengths, mask = sample(model, [encode(compact_prompt(it)) for it in items], max_answer, EOT, temperature,
                                   generator, cache=cache)
    return Rollout(tokens, mask, rollout_rewards(items, tokens, lengths).view(len(prompts), group_size))


def sample_shard(model: nn.Module, shard: RolloutShard) -> Rollout:
    """What a generation actor runs (``actors/generation.py``) and the in-process shard map alike: one share's
    rollouts from a generator seeded by the share, so the results do not depend on where they are sampled."""
    return sample_group(model, shard.items, shard.group_size, shard.max_answer, shard.temperature,
                        torch.Generator().manual_seed(shard.seed), shard.cache)


def build_policy(shape: PolicyShape, threads: int) -> GPT:
    """A policy of ``shape`` (its weights are loaded afterwards): what each generation actor holds."""
    torch.set_num_threads(threads or torch.get_num_threads())
    return GPT(GPTConfig(n_layer=shape.n_layer, n_head=shape.n_head, n_embd=shape.n_embd, block_size=shape.block_size,
                         vocab_size=VOCAB, token_shift=shape.token_shift))


class G1Trainer(Trainer):
    config: G1Config

    def __init__(self, config: G1Config) -> None:
        super().__init__(config)
        config.check()
        torch.set_num_threads(config.threads or torch.get_num_threads())
        seed_everything(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.data = load_g1_data(config.data)
        self.model = build_policy(config.model, config.threads)
        self.optimizer: torch.optim.Optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.sft_lr,
                                                                  weight_decay=0.0)
        self.reference: nn.Module | None = None
        self.sft_measures: dict[str, float] = {}
        self.global_step = 0
        # What sharded rollouts are sampled through (grpo.generation_actors > 0): None, the policy in this process
        # (LocalShardMap); the trial runner sets a Ray generation pool (actors/generation.py: attach_pool).
        self.shard_map: Any = None

    @property
    def in_sft(self) -> bool:
        return self.epoch < self.config.sft_epochs

    def learning_rate(self) -> float:
        return self.config.sft_lr if self.in_sft else self.config.grpo.lr

    # -- the global batches of an epoch: what the plain loop and the DeepSpeed loop both drive ----------------------
    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor] | dict[str, torch.Tensor]]:
        """SFT: ``steps_per_epoch`` teacher batches. GRPO: per step, a rollout sampled from the current policy and
        its minibatches (sampled lazily: the next rollout sees the previous minibatches' updates)."""
        c = self.config
        if self.in_sft:
            for _ in range(c.steps_per_epoch):
                idx = torch.randint(len(self.data.train), (c.batch_size,), generator=self.generator)
                yield teacher_batch([self.data.train[i] for i in idx.tolist()])
            return
        if self.reference is None:
            self.start_grpo()
        if c.grpo.reward == "none":  # the SFT-only arm: the policy stays the SFT model
            return
        for _ in range(c.grpo.steps_per_epoch):
            picks = torch.randint(len(self.data.train), (c.grpo.prompts,), generator=self.generator).tolist()
            yield from self.minibatches(self.sample_rollouts(picks))

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor] | dict[str, torch.Tensor]
             ) -> tuple[torch.Tensor, dict[str, float]]:
        """SFT: the token-mean cross-entropy of the answers. GRPO: the clipped surrogate + k3 KL - entropy."""
        if isinstance(batch, tuple):
            tokens, mask = batch
            logp, _ = response_logprobs(self.model, tokens)
            loss = -masked_mean(logp, mask.float())
            return loss, {"sft_loss": float(loss.detach())}
        g = self.config.grpo
        logp, entropy = response_logprobs(self.model, batch["tokens"], with_entropy=True)
        out = grpo_loss(logp, batch["old_logp"], batch["ref_logp"], batch["advantages"], batch["mask"], g.clip,
                        g.kl_coef, entropy, g.entropy_coef)
        return out.loss, {"grpo_reward": float(batch["reward"]), "grpo_kl": out.kl,
                          "grpo_clip_fraction": out.clip_fraction, "grpo_entropy": out.entropy}

    def batch_weight(self, batch: tuple[torch.Tensor, torch.Tensor] | dict[str, torch.Tensor]) -> float:
        """The response tokens of a batch: what every term of either loss averages over (DeepSpeed's shards)."""
        mask = batch[1] if isinstance(batch, tuple) else batch["mask"]
        return float(mask.sum())

    # -- phase 2: GRPO --------------------------------------------------------------------------------------------
    def start_grpo(self) -> None:
        """Freeze the SFT model as the reference, record its held-out measures, and restart the optimizer: its state
        cleared (the paper's fresh optimizer; the same object, which a DeepSpeed engine already holds), the learning
        rate ``grpo.lr`` from now on (``learning_rate``)."""
        self.sft_measures = heldout_measures(self, self.data.test)
        self.reference = copy.deepcopy(policy_module(self.model)).eval().requires_grad_(False)
        self.optimizer.state.clear()

    def rollout(self, picks: list[int], generator: torch.Generator) -> Rollout:
        """``grpo.group_size`` responses sampled from the current policy to each training prompt of ``picks``, and
        their rewards, all from ``generator`` in one batch."""
        g = self.config.grpo
        return sample_group(self.model, [self.data.train[i] for i in picks], g.group_size, self.config.max_answer,
                            g.temperature, generator, self.config.kv_cache)

    def sample_rollouts(self, picks: list[int]) -> Rollout:
        """One GRPO step's rollouts. ``grpo.generation_actors`` = 0: ``rollout`` from the trainer's generator.
        N > 0: the prompts cut into N contiguous shares, share k sampled from seed s + k (s drawn from the trainer's
        generator) through ``shard_map`` after it has the policy's current weights: N Ray generation actors when the
        trial runner attached a pool, else this process; the same rollouts either way."""
        c = self.config
        n = c.grpo.generation_actors
        if n == 0:
            return self.rollout(picks, self.generator)
        seed = int(torch.randint(2**31 - 1, (1,), generator=self.generator))
        shards = [RolloutShard([self.data.train[i] for i in share.tolist()], seed + k, c.grpo.group_size,
                               c.max_answer, c.grpo.temperature, c.kv_cache)
                  for k, share in enumerate(torch.tensor(picks).chunk(n))]
        policy = policy_module(self.model)
        shard_map = self.shard_map if self.shard_map is not None else LocalShardMap(policy)
        shard_map.sync(policy.state_dict())
        return concat_rollouts(shard_map.map(sample_shard, shards))

    def generation_factory(self) -> functools.partial:
        """What builds a generation actor's copy of the policy (``actors/generation.py``); picklable."""
        return functools.partial(build_policy, self.config.model, self.config.threads)

    @torch.no_grad()
    def minibatches(self, batch: Rollout) -> list[dict[str, torch.Tensor]]:
        """One step's rollouts as ``grpo.minibatches`` global batches: rows with their advantages and the log-
        probabilities of the policy that sampled them (pi_old) and of the reference; ``reward`` the step's mean."""
        g, tokens, mask, rewards = self.config.grpo, batch.tokens, batch.mask, batch.rewards
        signal = rewards
        if g.reward == "shuffled":  # the control: same rewards, no longer tied to the responses
            order = torch.argsort(torch.rand(rewards.shape, generator=self.generator), dim=1)
            signal = rewards.gather(1, order)
        advantages = group_advantages(signal).flatten()
        old_logp, _ = response_logprobs(self.model, tokens)
        ref_logp, _ = response_logprobs(self.reference, tokens)
        reward = rewards.mean()
        return [{"tokens": tokens[rows], "mask": mask[rows], "old_logp": old_logp[rows], "ref_logp": ref_logp[rows],
                 "advantages": advantages[rows], "reward": reward}
                for rows in torch.arange(len(tokens)).chunk(g.minibatches)]

    def step(self, batch: tuple[torch.Tensor, torch.Tensor] | dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimizer step of the plain loop on one global batch; returns the loss's parts."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        loss, parts = split_loss(self.loss(batch))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.global_step += 1
        return parts

    def learn(self, batch: Rollout) -> dict[str, float]:
        """GRPO's update on one step's rollouts (e.g. from generation actors): ``grpo.minibatches`` optimizer steps."""
        return _mean([self.step(mb) for mb in self.minibatches(batch)])

    def fit_epoch(self) -> dict[str, float]:
        self.model.train()
        grpo = not self.in_sft
        parts = [self.step(batch) for batch in self.batches()]
        self.epoch += 1
        if grpo and not parts:
            return {"grpo_steps": 0.0}
        return _mean(parts)

    # -- state ----------------------------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """What the policy's weights and the optimizer do not hold: the SFT measures and the frozen reference (the
        DeepSpeed loop keeps it in its checkpoints and hands it to the copy its evaluators read)."""
        state: dict[str, Any] = {"sft_measures": dict(self.sft_measures)}
        if self.reference is not None:
            state["reference"] = self.reference.state_dict()
        return state

    def load_extra_state(self, state: Any) -> None:
        if "reference" in state:
            self.reference = copy.deepcopy(policy_module(self.model)).eval().requires_grad_(False)
            self.reference.load_state_dict(state["reference"])
        self.sft_measures = {k: float(v) for k, v in state["sft_measures"].items()}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "global_step": self.global_step, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "rng": rng_state(self.generator), **self.extra_state()}

    def load_state_dict(self, state: Any) -> None:
        self.epoch = int(state["epoch"])
        self.global_step = int(state.get("global_step", 0))
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        set_rng_state(self.generator, state["rng"])
        self.load_extra_state(state)

    def artifact(self) -> G1Trainer:
        return self


def policy_module(model: nn.Module) -> nn.Module:
    """The policy itself, also when a DeepSpeed engine wraps it (the engine's ``module``)."""
    return getattr(model, "module", model)


def _mean(parts: list[dict[str, float]]) -> dict[str, float]:
    sums: dict[str, float] = defaultdict(float)
    for p in parts:
        for k, v in p.items():
            sums[k] += v
    return {k: v / len(parts) for k, v in sums.items()}


EVAL_TEMPERATURE = 0.6  # the paper's evaluation sampling temperature


@torch.no_grad()
def heldout_rewards(trainer: G1Trainer, items: list[ErdosItem], temperature: float, batch: int = 256) -> torch.Tensor:
    """The verifier's reward of one response per held-out prompt (temperature 0: greedy), drawn from a generator
    seeded by the run's seed, so the SFT model and the final one are measured on the same random stream."""
    generator = torch.Generator().manual_seed(trainer.config.seed)
    rewards = []
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        tokens, lengths, _ = sample(trainer.model, [encode(compact_prompt(it)) for it in chunk],
                                    trainer.config.max_answer, EOT, temperature, generator,
                                    cache=trainer.config.kv_cache)
        rewards.append(rollout_rewards(chunk, tokens, lengths))
    return torch.cat(rewards)


def heldout_measures(trainer: G1Trainer, items: list[ErdosItem]) -> dict[str, float]:
    """Accuracy (reward 1) and mean reward (partial credit included) of responses sampled at the paper's T = 0.6,
    the accuracy of greedy responses, and the sampled accuracy per task tier present in ``items``."""
    sampled, greedy = heldout_rewards(trainer, items, EVAL_TEMPERATURE), heldout_rewards(trainer, items, 0.0)
    return {"test_acc": float((sampled == 1.0).float().mean()), "test_reward": float(sampled.mean()),
            "test_acc_greedy": float((greedy == 1.0).float().mean()), **accuracy_by_tier(items, sampled)}


def accuracy_by_tier(items: list[ErdosItem], rewards: torch.Tensor) -> dict[str, float]:
    """``test_acc_<tier>``: the share of reward-1 responses among the items of each tier (the paper reports its
    Erdős accuracy by difficulty tier); tiers without items are left out."""
    tiers = [TASKS[it.task].tier for it in items]
    out = {}
    for tier in TIERS:
        rows = torch.tensor([t == tier for t in tiers])
        if rows.any():
            out[f"test_acc_{tier}"] = float((rewards[rows] == 1.0).float().mean())
    return out


@torch.no_grad()
def reference_kl(trainer: G1Trainer, items: list[ErdosItem], seed: int) -> float:
    """k3 estimate of KL(pi || pi_ref) per response token, on responses sampled from pi (T = 1) to ``items``."""
    if trainer.reference is None:
        return 0.0
    tokens, lengths, mask = sample(trainer.model, [encode(compact_prompt(it)) for it in items],
                                   trainer.config.max_answer, EOT, 1.0, torch.Generator().manual_seed(seed),
                                   cache=trainer.config.kv_cache)
    logp, _ = response_logprobs(trainer.model, tokens)
    ref, _ = response_logprobs(trainer.reference, tokens)
    return float(masked_mean(k3_kl(logp, ref), mask.float()))


class G1Eval(Evaluator):
    """Verified accuracy and mean reward on held-out instances (responses sampled at T = 0.6, as the paper
    evaluates; and greedy accuracy) after SFT and at the end, and the KL to the SFT reference.
    ``acc_gain`` = test_acc - sft_test_acc."""

    metrics = ("test_acc", "test_reward", "test_acc_greedy", "sft_test_acc", "sft_test_reward", "sft_test_acc_greedy",
               "acc_gain", "kl_ref", *(f"{stage}test_acc_{tier}" for stage in ("", "sft_") for tier in TIERS))

    def load_data(self) -> G1Data:
        return load_g1_data(self.config.data)

    def evaluate(self, trainer: G1Trainer) -> dict[str, float]:
        final = heldout_measures(trainer, self.data.test)
        sft = trainer.sft_measures or final  # no GRPO epoch ran: the SFT model is the final one
        return {**final, **{f"sft_{k}": v for k, v in sft.items()},
                "acc_gain": final["test_acc"] - sft["test_acc"],
                "kl_ref": reference_kl(trainer, self.data.test, self.config.seed)}
