"""No-label backdoors' selection-only claim at small scale (Wang et al., arXiv 2404.06694), on the held-out seeds 2
and 3 with data.seed = seed (about 40 s on 2 idle cores): ``configs/reproduce/nlb_selection.yaml``.

Margins chosen on the tuning seeds (``python jobs/reproduce.py nlb_selection --seeds 0 1``, colourised digits,
C = 10, M = 77, tau 0.5 then): TPR contrastive 1.000 ± 0.000, k-means 0.584 ± 0.257, random 0.149 ± 0.009. With the
paper's tau 0.2, held-out seeds 2, 3 (data seed = seed): 0.909 (1.000, 0.818), 0.591 (0.506, 0.675), 0.195
(0.247, 0.143); seeds 0-3 with data seed 0: 0.919 (1.000, 0.675, 1.000, 1.000), 0.584, 0.149 (REPRODUCTION.md).
"""
import pytest

from jobs.reproduce import compare, mean

CLASSES = 10  # sklearn digits
HELD_OUT = [2, 3]  # no setting or margin was chosen on these (tuning seeds 0, 1)


@pytest.fixture(scope="module")
def outcome(local_ray):
    return compare("nlb_selection", seeds=HELD_OUT)


@pytest.mark.slow
def test_random_poison_sets_are_about_one_class_in_c(outcome):
    assert mean(outcome, "random", "poison_purity") <= 0.25


@pytest.mark.slow
def test_contrastive_selection_is_much_purer_than_random(outcome):
    tpr = mean(outcome, "contrastive", "poison_purity")
    assert tpr >= 0.8
    assert tpr >= mean(outcome, "random", "poison_purity") + 0.5


@pytest.mark.slow
def test_clustering_selection_is_purer_than_random(outcome):
    tpr = mean(outcome, "clustering", "poison_purity")
    assert tpr >= 3 / CLASSES
    assert tpr >= 2 * mean(outcome, "random", "poison_purity")
