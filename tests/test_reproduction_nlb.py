"""No-label backdoors' selection-only claim at small scale (Wang et al., arXiv 2404.06694), over two seeds
(about 40 s on 2 idle cores): ``configs/reproduce/nlb_selection.yaml``.

Measured first (``python jobs/reproduce.py nlb_selection --seeds 0 1``, colourised digits, C = 10, M = 77):
TPR contrastive 1.000 ± 0.000, k-means 0.584 ± 0.257, random 0.149 ± 0.009; over seeds 0-4: 1.000 ± 0.000,
0.517 ± 0.171, 0.156 ± 0.016 (the lowest k-means seed 0.377). The margins asserted here are below those figures.
"""
import pytest

from jobs.reproduce import compare, mean

CLASSES = 10  # sklearn digits


@pytest.fixture(scope="module")
def outcome(local_ray):
    return compare("nlb_selection", seeds=[0, 1])


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
