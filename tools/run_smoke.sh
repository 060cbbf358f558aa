#!/usr/bin/env bash
# The main job at smoke scale: every table notebook through papermill, then the report.
# Results and figures: figures/smoke/; runs and executed notebooks: runs/smoke/. Second run: reuses both.
set -euo pipefail
cd "$(dirname "$0")/.."
env=$(tools/setup_env.sh)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$env/bin:$PATH" PYTHONWARNINGS=ignore OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mtpd reproduce --scale smoke "$@"
