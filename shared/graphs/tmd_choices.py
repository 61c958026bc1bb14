"""The names TMD's config chooses among, torch-free: the planted motifs (``shared/graphs/motifs.py``) and the distances
of the distance-kernel SVM (``shared/graphs/svm_distances.py``). Both modules import them beside the code that uses
them (networkx, POT, PyG); a sweep's driver checks a ``tmd`` config against them without those."""
from __future__ import annotations

MOTIF_SIZES = {"triangle": 3, "hexagon": 6}  # the labelled cycle class 1 carries, and its nodes
DISTANCES = ("tmd", "attributed", "wl")
