"""Deployment files: the cluster-launcher YAML, the KubeRay manifests and the resource profiles.

Nothing here starts a cluster; the point is that a typo in a file nobody runs in CI fails CI:

- the launcher YAML is validated with Ray's own schema (``ray/autoscaler/ray-schema.json`` of the installed
  Ray) and Ray's own config checks;
- the KubeRay manifests are checked for the fields the v1 CRDs require, for unknown field names, and by
  Ray's own RayCluster -> autoscaler translation; with ``KUBERAY_CRD_DIR`` pointing at KubeRay's
  ``config/crd/bases`` they are also validated against the CRDs' OpenAPI schemas;
- each check is also run on a deliberately broken copy, which must fail.
"""
from __future__ import annotations

import copy
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

import cluster.profiles as profiles
from cluster.profiles import ResourceProfile, fits, list_profiles, load_profile
from shared.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = REPO / "cluster" / "launcher" / "gpu-cluster.yaml"
RAYCLUSTER = REPO / "cluster" / "kuberay" / "raycluster.yaml"
RAYJOB = REPO / "cluster" / "kuberay" / "rayjob.yaml"
RAY_SCHEMA = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
RAY_VERSION = ray.__version__
PROFILES = ["cpu-large", "gpu-1", "gpu-half", "gpu-zero3", "local"]


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {re.split(r"[\[=<>]", d)[0]: d.split("==")[1] for d in deps if "==" in d}


# --------------------------------------------------------------------------------------- launcher

# (vCPUs, GPUs) of the instance types the launcher YAML uses; add a row when adding a type.
INSTANCES = {
    "m5.2xlarge": (8, 0),
    "m5.4xlarge": (16, 0),
    "g5.xlarge": (4, 1),
    "g5.12xlarge": (48, 4),
    "p4d.24xlarge": (96, 8),
    "p5.48xlarge": (192, 8),
}


def validate_launcher(cfg: dict[str, Any]) -> None:
    """Ray's schema, then Ray's own checks (``ray up`` runs the same), then ours. Raises on any problem."""
    schema = json.loads(RAY_SCHEMA.read_text())
    jsonschema.validate(cfg, schema)
    validate_config(prepare_config(copy.deepcopy(cfg)))  # head_node_type, min/max workers, defaults
    types = cfg["available_node_types"]
    for name, node_type in types.items():
        instance = node_type["node_config"].get("InstanceType", "")
        declared = node_type["resources"]
        if instance in INSTANCES:
            cpus, gpus = INSTANCES[instance]
            if declared.get("GPU", gpus) > gpus or declared.get("CPU", cpus) > cpus:
                raise ValueError(f"{name}: declares {declared} but a {instance} has {cpus} CPUs, {gpus} GPUs")
        if instance.startswith(("g", "p")) and declared.get("GPU", 0) < 1:
            raise ValueError(f"{name}: GPU instance {instance} must declare resources: {{GPU: n}}")


def _start_command(cfg: dict[str, Any], key: str) -> str:
    cmds = [c for c in cfg[key] if "ray start" in c]
    assert len(cmds) == 1, f"{key}: expected one `ray start` command"
    return cmds[0]


def test_launcher_validates_against_rays_schema():
    assert RAY_SCHEMA.is_file(), f"Ray {RAY_VERSION} no longer ships {RAY_SCHEMA}"
    validate_launcher(_load(LAUNCHER))


def test_launcher_node_types():
    cfg = _load(LAUNCHER)
    types = cfg["available_node_types"]
    assert cfg["head_node_type"] in types
    head = types[cfg["head_node_type"]]
    assert head["resources"].get("CPU") == 0 and head["resources"].get("GPU", 0) == 0, "no trials on the head"
    gpu_types = {n: t for n, t in types.items() if t["resources"].get("GPU", 0) > 0}
    assert {t["resources"]["GPU"] for t in gpu_types.values()} >= {1, 8}, "a 1-GPU and an 8-GPU worker type"
    for name, t in types.items():
        if name != cfg["head_node_type"]:
            assert 0 <= t.get("min_workers", 0) <= t["max_workers"], name
    assert sum(t["max_workers"] for n, t in types.items() if n != cfg["head_node_type"]) <= cfg["max_workers"]


