"""g1: GRPO's advantage, KL and clipped loss by hand (shared/lm/grpo.py), the policy's prompts, sampling and
teacher batches, exact resume, and the claim on held-out seeds (shared/methods/llm/g1.py)."""
from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest
import torch

from shared.config import ConfigError
from shared.lm.erdos import make_item
from shared.lm.grpo import clipped_surrogate, generate, group_advantages, grpo_loss, k3_kl, response_logprobs, sample
from shared.lm.model import GPT, GPTConfig
from shared.methods.llm.g1 import (
    EOT,
    SPEC,
    VOCAB,
    G1Config,
    G1Trainer,
    accuracy_by_tier,
    compact_prompt,
    decode_response,
    encode,
    teacher_batch,
)
from shared.results import ResultsStore

SMALL = ["steps_per_epoch=2", "batch_size=4", "epochs=2", "sft_epochs=1", "data.n_train=5", "data.n_test=4",
         "grpo.steps_per_epoch=2", "grpo.prompts=2", "model.n_embd=16"]


def test_group_advantages_by_hand_have_zero_mean_per_group():
    adv = group_advantages(torch.tensor([[1.0, 0, 0, 0, 0], [0.5, 0.5, 0.5, 0.5, 0.5], [1, 1, 0, 0, 0.5]]))
    s = math.sqrt(0.2)  # Bessel-corrected std of (1, 0, 0, 0, 0): sqrt((0.64 + 4 * 0.04) / 4)
    assert torch.allclose(adv[0], torch.tensor([0.8 / s, -0.2 / s, -0.2 / s, -0.2 / s, -0.2 / s]), atol=1e-4)
    assert torch.equal(adv[1], torch.zeros(5))  # one reward for the whole group: no signal
    assert torch.allclose(adv.mean(dim=1), torch.zeros(3), atol=1e-6)


def test_k3_kl_is_zero_at_equality_nonnegative_and_matches_the_hand_value():
    logp, ref = torch.log(torch.tensor([0.5])), torch.log(torch.tensor([0.25]))
    assert k3_kl(logp, ref).item() == pytest.approx(0.5 + math.log(2) - 1)  # exp(x) - x - 1, x = log(1/2)
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(1000, generator=gen), torch.randn(1000, generator=gen)
    b[:100] = a[:100] + 1e-4 * torch.randn(100, generator=gen)  # near-equal pairs: exp(x) - x - 1 is O(x^2)
    # exp(x) - x - 1 >= 0 exactly; in float32, for |x| near 1e-4, it rounds to a few 1e-8 either side of zero
    assert k3_kl(a, a).abs().max() == 0 and (k3_kl(a, b) >= -1e-6).all()


def test_the_clipped_surrogate_by_hand():
    ratio = torch.tensor([1.5, 0.5, 0.5, 1.5])
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0])
    loss, clipped = clipped_surrogate(ratio.log(), torch.zeros(4), adv, clip=0.2)
    assert torch.allclose(loss, torch.tensor([-1.2, 0.8, -0.5, 1.5]))
    assert clipped.tolist() == [True, True, False, False]
    logp = torch.zeros(2, 3, requires_grad=True)  # at rho = 1 the gradient is -A per token over all tokens
    mask = torch.tensor([[1.0, 1, 0], [1, 0, 0]])
    out = grpo_loss(logp, torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([2.0, -1.0]), mask, 0.2, kl_coef=0.0)
    out.loss.backward()
    assert out.loss.item() == pytest.approx(-(2 + 2 - 1) / 3)  # token-mean over the 3 response tokens
    assert torch.allclose(logp.grad, torch.tensor([[-2 / 3, -2 / 3, 0], [1 / 3, 0, 0]]))


def test_prompts_teacher_batches_and_sampled_responses_line_up():
    item = make_item("degree", nx.Graph([(0, 1), (0, 5), (1, 2), (3, 4)]), (1,))
    assert compact_prompt(item) == "D1:01,05,12,34=" and item.answer_text() == "2"
    tokens, mask = teacher_batch([item])
    assert [chr(t) for t in tokens[0, 1:][mask[0]].tolist()] == ["2", chr(EOT)]
    torch.manual_seed(0)
    model = SPEC.make_trainer(SPEC.load_config(SMALL)).model
    prompts = [encode("D1:01="), encode("E01:01,12=")]
    tokens, lengths, mask = sample(model, prompts, 6, EOT, 1.0, torch.Generator().manual_seed(0))
    for row in range(2):
        text = decode_response(tokens[row], int(lengths[row]))
        ended = len(text) < 6  # stopped at the end token, which the mask covers too
        assert int(mask[row].sum()) == len(text) + ended and bool(mask[row, int(lengths[row]) - 1])


