"""The classifier-based homophily metric (Luan et al. 2023, "When do we need graph neural networks for node
classification?"; the handbook's ``classifier_based_performance_metric``) and the mid-homophily pitfall.

Classifier-based metric: over random train/test splits, a graph-aware classifier on aggregated features A_hat X
(A_hat = D^-1 (A + I), the mean over the closed neighbourhood) is compared with the same graph-agnostic classifier on
X; the score is the one-sided Welch t-test p-value that the graph-aware accuracy is higher (small p: the graph
helps). The classifier here is Gaussian naive Bayes (the code's GNB variant; its kernel-regression variants are not
built).

Mid-homophily pitfall: a linear graph model (SGC with one propagation step, logistic regression on A_hat X: a
one-layer linear GCN) is U-shaped in edge homophily, worst near the label-independent level 1/C where a
neighbourhood mean carries no class signal, while an MLP on X does not depend on the graph at all.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.sparse import coo_matrix, identity
from scipy.stats import ttest_ind
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB


def aggregated_features(edge_index: torch.Tensor | np.ndarray, x: np.ndarray) -> np.ndarray:
    """A_hat X with A_hat = D^-1 (A + I): each node's features averaged with its neighbours'."""
    ei = np.asarray(edge_index)
    n = len(x)
    adjacency = coo_matrix((np.ones(ei.shape[1]), (ei[0], ei[1])), shape=(n, n)).tocsr() + identity(n, format="csr")
    return np.asarray(adjacency @ x) / np.asarray(adjacency.sum(axis=1))


def split_accuracies(features: np.ndarray, labels: np.ndarray, splits: int, train_share: float, seed: int,
                     make=GaussianNB) -> np.ndarray:
    """Test accuracy of a fresh classifier over ``splits`` random stratified splits (the same splits for every
    feature set given the same seed)."""
    out = []
    for k in range(splits):
        train, test = train_test_split(np.arange(len(labels)), train_size=train_share, stratify=labels,
                                       random_state=seed * 1000 + k)
        out.append(make().fit(features[train], labels[train]).score(features[test], labels[test]))
    return np.array(out)


def classifier_based_homophily(edge_index: torch.Tensor | np.ndarray, x: np.ndarray, labels: np.ndarray,
                               splits: int = 100, train_share: float = 0.6, seed: int = 0) -> dict[str, float]:
    """The GNB classifier-based metric: ``p_value`` of the one-sided Welch test (graph-aware > graph-agnostic)
    and both mean accuracies."""
    x = np.asarray(x, dtype=np.float64)
    plain = split_accuracies(x, labels, splits, train_share, seed)
    graph = split_accuracies(aggregated_features(edge_index, x), labels, splits, train_share, seed)
    test = ttest_ind(graph, plain, equal_var=False, alternative="greater")
    return {"p_value": float(test.pvalue), "acc_graph": float(graph.mean()), "acc_plain": float(plain.mean())}


def sgc_and_mlp_accuracy(edge_index: torch.Tensor | np.ndarray, x: np.ndarray, labels: np.ndarray,
                         splits: int = 5, train_share: float = 0.6, seed: int = 0) -> dict[str, float]:
    """Mean test accuracy of logistic regression on A_hat X (SGC, one step) and on X (a linear MLP) over splits."""
    x = np.asarray(x, dtype=np.float64)
    make = lambda: LogisticRegression(max_iter=1000)  # noqa: E731
    return {"sgc": float(split_accuracies(aggregated_features(edge_index, x), labels, splits, train_share, seed,
                                          make).mean()),
            "mlp": float(split_accuracies(x, labels, splits, train_share, seed, make).mean())}