def test_launcher_auth_storage_dashboard_and_install():
    cfg = _load(LAUNCHER)
    head = _start_command(cfg, "head_start_ray_commands")
    worker = _start_command(cfg, "worker_start_ray_commands")
    storages = set()
    for cmd in (head, worker):
        before_start = cmd.split("ray start")[0]
        assert re.search(r"\bRAY_AUTH_MODE=token\b", before_start), f"RAY_AUTH_MODE=token before ray start: {cmd}"
        m = re.search(r"\bRAYSTUDY_STORAGE=(\S+?);?(\s|$)", before_start)
        assert m, f"RAYSTUDY_STORAGE set before ray start: {cmd}"
        storages.add(m.group(1))
    assert len(storages) == 1, f"head and workers must share one storage root: {storages}"
    (root,) = storages
    assert root.startswith(("s3://", "gs://", "/")), f"storage every node sees (object store or shared FS): {root}"
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head
    assert "--head" in head and "--address=$RAY_HEAD_IP:6379" in worker
    # The token reaches every node; the image carries the pinned Ray on Python 3.11.
    assert "~/.ray/auth_token" in cfg["file_mounts"]
    assert cfg["docker"]["image"] == f"rayproject/ray:{RAY_VERSION}-py311-gpu"
    # Same install as scripts/setup.sh: pinned torch first, then the project editable.
    setup = " && ".join(cfg["setup_commands"])
    torch_at = setup.find(f"torch=={_pins()['torch']}")
    assert torch_at >= 0, "setup_commands install the torch version pinned in pyproject.toml"
    assert -1 < torch_at < setup.find("pip install -q -e ."), setup


def _launcher_broken(how: str) -> dict[str, Any]:
    cfg = _load(LAUNCHER)
    gpu1 = cfg["available_node_types"]["ray.worker.gpu1"]
    if how == "misspelled top-level key":
        cfg["max_worker"] = cfg.pop("max_workers")
    elif how == "wrong type":
        cfg["max_workers"] = "fourteen"
    elif how == "misspelled node-type key":
        gpu1["max_worker"] = gpu1.pop("max_workers")
    elif how == "fractional resource":
        gpu1["resources"]["GPU"] = 0.5
    elif how == "missing node_config":
        del gpu1["node_config"]
    elif how == "unknown head type":
        cfg["head_node_type"] = "ray.head.default"
    elif how == "GPU type without GPU":
        gpu1["resources"] = {"CPU": 4}
    elif how == "more GPUs than the instance":
        cfg["available_node_types"]["ray.worker.gpu8"]["resources"]["GPU"] = 16
    elif how == "misspelled auth key":
        cfg["auth"]["ssh_usr"] = cfg["auth"].pop("ssh_user")
    return cfg


@pytest.mark.parametrize(
    "how, message",
    [
        ("misspelled top-level key", "'max_worker' was unexpected"),
        ("wrong type", "'fourteen' is not of type 'integer'"),
        ("misspelled node-type key", "'max_worker' was unexpected"),
        ("fractional resource", "0.5 is not of type 'integer'"),
        ("missing node_config", "'node_config' is a required property"),
        ("unknown head type", "head_node_type"),
        ("GPU type without GPU", "ray.worker.gpu1: GPU instance g5.xlarge must declare"),
        ("more GPUs than the instance", "a p4d.24xlarge has 96 CPUs, 8 GPUs"),
        ("misspelled auth key", "'ssh_usr' was unexpected"),
    ],
)
def test_broken_launcher_copy_fails(how, message):
    with pytest.raises((jsonschema.ValidationError, ValueError)) as err:
        validate_launcher(_launcher_broken(how))
    text = err.value.message if isinstance(err.value, jsonschema.ValidationError) else str(err.value)
    assert message in text


