#!/usr/bin/env bash
# Create (or reuse) mtpd's virtual environment and print its path on the last line.
#
# The environment lives outside the checkout, in $MTPD_CACHE (default ~/.cache/mtpd), keyed by
# Python version and the content of requirements/*.txt and of this script, so a fresh clone (CI)
# reuses it, and a changed pin or a changed recipe builds a new one (an environment made by an older
# recipe is never reused: editing this file costs one torch download; the mmcv-full wheel stays cached).
# mmcv-full 1.7.2 is source-only and takes about 5 min to compile on 2 cores (without debug
# information, below): its wheel is cached under wheels/py<ver>-torch<ver>/ because pip's own cache
# keys it on the sdist alone, and a wheel built against another torch fails at import.
# Exactly one OpenCV build is installed, opencv-python-headless (pinned in requirements/base.txt):
# mmcv-full's setup.py writes into its wheel's metadata whichever OpenCV it finds at build time
# (none if cv2 imports, opencv-python-headless if that is installed, else opencv-python), so a wheel
# built before headless was there requires opencv-python, and pip would install opencv-python beside
# headless: two packages writing the same cv2/ (and opencv-python 5 wants numpy 2). Hence headless
# goes in before mmcv-full is built or installed, and mmcv-full is installed without its OpenCV requirement.
# MTPD_ENV=DIR names the environment itself (tests/conftest.py sets it to the running one, so tests,
# which use a temporary MTPD_CACHE, never look for or build an environment there); MTPD_PYTHON the python.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${MTPD_CACHE:-$HOME/.cache/mtpd}
python=${MTPD_PYTHON:-python3}
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$(cat "$here"/requirements/*.txt "$here"/tools/setup_env.sh | sha256sum | cut -c1-12)
env=${MTPD_ENV:-$cache/envs/py$pyver-$key}
log() { echo "[setup_env] $*" >&2; }
die() { log "error: $*"; exit 1; }

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

log "creating $env (first time: torch download + mmcv-full build, about 7 min on 2 cores)"
# An environment without the .complete stamp is a broken earlier attempt: start it over.
rm -rf "$env"
"$python" -m venv "$env"
pip() { "$env/bin/python" -m pip "$@"; }
pip install -q --upgrade "pip<26" wheel >&2
# numpy and OpenCV with torch, from base.txt's own pins: mmcv-full's build must see headless (above),
# and one resolve keeps torchvision from bringing a numpy 2 that base.txt would then take back.
mapfile -t cv_pins < <(sed 's/#.*//; s/[[:space:]]*$//' "$here/requirements/base.txt" \
                       | grep -E '^(numpy|opencv-python-headless)([=<>!~]|$)')
[ ${#cv_pins[@]} -eq 2 ] || die "requirements/base.txt must name numpy and opencv-python-headless once each (found: ${cv_pins[*]:-none})"
pip install -q -r "$here/requirements/torch.txt" "${cv_pins[@]}" >&2
torchver=$("$env/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
wheels=$cache/wheels/py$pyver-torch$torchver
mmcv_req=$(grep -v '^#' "$here/requirements/mmcv.txt" | head -1)
mmcv_ver=${mmcv_req#*==}
if ! ls "$wheels"/mmcv_full-"$mmcv_ver"-*.whl >/dev/null 2>&1; then
  log "building $mmcv_req against torch $torchver into $wheels (about 5 min on 2 cores)"
  # mmcv-full's setup.py imports pkg_resources (setuptools<70) and must see the installed torch
  # (and the installed cv2, so that the wheel does not ask for opencv-python).
  pip install -q "setuptools<70" >&2
  mkdir -p "$wheels" && build=$(mktemp -d "$wheels/.build.XXXX")
  # CFLAGS=-g0: no debug information. setuptools<70 appends CFLAGS after Python's own flags ("-g ... -O3"), so the
  # last -g wins and the optimisation stays. The same code compiles 30-40% faster per file (roi_align, nms,
  # deform_conv, pybind: 12-48 s -> 8-32 s on one core) and links and zips a 1.6 MB wheel instead of 31 MB:
  # the whole build went from 11 to 5 min on 2 cores.
  CFLAGS="${CFLAGS:+$CFLAGS }-g0" MAX_JOBS=${MAX_JOBS:-$(nproc)} MMCV_WITH_OPS=1 \
    pip wheel --no-deps --no-build-isolation --no-binary mmcv-full -w "$build" "$mmcv_req" >&2
  mv "$build"/mmcv_full-*.whl "$wheels"/ && rm -rf "$build"
fi
mmcv_whl=$(ls "$wheels"/mmcv_full-"$mmcv_ver"-*.whl | head -1)
# The wheel without its dependencies, then those dependencies minus any OpenCV one (a wheel cached
# before this recipe asks for opencv-python), resolved together with base.txt.
pip install -q --no-deps "$mmcv_whl" >&2
mmcv_deps=$env/.mmcv-deps.txt
"$env/bin/python" - "$mmcv_whl" >"$mmcv_deps" <<'EOF'
import sys, zipfile
whl = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in whl.namelist() if n.endswith('.dist-info/METADATA'))
for line in whl.read(meta).decode().splitlines():
    if line.startswith('Requires-Dist:'):
        req = line.split(':', 1)[1].strip()
        if 'extra ==' in req: continue
        if not req.lower().startswith('opencv'): print(req); continue
        print(f'[setup_env] skipping mmcv-full\'s requirement {req}: opencv-python-headless provides cv2 '
              '(pip may say below that it is not installed)', file=sys.stderr)
EOF
pip install -q -r "$mmcv_deps" -r "$here/requirements/base.txt" >&2
pip install -q "setuptools>=77" >&2   # what torch asks for, once mmcv-full is built
"$env/bin/python" -c 'import mmcv.ops, mmdet, torchvision, nbdev' >&2

# The resolved stack must be consistent. The one pip check line allowed: an mmcv-full wheel cached
# before this recipe requires opencv-python, which is deliberately not installed; harmless, since
# opencv-python-headless provides the same cv2 module (minus cv2.imshow's GUI windows, which
# nothing here opens).
allowed="mmcv-full $mmcv_ver requires opencv-python, which is not installed."
check=$(pip check 2>&1 | grep -vxF -e "$allowed" -e 'No broken requirements found.' || true)
[ -z "$check" ] || die "pip check reports conflicts in $env:
$check"
"$env/bin/python" - >&2 <<'EOF' || die "$env does not hold exactly one OpenCV build, a 4.x one (see above)"
import importlib.metadata as md
names = sorted({n for d in md.distributions() if (n := d.metadata['Name'] or '').lower().startswith('opencv')})
assert len(names) == 1, f'OpenCV distributions installed: {names}'
import cv2, numpy
assert cv2.__version__.startswith('4.'), f'cv2 {cv2.__version__}'
EOF
touch "$env/.complete"
link_checkout
echo "$env"
