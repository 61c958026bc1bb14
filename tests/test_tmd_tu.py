"""TMD on real-format data: a tiny TU data set written here (PyG's <root>/<NAME>/raw/ layout, MUTAG-style -1/1
classes, node labels) goes through the tmd method's trainer and TMD-SVM; a missing set is a ConfigError naming the
archive (exit 2 before Ray); the baseline distances of the graph_distances study (WL features by hand, the attributed
distance) and the planted-motif GraphTask of its GIN arm; the study itself validates at smoke scale."""
from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from shared.config import ConfigError
from shared.registry import get_method

ROOT = Path(__file__).resolve().parents[1]
NAME = "TINY"


def write_tu(folder: Path, graphs: list[nx.Graph], classes: list[int], node_labels: list[list[int]] | None,
             target: str = "graph_labels") -> None:
    """The TU text files (1-based node ids over the whole set, both directions of every edge)."""
    folder.mkdir(parents=True, exist_ok=True)
    edges, indicator, labels, offset = [], [], [], 1
    for k, graph in enumerate(graphs):
        for u, v in graph.edges():
            edges += [f"{u + offset}, {v + offset}", f"{v + offset}, {u + offset}"]
        indicator += [str(k + 1)] * graph.number_of_nodes()
        labels += [str(label) for label in (node_labels[k] if node_labels else [])]
        offset += graph.number_of_nodes()
    files = {"A": edges, "graph_indicator": indicator, target: [str(c) for c in classes]}
    if node_labels:
        files["node_labels"] = labels
    for part, lines in files.items():
        (folder / f"{NAME}_{part}.txt").write_text("\n".join(lines) + "\n")


def cycles_vs_paths(root: Path, per_class: int = 9) -> Path:
    """Class 1 (label 1): cycles, class -1: paths of the same sizes, node labels alternating 0/1 in both."""
    graphs, classes, node_labels = [], [], []
    for k in range(per_class):
        n = 5 + k % 4
        for graph, label in ((nx.cycle_graph(n), 1), (nx.path_graph(n), -1)):
            graphs.append(graph)
            classes.append(label)
            node_labels.append([i % 2 for i in range(n)])
    write_tu(root / NAME / "raw", graphs, classes, node_labels)
    return root


def test_tmd_svm_on_a_tu_set_written_here(tmp_path):
    spec = get_method("tmd")
    cfg = spec.load_config(["data.name=tu", f"data.root={cycles_vs_paths(tmp_path)}", f"data.tu_name={NAME}",
                            "depth=3", "gammas=[0.1,1.0]"])
    trainer = spec.make_trainer(cfg)
    graphs, labels = trainer.data
    assert len(graphs) == 18 and sorted(set(labels.tolist())) == [0, 1]  # -1/1 renumbered
    assert graphs[0].x.shape == (5, 2) and graphs[0].x.sum() == 5  # node labels one-hot
    trainer.fit_epoch()
    d = trainer.distances
    assert d.shape == (18, 18) and np.allclose(d, d.T) and np.allclose(np.diag(d), 0)
    assert d[0, 1] > 0  # a 5-cycle and a 5-path: the path's ends have one child fewer
    out = spec.evaluate(cfg, trainer.artifact(), trainer.data)
    assert out["tmd_svm_accuracy"] == out["svm_accuracy"] == 1.0
    assert out["mean_tmd"] == pytest.approx(d.mean())


def test_a_subset_of_a_tu_set_and_a_set_without_node_labels(tmp_path):
    write_tu(tmp_path, [nx.cycle_graph(4), nx.path_graph(4), nx.cycle_graph(6), nx.path_graph(6)], [1, 0, 1, 0], None)
    from shared.graphs.tmd_data import tu_feature_graphs

    graphs, labels = tu_feature_graphs(str(tmp_path), NAME, subset=3, seed=0)
    assert len(graphs) == 3 and all(g.x.shape[1] == 1 and (g.x == 1).all() for g in graphs)
    with pytest.raises(ConfigError, match="data.subset"):
        tu_feature_graphs(str(tmp_path), NAME, subset=5)


def test_missing_or_unusable_tu_sets_are_config_errors(tmp_path):
    spec = get_method("tmd")
    with pytest.raises(ConfigError, match=r"MUTAG_A.txt.*graphkerneldatasets/MUTAG.zip"):
        spec.load_config(["data.name=tu", f"data.root={tmp_path}", "data.tu_name=MUTAG"])
    with pytest.raises(ConfigError, match="data.tu_name=<NAME>"):
        spec.load_config(["data.name=tu"])
    write_tu(tmp_path, [nx.path_graph(3)], [1], None, target="graph_attributes")  # a regression set
    with pytest.raises(ConfigError, match="graph_labels"):
        spec.load_config(["data.name=tu", f"data.root={tmp_path}", f"data.tu_name={NAME}"])