# --------------------------------------------------------------------------------------- KubeRay

# Field names of the KubeRay v1 CRDs (ray.io_rayclusters.yaml / ray.io_rayjobs.yaml, operator 1.6-1.7)
# at the levels these manifests write: a misspelled field is an error here, as in `kubectl apply`.
CLUSTER_SPEC_FIELDS = {
    "authOptions", "autoscalerOptions", "enableInTreeAutoscaling", "gcsFaultToleranceOptions", "headGroupSpec",
    "headServiceAnnotations", "managedBy", "networkPolicy", "rayVersion", "suspend", "upgradeStrategy",
    "workerGroupSpecs",
}
HEAD_FIELDS = {"enableIngress", "headService", "labels", "rayStartParams", "resources", "serviceType", "template"}
WORKER_FIELDS = {
    "groupName", "idleTimeoutSeconds", "labels", "maxReplicas", "minReplicas", "numOfHosts", "priority",
    "rayStartParams", "replicas", "resources", "scaleStrategy", "suspend", "template",
}
WORKER_REQUIRED = ("groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams", "template")
JOB_SPEC_FIELDS = {
    "activeDeadlineSeconds", "backoffLimit", "clusterSelector", "deletionStrategy", "entrypoint",
    "entrypointNumCpus", "entrypointNumGpus", "entrypointResources", "jobId", "managedBy", "metadata",
    "preRunningDeadlineSeconds", "rayClusterSpec", "runtimeEnvYAML", "shutdownAfterJobFinishes",
    "submissionMode", "submitterConfig", "submitterPodTemplate", "suspend", "ttlSecondsAfterFinished",
}
GPU = "nvidia.com/gpu"


def _unknown(obj: dict[str, Any], allowed: set[str], where: str) -> list[str]:
    return [f"{where}.{k}: unknown field" for k in obj if k not in allowed]


def _containers(group: dict[str, Any], where: str, errors: list[str]) -> list[dict[str, Any]]:
    try:
        containers = group["template"]["spec"]["containers"]
        assert isinstance(containers, list) and containers
        return containers
    except (KeyError, TypeError, AssertionError):
        errors.append(f"{where}.template.spec.containers: required (a non-empty list)")
        return []


