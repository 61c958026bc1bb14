"""Classical solvers a practitioner would run beside a learnt one, on the same instances.

- Max-Cut: :func:`goemans_williamson` solves the Goemans-Williamson SDP (maximise sum_{ij in E} (1 - X_ij) / 2 over
  X PSD with unit diagonal) through cvxpy (SCS or Clarabel, both in cvxpy's wheel) and returns the SDP value and
  unit vectors V with V V^T = X; :func:`hyperplane_round` is the random-hyperplane rounding shared with OptGNN
  (the best of K hyperplanes per graph), :func:`cut_value` scores a +-1 assignment.
- Greedy Max-Cut: :func:`greedy_maxcut` is the one-exchange local search of networkx's ``one_exchange``, vectorised
  (flip the node that raises the cut most until none does: a local optimum, at least half the edges).
- Vertex cover: :func:`greedy_vertex_cover` is networkx's 2-approximation (``min_weighted_vertex_cover``);
  :func:`min_vertex_cover` the exact optimum by MILP (``scipy.optimize.milp``, HiGHS: min sum x, x_i + x_j >= 1).
- Max clique: :func:`max_clique_size` is networkx's exact ``max_weight_clique`` (branch and bound; small graphs).

Graphs are ``(n, edges)`` with ``edges`` an (m, 2) integer array of undirected edges, each listed once.
"""
from __future__ import annotations

import networkx as nx
import numpy as np


def undirected_edges(graph: nx.Graph) -> np.ndarray:
    """(m, 2) int64 array of a networkx graph's edges (nodes 0..n-1), each once."""
    return np.array(list(graph.edges()), dtype=np.int64).reshape(-1, 2)


def cut_value(edges: np.ndarray, assignment: np.ndarray) -> int:
    """Number of edges whose ends get different signs under a +-1 assignment."""
    return int(np.sum(assignment[edges[:, 0]] != assignment[edges[:, 1]]))


def relaxed_cut(edges: np.ndarray, vectors: np.ndarray) -> float:
    """The SDP objective sum over edges of (1 - <v_i, v_j>) / 2 of unit vectors (rows of ``vectors``)."""
    inner = np.einsum("ij,ij->i", vectors[edges[:, 0]], vectors[edges[:, 1]])
    return float(np.sum((1.0 - inner) / 2.0))


def hyperplane_round(vectors: np.ndarray, edges: np.ndarray, hyperplanes: int, rng: np.random.Generator
                     ) -> tuple[np.ndarray, int]:
    """Random-hyperplane rounding: x_i = sign <h, v_i> for ``hyperplanes`` Gaussian h; the best-cutting one.

    Returns (assignment in {-1, +1}^n, its cut). Ties of <h, v_i> at exactly 0 go to +1."""
    h = rng.standard_normal((vectors.shape[1], hyperplanes))
    signs = np.where(vectors @ h >= 0, 1, -1)  # (n, K)
    cuts = np.sum(signs[edges[:, 0]] != signs[edges[:, 1]], axis=0) if len(edges) else np.zeros(hyperplanes)
    best = int(np.argmax(cuts))
    return signs[:, best], int(cuts[best])


def goemans_williamson(n: int, edges: np.ndarray, solver: str = "SCS") -> tuple[float, np.ndarray]:
    """The Goemans-Williamson SDP of Max-Cut: (SDP value, unit vectors V (n, n) whose Gram matrix is X).

    The solver's X is PSD only to its tolerance: V comes from its eigendecomposition with negative eigenvalues
    clipped, and its rows are renormalised to the unit sphere that rounding assumes."""
    import cvxpy as cp

    x = cp.Variable((n, n), symmetric=True)
    objective = cp.sum(1 - x[edges[:, 0], edges[:, 1]]) / 2 if len(edges) else cp.Constant(0.0)
    problem = cp.Problem(cp.Maximize(objective), [x >> 0, cp.diag(x) == 1])
    problem.solve(solver=solver)
    if problem.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"GW SDP: cvxpy/{solver} ended with status {problem.status}")
    gram = (x.value + x.value.T) / 2
    values, basis = np.linalg.eigh(gram)
    vectors = basis * np.sqrt(np.clip(values, 0.0, None))
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return float(problem.value), vectors


def greedy_maxcut(n: int, edges: np.ndarray) -> tuple[int, np.ndarray]:
    """Greedy one-exchange Max-Cut from the empty cut, as networkx's ``one_exchange`` (flip the node that raises the
    cut most until none does; ties to the lowest index instead of networkx's random ones), vectorised: networkx's
    recomputes every cut in Python (about 1 s per 60-node graph). Flipping i gains s_i (A s)_i. Returns the cut
    value and the +-1 assignment."""
    adjacency = np.zeros((n, n))
    if len(edges):
        adjacency[edges[:, 0], edges[:, 1]] = adjacency[edges[:, 1], edges[:, 0]] = 1.0
    side = -np.ones(n)
    gain = side * (adjacency @ side)
    while n and gain.max() > 0:
        i = int(np.argmax(gain))
        side[i] = -side[i]
        gain = side * (adjacency @ side)
    return cut_value(edges, side.astype(int)), side.astype(int)


def greedy_vertex_cover(graph: nx.Graph) -> set[int]:
    """networkx's 2-approximation of minimum vertex cover (local ratio / maximal-matching bound)."""
    from networkx.algorithms.approximation import min_weighted_vertex_cover

    return set(min_weighted_vertex_cover(graph))


def min_vertex_cover(n: int, edges: np.ndarray, time_limit: float = 10.0) -> tuple[np.ndarray, bool]:
    """A minimum vertex cover as a boolean mask, by MILP (HiGHS), and whether HiGHS proved it optimal within
    ``time_limit`` seconds (if not, its best cover)."""
    from scipy import optimize, sparse

    if len(edges) == 0:
        return np.zeros(n, dtype=bool), True
    rows = np.repeat(np.arange(len(edges)), 2)
    incidence = sparse.csr_array((np.ones(2 * len(edges)), (rows, edges.ravel())), shape=(len(edges), n))
    result = optimize.milp(np.ones(n), constraints=optimize.LinearConstraint(incidence, lb=1.0),
                           integrality=np.ones(n), bounds=optimize.Bounds(0, 1),
                           options={"time_limit": time_limit})
    if result.x is None:
        raise RuntimeError(f"vertex cover MILP found no cover: {result.message}")
    return result.x > 0.5, result.status == 0


def max_clique_size(graph: nx.Graph) -> int:
    """Size of a maximum clique, exact (networkx branch and bound; fine for the small graphs of the tests)."""
    clique, _ = nx.max_weight_clique(graph, weight=None)
    return len(clique)


def is_clique(graph: nx.Graph, nodes: list[int] | set[int]) -> bool:
    nodes = list(nodes)
    return all(graph.has_edge(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1:])
