#!/usr/bin/env bash
# The test commands (the environment first, through tools/env.sh):
#   tools/run_tests.sh [PYTEST ARGS...]         `make test`, what CI runs: notebooks in sync with mtpd/ and clean,
#                                               figures/smoke made by this code (mtpd reproduce --check), nbdev_test, then pytest -m "not gpu and not rehearsal" (the slow
#                                               tests included; the one-row full-scale rehearsal is one of them) on
#                                               MTPD_TEST_WORKERS (default 2) pytest-xdist workers: every small-scale
#                                               run computes with one thread (mtpd.scales), so two share 2 cores
#   tools/run_tests.sh --fast [PYTEST ARGS...]  `make test-fast`: the sync check and pytest -m "not slow and not gpu"
#                                               (no training, papermill, torchrun or wheel builds). Measured on
#                                               2 cores shared with a running benchmark: 4 min 18 s wall, 2 min of
#                                               CPU. nbdev_test is left out: it adds 2.5 min on such a machine
#                                               (half of it the order notebook's probes).
# Tests are hermetic: nbdev_test runs under a temporary MTPD_CACHE, pytest makes its own (tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/env.sh
fast=0
if [ "${1:-}" = --fast ]; then fast=1; shift; fi

tools/check_notebooks.sh
# the committed smoke tables are what this code makes (their provenance; no training): else regenerate them, make smoke
mtpd reproduce --check --scale smoke
if [ $fast = 1 ]; then
  pytest -q tests -m "not slow and not gpu and not rehearsal" "$@"
else
  cache=$(mktemp -d "${TMPDIR:-/tmp}/mtpd-nbdev-cache.XXXXXX"); trap 'rm -rf "$cache"' EXIT
  # two notebooks at a time, one thread each: no oversubscription on 2 cores. MTPD_ENV: a notebook that runs
  # tools/setup_env.sh finds this environment, not one under the temporary MTPD_CACHE.
  MTPD_CACHE=$cache MTPD_ENV=$MTPD_VENV OMP_NUM_THREADS=1 nbdev_test --n_workers 2
  # two workers, a test file each at a time (module fixtures stay in one process); they share the session's cache
  pytest -q -n "${MTPD_TEST_WORKERS:-2}" --dist loadfile --durations=30 tests -m "not gpu and not rehearsal" "$@"
fi