def check_cluster_spec(spec: dict[str, Any], where: str = "spec") -> list[str]:
    """Problems of a RayCluster spec (also a RayJob's rayClusterSpec), each naming its field."""
    errors = _unknown(spec, CLUSTER_SPEC_FIELDS, where)
    if spec.get("rayVersion") != RAY_VERSION:
        errors.append(f"{where}.rayVersion: must be the installed Ray {RAY_VERSION}, got {spec.get('rayVersion')!r}")
    if (spec.get("authOptions") or {}).get("mode") != "token":
        errors.append(f"{where}.authOptions.mode: must be token")
    head = spec.get("headGroupSpec")
    if not isinstance(head, dict):
        return errors + [f"{where}.headGroupSpec: required"]
    groups = [(f"{where}.headGroupSpec", head, True)]
    workers = spec.get("workerGroupSpecs")
    if not isinstance(workers, list) or not workers:
        errors.append(f"{where}.workerGroupSpecs: required (a non-empty list)")
        workers = []
    groups += [(f"{where}.workerGroupSpecs[{i}]", w, False) for i, w in enumerate(workers)]
    names = [w.get("groupName") for w in workers]
    if len(set(names)) != len(names):
        errors.append(f"{where}.workerGroupSpecs: groupName values must be unique, got {names}")
    storages = set()
    for gw, group, is_head in groups:
        errors += _unknown(group, HEAD_FIELDS if is_head else WORKER_FIELDS, gw)
        for key in ("rayStartParams", "template") if is_head else WORKER_REQUIRED:
            if key not in group:
                errors.append(f"{gw}.{key}: required")
        params = group.get("rayStartParams") or {}
        for k, v in params.items():
            if not isinstance(v, str):  # the CRD types rayStartParams as map[string]string
                errors.append(f"{gw}.rayStartParams.{k}: must be a string (quote it), got {v!r}")
        if not is_head:
            for k in ("replicas", "minReplicas", "maxReplicas"):
                if k in group and not isinstance(group[k], int):
                    errors.append(f"{gw}.{k}: must be an integer, got {group[k]!r}")
            r, lo, hi = (group.get(k) for k in ("replicas", "minReplicas", "maxReplicas"))
            if all(isinstance(x, int) for x in (r, lo, hi)) and not lo <= r <= hi:
                errors.append(f"{gw}: needs minReplicas <= replicas <= maxReplicas, got {lo}, {r}, {hi}")
        elif params.get("dashboard-host") is None:
            errors.append(f"{gw}.rayStartParams.dashboard-host: required (say where the dashboard listens)")
        for ci, c in enumerate(_containers(group, gw, errors)):
            cw = f"{gw}.template.spec.containers[{ci}]"
            image = c.get("image")
            if not image:
                errors.append(f"{cw}.image: required")
            elif ci == 0 and not str(image).split(":")[-1].startswith(f"{RAY_VERSION}-"):
                errors.append(f"{cw}.image: tag must start with the installed Ray {RAY_VERSION}, got {image}")
            env = {e.get("name"): e.get("value") for e in c.get("env") or []}
            if ci == 0:
                if env.get("RAY_AUTH_MODE") != "token":
                    errors.append(f"{cw}.env: RAY_AUTH_MODE=token required")
                storages.add(env.get("RAYSTUDY_STORAGE"))
            res = c.get("resources") or {}
            limit = (res.get("limits") or {}).get(GPU)
            request = (res.get("requests") or {}).get(GPU)
            if request is not None and str(request) != str(limit):
                errors.append(f"{cw}.resources: {GPU} requests must equal limits ({request} vs {limit})")
            if ci == 0:
                want = str(int(limit)) if limit is not None else "0"
                got = params.get("num-gpus")
                if want != str(got if got is not None else "0") or (limit is not None and got is None):
                    errors.append(f"{gw}.rayStartParams.num-gpus: must equal the {GPU} limit {limit}, got {got!r}")
    if len(storages) != 1 or None in storages:
        errors.append(f"{where}: every Ray container needs the same RAYSTUDY_STORAGE, got {storages}")
    return errors


def check_manifest(doc: dict[str, Any]) -> list[str]:
    """Problems of raycluster.yaml or rayjob.yaml."""
    if doc.get("apiVersion") != "ray.io/v1":
        return [f"apiVersion: must be ray.io/v1, got {doc.get('apiVersion')!r}"]
    errors = [] if (doc.get("metadata") or {}).get("name") else ["metadata.name: required"]
    spec = doc.get("spec") or {}
    if doc.get("kind") == "RayCluster":
        return errors + check_cluster_spec(spec)
    if doc.get("kind") != "RayJob":
        return errors + [f"kind: must be RayCluster or RayJob, got {doc.get('kind')!r}"]
    errors += _unknown(spec, JOB_SPEC_FIELDS, "spec")
    entry = spec.get("entrypoint")
    if not isinstance(entry, str) or not entry.strip():
        errors.append("spec.entrypoint: required")
    else:
        script = next((w for w in entry.split() if w.endswith(".py")), None)
        if script is None or not (REPO / script).is_file():
            errors.append(f"spec.entrypoint: {entry!r} does not run a script of this repository")
    if spec.get("shutdownAfterJobFinishes") is not True:
        errors.append("spec.shutdownAfterJobFinishes: must be true (or the cluster outlives the job)")
    try:
        env = yaml.safe_load(spec.get("runtimeEnvYAML") or "{}")
        if not isinstance(env, dict):
            errors.append("spec.runtimeEnvYAML: must be a YAML mapping")
    except yaml.YAMLError as err:
        errors.append(f"spec.runtimeEnvYAML: not YAML ({str(err).splitlines()[0]})")
    if "rayClusterSpec" not in spec:
        return errors + ["spec.rayClusterSpec: required"]
    return errors + check_cluster_spec(spec["rayClusterSpec"], "spec.rayClusterSpec")


