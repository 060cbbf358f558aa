# Every target creates/reuses the environment first (tools/setup_env.sh): nothing else to install.
SHELL := /bin/bash
.PHONY: test smoke mini lab export env help
help:           ## list the targets
	@grep -E '^[a-z]+:.*## ' Makefile | sed 's/:.*## /\t/'
env:            ## create or reuse the virtual environment (prints its path)
	@tools/setup_env.sh
test:           ## notebooks in sync and clean, pytest, nbdev_test (what CI runs)
	@tools/run_tests.sh
smoke:          ## the main job at smoke scale (CPU, minutes)
	@tools/run_smoke.sh
mini:           ## the mini-scale benchmark: every table at mini scale, 3 seeds (CPU, hours the first time)
	@tools/bench_mini.sh
lab:            ## JupyterLab on nbs/ with the project's environment
	@env=$$(tools/setup_env.sh) && PYTHONPATH="$$PWD" "$$env/bin/jupyter" lab --notebook-dir=nbs
export:         ## notebooks -> mtpd/ and clean them (run before committing)
	@env=$$(tools/setup_env.sh) && "$$env/bin/nbdev_export" && "$$env/bin/nbdev_clean"