def test_left_padded_cached_sampling_equals_recomputation_and_the_learner_s_logprobs():
    torch.manual_seed(0)
    model = SPEC.make_trainer(SPEC.load_config(SMALL)).model
    prompts = [encode(p) for p in ("D1:01=", "E01:01,12,23,34=", "A:0=", "C:01,12,34,45,56=")]
    width = max(map(len, prompts))  # a left-padded row's logits equal the unpadded row's, prompt and next step alike
    left = torch.tensor([[EOT] * (width - len(p)) + p for p in prompts])
    cache = model.new_cache(pad=torch.tensor([width - len(p) for p in prompts]))
    padded, step = model(left, cache=cache), model(torch.tensor([[ord("1")]] * 4), cache=cache)
    for row, p in enumerate(prompts):
        alone = model(torch.tensor([[*p, ord("1")]]))[0]
        assert torch.allclose(padded[row, width - len(p):], alone[:-1], atol=1e-5)
        assert torch.allclose(step[row, -1], alone[-1], atol=1e-5)
    for temperature in (0.0, 1.0):  # greedy, then sampled from one generator seed
        cached, full = (generate(model, prompts, 12, EOT, temperature, torch.Generator().manual_seed(3), cache=c)
                        for c in (True, False))
        assert torch.equal(cached.tokens, full.tokens) and torch.equal(cached.mask, full.mask)
        assert torch.allclose(cached.logprobs, full.logprobs, atol=1e-5) and cached.mask.sum() > 4 * 3
        learner, _ = response_logprobs(model, cached.tokens)  # what GRPO recomputes as pi_old
        assert torch.allclose(learner[cached.mask], cached.logprobs[cached.mask], atol=1e-5)
    rope = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=8, vocab_size=VOCAB, pos="rope"))
    with pytest.raises(ValueError, match="left padding"):
        rope(left, cache=rope.new_cache(pad=torch.zeros(4, dtype=torch.long)))


def test_bad_tasks_and_short_blocks_are_config_errors():
    with pytest.raises(ConfigError, match="unknown"):
        SPEC.load_config(["data.tasks=[degree,nope]"])
    with pytest.raises(ConfigError, match="compact prompt"):
        SPEC.load_config(["data.tasks=[mst]"])
    with pytest.raises(ConfigError, match="block_size"):
        SPEC.load_config(["data.nodes_max=10", "model.block_size=64"])


def test_g1_resumes_exactly_across_the_sft_to_grpo_switch():
    cfg = SPEC.load_config([*SMALL, "epochs=3"])
    straight = SPEC.make_trainer(cfg)
    straight.fit_epoch()
    straight.fit_epoch()  # SFT, then the first GRPO epoch (reference frozen, SFT measures recorded)
    resumed = SPEC.make_trainer(cfg)
    resumed.load_state_dict(copy.deepcopy(straight.state_dict()))
    assert straight.fit_epoch() == resumed.fit_epoch()
    assert resumed.sft_measures == straight.sft_measures and set(resumed.sft_measures) == {
        "test_acc", "test_reward", "test_acc_greedy", "test_acc_easy"}


def test_accuracy_by_tier_by_hand():
    easy = make_item("degree", nx.Graph([(0, 1), (1, 2)]), (1,))
    medium = make_item("connected_component_number", nx.Graph([(0, 1), (2, 3)]), ())
    rewards = torch.tensor([1.0, 0.5, 0.0, 1.0, 1.0])  # partial credit (0.5) is not a correct answer
    assert accuracy_by_tier([easy, easy, easy, medium, medium], rewards) == {"test_acc_easy": pytest.approx(1 / 3),
                                                                             "test_acc_medium": 1.0}


