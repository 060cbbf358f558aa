# Every target creates/reuses the environment first (tools/env.sh -> tools/setup_env.sh): nothing else to install.
SHELL := /bin/bash
.PHONY: help env test test-fast rehearsal smoke mini lab export docs readme
help:           ## list the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'
env:            ## create or reuse the virtual environment (prints its path)
	@tools/setup_env.sh
test:           ## notebooks in sync and clean, nbdev_test, pytest without the gpu tests (what CI runs)
	@tools/run_tests.sh
test-fast:      ## the same without the slow tests (training, papermill, torchrun, wheels): minutes
	@tools/run_tests.sh --fast
rehearsal:      ## the full scale rehearsed on CPU: every row, table, report and figure (about 40 minutes)
	@tools/env.sh pytest -q -s tests -m rehearsal
smoke:          ## the main job at smoke scale (CPU, minutes)
	@tools/run_smoke.sh
mini:           ## the mini-scale benchmark: every table at mini scale, 5 seeds (CPU, hours the first time)
	@tools/bench_mini.sh
lab:            ## JupyterLab on nbs/ with the project's environment
	@tools/env.sh jupyter lab --notebook-dir=nbs
export:         ## notebooks -> mtpd/, clean them, README.md from nbs/index.ipynb (run before committing)
	@tools/env.sh bash -c 'nbdev_export && nbdev_clean' && tools/docs.sh readme >/dev/null
docs:           ## the documentation site in _docs/ (and README.md) from the notebooks
	@tools/docs.sh
readme:         ## README.md from nbs/index.ipynb (CI fails when they differ)
	@tools/docs.sh readme