def _cluster_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"] if doc["kind"] == "RayCluster" else doc["spec"]["rayClusterSpec"]


@pytest.mark.parametrize("path, kind", [(RAYCLUSTER, "RayCluster"), (RAYJOB, "RayJob")])
def test_kuberay_manifest_is_complete(path, kind):
    doc = _load(path)
    assert doc["kind"] == kind
    assert check_manifest(doc) == []
    spec = _cluster_spec(doc)
    gpu_groups = [w for w in spec["workerGroupSpecs"] if w["rayStartParams"].get("num-gpus", "0") != "0"]
    assert gpu_groups, "a GPU worker group"
    for w in gpu_groups:
        assert w["template"]["spec"]["containers"][0]["resources"]["limits"][GPU] >= 1
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0", "no trials on the head"


def test_rayjob_runs_the_care_smoke_sweep():
    spec = _load(RAYJOB)["spec"]
    assert spec["entrypoint"] == "python jobs/sweep_care.py --smoke"
    assert "working_dir" in yaml.safe_load(spec["runtimeEnvYAML"])


@pytest.mark.parametrize("path", [RAYCLUSTER, RAYJOB])
def test_rays_own_kuberay_translation_accepts_the_manifest(path):
    """Ray's autoscaler turns a RayCluster into its own config and validates it (the schema above)."""
    autoscaling = pytest.importorskip("ray.autoscaler._private.kuberay.autoscaling_config")
    doc = _load(path)
    cr = {"metadata": {"name": doc["metadata"]["name"], "namespace": "default"}, "spec": _cluster_spec(doc)}
    types = autoscaling._derive_autoscaling_config_from_ray_cr(cr)["available_node_types"]
    for w in cr["spec"]["workerGroupSpecs"]:
        limit = w["template"]["spec"]["containers"][0]["resources"]["limits"].get(GPU, 0)
        assert types[w["groupName"]]["resources"].get("GPU", 0) == int(limit), w["groupName"]
    assert types["headgroup"]["resources"]["CPU"] == 0


def _broken_manifest(path: Path, how: str) -> dict[str, Any]:
    doc = _load(path)
    spec = _cluster_spec(doc)
    gpu = next(w for w in spec["workerGroupSpecs"] if "num-gpus" in w["rayStartParams"])
    head_container = spec["headGroupSpec"]["template"]["spec"]["containers"][0]
    if how == "no maxReplicas":
        del gpu["maxReplicas"]
    elif how == "misspelled field":
        gpu["rayStartParam"] = gpu.pop("rayStartParams")
    elif how == "no head image":
        del head_container["image"]
    elif how == "no head rayStartParams":
        del spec["headGroupSpec"]["rayStartParams"]
    elif how == "unquoted num-gpus":
        gpu["rayStartParams"]["num-gpus"] = 1
    elif how == "num-gpus disagrees":
        gpu["rayStartParams"]["num-gpus"] = "2"
    elif how == "no num-gpus":
        del gpu["rayStartParams"]["num-gpus"]
    elif how == "no auth on a worker":
        gpu["template"]["spec"]["containers"][0]["env"] = [
            e for e in gpu["template"]["spec"]["containers"][0]["env"] if e["name"] != "RAY_AUTH_MODE"
        ]
    elif how == "old image":
        head_container["image"] = "rayproject/ray:2.9.0-py311-gpu"
    elif how == "replicas over max":
        gpu["replicas"] = gpu["maxReplicas"] + 1
    elif how == "wrong apiVersion":
        doc["apiVersion"] = "ray.io/v1alpha1"
    return doc


