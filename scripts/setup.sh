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
python -c "import torch, ray, deepspeed, torch_geometric, omegaconf, pyarrow, rdkit; print(f'raystudy env ready: torch {torch.__version__}, ray {ray.__version__}')"
