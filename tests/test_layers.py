"""The layers of DESIGN.md hold: shared/ never imports Ray, and the registry imports lazily."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def imported_modules(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=REPO)
    return set(out.stdout.split())


def test_shared_never_imports_ray():
    modules = imported_modules(
        "from shared.registry import list_methods\n"
        "for spec in list_methods(): spec.load_config()\n"
        "import shared.results, shared.checkpoint, shared.metrics, shared.augment"
    )
    assert not any(m == "ray" or m.startswith("ray.") for m in modules)


def test_a_trial_of_a_method_without_tensors_never_imports_torch(tmp_path):
    """The scheduler benchmark's `hold` trials (and the study driver) skip torch's import: on simulated nodes
    sharing two cores, eight trial processes importing torch at once would be measured as scheduling cost."""
    modules = imported_modules(
        "import actors.trainable, jobs.sweepconfig\n"
        "from shared.registry import get_method\n"
        "from shared.checkpoint import save_checkpoint, load_state\n"
        "spec = get_method('hold'); cfg = spec.load_config(['hold_s=0']); trainer = spec.make_trainer(cfg)\n"
        "trainer.fit_epoch()\n"
        f"save_checkpoint({str(tmp_path)!r}, spec, cfg, trainer)\n"
        f"assert load_state({str(tmp_path)!r}) == {{'epoch': 1}}"
    )
    assert "torch" not in modules
    assert (tmp_path / "trainer.json").exists() and not (tmp_path / "trainer.pt").exists()


def test_the_sweep_driver_of_a_method_without_tensors_never_imports_torch(tmp_path):
    """Nor does its sweep's driver: Tune's default TensorBoardX logger would import torch there (jobs/sweep.py)."""
    modules = imported_modules(
        "import jobs.sweep as sweep\n"
        "from cluster import connect\n"
        f"plan = sweep.plan_sweep('hold', ['hold_s=0'], seeds=[0], storage={str(tmp_path)!r})\n"
        "connect(num_cpus=1, dashboard=False)\n"
        "assert not sweep.run_sweep(plan)['errors']"
    )
    assert "torch" not in modules
    assert list((tmp_path / "tune").rglob("progress.csv")), "Tune's CSV logger still writes"


def test_registry_imports_methods_lazily():
    modules = imported_modules("from shared.registry import get_method; get_method('simclr'); get_method('hold')")
    assert "shared.methods.ssl.specs" in modules and "shared.methods.bench.hold" in modules
    assert "shared.methods.ssl.care" not in modules and "shared.methods.graph.lappe" not in modules


def test_the_sweep_driver_validates_a_care_config_without_torch():
    """CARE's spec, config schema and data check are torch-free (shared/methods/ssl/specs.py): the driver resolves,
    loads and validates a sweep, and refuses a typo, without torch's import (about 1 CPU-s); a trial imports it."""
    modules = imported_modules(
        "import jobs.sweep as sweep\n"
        "from shared.config import ConfigError\n"
        "plan = sweep.plan_sweep('care', ['lam=0.1', 'sweep.num_samples=2'], smoke=True)\n"
        "assert 'linear_probe_acc' in sweep.get_method('care').metric_names()\n"
        "try:\n    sweep.plan_sweep('care', ['lamm=0.1'])\nexcept ConfigError as err:\n    assert 'lamm' in str(err)\n"
        "else:\n    raise AssertionError('a typo passed')"
    )
    assert "torch" not in modules and "shared.methods.ssl.care" not in modules


def test_actors_hold_no_method_specific_code():
    """No string in actors/ code (docstrings aside) names a registered method."""
    import ast

    from shared.registry import method_names

    for path in (REPO / "actors").glob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node)}
        strings = {n.value for n in ast.walk(tree)
                   if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings}
        assert not strings & set(method_names()), f"{path.name} names a method"
