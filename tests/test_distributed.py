"""Ray Train + DeepSpeed on CPU (gloo, DS_ACCELERATOR=cpu) with 2 workers: parameter parity with the plain loop
after every step for every ZeRO stage (ZeRO-3 with its parameters partitioned), fault tolerance, and sweeps of a
distributed method. Real Ray, real DeepSpeed."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from actors.distributed import run_distributed, run_variants
from shared.config import ConfigError
from shared.distributed import DistributedConfig, deepspeed_config, resolve_micro_batch, shard_batch
from shared.method import Evaluator, GradientTrainer, MethodConfig, MethodSpec, OptimConfig, Resources
from shared.results import ResultsStore


@dataclass
class TinyConfig(MethodConfig):
    epochs: int = 3
    batch_size: int = 16
    n: int = 64
    hidden: int = 16
    kill_flag: str = ""  # test hook: rank 1 dies in epoch 2 while this file does not exist
    trace: str = ""  # test hook: every rank appends "<rank> <epoch>" here at every loss computation
    param_dump: str = ""  # test hook: each evaluation appends the evaluated parameters here (a JSON line)
    engine_probe: str = ""  # test hook: each rank appends what its DeepSpeed engine holds here (a JSON line)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=0.02, schedule="cosine",
                                                                  warmup_epochs=1))
    distributed: DistributedConfig = field(default_factory=DistributedConfig)


class TinyTrainer(GradientTrainer):
    """A small MLP regression on generated data; batches drawn from the trainer's generator."""

    config: TinyConfig

    def setup(self) -> None:
        g = torch.Generator().manual_seed(1234)
        x = torch.randn(self.config.n, 8, generator=g)
        y = torch.tanh(x @ torch.randn(8, 1, generator=g)) + 0.1 * torch.randn(self.config.n, 1, generator=g)
        self.data = (x, y)

    def build_model(self) -> nn.Module:
        h = self.config.hidden
        return nn.Sequential(nn.Linear(8, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, 1))

    def steps_per_epoch(self) -> int:
        return self.config.n // self.config.batch_size

    def batches(self):
        flag = self.config.kill_flag
        if flag and self.epoch == 1 and os.environ.get("RANK") == "1" and not Path(flag).exists():
            Path(flag).touch()
            # Ray Train commits a reported checkpoint at its next poll of the workers (every 0.5 s here); a
            # worker that dies before that poll loses it, and the run restarts from the one before.
            time.sleep(2.0)
            os._exit(1)
        x, y = self.data
        order = torch.randperm(self.config.n, generator=self.generator)
        bs = self.config.batch_size
        for i in range(self.steps_per_epoch()):
            idx = order[i * bs:(i + 1) * bs]
            yield x[idx], y[idx]

    def loss(self, batch):
        if self.config.trace:
            with open(self.config.trace, "a") as f:
                f.write(f"{os.environ.get('RANK', 'plain')} {self.epoch}\n")
        self.losses_computed = getattr(self, "losses_computed", 0) + 1
        if self.config.engine_probe and self.losses_computed == 2:
            probe_engine(self.model, self.config.engine_probe)
        x, y = batch
        return F.mse_loss(self.model(x), y)

    def artifact(self) -> nn.Module:
        return self.model


class FitMSE(Evaluator):
    metrics = ("fit_mse",)

    @torch.no_grad()
    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        x, y = self.data
        return {"fit_mse": float(F.mse_loss(artifact(x), y))}


class ParamDump(Evaluator):
    """Test hook: appends the evaluated (on the distributed path: gathered from every rank) parameters."""

    @torch.no_grad()
    def evaluate(self, artifact: nn.Module) -> dict[str, float]:
        if self.config.param_dump:
            with open(self.config.param_dump, "a") as f:
                f.write(json.dumps(flat_params(artifact).tolist()) + "\n")
        return {}


def flat_params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().double().flatten() for p in model.parameters()])


def probe_engine(engine, path: str) -> None:
    """Inside a worker, after the first micro-batch's forward, backward and step: the engine's ZeRO stage and, per
    parameter, whether ZeRO-3 keeps it whole (ds_persist), the elements this rank holds of it now (0: released
    after use) and of its partition (ds_tensor)."""
    if not hasattr(engine, "zero_optimization_stage"):
        return  # the plain loop
    params = list(engine.module.parameters())
    shard = getattr(params[0], "ds_tensor", None)
    probe = {"rank": int(os.environ["RANK"]), "stage": int(engine.zero_optimization_stage()),
             "persist": [bool(getattr(p, "ds_persist", True)) for p in params],
             "numel": [int(getattr(p, "ds_numel", p.numel())) for p in params],
             "held": [int(p.data.numel()) for p in params],
             "shard": [int(p.ds_tensor.numel()) if shard is not None else -1 for p in params]}
    with open(path, "a") as f:
        f.write(json.dumps(probe) + "\n")


