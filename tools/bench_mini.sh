#!/usr/bin/env bash
# The mini-scale benchmark (not a test): every table at mini scale (CPU, 3 seeds for the comparisons),
# then the report; prints the wall time of the whole reproduction. Results and figures: figures/mini/;
# runs and executed notebooks: runs/mini/; teachers: ~/.cache/mtpd/experiments (trained once).
# A second run reuses everything and only re-executes the notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."
env=$(tools/setup_env.sh)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$env/bin:$PATH" PYTHONWARNINGS=ignore OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
start=$(date +%s)
mtpd reproduce --scale mini "$@"
echo "[mtpd] mini reproduction: $(( $(date +%s) - start )) s wall (figures/mini/)"
