#!/usr/bin/env bash
# The mini-scale benchmark (not a test): every table at mini scale (CPU, the scale's 5 seeds for the comparisons),
# then the report; prints the wall time of the whole reproduction. Results and figures: figures/mini/;
# runs and executed notebooks: runs/mini/; teachers: $MTPD_CACHE/experiments (default ~/.cache/mtpd/experiments),
# trained once.
# A second run reuses everything and only re-executes the notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/env.sh  # the environment, this checkout first on PYTHONPATH
start=$(date +%s)
mtpd reproduce --scale mini "$@"
echo "[mtpd] mini reproduction: $(( $(date +%s) - start )) s wall (figures/mini/)"