SPEC = MethodSpec(name="tiny_ds", paper="test", family="test", config=TinyConfig, trainer=TinyTrainer,
                  evaluators=(FitMSE, ParamDump), resources=Resources(cpu=1, distributed="deepspeed"))


# -- no Ray: the config and the sharding ------------------------------------------------------------------
def test_config_is_checked_before_compute():
    cfg = SPEC.load_config(["distributed.workers=3", "distributed.zero_stage=3"])
    assert (cfg.distributed.workers, cfg.distributed.zero_stage) == (3, 3)
    with pytest.raises(ConfigError, match="distributed.workers: must be >= 1"):
        SPEC.load_config(["distributed.workers=0"])
    with pytest.raises(ConfigError, match="distributed.zero_stage: must be one of"):
        SPEC.load_config(["distributed.zero_stage=4"])
    for stage in range(4):  # no stage is refused in fp32/bf16 on CPU; fp16 is, naming the stage and why
        SPEC.load_config([f"distributed.zero_stage={stage}", "distributed.precision=bf16"])
        with pytest.raises(ConfigError, match=f"zero_stage={stage} with precision=fp16 cannot run on CPU workers: "
                                              "DeepSpeed's CPU accelerator has no fp16"):
            SPEC.load_config([f"distributed.zero_stage={stage}", "distributed.precision=fp16"])
    with pytest.raises(ConfigError, match="distributed.backend: nccl needs GPUs"):
        SPEC.load_config(["distributed.backend=nccl"])
    gpu = SPEC.load_config(["distributed.use_gpu=true", "distributed.precision=fp16"]).distributed
    assert gpu.resolved_backend == "nccl"
    ds = deepspeed_config(cfg.distributed, micro_batch=4)
    assert "train_batch_size" not in ds and ds["train_micro_batch_size_per_gpu"] == 4
    assert ds["zero_optimization"] == {"stage": 3, "stage3_param_persistence_threshold": 100_000,
                                       "stage3_model_persistence_threshold": 2**32 - 1}
    assert "torch_autocast" not in ds
    assert deepspeed_config(SPEC.load_config(["distributed.zero_stage=2"]).distributed, 4)["zero_optimization"] == {
        "stage": 2}  # the thresholds are ZeRO-3's
    partitioned = SPEC.load_config(["distributed.zero_stage=3", "distributed.param_persistence_threshold=0",
                                    "distributed.model_persistence_threshold=1000"]).distributed
    assert deepspeed_config(partitioned, 4)["zero_optimization"] == {
        "stage": 3, "stage3_param_persistence_threshold": 0, "stage3_model_persistence_threshold": 1000}
    for key in ("param_persistence_threshold", "model_persistence_threshold"):
        with pytest.raises(ConfigError, match=f"distributed.{key}: must be >= 0"):
            SPEC.load_config([f"distributed.{key}=-1"])
    bf16 = deepspeed_config(SPEC.load_config(["distributed.precision=bf16"]).distributed, micro_batch=4)
    assert bf16["torch_autocast"] == {"enabled": True, "dtype": "bfloat16"} and "bf16" not in bf16
    with pytest.raises(ConfigError, match="micro_batch: 5 x grad_accum 1 x workers 3 = 15, but the method's "
                                          "batches hold 16"):
        resolve_micro_batch(SPEC.load_config(["distributed.workers=3", "distributed.micro_batch=5"]).distributed, 16)
    assert resolve_micro_batch(cfg.distributed, 16) == 5


def test_gpu_profile_is_the_distributed_section_of_a_method_config():
    from cluster.profiles import load_profile
    from jobs.train_distributed import overrides_for, parse_args

    items = overrides_for(parse_args(["gpt", "--profile", "gpu-zero3", "distributed.grad_accum=2"]))
    dist = SPEC.load_config(items).distributed
    assert (dist.workers, dist.zero_stage, dist.precision, dist.resolved_backend, dist.use_gpu, dist.grad_accum) == (
        4, 3, "bf16", "nccl", True, 2)
    assert load_profile("local").method_overrides() == {}