# How a copy is broken -> the field its error must name.
BROKEN_MANIFESTS = {
    "no maxReplicas": "].maxReplicas: required",
    "misspelled field": "].rayStartParam: unknown field",
    "no head image": "headGroupSpec.template.spec.containers[0].image: required",
    "no head rayStartParams": "headGroupSpec.rayStartParams: required",
    "unquoted num-gpus": "rayStartParams.num-gpus: must be a string",
    "num-gpus disagrees": "rayStartParams.num-gpus: must equal the nvidia.com/gpu limit 1, got '2'",
    "no num-gpus": "rayStartParams.num-gpus: must equal the nvidia.com/gpu limit 1, got None",
    "no auth on a worker": "template.spec.containers[0].env: RAY_AUTH_MODE=token required",
    "old image": "image: tag must start with the installed Ray",
    "replicas over max": "needs minReplicas <= replicas <= maxReplicas",
    "wrong apiVersion": "apiVersion: must be ray.io/v1",
}


@pytest.mark.parametrize("path", [RAYCLUSTER, RAYJOB], ids=["raycluster", "rayjob"])
@pytest.mark.parametrize("how", list(BROKEN_MANIFESTS))
def test_broken_manifest_copy_fails(path, how):
    errors = check_manifest(_broken_manifest(path, how))
    assert any(BROKEN_MANIFESTS[how] in e for e in errors), errors


@pytest.mark.parametrize(
    "how, message",
    [
        ("no entrypoint", "spec.entrypoint: required"),
        ("missing script", "does not run a script of this repository"),
        ("no shutdown", "spec.shutdownAfterJobFinishes: must be true"),
        ("misspelled field", "spec.shutdownAfterJobFinish: unknown field"),
    ],
)
def test_broken_rayjob_copy_fails(how, message):
    doc = _load(RAYJOB)
    if how == "no entrypoint":
        del doc["spec"]["entrypoint"]
    elif how == "missing script":
        doc["spec"]["entrypoint"] = "python jobs/sweep_caer.py --smoke"
    elif how == "no shutdown":
        doc["spec"]["shutdownAfterJobFinishes"] = False
    else:
        doc["spec"]["shutdownAfterJobFinish"] = doc["spec"].pop("shutdownAfterJobFinishes")
    errors = check_manifest(doc)
    assert any(message in e for e in errors), errors


def _strict(schema: Any) -> Any:
    """A CRD schema that rejects unknown fields (as `kubectl apply` does by default) instead of pruning them."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out \
            and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


@pytest.mark.parametrize("path, crd", [(RAYCLUSTER, "ray.io_rayclusters.yaml"), (RAYJOB, "ray.io_rayjobs.yaml")])
def test_manifest_validates_against_kuberay_crd(path, crd):
    """Runs where KubeRay's CRDs are on disk: KUBERAY_CRD_DIR=<kuberay>/ray-operator/config/crd/bases."""
    crd_dir = os.environ.get("KUBERAY_CRD_DIR")
    if not crd_dir:
        pytest.skip("KUBERAY_CRD_DIR not set (KubeRay's CRDs are not shipped in any installed package)")
    doc = _load(Path(crd_dir) / crd)
    (version,) = [v for v in doc["spec"]["versions"] if v["name"] == "v1"]
    validator = jsonschema.Draft7Validator(_strict(version["schema"]["openAPIV3Schema"]))
    manifest = _load(path)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]
    assert errors == []
    broken = _broken_manifest(path, "no maxReplicas")
    assert any("maxReplicas" in e.message for e in validator.iter_errors(broken))


# --------------------------------------------------------------------------------------- profiles


