#!/usr/bin/env bash
# The main job at smoke scale: every table notebook through papermill, then the report.
# Results and figures: figures/smoke/; runs and executed notebooks: runs/smoke/. Second run: reuses both.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/env.sh  # the environment, this checkout first on PYTHONPATH
mtpd reproduce --scale smoke "$@"