def test_the_sft_only_arm_keeps_the_sft_policy_and_reports_each_tier():
    cfg = SPEC.load_config([*SMALL, "grpo.reward=none", "data.tasks=[degree,connected_component_number]"])
    trainer = SPEC.make_trainer(cfg)
    trainer.fit_epoch()
    sft_weights = copy.deepcopy(trainer.model.state_dict())
    trainer.fit_epoch()  # a GRPO epoch of the SFT-only arm: no update
    assert all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in sft_weights.items())
    (evaluator,) = SPEC.make_evaluators(cfg)
    out = evaluator.evaluate(trainer)
    assert out["kl_ref"] == 0.0 and out["acc_gain"] == 0.0
    for stage in ("", "sft_"):
        assert {f"{stage}test_acc_easy", f"{stage}test_acc_medium"} <= set(out)
        assert f"{stage}test_acc_hard" not in out  # no hard task in data.tasks
    assert set(out) <= set(evaluator.metrics)


HELD_OUT = [2, 3, 4]  # settings chosen on seeds 0, 1 (see REPRODUCTION.md)


@pytest.mark.slow
def test_grpo_raises_verified_accuracy_over_sft_and_shuffled_rewards_do_not(local_ray):
    from jobs.reproduce import compare

    out = compare("g1_grpo", seeds=HELD_OUT)
    print({arm: {m: [round(v, 3) for v in values] for m, values in out[arm].items()} for arm in out})
    for gain, control, kl in zip(out["grpo"]["acc_gain"], out["shuffled"]["acc_gain"], out["grpo"]["kl_ref"],
                                 strict=True):
        assert gain > 0.0 and gain > control + 0.05 and kl < 0.5
    # and the mean verifier reward rises over the SFT model's (0/1 rewards on these tasks: the accuracy's twin)
    for reward, sft_reward in zip(out["grpo"]["test_reward"], out["grpo"]["sft_test_reward"], strict=True):
        assert reward > sft_reward
    assert out["grpo"]["sft_test_acc"] == out["shuffled"]["sft_test_acc"]  # one shared SFT start


def test_rollouts_concatenate_across_widths():
    from shared.methods.llm.g1 import Rollout, concat_rollouts

    a = Rollout(torch.ones(2, 5, dtype=torch.long), torch.ones(2, 4, dtype=torch.bool), torch.ones(1, 2))
    b = Rollout(torch.full((2, 3), 2), torch.ones(2, 2, dtype=torch.bool), torch.zeros(1, 2))
    both = concat_rollouts([a, b])
    assert both.tokens.shape == (4, 5) and both.mask.shape == (4, 4) and both.rewards.tolist() == [[1, 1], [0, 0]]
    assert both.tokens[2:, 3:].eq(EOT).all() and int(both.mask[2:].sum()) == 4  # padding is no response


def test_reproduce_runs_sample_from_2_generation_actors_in_their_own_placement_groups_as_in_process(local_ray):
    """``jobs/reproduce.py`` with grpo.generation_actors=2 on a 2-CPU Ray: both arms of one seed start from their
    shared SFT run, then each GRPO run samples from its own 2 generation actors in a placement group of 3 bundles
    (the run's CPU split 3 ways) made once the SFT run has ended and removed with the run (the groups made up front
    starved the SFT run of CPUs: a deadlock). Every measure equals the same runs trained in this process, shares
    sampled one by one with the learner's own module; the actors' copies start from other, initial weights, so the
    equal KL to the reference (a fingerprint of the final weights) says each step's weights reached them."""
    import ray

    from jobs.reproduce import compare, load_reproduction, seed_overrides

    extra = [*SMALL, "grpo.prompts=3", "grpo.generation_actors=2"]  # shares of 2 + 1 prompts per step
    groups_before = set(ray.util.placement_group_table())
    actors_before = set(ray._private.state.actors())  # the GCS's actor table (no dashboard on this Ray)
    out = compare("g1_grpo", seeds=[2], extra=extra)
    repro = load_reproduction("g1_grpo")
    for arm_name, arm in repro.arms.items():
        cfg = SPEC.load_config([*repro.setting, *arm.overrides, *extra, *seed_overrides(repro, 2)])
        trainer = SPEC.make_trainer(cfg)
        while not trainer.done:
            trainer.fit_epoch()
        assert trainer.shard_map is None  # sampled here, share by share
        here = SPEC.evaluate(cfg, trainer.artifact(), trainer.data)
        assert {m: out[arm_name][m][0] for m in repro.measures} == {m: here[m] for m in repro.measures}, arm_name
        assert here["kl_ref"] > 0  # GRPO moved the policy: stale actor weights would have sampled other rollouts
    groups = [g for key, g in ray.util.placement_group_table().items() if key not in groups_before]
    assert len(groups) == 2 and all(g["state"] == "REMOVED" for g in groups)
    assert all(len(g["bundles"]) == 3 and sum(b["CPU"] for b in g["bundles"].values()) == pytest.approx(1, abs=1e-3)
               for g in groups)
    actors = [a for key, a in ray._private.state.actors().items() if key not in actors_before]
    assert sorted((a["ActorClassName"], a["State"]) for a in actors) == [("GenerationActor", "DEAD")] * 4


