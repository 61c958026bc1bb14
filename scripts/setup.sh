#!/usr/bin/env bash
# Installs raystudy and everything it needs into ./.venv (created if missing). Offline-safe: the
# packages come from the registries, torch from the CPU wheel that `pip install torch==2.13.0` finds.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch first and pinned: an unpinned torch (asked for by a dependency) would pull a multi-GB CUDA build.
python -m pip install -q torch==2.13.0
python -m pip install -q -e '.[test]'
# The ZINC-derived MOSES SMILES behind the zinc_like graphs, read as files: its declared dependencies (an old
# pomegranate, fcd_torch) are not needed, so it is installed without them.
python -m pip install -q --no-deps molsets==0.3.1
# matchms's CosineHungarian (and CosineGreedy) score graff_ms's spectra. Every matchms release declares scipy < 1.17,
# networkx < 3.5 or an older numpy than the pins above, yet both cosines run on them; so matchms and the runtime
# imports of `from matchms.similarity import CosineHungarian` are installed without their declared dependencies (numba 0.68.1
# supports numpy < 2.6; sparsestack 0.7.1 also declares scipy < 1.17). Nothing above moves.
python -m pip install -q --no-deps matchms==0.33.1 numba==0.68.1 llvmlite==0.50.0 sparsestack==0.7.1 \
  pickydict==0.5.0 deprecated==1.3.1 pubchempy==1.0.5 pyteomics==5.0.1 lxml==6.1.3
python -c "import torch, ray, deepspeed, torch_geometric, omegaconf, pyarrow, rdkit, matchms.similarity; print(f'raystudy env ready: torch {torch.__version__}, ray {ray.__version__}')"
