#!/usr/bin/env bash
# On a GPU host whose python3 has its own CUDA torch (e.g. a lent H100/H200: Python 3.12, torch 2.11 cu130):
# build mmcv-full 1.7.2 with its CUDA ops, then run mtpd's GPU tests (`pytest -m gpu`, tests/test_gpu.py).
#   OUT=/some/dir tools/build_mmcv_cuda.sh [PYTEST ARGS...]
# Run from the repo root, with .whl/ holding the wheels the host lacks (mmdet 2.28.2, pycocotools, papermill,
# ... as `pip download --no-deps --only-binary=:all: --python-version 3.12 ...` fetches them; see the device
# notes), the mmcv-full 1.7.2 sdist (mmcv-full-1.7.2.tar.gz) and, where the host's python has no Python.h,
# py312-include.tar.gz (CPython 3.12 headers).
#  1. installs .whl/*.whl into /tmp/site (numpy/scipy dropped again if they break the host's image packages);
#  2. builds mmcv-full's extension in place in /tmp/build/mmcv-full-1.7.2 (CUDA ops for TORCH_CUDA_ARCH_LIST,
#     default 9.0; log: $OUT/build.log), reused by a later call on the same machine unless REBUILD=1;
#  3. where MTPD_GPU_BENCH holds `mtpd bench` arguments (e.g. "--models full --mechanisms mgd"), runs
#     `mtpd bench --device cuda $MTPD_GPU_BENCH --out-dir $OUT/bench` (log $OUT/bench.log), leaving
#     MTPD_GPU_TEST_RESERVE seconds of the budget (default 150) to the tests;
#  4. runs `python3 -m pytest -m gpu -s tests/test_gpu.py` under `timeout`, within MTPD_GPU_BUDGET seconds of
#     the start (default 560): log $OUT/pytest.log, measured figures $OUT/gpu_results.json (MTPD_GPU_RESULTS).
# Summary: $OUT/summary.txt. Environment of the host: $OUT/env.txt.
set -u
REPO=$(pwd)
OUT=${OUT:-/tmp/mtpd_gpu_out}; mkdir -p "$OUT"
PY=${PY:-python3}
BUDGET=${MTPD_GPU_BUDGET:-560}
T0=$(date +%s)
SUM=$OUT/summary.txt; : > "$SUM"
say() { echo "$*" | tee -a "$SUM"; }
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }

# ---------------------------------------------------------------- host and wheels
{ echo "date: $(date -u)"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  nvcc --version | tail -2; gcc --version | head -1; $PY -V; which $PY
  $PY -c 'import torch, setuptools, sysconfig; print("torch", torch.__version__, torch.version.cuda, "setuptools", setuptools.__version__, "include", sysconfig.get_paths()["include"])'
  $PY -c 'import pkg_resources' 2>&1 | tail -1 | sed 's/^/pkg_resources import: /'
  nproc; free -g | head -2; } > "$OUT/env.txt" 2>&1