def test_reproduce_refuses_generation_actors_that_can_never_fit_before_ray_starts(monkeypatch, capsys):
    from jobs.reproduce import main

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main(["g1_grpo", "grpo.generation_actors=2", "grpo.generation_cpus=4096", "--seeds", "2"]) == 2
    err = capsys.readouterr().err
    assert "asks for 8193 CPUs" in err and "2 generation actors x 4096 CPU" in err and "grpo.generation_cpus" in err


def test_a_g1_sweep_trial_with_generation_actors_runs_in_its_placement_group(local_ray, tmp_path):
    """A Tune trial of g1 with 2 generation actors on a 2-CPU Ray: the trial's 1 CPU split 3 ways (learner + 2
    actors in one placement group), so it neither waits for CPUs nor asks for more than without actors."""
    from actors.generation import trial_placement
    from jobs.sweep import plan_sweep, run_sweep

    bundles = trial_placement(1.0, 0.0, 2).bundles
    assert len(bundles) == 3 and sum(b["CPU"] for b in bundles) == pytest.approx(1.0, abs=1e-3)
    plan = plan_sweep("g1", ["grpo.generation_actors=2", "steps_per_epoch=2", "grpo.steps_per_epoch=1",
                             "data.n_train=5", "data.n_test=4", "model.n_embd=16"], smoke=True, storage=str(tmp_path))
    out = run_sweep(plan)
    assert not out["errors"] and out["trials"] == 1
    rows = ResultsStore(str(tmp_path)).read(plan.experiment).to_pylist()
    final = {r["metric"]: r["value"] for r in rows if r["status"] == "final"}
    assert {"test_acc", "grpo_reward", "kl_ref"} <= set(final)  # an SFT epoch, then a GRPO epoch, evaluated
    assert '"grpo.generation_actors": 2' in rows[0]["config"]


# One SFT step, then two GRPO epochs of one step of 2 minibatches each (10 responses: ranks take 3 + 2 rows of each).
# Rollouts from 2 generation actors (a prompt each) that rank 0 drives.
GRPO_STEPS = [*SMALL, "epochs=3", "steps_per_epoch=1", "grpo.steps_per_epoch=1", "grpo.prompts=2",
              "grpo.minibatches=2", "grpo.generation_actors=2"]


@dataclass
class StoppableConfig(G1Config):
    stop_flag: str = ""  # test hook: rank 1 dies at the start of epoch 3 (mid-GRPO) while this file does not exist


class StoppableTrainer(G1Trainer):
    """G1's trainer, whose run stops (rank 1's process dies) once, after the epoch-2 checkpoint: SFT and one GRPO
    epoch are done, the second GRPO epoch is not."""

    config: StoppableConfig

    def batches(self):
        flag = self.config.stop_flag
        if flag and self.epoch == 2 and os.environ.get("RANK") == "1" and not Path(flag).exists():
            Path(flag).touch()
            time.sleep(2.0)  # Ray Train commits the reported checkpoint at its next poll of the workers
            os._exit(1)
        yield from super().batches()


STOPPABLE = dataclasses.replace(SPEC, config=StoppableConfig, trainer=StoppableTrainer)


