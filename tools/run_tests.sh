#!/usr/bin/env bash
# The test command: environment, notebook/package sync, notebook tests, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
env=$(tools/setup_env.sh)
# The checkout under test wins over whichever checkout the shared environment was last linked to.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$env/bin:$PATH" PYTHONWARNINGS=ignore OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
tools/check_notebooks.sh
OMP_NUM_THREADS=1 nbdev_test --n_workers 2  # two notebooks at a time, one thread each: no oversubscription
pytest -q tests "$@"
