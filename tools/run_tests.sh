#!/usr/bin/env bash
# The test command: environment, notebook/package sync, notebook tests, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
env=$(tools/setup_env.sh)
export PATH="$env/bin:$PATH" PYTHONWARNINGS=ignore OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
tools/check_notebooks.sh
nbdev_test --n_workers 2
pytest -q tests "$@"
