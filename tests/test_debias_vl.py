"""debias_vl's closed form (Chuang et al., 2023): the spec card's four linear-algebra checks, and the claim on
real MiniLM text embeddings (gendered prompts of held-out professions collapse, professions stay apart)."""
import pytest
import torch

from shared.methods.embedding.debias_vl import (
    calibrated_projection,
    calibration_objective,
    pair_second_moment,
    spurious_projection,
)
from shared.registry import get_method


def random_case(d: int = 6, k: int = 2, pairs: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    spurious = torch.randn(k, d, generator=g, dtype=torch.float64)
    first, second = torch.randn(pairs, d, generator=g), torch.randn(pairs, d, generator=g)
    return spurious, first.double(), second.double()


def test_spurious_projection_kills_the_span_and_is_an_orthogonal_projection():
    spurious, _, _ = random_case()
    p0 = spurious_projection(spurious)
    combo = torch.tensor([0.3, -2.0], dtype=torch.float64) @ spurious
    assert torch.allclose(p0 @ combo, torch.zeros(6, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(p0 @ p0, p0, atol=1e-10) and torch.allclose(p0, p0.T, atol=1e-12)
    assert torch.trace(p0).item() == pytest.approx(4.0)  # rank d - k


def test_calibrated_projection_is_the_minimiser_of_its_objective():
    spurious, first, second = random_case()
    p0, m, lam = spurious_projection(spurious), pair_second_moment(first, second), 2.0
    closed = calibrated_projection(p0, m, lam)
    p = torch.zeros(6, 6, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([p], max_iter=500, tolerance_grad=1e-14, tolerance_change=1e-16,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = calibration_objective(p, p0, m, lam)
        loss.backward()
        return loss

    opt.step(closure)
    assert torch.allclose(p.detach(), closed, atol=1e-5)
    assert calibration_objective(closed, p0, m, lam) <= calibration_objective(p0, p0, m, lam)


def test_lambda_limits():
    spurious, first, second = random_case()
    p0, m = spurious_projection(spurious), pair_second_moment(first, second)
    assert torch.allclose(calibrated_projection(p0, m, 0.0), p0, atol=1e-12)
    gaps = [(calibrated_projection(p0, m, lam) @ (first - second).T).norm().item() for lam in (1.0, 1e2, 1e4, 1e6)]
    assert all(a > b for a, b in zip(gaps, gaps[1:], strict=False)) and gaps[-1] < 1e-3 * gaps[0]


@pytest.fixture(scope="module")
def debiased():
    spec = get_method("debias_vl")
    out = {}
    for variant in ("orth_proj", "orth_cali"):
        cfg = spec.load_config([f"variant={variant}"])
        trainer = spec.make_trainer(cfg)
        trainer.fit_epoch()
        out[variant] = spec.evaluate(cfg, trainer.artifact(), None)
    return out


def test_gendered_prompts_of_held_out_professions_become_one(debiased):
    for variant, m in debiased.items():
        assert m["pair_cos_after"] > m["pair_cos_before"] + 0.1, variant
        assert m["pair_cos_after"] > 0.95, variant
        assert m["attribute_alignment_after"] < 0.5 * m["attribute_alignment_before"], variant
    assert debiased["orth_cali"]["pair_cos_after"] >= debiased["orth_proj"]["pair_cos_after"]


def test_professions_stay_apart(debiased):
    for variant, m in debiased.items():
        assert m["class_retrieval_after"] == 1.0, variant
        assert m["class_cos_after"] < m["pair_cos_after"] - 0.5, variant
