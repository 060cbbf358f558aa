#!/usr/bin/env bash
# Fail when mtpd/ is not what nbdev_export makes from nbs/, a notebook is not clean, or README.md is not
# what nbs/index.ipynb makes (tools/docs.sh readme).
# Works on a scratch copy so the working tree is never touched.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp -r "$here/nbs" "$here/settings.ini" "$here/setup.py" "$here/pyproject.toml" "$here/README.md" "$here/tools" \
      "$here/requirements" "$tmp"/
mkdir "$tmp/mtpd" && cp "$here/mtpd/__init__.py" "$tmp/mtpd/"
# mtpd/notebooks is not exported: it links to nbs/tables, so the table notebooks ship in the package (and the wheel)
[ "$(readlink "$here/mtpd/notebooks")" = ../nbs/tables ] || { echo "mtpd/notebooks must be a link to ../nbs/tables" >&2; exit 1; }
ln -s ../nbs/tables "$tmp/mtpd/notebooks"
(cd "$tmp" && nbdev_export && nbdev_clean)
status=0
if ! diff -r -x __pycache__ -x '*.egg-info' "$here/mtpd" "$tmp/mtpd" >"$tmp/export.diff"; then
  echo "mtpd/ is out of sync with nbs/: run 'make export' and commit the result." >&2
  head -40 "$tmp/export.diff" >&2; status=1
fi
if ! diff -r -x .ipynb_checkpoints "$here/nbs" "$tmp/nbs" >"$tmp/clean.diff"; then
  echo "notebooks are not clean: run 'make export' (nbdev_clean) and commit the result." >&2
  head -40 "$tmp/clean.diff" >&2; status=1
fi
(cd "$tmp" && tools/docs.sh readme >/dev/null 2>"$tmp/readme.log") || { cat "$tmp/readme.log" >&2; status=1; }
if ! diff "$here/README.md" "$tmp/README.md" >"$tmp/readme.diff"; then
  echo "README.md is out of sync with nbs/index.ipynb: run 'make readme' and commit the result." >&2
  head -20 "$tmp/readme.diff" >&2; status=1
fi
[ $status -eq 0 ] && echo "notebooks: exported package in sync, notebooks clean, README.md from nbs/index.ipynb"
exit $status