def test_sharded_gradient_is_the_full_batch_gradient():
    """Uneven slices (10 samples over 2 ranks x 2 micro-batches), a tuple-and-dict batch: the scaled
    micro-batch gradients, averaged as DeepSpeed does (1/accum, mean over ranks), are the full-batch gradient."""
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y = torch.randn(10, 3), torch.randn(10, 1)
    batch = (x, {"y": y, "note": "kept"})

    def grad(b, scale=1.0):
        model.zero_grad()
        (F.mse_loss(model(b[0]), b[1]["y"]) * scale).backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    world, accum = 2, 2
    full = grad(batch)
    total, logged, sizes = torch.zeros_like(full), 0.0, []
    for rank in range(world):
        for micro, scale in shard_batch(batch, rank, world, accum):
            assert micro[1]["note"] == "kept"
            sizes.append(len(micro[0]))
            total += grad(micro, scale) / accum / world
            with torch.no_grad():
                logged += scale / (world * accum) * float(F.mse_loss(model(micro[0]), micro[1]["y"]))
    assert sizes == [3, 2, 3, 2]
    torch.testing.assert_close(total, full, rtol=1e-6, atol=1e-7)
    with torch.no_grad():
        assert logged == pytest.approx(float(F.mse_loss(model(x), y)), rel=1e-6)
    with pytest.raises(ValueError, match="cannot feed 2 workers x 8 micro-batches"):
        shard_batch(batch, 0, 2, 8)


