"""The theory experiments' math on hand-computable cases (no Ray): exact risks and the minimax value, group
actions and orbit averaging, the invariant kernel's closed form, orbit-averaged Wasserstein, the trace of the
Hessian of a deep matrix factorisation."""
import numpy as np
import pytest

from shared.registry import get_method
from shared.theory.regression import GroupRegression


def test_group_risks_and_minimax_value_by_hand():
    """Two groups w = +-e1 in d = 2 with equal noise: OPT is at theta = 0, R = 1/d + a^2/3, both groups active."""
    prob = GroupRegression(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([0.3, 0.3]))
    assert prob.risks(np.array([1.0, 0.0])) == pytest.approx([0.03, 2.0 + 0.03])
    opt, theta = prob.minimax()
    assert opt == pytest.approx(0.5 + 0.03, abs=1e-6)
    assert np.abs(theta).max() < 1e-4


def test_group_dro_exact_risks_match_monte_carlo():
    """R_i(theta) = |theta - w_i|^2 / d + a_i^2 / 3 against the squared loss averaged over 200k samples."""
    prob = GroupRegression.draw(3, 4, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(4) * 0.5
    x = rng.choice([-1.0, 1.0], size=(200_000, 4)) / 2.0
    for i in range(3):
        y = x @ prob.weights[i] + rng.uniform(-1, 1, len(x)) * prob.noise[i]
        assert np.mean((x @ theta - y) ** 2) == pytest.approx(prob.risks(theta)[i], rel=0.02)


def test_group_dro_runs_and_resumes_from_its_state():
    spec = get_method("group_dro")
    cfg = spec.load_config(["steps=300", "groups=4"])
    trainer = spec.make_trainer(cfg)
    trainer.fit_epoch()
    again = spec.make_trainer(cfg)
    again.load_state_dict(trainer.state_dict())
    assert again.done and spec.evaluate(cfg, again.artifact(), again.data) == spec.evaluate(cfg, trainer.artifact())