def test_sft_and_grpo_under_ray_train_deepspeed_stopped_and_resumed_mid_grpo_match_the_plain_learner(
        local_ray, tmp_path):
    """2 gloo workers, ZeRO-2 (DS_ACCELERATOR=cpu), end to end: SFT, the switch (reference frozen, optimizer state
    cleared), one GRPO step, a checkpoint; the run then stops (a worker dies, no retries) and the same run started
    again resumes from that checkpoint mid-GRPO (weights, optimizer state, reference policy, generator) for the
    second GRPO step; the evaluators on the gathered weights, a checkpoint in the platform's format. The losses and
    the parameters after both GRPO steps equal the uninterrupted plain learner's on the same batches (each rank
    trains on its slice of every minibatch). The rollouts come from 2 generation actors in a placement group of their
    own, next to the worker group's (4 x 0.5 CPU: the workers' 2 CPUs shared with the actors), which rank 0 gives the
    engine's current weights each step and whose rollouts it broadcasts; the plain learner samples the same shares in
    its own process."""
    import ray
    from ray.train import TrainingFailedError

    from actors.distributed import POOL_GROUP_PREFIX, run_distributed
    from shared.checkpoint import verified_state

    cfg = SPEC.load_config(GRPO_STEPS)
    assert (cfg.distributed.workers, cfg.distributed.zero_stage, cfg.grpo.generation_actors) == (2, 2, 2)
    plain = SPEC.make_trainer(cfg)
    sft = plain.fit_epoch()
    after_sft = {k: v.clone() for k, v in plain.model.state_dict().items()}
    plain.fit_epoch()
    grpo = plain.fit_epoch()  # the second GRPO epoch: the one the resumed run trains
    (evaluator,) = SPEC.make_evaluators(cfg)
    measures = evaluator.evaluate(plain)

    flag = tmp_path / "stopped"
    items = [*GRPO_STEPS, "distributed.max_failures=0", f"stop_flag={flag}"]
    groups_before = set(ray.util.placement_group_table())
    with pytest.raises(TrainingFailedError):
        run_distributed(STOPPABLE, items, storage=str(tmp_path), name="g1-stop")
    assert flag.exists()
    out = run_distributed(STOPPABLE, items, storage=str(tmp_path), name="g1-stop")  # the same run again
    ds = out["metrics"]  # the last epoch's (GRPO) training metrics and the evaluators', rank 0
    rows = ResultsStore(tmp_path).read().to_pandas()
    assert sorted(rows.loc[rows["metric"] == "loss", "epoch"]) == [1, 2, 3]  # epoch 3 once, epochs 1-2 not again
    meta, state = verified_state(out["checkpoint"])
    assert meta["epoch"] == 3
    trained = SPEC.make_trainer(cfg)
    trained.load_state_dict(state)
    final = trained.model.state_dict()
    moved = max(float((plain.model.state_dict()[k] - after_sft[k]).abs().max()) for k in final)
    diff = max(float((plain.model.state_dict()[k] - final[k]).abs().max()) for k in final)
    print(f"GRPO steps moved the parameters by up to {moved:.2e}; DeepSpeed, stopped and resumed, vs plain: "
          f"{diff:.2e}")
    assert diff < 2e-6 and moved > 100 * 2e-6
    assert ds["generation_actors"] == 2 and ds["rollout_wait_s"] > 0  # rank 0 sampled through its pool
    pools = [g for key, g in ray.util.placement_group_table().items() if key not in groups_before
             and g["name"].startswith(POOL_GROUP_PREFIX)]
    assert len(pools) == 2 and all(g["state"] == "REMOVED" for g in pools)  # one per start, released with its run
    assert all([b["CPU"] for b in g["bundles"].values()] == [0.5, 0.5] for g in pools)
    for key in ("grpo_kl", "grpo_entropy", "grpo_reward", "grpo_clip_fraction"):
        assert ds[key] == pytest.approx(grpo[key], rel=1e-4, abs=1e-7), key
    assert trained.reference is not None and trained.sft_measures == pytest.approx(plain.sft_measures)
    for key in ("sft_test_acc", "test_acc", "kl_ref"):
        assert ds[key] == pytest.approx(measures[key], abs=1e-6), key
    assert sft["sft_loss"] > 0


def test_zero3_is_refused_before_compute():
    with pytest.raises(ConfigError, match="zero_stage=3: g1's frozen reference"):
        SPEC.load_config([*SMALL, "distributed.zero_stage=3"])