# -- real Ray Train + DeepSpeed, 2 CPU workers -------------------------------------------------------------
@pytest.fixture(scope="module")
def local_ray():
    import ray

    with pytest.MonkeyPatch.context() as mp:
        # Ray Train reads these in the driver and passes them to its controller and workers: no preemption
        # watcher actor, and worker deaths and ends noticed within half a second.
        mp.setenv("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
        mp.setenv("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")
        if not ray.is_initialized():  # a Ray of its own even when another one runs on this machine
            from cluster.connect import ensure_token_auth

            ensure_token_auth()  # token authentication, as on every raystudy path (and as imported job modules set)
            ray.init(address="local", num_cpus=2, include_dashboard=False, namespace="raystudy")
        yield
        ray.shutdown()


def plain_run(overrides: list[str]) -> tuple[list[float], dict[str, float]]:
    """The plain loop (GradientTrainer.fit_epoch in this process): per-epoch losses and the final measures."""
    cfg = SPEC.load_config(overrides)
    trainer = SPEC.make_trainer(cfg)
    losses = [trainer.fit_epoch()["loss"] for _ in range(cfg.epochs)]
    return losses, SPEC.evaluate(cfg, trainer.artifact(), trainer.data)


def rows_by_trial(store_root: Path, experiment: str):
    rows = ResultsStore(store_root).read(experiment).to_pandas()
    assert not rows.duplicated(["trial", "epoch", "metric"]).any(), "an epoch was written twice"
    return rows


FP32_RTOL = 1e-5  # measured max relative difference to the plain loop: see docs/distributed.md
BF16_RTOL = 1e-2
PARAM_ATOL = 1e-5  # measured max parameter difference to the plain loop: see docs/distributed.md
# SGD with momentum is linear in the gradient, so a wrong gradient scale (a missing 1/world or micro-batch weight)
# moves its parameters by a sizeable part of a step, where Adam's normalisation hides it. A global batch of 29
# samples over 2 ranks x 2 micro-batches is split unevenly at both levels (15 + 14 samples; 8 + 7 and 7 + 7), so
# weights that assume equal slices are wrong too. Each epoch is one step and is evaluated (the parameters are
# gathered from the ranks), so the parameters are compared after every step.
SGD_UNEVEN = ["optim.name=sgd", "optim.lr=0.2", "optim.momentum=0.9", "n=29", "batch_size=29", "epochs=6",
              "eval_every=1", "distributed.grad_accum=2"]
PARTITIONED = ["distributed.param_persistence_threshold=0"]  # ZeRO-3 partitions every parameter of the MLP


def plain_steps(overrides: list[str]) -> tuple[list[float], list[torch.Tensor], dict[str, float]]:
    """The plain loop, one-step epochs: the loss of every step, the parameters after it, the final measures."""
    cfg = SPEC.load_config(overrides)
    trainer = SPEC.make_trainer(cfg)
    losses, params = [], []
    for _ in range(cfg.epochs):
        losses.append(trainer.fit_epoch()["loss"])
        params.append(flat_params(trainer.model))
    return losses, params, SPEC.evaluate(cfg, trainer.artifact(), trainer.data)


def assert_partitioned(probe_file: Path) -> None:
    """Every rank's engine ran ZeRO-3 with every parameter partitioned (none persistent) and released after use."""
    probes = [json.loads(line) for line in probe_file.read_text().splitlines()]
    assert {p["rank"] for p in probes} == {0, 1}
    for p in probes:
        assert p["stage"] == 3
        assert not any(p["persist"]), f"rank {p['rank']}: ds_persist {p['persist']}"
        assert p["shard"] == [-(-n // 2) for n in p["numel"]], "each rank holds half of every parameter"
        assert p["held"] == [0] * len(p["numel"]), "parameters are released between uses"


def test_every_zero_stage_matches_the_plain_loop(local_ray, tmp_path: Path):
    """On one 2-worker group, one run after another: ZeRO 0-3 in fp32 with SGD on an uneven global batch and 2
    accumulation steps, parameters compared with the single-process run's after every step; ZeRO-1 with Adam
    (sharded optimizer state, a warm-up and cosine schedule); ZeRO-3 in bf16. The ZeRO-3 runs partition every
    parameter (checked inside the workers)."""
    probes = {label: tmp_path / f"{label}.probe" for label in ("z3-bf16", "z3-sgd")}
    # bf16 first: DeepSpeed keeps autocast state in process globals, which must not leak into the fp32 runs.
    variants = {"z3-bf16": ["distributed.zero_stage=3", "distributed.precision=bf16", *PARTITIONED,
                            f"engine_probe={probes['z3-bf16']}"],
                "z1-adam": ["distributed.zero_stage=1", "distributed.grad_accum=2"]}
    for stage in range(4):
        label = f"z{stage}-sgd"
        variants[label] = [*SGD_UNEVEN, f"distributed.zero_stage={stage}", f"param_dump={tmp_path / label}.params"]
    variants["z3-sgd"] += [*PARTITIONED, f"engine_probe={probes['z3-sgd']}"]
    errors = run_variants(SPEC, variants, experiment="parity", storage=str(tmp_path))
    assert errors == {label: None for label in variants}
    for probe in probes.values():
        assert_partitioned(probe)
    rows = rows_by_trial(tmp_path, "parity")

    def losses_and_fit(label: str) -> tuple[list[float], float]:
        mine = rows[rows["trial"] == label]
        fit = mine[mine["metric"] == "fit_mse"].sort_values("epoch")["value"].iloc[-1]
        return mine[mine["metric"] == "loss"].sort_values("epoch")["value"].tolist(), float(fit)

    adam_losses, adam_eval = plain_run([])
    for label in ("z3-bf16", "z1-adam"):
        losses, fit = losses_and_fit(label)
        rtol = BF16_RTOL if "bf16" in label else FP32_RTOL
        assert losses == pytest.approx(adam_losses, rel=rtol), label
        assert fit == pytest.approx(adam_eval["fit_mse"], rel=rtol), label
        pairs = zip(losses + [fit], adam_losses + [adam_eval["fit_mse"]], strict=True)
        print(f"{label}: max relative difference to the plain loop {max(abs(a - b) / abs(b) for a, b in pairs):.2e}")

    sgd_losses, sgd_params, sgd_eval = plain_steps(SGD_UNEVEN)
    updates = [float((b - a).abs().max()) for a, b in zip(sgd_params, sgd_params[1:], strict=False)]
    assert min(updates) > 100 * PARAM_ATOL, f"each step must move the parameters well beyond the tolerance: {updates}"
    for stage in range(4):
        label = f"z{stage}-sgd"
        losses, fit = losses_and_fit(label)
        dumped = [torch.tensor(json.loads(line), dtype=torch.float64)
                  for line in (tmp_path / f"{label}.params").read_text().splitlines()]
        assert len(dumped) == len(sgd_params) == 6, label
        diffs = [float((a - b).abs().max()) for a, b in zip(dumped, sgd_params, strict=True)]
        print(f"{label}: max parameter difference per step {max(diffs):.2e} (smallest step {min(updates):.2e}); "
              f"max relative loss difference "
              f"{max(abs(a - b) / abs(b) for a, b in zip(losses, sgd_losses, strict=True)):.2e}")
        assert max(diffs) < PARAM_ATOL, f"{label}: parameters after each step differ by {diffs}"
        assert losses == pytest.approx(sgd_losses, rel=FP32_RTOL), label
        assert fit == pytest.approx(sgd_eval["fit_mse"], rel=FP32_RTOL), label


def test_killed_worker_resumes_from_its_checkpoint(local_ray, tmp_path: Path):
    """ZeRO-3 with every parameter partitioned: rank 1 dies at the start of epoch 2; the worker group restarts
    from the epoch-1 DeepSpeed checkpoint, every epoch is written once, and the loss trajectory is the
    uninterrupted one."""
    flag, trace = tmp_path / "killed", tmp_path / "trace.txt"
    probe = tmp_path / "engine.probe"
    items = ["distributed.zero_stage=3", *PARTITIONED, "distributed.max_failures=1", f"kill_flag={flag}",
             f"trace={trace}", f"engine_probe={probe}"]
    out = run_distributed(SPEC, items, storage=str(tmp_path), name="killed")
    assert flag.exists(), "rank 1 was to die once"
    assert_partitioned(probe)  # the restarted group loaded partitioned parameters
    # Epoch 1 (4 steps) was trained once by each rank: the restarted group loaded its checkpoint.
    trained = trace.read_text().split("\n")
    assert trained.count("0 0") == trained.count("1 0") == 4
    assert trained.count("0 2") == trained.count("1 2") == 4
    assert out["metrics"]["epoch"] == 3
    rows = rows_by_trial(tmp_path, "killed")
    losses = rows[rows["metric"] == "loss"].sort_values("epoch")
    assert losses["epoch"].tolist() == [1, 2, 3]
    plain_losses, plain_eval = plain_run([])
    assert losses["value"].tolist() == pytest.approx(plain_losses, rel=FP32_RTOL)
    final = rows[rows["status"] == "final"]
    assert final.loc[final["metric"] == "fit_mse", "value"].iloc[0] == pytest.approx(plain_eval["fit_mse"],
                                                                                     rel=FP32_RTOL)
    ckpt = Path(out["checkpoint"])
    assert ckpt.name == "checkpoint_epoch=000003"
    assert {"latest", "meta.json", "trainer.pt", "epoch_000003"} <= {p.name for p in ckpt.iterdir()}
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["deepspeed"]["zero_stage"] == 3 and meta["epoch"] == 3
    # Each rank wrote its own shard of the ZeRO-3 state into the one reported checkpoint.
    shards = {p.name for p in (ckpt / "epoch_000003").iterdir()}
    assert {"zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"} <= shards


def test_gpt_sweep_runs_each_trial_as_a_train_run(local_ray, tmp_path: Path):
    """The registered gpt method (distributed: deepspeed) through jobs/sweep.py: its trial is a 2-worker
    TorchTrainer run; rows, report and the loss trajectory are the plain loop's."""
    from jobs.sweep import plan_sweep, run_sweep

    fixed = ["epochs=2", "steps_per_epoch=4", "model.n_embd=64", "optim.lr=0.003", "data.n_val=64", "eval_batches=1",
             "sweep.num_samples=1"]
    plan = plan_sweep("gpt", fixed, smoke=True, storage=str(tmp_path))
    out = run_sweep(plan)
    assert out["errors"] == []
    rows = ResultsStore(tmp_path).read(plan.experiment).to_pandas()
    assert rows["trial"].nunique() == 1 and not rows.duplicated(["trial", "epoch", "metric"]).any()
    final = rows[rows["status"] == "final"]
    assert set(final["epoch"]) == {2} and {"recall_acc", "val_loss", "loss"} <= set(final["metric"])
    assert Path(out["report"]).exists()
    # The same configuration in the plain loop, in this process.
    from shared.registry import get_method

    spec = get_method("gpt")
    cfg = spec.load_config(json.loads(final["config"].iloc[0]))
    trainer = spec.make_trainer(cfg)
    plain = [trainer.fit_epoch()["loss"] for _ in range(cfg.epochs)]
    losses = rows[rows["metric"] == "loss"].sort_values("epoch")["value"].tolist()
    print(f"gpt: distributed {losses} plain {plain}")
    assert losses == pytest.approx(plain, rel=1e-4)


def test_cpu_engines_skip_the_shared_memory_ops_build(tmp_path):
    """DeepSpeed's CPU backend would JIT-compile its shared-memory all-reduce (``deepspeed_shm_comm``, ~90 CPU-s of
    gcc on a fresh machine) for its tensor-parallel inference only; after the platform's marking, building the
    backend's op returns nothing and compiles nothing (a fresh process and an empty extension cache, so a build
    would show)."""
    import subprocess
    import sys

    code = ("import deepspeed\nfrom deepspeed.comm.torch import build_shm_op\n"
            "from actors.distributed import _skip_shm_inference_op\n"
            "_skip_shm_inference_op(deepspeed)\nprint('op:', build_shm_op())\n")
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[1], check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "op: None" in out.stdout
    assert not any((tmp_path / "ext").rglob("*.so"))