def test_a_missing_tu_set_exits_2_before_ray(tmp_path, capsys):
    from jobs.graph_distances import main  # the CLI's path: ConfigError -> "error: ..." and 2, before connect()

    assert main(["--out", str(tmp_path / "o"), "data.name=tu", f"data.root={tmp_path}", "data.tu_name=PROTEINS"]) == 2
    assert "PROTEINS.zip" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_wl_features_by_hand():
    from shared.graphs.svm_distances import wl_distance_matrix, wl_features
    from shared.graphs.tmd import feature_graph

    def graph(edges: list[tuple[int, int]], n: int):
        e = np.array(edges).T
        return feature_graph(np.ones((n, 1)), np.concatenate([e, e[::-1]], axis=1))

    path, triangle = graph([(0, 1), (1, 2)], 3), graph([(0, 1), (1, 2), (2, 0)], 3)
    phi = wl_features([path, triangle], rounds=1)
    # round 0: one colour, 3 nodes each; round 1: colours (0,(0,)) and (0,(0,0)): the path has 2 ends + 1 middle
    assert phi.tolist() == [[3, 2, 1], [3, 0, 3]]
    assert wl_distance_matrix([path, triangle], 1)[0, 1] == pytest.approx(math.sqrt(4 + 4))


def test_baseline_distances_and_the_planted_motif_task():
    from shared.graphs.attributed import attributed_distance
    from shared.graphs.data import GraphDataConfig, load_graph_task
    from shared.graphs.motifs import planted_motif_set
    from shared.graphs.svm_distances import pairwise_distances

    graphs, _ = planted_motif_set(4, 4, 6, 2, seed=1)
    d = pairwise_distances(graphs, "attributed", depth=3, w=1.0)
    assert d[0, 3] == d[3, 0] == pytest.approx(attributed_distance(graphs[0], graphs[3], 2), abs=1e-12)
    task = load_graph_task(GraphDataConfig(name="planted_motifs", n_train=20, n_val=4, n_test=6, seed=1, pe_k=4))
    assert (len(task.train), len(task.val), len(task.test), task.node_types, task.counts) == (20, 4, 6, 3, True)
    assert {float(g.y) for g in task.train} == {0.0, 1.0}
    assert all(int(g.x.max()) < 3 and g.edge_index.shape[1] in (2 * (g.num_nodes - 1), 2 * g.num_nodes)
               for g in task.train)  # trees, or trees with one planted edge


def test_the_graph_distances_study_validates_at_smoke_scale():
    from jobs.scheduler import StudyScheduler
    from jobs.studyconfig import load_study, study_id

    for smoke in (False, True):
        study = load_study(ROOT / "configs" / "studies" / "graph_distances.yaml", smoke=smoke)
        assert {"tmd_svm", "wl_svm", "attributed_svm", "gin", "digits_infoot", "sbm_tmd_svm", "sbm_wl_svm",
                "sbm_attributed_svm", "sbm_gin"} <= set(study.arms)
        assert study.data_seed  # the seeds draw the graphs and digits too
        assert all(study.arms[a].overrides["data.name"] == "sbm_homophily" for a in study.arms if a.startswith("sbm_"))
    # the seeds node of every arm passes --data-seed (the scheduler's command line, as it submits it)
    sched = StudyScheduler.__new__(StudyScheduler)
    sched.working_dir = None
    state = type("State", (), {"study_id": study_id(study, True), "trackers": [], "smoke": True})()
    node = type("Node", (), {"kind": "seeds", "arm": "sbm_gin", "experiment": "x", "name": "seeds:sbm_gin"})()
    assert "--data-seed" in sched._entrypoint(state, node, study)


def test_the_sbm_set_matches_sizes_and_label_histograms_and_differs_in_homophily():
    from shared.graphs.data import GraphDataConfig, load_graph_task
    from shared.graphs.homophily import edge_homophily
    from shared.graphs.tmd_data import SBM_HOMOPHILY, sbm_homophily_set

    graphs, classes = sbm_homophily_set(200, seed=1)
    assert classes.sum() == 100
    for label, target in enumerate(SBM_HOMOPHILY["homophily"]):
        members = [g for g, c in zip(graphs, classes, strict=True) if c == label]
        edges = [np.stack([np.repeat(np.arange(g.num_nodes), [len(n) for n in g.neighbours]),
                           np.concatenate(g.neighbours)]) for g in members]
        homophily = np.mean([edge_homophily(e, g.x.argmax(1)) for e, g in zip(edges, members, strict=True)
                             if e.shape[1]])
        degree = np.mean([e.shape[1] / g.num_nodes for e, g in zip(edges, members, strict=True)])
        share = np.mean([g.x[:, 0].mean() for g in members])  # balanced blocks in both classes
        assert abs(homophily - target) < 0.05 and abs(degree - SBM_HOMOPHILY["degree"]) < 0.5
        assert abs(share - 0.5) < 0.03
    # the TMD reader and the GNN reader see the same graphs for a seed
    cfg = get_method("tmd").load_config(["data.name=sbm_homophily", "data.graphs=30", "data.seed=4"])
    trainer = get_method("tmd").make_trainer(cfg)
    task = load_graph_task(GraphDataConfig(name="sbm_homophily", n_train=20, n_val=4, n_test=6, seed=4, pe_k=4))
    tmd_graphs, tmd_classes = trainer.data
    assert [int(g.y) for g in task.train + task.val + task.test] == tmd_classes.tolist()
    assert [g.num_nodes for g in task.train] == [g.num_nodes for g in tmd_graphs[:20]]
    assert (task.node_types, task.counts) == (2, True)
    # a different data seed draws different graphs
    assert [g.num_nodes for g in sbm_homophily_set(30, seed=5)[0]] != [g.num_nodes for g in tmd_graphs]
