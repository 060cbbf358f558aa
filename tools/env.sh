#!/usr/bin/env bash
# The project's environment, for one command or for the bash that sources this file:
#   tools/env.sh CMD [ARGS...]    run CMD in it, e.g. `tools/env.sh pytest -q tests/test_layers.py`
#   source tools/env.sh           set it in this shell (the tools/*.sh scripts do this)
# It creates or reuses the virtual environment (tools/setup_env.sh: the first time takes about 7 min on 2 cores)
# and sets PATH (the environment's bin/ first), PYTHONPATH (this checkout first, so the checkout
# under work wins over whichever checkout the shared environment was linked to), PYTHONWARNINGS=ignore,
# OMP_NUM_THREADS (2 unless already set) and MTPD_VENV (the environment's path).

_mtpd_env_setup() {
  local root venv
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || return 1
  venv=$("$root/tools/setup_env.sh") || { echo "tools/env.sh: tools/setup_env.sh failed" >&2; return 1; }
  export MTPD_VENV=$venv
  case ":${PATH:-}:" in
    ":$venv/bin:"*) ;;
    *) export PATH="$venv/bin${PATH:+:$PATH}" ;;
  esac
  case ":${PYTHONPATH:-}:" in
    ":$root:"*) ;;
    *) export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" ;;
  esac
  export PYTHONWARNINGS=ignore OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then  # sourced: set up this shell, leave its options alone
  _mtpd_env_setup || return 1
  unset -f _mtpd_env_setup
else
  set -euo pipefail
  if [ $# -eq 0 ]; then
    echo "usage: tools/env.sh CMD [ARGS...]   (or: source tools/env.sh)" >&2; exit 2
  fi
  _mtpd_env_setup
  exec "$@"
fi
