#!/usr/bin/env bash
# Create (or reuse) mtpd's virtual environment and print its path on the last line.
#
# The environment lives outside the checkout, in $MTPD_CACHE (default ~/.cache/mtpd), keyed by
# Python version and the content of requirements/*.txt, so a fresh clone (CI) reuses it and a
# changed pin builds a new one. mmcv-full 1.7.2 is source-only and takes ~15 min to compile on
# 2 cores: its wheel is cached under wheels/py<ver>-torch<ver>/ because pip's own cache keys it on
# the sdist alone, and a wheel built against another torch fails at import.
# MTPD_ENV=DIR names the environment itself (tests/conftest.py sets it to the running one, so tests,
# which use a temporary MTPD_CACHE, never look for or build an environment there); MTPD_PYTHON the python.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${MTPD_CACHE:-$HOME/.cache/mtpd}
python=${MTPD_PYTHON:-python3}
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$(cat "$here"/requirements/*.txt | sha256sum | cut -c1-12)
env=${MTPD_ENV:-$cache/envs/py$pyver-$key}
log() { echo "[setup_env] $*" >&2; }

link_checkout() {
  # The `mtpd` console script comes from an editable install of a checkout. Every command of
  # ours puts its own checkout first on PYTHONPATH, so which checkout the environment was linked to
  # does not matter; link once, under a lock (CI and a developer may share the environment).
  [ -x "$env/bin/mtpd" ] && return 0
  ( flock 9; [ -x "$env/bin/mtpd" ] || "$env/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$here" >&2 ) 9>"$env/.link.lock"
}

if [ -f "$env/.complete" ]; then
  link_checkout
  echo "$env"; exit 0
fi

log "creating $env (first time: torch download + mmcv-full build, ~20-30 min)"
# An environment without the .complete stamp is a broken earlier attempt: start it over.
rm -rf "$env"
"$python" -m venv "$env"
pip() { "$env/bin/python" -m pip "$@"; }
pip install -q --upgrade "pip<26" wheel >&2
pip install -q -r "$here/requirements/torch.txt" >&2
torchver=$("$env/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
wheels=$cache/wheels/py$pyver-torch$torchver
mmcv_req=$(grep -v '^#' "$here/requirements/mmcv.txt" | head -1)
mmcv_ver=${mmcv_req#*==}
if ! ls "$wheels"/mmcv_full-"$mmcv_ver"-*.whl >/dev/null 2>&1; then
  log "building $mmcv_req against torch $torchver into $wheels (13-16 min on 2 cores)"
  # mmcv-full's setup.py imports pkg_resources (setuptools<70) and must see the installed torch.
  pip install -q "setuptools<70" >&2
  mkdir -p "$wheels" && build=$(mktemp -d "$wheels/.build.XXXX")
  MAX_JOBS=${MAX_JOBS:-$(nproc)} MMCV_WITH_OPS=1 \
    pip wheel --no-deps --no-build-isolation --no-binary mmcv-full -w "$build" "$mmcv_req" >&2
  mv "$build"/mmcv_full-*.whl "$wheels"/ && rm -rf "$build"
fi
pip install -q "$wheels"/mmcv_full-"$mmcv_ver"-*.whl >&2
pip install -q -r "$here/requirements/base.txt" >&2
pip install -q "setuptools>=77" >&2   # what torch asks for, once mmcv-full is built
"$env/bin/python" -c 'import mmcv.ops, mmdet, torchvision, nbdev' >&2
touch "$env/.complete"
link_checkout
echo "$env"