say "env: $(head -3 "$OUT/env.txt" | tr '\n' ' ')"
rm -rf /tmp/site && $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$REPO"/.whl/*.whl >> "$OUT/env.txt" 2>&1 \
  && say "wheels installed into /tmp/site: $(ls "$REPO"/.whl/*.whl | xargs -n1 basename | cut -d- -f1-2 | tr '\n' ' ')" \
  || say "WHEEL INSTALL FAILED (see env.txt)"
if ! PYTHONPATH=/tmp/site $PY -c 'import numpy, cv2, scipy.sparse, scipy.optimize, matplotlib.pyplot, torch, pycocotools._mask, torch.utils.tensorboard; print("numpy", numpy.__version__, "scipy", scipy.__version__)' >> "$OUT/env.txt" 2>&1; then
  say "numpy 1.26.4 breaks an image package (see env.txt): removing it from /tmp/site, using the image's numpy"
  rm -rf /tmp/site/numpy /tmp/site/numpy-* /tmp/site/numpy.libs /tmp/site/scipy /tmp/site/scipy-* /tmp/site/scipy.libs
fi
tail -1 "$OUT/env.txt" | tee -a "$SUM"

# ---------------------------------------------------------------- mmcv-full 1.7.2 with CUDA ops
SRC=/tmp/build/mmcv-full-1.7.2
if ls "$SRC"/mmcv/_ext*.so >/dev/null 2>&1 && [ "${REBUILD:-0}" != 1 ]; then
  say "build: reusing $(ls "$SRC"/mmcv/_ext*.so) from an earlier call on this machine"
else
  rm -rf /tmp/build && mkdir -p /tmp/build && tar xzf "$REPO"/.whl/mmcv-full-1.7.2.tar.gz -C /tmp/build
  cd "$SRC" || exit 1
  if ! $PY -c 'import pkg_resources' 2>/dev/null; then  # setuptools without pkg_resources: same three names elsewhere
    sed -i 's/^from pkg_resources import DistributionNotFound, get_distribution, parse_version$/from importlib.metadata import PackageNotFoundError as DistributionNotFound, version as get_distribution\nfrom packaging.version import parse as parse_version/' setup.py
    say "setup.py: pkg_resources missing, import replaced by importlib.metadata/packaging"
  fi
  INC=$($PY -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  if [ ! -f "$INC/Python.h" ]; then
    mkdir -p /tmp/pyinc && tar xzf "$REPO"/.whl/py312-include.tar.gz -C /tmp/pyinc
    export CPATH=/tmp/pyinc/include/python3.12${CPATH:+:$CPATH}
    say "no Python.h in $INC: using carried CPython 3.12.1 headers (CPATH=$CPATH)"
  fi
  BUILD_CAP=${BUILD_CAP:-420}
  ARCH=${TORCH_CUDA_ARCH_LIST:-9.0}
  say "build: MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=$ARCH MAX_JOBS=$(nproc) CFLAGS=-g0 $PY setup.py build_ext --inplace (cap ${BUILD_CAP}s)"
  bs=$(date +%s)
  MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=$ARCH MAX_JOBS=$(nproc) CFLAGS=-g0 \
    timeout -k 5 "$BUILD_CAP" $PY setup.py build_ext --inplace > "$OUT/build.log" 2>&1
  brc=$?
  say "build: rc=$brc in $(( $(date +%s) - bs ))s; $(grep -c '^\[' "$OUT/build.log") ninja lines, last: $(grep '^\[' "$OUT/build.log" | tail -1 | cut -c1-60)"
  grep -n -m 8 -E 'error|Error' "$OUT/build.log" | cut -c1-300 | tee -a "$SUM"
  ls -la "$SRC"/mmcv/_ext*.so 2>&1 | tee -a "$SUM"
  cd "$REPO" || exit 1
fi

export PYTHONPATH=/tmp/site:$SRC:$REPO PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore

# ---------------------------------------------------------------- the benchmark on CUDA
if [ -n "${MTPD_GPU_BENCH:-}" ]; then
  t=$(( $(left) - ${MTPD_GPU_TEST_RESERVE:-150} ))  # the rest of the budget is the tests'
  if [ "$t" -lt 30 ]; then say "bench: SKIPPED (${t}s of the budget left)"
  else
    say "mtpd bench --device cuda $MTPD_GPU_BENCH (limit ${t}s)"
    timeout -k 10 "$t" $PY -m mtpd.cli bench --device cuda $MTPD_GPU_BENCH --out-dir "$OUT/bench" --work-dir /tmp/bench_runs \
      > "$OUT/bench.log" 2>&1
    bench_rc=$?
    say "bench: rc=$bench_rc$([ $bench_rc = 124 ] && echo ' (TIMED OUT)') after $(( $(date +%s) - T0 ))s in all"
    grep -h '^\[mtpd\] bench' "$OUT/bench.log" | tee -a "$SUM"
    [ $bench_rc = 0 ] || tail -5 "$OUT/bench.log" | cut -c1-300 | tee -a "$SUM"
    cat "$OUT"/bench/*.md >> "$SUM" 2>/dev/null
  fi
fi

# ---------------------------------------------------------------- the GPU tests
export MTPD_GPU_RESULTS=${MTPD_GPU_RESULTS:-$OUT/gpu_results.json}
t=$(( $(left) - 5 ))
if [ "$t" -lt 30 ]; then say "pytest: SKIPPED (${t}s of the budget left)"; exit 1; fi
say "pytest -m gpu (limit ${t}s): results in $MTPD_GPU_RESULTS"
timeout -k 10 "$t" $PY -m pytest -m gpu -s -v -p no:cacheprovider tests/test_gpu.py "$@" > "$OUT/pytest.log" 2>&1
rc=$?
say "pytest: rc=$rc$([ $rc = 124 ] && echo ' (TIMED OUT)') after $(( $(date +%s) - T0 ))s in all"
{ echo "--- RESULT lines"; grep -ho 'RESULT .*' "$OUT/pytest.log"
  echo "--- pytest summary"; grep -E '^(PASSED|FAILED|ERROR|SKIPPED)|passed|failed' "$OUT/pytest.log" | tail -15 | cut -c1-300; } >> "$SUM"

if [ "$rc" = 0 ] && [ "${bench_rc:-0}" != 0 ]; then rc=$bench_rc; fi  # a failed benchmark fails the run too
cat "$SUM"
exit $rc