def test_every_profile_loads():
    assert list_profiles() == PROFILES
    for name in PROFILES:
        p = load_profile(name)
        assert p.name == name and p.description
        res = p.ray_resources()
        assert res["cpu"] > 0 and set(res) >= {"cpu", "gpu"}
    assert load_profile("local").ray_resources() == {"cpu": 1.0, "gpu": 0.0}
    assert load_profile("cpu-large").ray_resources() == {"cpu": 4.0, "gpu": 0.0}
    assert load_profile("gpu-1").ray_resources() == {"cpu": 1.0, "gpu": 1.0}
    assert load_profile("gpu-half").ray_resources() == {"cpu": 2.0, "gpu": 0.5}
    z3 = load_profile("gpu-zero3")
    assert (z3.distributed.num_workers, z3.distributed.backend, z3.distributed.zero_stage, z3.distributed.bf16) == (
        4, "nccl", 3, True)
    assert z3.scaling_kwargs() == {"num_workers": 4, "use_gpu": True, "resources_per_worker": {"CPU": 1.0, "GPU": 1.0}}
    assert z3.total() == {"CPU": 4.0, "GPU": 4.0}


def test_ray_resources_are_what_tune_takes():
    from ray.tune.execution.placement_groups import resource_dict_to_pg_factory

    p = ResourceProfile("x", "", cpu=2, gpu=0.5, custom={"A100": 1})
    bundle = resource_dict_to_pg_factory(p.ray_resources()).bundles[0]
    assert {k: v for k, v in bundle.items() if v} == {"CPU": 2.0, "GPU": 0.5, "A100": 1.0}


def test_unknown_profile_lists_known_ones():
    with pytest.raises(ValueError, match="known profiles: cpu-large, gpu-1, gpu-half, gpu-zero3, local"):
        load_profile("gpu-2")
    with pytest.raises(ValueError, match="unknown resource profile"):
        load_profile("../sweeps/care")


@pytest.mark.parametrize(
    "text, key",
    [
        ("description: x\ntrial: {cpu: 1, gpus: 1}\n", "trial.gpus"),                       # unknown key
        ("descripton: x\ntrial: {cpu: 1}\n", "descripton"),                                  # unknown top-level key
        ("trial: {cpu: lots}\n", "trial.cpu"),                                               # wrong type
        ("trial: {cpu: 1, custom: {A100: many}}\n", "trial.custom.A100"),                    # wrong type in a map
        ("trial: {cpu: 0}\n", "trial.cpu"),                                                  # out of range
        ("trial: {cpu: 1, gpu: 1.5}\n", "trial.gpu"),                                        # fractional above 1
        ("trial: {cpu: 1, custom: {GPU: 1}}\n", "trial.custom.GPU"),                         # reserved name
        ("trial: {cpu: 1, gpu: 1}\ndistributed: {num_workers: two}\n", "distributed.num_workers"),
        ("trial: {cpu: 1, gpu: 1}\ndistributed: {nworkers: 2}\n", "distributed.nworkers"),
        ("trial: {cpu: 1, gpu: 1}\ndistributed: {backend: mpi}\n", "distributed.backend"),
        ("trial: {cpu: 1, gpu: 1}\ndistributed: {zero_stage: 4}\n", "distributed.zero_stage"),
        ("trial: {cpu: 1, gpu: 1}\ndistributed: {bf16: maybe}\n", "distributed.bf16"),
        ("trial: {cpu: 1, gpu: 0.5}\ndistributed: {backend: nccl}\n", "distributed.backend"),  # NCCL, shared GPU
        ("trial: {cpu: 1}\nstorage: s3\n", "storage"),
    ],
)
def test_bad_profile_names_the_key(tmp_path, monkeypatch, text, key):
    monkeypatch.setattr(profiles, "PROFILE_DIR", tmp_path)
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_profile("bad")
    assert str(err.value).startswith(f"{key}:"), str(err.value)


def _nodes(*resources: dict[str, float], dead: int = 0) -> list[dict[str, Any]]:
    out = [{"Alive": True, "NodeManagerAddress": f"10.0.0.{i + 1}", "Resources": r} for i, r in enumerate(resources)]
    return out + [{"Alive": False, "Resources": {"CPU": 96.0, "GPU": 8.0}}] * dead


CPU_ONLY = _nodes({"CPU": 4.0, "memory": 8e9}, {"CPU": 16.0}, dead=1)  # the dead node has GPUs: must not count
ONE_GPU = _nodes({"CPU": 4.0, "GPU": 1.0})


def test_fits_accepts_and_refuses():
    ok, msg = fits(load_profile("gpu-1"), CPU_ONLY)
    assert not ok and "GPU" in msg and "gpu-1" in msg
    ok, msg = fits(load_profile("gpu-half"), ONE_GPU)
    assert ok, msg
    assert fits(load_profile("gpu-1"), ONE_GPU)[0]
    assert fits(load_profile("local"), CPU_ONLY)[0]
    assert fits(load_profile("cpu-large"), CPU_ONLY)[0]
    ok, msg = fits(load_profile("cpu-large"), _nodes({"CPU": 2.0}, {"CPU": 3.0}))
    assert not ok and "CPU" in msg and "needs 4" in msg
    ok, msg = fits(load_profile("local"), _nodes(dead=0))
    assert not ok and "no alive node" in msg
    # Distributed: the 4 workers may spread over nodes, but every worker needs a whole node slot.
    z3 = load_profile("gpu-zero3")
    assert fits(z3, _nodes(*[{"CPU": 4.0, "GPU": 1.0}] * 4))[0]
    assert fits(z3, _nodes({"CPU": 96.0, "GPU": 8.0}))[0]
    ok, msg = fits(z3, _nodes(*[{"CPU": 4.0, "GPU": 1.0}] * 3))
    assert not ok and "4 workers" in msg
    ok, msg = fits(z3, CPU_ONLY)
    assert not ok and "GPU" in msg
    # Custom resources count too.
    a100 = ResourceProfile("a100", "", cpu=1, gpu=1, custom={"A100": 1})
    ok, msg = fits(a100, ONE_GPU)
    assert not ok and "A100" in msg


def _launcher_nodes() -> list[dict[str, Any]]:
    cfg = _load(LAUNCHER)
    out = []
    for name, t in cfg["available_node_types"].items():
        count = 1 if name == cfg["head_node_type"] else t["max_workers"]
        out += [{"Alive": True, "NodeManagerAddress": name, "Resources": t["resources"]}] * count
    return out


def _kuberay_nodes(path: Path) -> list[dict[str, Any]]:
    autoscaling = pytest.importorskip("ray.autoscaler._private.kuberay.autoscaling_config")
    doc = _load(path)
    cr = {"metadata": {"name": doc["metadata"]["name"], "namespace": "default"}, "spec": _cluster_spec(doc)}
    types = autoscaling._derive_autoscaling_config_from_ray_cr(cr)["available_node_types"]
    out = []
    for name, t in types.items():
        out += [{"Alive": True, "NodeManagerAddress": name, "Resources": t["resources"]}] * max(1, t["max_workers"])
    return out


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_fits_the_deployments(name):
    """At full scale the launcher cluster and the RayCluster run a trial of every profile."""
    profile = load_profile(name)
    for where, nodes in (("gpu-cluster.yaml", _launcher_nodes()), ("raycluster.yaml", _kuberay_nodes(RAYCLUSTER))):
        ok, msg = fits(profile, nodes)
        assert ok, f"{where}: {msg}"


def test_cluster_images_install_what_setup_sh_installs_without_dependencies():
    """The packages scripts/setup.sh installs with --no-deps (molsets, matchms and its runtime imports) are not in
    pyproject.toml, so the cluster files must install them too, with the same pins."""
    setup = re.sub(r"\\\n\s*", "", (REPO / "scripts" / "setup.sh").read_text())
    pinned = {p for line in setup.splitlines() if "--no-deps" in line and not line.lstrip().startswith("#")
              for p in line.split() if "==" in p}
    assert {"molsets==0.3.1", "matchms==0.33.1"} <= pinned
    launcher = " ".join(yaml.safe_load(LAUNCHER.read_text())["setup_commands"])
    assert pinned <= set(launcher.split()), pinned - set(launcher.split())
    recipe = RAYCLUSTER.read_text()
    assert pinned <= set(recipe.split()), pinned - set(recipe.split())
