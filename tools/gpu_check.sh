#!/usr/bin/env bash
# One bounded check of mtpd's CUDA code paths on a GPU host whose python3 has its own torch
# (e.g. the lent H100: Python 3.12, torch 2.11 cu130). Run from the repo root, with the wheels and
# the mmcv-full 1.7.2 sdist in .whl/ (see the pip download recipe in the device notes):
#   OUT=/some/dir tools/gpu_check.sh
# 0. installs .whl/*.whl into /tmp/site, builds mmcv-full 1.7.2 with CUDA ops (sm_90 only) in place
#    in /tmp/build (log: $OUT/build.log), then, each step under `timeout`, logged to $OUT/steps.log:
# 1. imports + one CUDA call each of nms / sigmoid_focal_loss / DeformConv2d (checked against CPU)
# 2. `mtpd progressive --help`, the package's CPU dry_run of one row, then a CUDA dry run of every
#    paper row and stage at full scale (batch 2, 800x1333 padded to 800x1344, forward_train + backward)
# 3. a smoke-scale progressive experiment on the GPU, plainly (--gpus 1) and as 1 torchrun/NCCL process
# 4. fp32 vs torch.autocast(fp16) time of a full-scale RetinaNet R50 <- R101 distillation step
# 5. training + COCO eval on the GPU of smoke students (RepPoints: the device-safe head and assigner)
# 6. (only when named in GPU_CHECK_STEPS, run first) tools/sweep.py on the variants in GPU_SWEEP
# Everything ends within GPU_CHECK_BUDGET seconds (default 560). GPU_CHECK_EMIT_ONLY=1 only writes
# the Python helpers to $PYDIR and exits (for checking them on a machine without a GPU).
set -u
REPO=$(pwd)
OUT=${OUT:-/tmp/gpu_check_out}; mkdir -p "$OUT"
PY=${PY:-python3}
PYDIR=${PYDIR:-/tmp/gpu_check_py}; mkdir -p "$PYDIR"
BUDGET=${GPU_CHECK_BUDGET:-560}
T0=$(date +%s)
LOG=$OUT/steps.log; SUM=$OUT/summary.txt
: > "$LOG"; : > "$SUM"
say() { echo "$*" | tee -a "$SUM"; }
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }

# ---------------------------------------------------------------- Python helpers
cat > "$PYDIR/common.py" <<'EOF'
import math, os, sys, time
import numpy as np, torch
DEV = os.environ.get('GPU_CHECK_DEVICE', 'cuda')

def distiller_cfg(row, stage):
    "The full-scale stage config of the package (mtpd.zoo.stage_config), weights stripped as zoo.dry_run does."
    from mtpd import zoo
    cfg = zoo.stage_config(row, stage, 'full', teacher_ckpt='/nonexistent/teacher.pth',
                           student_ckpt=None if stage == 1 else '/nonexistent/stage1_student.pth')
    m = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    m.update(student=zoo._no_weights(m['student']), teacher=zoo._no_weights(m['teacher']),
             teacher_ckpt=None, student_ckpt=None, inherit_teacher=False)
    return m

def build(model_cfg):
    from mmcv import ConfigDict
    from mmdet.models import build_detector
    from mtpd import zoo
    import mtpd  # noqa: F401
    det = build_detector(ConfigDict(model_cfg))
    with zoo.quiet_init(): det.init_weights()
    return det

def batch(model_cfg, n=2, h=800, w=1333, pad=32, seed=0, k=3):
    "A random batch as MMDetection's pipeline makes it: images padded to a multiple of 32, boxes, labels, masks."
    from mmdet.core import BitmapMasks
    from mtpd import zoo
    g = torch.Generator().manual_seed(seed)
    H, W = math.ceil(h / pad) * pad, math.ceil(w / pad) * pad
    img = torch.randn(n, 3, H, W, generator=g); img[:, :, h:, :] = 0; img[:, :, :, w:] = 0
    det = zoo._detector(model_cfg); n_cls = zoo._num_classes(det)
    metas, bboxes, labels, masks = [], [], [], []
    for i in range(n):
        xy = torch.rand(k, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
        wh = torch.tensor([w, h]) * (0.1 + 0.3 * torch.rand(k, 2, generator=g))
        b = torch.cat([xy, xy + wh], 1); b[:, 0::2] = b[:, 0::2].clamp(max=w - 1); b[:, 1::2] = b[:, 1::2].clamp(max=h - 1)
        bboxes.append(b.to(DEV)); labels.append(torch.randint(0, n_cls, (k,), generator=g).to(DEV))
        metas.append(dict(img_shape=(h, w, 3), pad_shape=(H, W, 3), ori_shape=(h, w, 3), batch_input_shape=(H, W),
                          scale_factor=np.ones(4, np.float32), flip=False, filename=f'rand{i}.png'))
        if zoo._with_mask(model_cfg):
            m = np.zeros((k, H, W), np.uint8)
            for j, (x0, y0, x1, y1) in enumerate(b.round().int().tolist()): m[j, y0:y1, x0:x1] = 1
            masks.append(BitmapMasks(m, H, W))
    kw = dict(gt_bboxes=bboxes, gt_labels=labels)
    if masks: kw['gt_masks'] = masks
    return img.to(DEV), metas, kw

def sync():
    if DEV == 'cuda': torch.cuda.synchronize()
EOF

cat > "$PYDIR/step1_ops.py" <<'EOF'
import torch, torchvision
import mmcv, mmdet, mtpd
from mmcv.ops import nms, sigmoid_focal_loss, DeformConv2d, ModulatedDeformConv2d, RoIAlign
from mmcv.ops import get_compiling_cuda_version, get_compiler_version
print(f"RESULT step1 versions: torch {torch.__version__} (cuda {torch.version.cuda}), torchvision {torchvision.__version__}, "
      f"mmcv {mmcv.__version__} (ops compiled with cuda {get_compiling_cuda_version()}, {get_compiler_version()}), "
      f"mmdet {mmdet.__version__}, mtpd {mtpd.__version__}, numpy {__import__('numpy').__version__}, "
      f"gpu {torch.cuda.get_device_name(0)}")
torch.manual_seed(0)
d = 'cuda'
# nms vs torchvision
b = torch.rand(500, 2, device=d) * 500; boxes = torch.cat([b, b + 20 + torch.rand(500, 2, device=d) * 100], 1)
scores = torch.rand(500, device=d)
dets, keep = nms(boxes, scores, 0.5)
ref = torchvision.ops.nms(boxes, scores, 0.5)
print(f"RESULT step1 nms cuda: kept {keep.numel()}/500, device {keep.device}, same as torchvision.ops.nms: "
      f"{torch.equal(keep.sort().values, ref.sort().values)}")
# sigmoid focal loss vs mmdet's pure-PyTorch version
from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
import torch.nn.functional as F
pred = torch.randn(1000, 80, device=d, requires_grad=True); tgt = torch.randint(0, 81, (1000,), device=d)
l = sigmoid_focal_loss(pred, tgt, 2.0, 0.25, None, 'sum'); l.backward(); g_cuda = pred.grad.clone(); pred.grad = None
one_hot = F.one_hot(tgt, 81)[:, :80].float()
l_ref = py_sigmoid_focal_loss(pred, one_hot, None, 2.0, 0.25, 'sum'); l_ref.backward()
# summed (mmcv's 'mean' divides by the number of rows only): compare loss and gradient
print(f"RESULT step1 sigmoid_focal_loss cuda: {l.item():.6f} vs pytorch {l_ref.item():.6f}, "
      f"max grad diff {(g_cuda - pred.grad).abs().max().item():.2e}")
# DeformConv2d: zero offsets == conv2d; random offsets vs mmcv's CPU kernel
dc = DeformConv2d(16, 32, 3, padding=1).to(d)
x = torch.randn(2, 16, 40, 56, device=d, requires_grad=True)
off0 = torch.zeros(2, 18, 40, 56, device=d)
y0 = dc(x, off0); ref = F.conv2d(x, dc.weight, padding=1)
off = torch.randn(2, 18, 40, 56, device=d) * 2
y = dc(x, off); y.sum().backward()
dc_cpu = DeformConv2d(16, 32, 3, padding=1); dc_cpu.load_state_dict(dc.state_dict())
y_cpu = dc_cpu(x.detach().cpu(), off.cpu())
print(f"RESULT step1 DeformConv2d cuda: zero-offset vs conv2d max diff {(y0 - ref).abs().max().item():.2e}; "
      f"random offsets vs CPU kernel max diff {(y.detach().cpu() - y_cpu).abs().max().item():.2e}; "
      f"grad finite {bool(torch.isfinite(x.grad).all())}")
mdc = ModulatedDeformConv2d(16, 32, 3, padding=1).to(d)
ym = mdc(x, torch.randn(2, 18, 40, 56, device=d), torch.rand(2, 9, 40, 56, device=d)); ym.sum().backward()
ra = RoIAlign((7, 7), 1 / 8, 0)
feat = torch.randn(2, 8, 50, 50); rois = torch.tensor([[0, 10, 10, 200, 150], [1, 40, 30, 300, 380.]])
print(f"RESULT step1 ModulatedDeformConv2d cuda ok {tuple(ym.shape)}; RoIAlign cuda vs cpu max diff "
      f"{(ra(feat.cuda(), rois.cuda()).cpu() - ra(feat, rois)).abs().max().item():.2e}")
EOF

cat > "$PYDIR/step2_dry_run.py" <<'EOF'
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
import torch
from common import DEV, distiller_cfg, build, batch, sync
from mtpd import zoo
only_cfg = os.environ.get('GPU_CHECK_CONFIG_ONLY') == '1'
# the package's own dry run (CPU, 256 px, one row) as shipped
if not only_cfg:
    t = time.time()
    lv = zoo.dry_run(zoo.stage_config('retinanet_r101_x101', 1, 'full', teacher_ckpt='/nonexistent/t.pth'), backward=True)
    print(f"RESULT step2 zoo.dry_run (package, CPU, 256px) retinanet_r101_x101 stage1: {len(lv)} log vars, "
          f"loss {lv['loss']:.3f}, {time.time() - t:.1f}s", flush=True)
rows = sys.argv[1:] or list(zoo.ROWS)
for row in rows:
    for stage in (1, 2):
        name = f"{row} stage{stage} (teacher {zoo.ROWS[row]['teachers'][stage - 1]})"
        try:
            m = distiller_cfg(row, stage)
            img, metas, kw = batch(m)
            if only_cfg:
                print(f"RESULT step2 {name}: config + batch ok {tuple(img.shape)} {sorted(kw)}", flush=True); continue
            t = time.time(); det = build(m).to(DEV).train(); tb = time.time() - t
            n_s = sum(p.numel() for p in det.student.parameters()); n_t = sum(p.numel() for p in det.teacher.parameters())
            if DEV == 'cuda': torch.cuda.reset_peak_memory_stats()
            times = []
            for it in range(2):
                sync(); t = time.time()
                losses = det.forward_train(img, metas, **kw)
                total, lv = det._parse_losses(losses)
                total.backward(); sync(); times.append(time.time() - t)
                det.zero_grad(set_to_none=True)
            peak = torch.cuda.max_memory_allocated() / 2**30 if DEV == 'cuda' else float('nan')
            mgd = sum(v for k, v in lv.items() if k.startswith('loss_mgd'))
            nmgd = len([k for k in lv if k.startswith('loss_mgd')])
            bad = [k for k, v in lv.items() if v != v or abs(v) == float('inf')]
            det_terms = ', '.join(f"{k}={v:.3f}" for k, v in lv.items() if k.startswith('loss') and not k.startswith('loss_mgd') and k != 'loss')
            print(f"RESULT step2 {name}: OK build {tb:.1f}s, student {n_s/1e6:.1f}M / teacher {n_t/1e6:.1f}M params, "
                  f"fwd+bwd {times[0]:.2f}s first / {times[1]:.3f}s second, peak {peak:.2f} GiB, loss {lv['loss']:.3f} "
                  f"(mgd x{nmgd} {mgd:.3f}; {det_terms})" + (f" NON-FINITE {bad}" if bad else ''), flush=True)
            del det, losses, total
        except Exception as e:
            import traceback; traceback.print_exc()
            print(f"RESULT step2 {name}: FAILED {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", flush=True)
        if DEV == 'cuda': torch.cuda.empty_cache()
EOF

cat > "$PYDIR/step3_summary.py" <<'EOF'
import glob, json, sys
for tag, path in zip(sys.argv[1::2], sys.argv[2::2]):
    try: m = json.load(open(path))
    except Exception as e: print(f"RESULT step3 {tag}: no manifest ({e})"); continue
    for s in m['stages']:
        mt = s['metrics']
        print(f"RESULT step3 {tag} stage {s['stage']} (teacher {(s.get('teacher') or {}).get('name')}): "
              f"bbox AP {100 * mt.get('bbox_mAP', 0):.2f} AP50 {100 * mt.get('bbox_mAP_50', 0):.2f}, "
              f"{s['iterations']} iters, wall {s['wall_time_s']} s")
for p in sorted(glob.glob('/tmp/cache/experiments/teachers/*/teacher.json')):
    t = json.load(open(p))
    print(f"RESULT step3 cached teacher {t['model']} ({t['scale']}, {t['schedule']}): bbox AP {100 * t['metrics'].get('bbox_mAP', 0):.2f}")
EOF

cat > "$PYDIR/step4_amp.py" <<'EOF'
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
import torch
from common import DEV, distiller_cfg, build, batch, sync
N, WARM = int(os.environ.get('AMP_ITERS', 20)), int(os.environ.get('AMP_WARMUP', 5))
m = distiller_cfg('retinanet_r101_x101', 1)  # RetinaNet R50 <- R101, full scale
det = build(m).to(DEV).train()
img, metas, kw = batch(m)
params = [p for p in det.parameters() if p.requires_grad]
opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9, weight_decay=1e-4)  # small lr: timing, not training
scaler = torch.amp.GradScaler('cuda', enabled=True)
def step(amp):
    opt.zero_grad(set_to_none=True)
    with torch.autocast('cuda', dtype=torch.float16, enabled=amp):
        losses = det.forward_train(img, metas, **kw)
        total, lv = det._parse_losses(losses)
    if amp:
        scaler.scale(total).backward(); scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, 35); scaler.step(opt); scaler.update()
    else:
        total.backward(); torch.nn.utils.clip_grad_norm_(params, 35); opt.step()
    return lv
res = {}
for amp in (False, True):
    for _ in range(WARM): step(amp)
    torch.cuda.reset_peak_memory_stats(); sync(); t = time.perf_counter()
    for _ in range(N): lv = step(amp)
    sync(); dt = (time.perf_counter() - t) / N
    res[amp] = dt
    print(f"RESULT step4 {'amp-fp16' if amp else 'fp32   '}: {1000 * dt:.1f} ms/iter over {N} iters (after {WARM} warm-up), "
          f"peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, last loss {lv['loss']:.3f}", flush=True)
print(f"RESULT step4 fp32/amp time ratio {res[False] / res[True]:.2f}x (cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, "
      f"matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}, cudnn.benchmark={torch.backends.cudnn.benchmark})")
EOF
[ "${GPU_CHECK_EMIT_ONLY:-0}" = 1 ] && { echo "python helpers written to $PYDIR"; exit 0; }

cat > "$PYDIR/step5_train_gpu.py" <<'EOF'
# A few real training iterations + COCO evaluation on the GPU through mtpd.train (MMDataParallel's scatter,
# mmdet's train loop, the device-safe RepPoints head and point assigner), RepPoints and RetinaNet students.
import sys, time, tempfile
from pathlib import Path
import torch
from mtpd import zoo
from mtpd.train import train, evaluate
for row in sys.argv[1:] or ['reppoints_r101_x101dcn', 'retinanet_r101_x101']:
    t = time.time()
    try:
        cfg = zoo.baseline_config(row, 'smoke', schedule='1x')
        cfg.runner.max_iters = 8; cfg.lr_config.step = [6]; cfg.checkpoint_config.interval = 8
        ck = train(cfg, Path(tempfile.mkdtemp()) / row)
        m = evaluate(cfg, ck)
        dev = 'cuda' if torch.cuda.is_available() else 'cpu'
        print(f"RESULT step5 {row} student on {dev}: 8 iterations + COCO eval OK in {time.time() - t:.1f}s, "
              f"bbox AP {100 * m.get('bbox_mAP', 0):.2f}", flush=True)
    except Exception as e:
        import traceback; traceback.print_exc()
        print(f"RESULT step5 {row}: FAILED {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", flush=True)
EOF

# ---------------------------------------------------------------- step runner
STEPS=${GPU_CHECK_STEPS:-step1 step2a step2b step3 step4 step5}  # which steps to run (names as below)
step() {  # step NAME CAP_SECONDS CMD...   (never aborts the script)
  local name=$1 cap=$2; shift 2
  case " $STEPS " in *" ${name%% *} "*) ;; *) return 0;; esac
  local l; l=$(left); local t=$(( cap < l - 5 ? cap : l - 5 ))
  if [ "$t" -lt 15 ]; then say "=== $name: SKIPPED (${l}s of the budget left)"; return 99; fi
  echo "=== $name (limit ${t}s, at +$(( $(date +%s) - T0 ))s): $*" >> "$LOG"
  local s; s=$(date +%s.%N)
  timeout -k 5 "$t" "$@" >> "$LOG" 2>&1; local rc=$?
  local w; w=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $s}")
  say "=== $name: rc=$rc wall=${w}s$([ $rc = 124 ] && echo ' (TIMED OUT)')"
  return $rc
}

# ---------------------------------------------------------------- environment + wheels
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

# ---------------------------------------------------------------- build mmcv-full 1.7.2 with CUDA ops
SRC=/tmp/build/mmcv-full-1.7.2
if ls "$SRC"/mmcv/_ext*.so >/dev/null 2>&1 && [ "${REBUILD:-0}" != 1 ]; then
  say "build: reusing $(ls "$SRC"/mmcv/_ext*.so) from an earlier call on this machine"
else
rm -rf /tmp/build && mkdir -p /tmp/build && tar xzf "$REPO"/.whl/mmcv-full-1.7.2.tar.gz -C /tmp/build
cd "$SRC"
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
say "build: MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16 CFLAGS=-g0 $PY setup.py build_ext --inplace (cap ${BUILD_CAP}s)"
bs=$(date +%s)
MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16 CFLAGS=-g0 \
  timeout -k 5 "$BUILD_CAP" $PY setup.py build_ext --inplace > "$OUT/build.log" 2>&1
brc=$?
say "build: rc=$brc in $(( $(date +%s) - bs ))s; $(grep -c '^\[' "$OUT/build.log") ninja lines, last: $(grep '^\[' "$OUT/build.log" | tail -1 | cut -c1-60)"
grep -n -m 8 -E 'error|Error' "$OUT/build.log" | cut -c1-300 | tee -a "$SUM"
ls -la "$SRC"/mmcv/_ext*.so 2>&1 | tee -a "$SUM"
fi
cd "$REPO"

export PYTHONPATH=/tmp/site:$SRC:$REPO PYTHONUNBUFFERED=1 MTPD_CACHE=/tmp/cache PYTHONWARNINGS=ignore
# ---------------------------------------------------------------- steps
# Measured on the H100 (16 cores): 14 variants at once ran at 0.66 s/iteration each, slower than one on
# this project's 2-core CPU (mmdet's per-step Python work, not the GPU, is the limit): keep --jobs small.
step "step6 small-scale sweep (tools/sweep.py, GPU_SWEEP variants)" ${GPU_SWEEP_CAP:-300} \
  $PY tools/sweep.py --scale ${GPU_SWEEP_SCALE:-mini} --jobs ${GPU_SWEEP_JOBS:-4} --work /tmp/sweep --out "$OUT/sweep.jsonl" ${GPU_SWEEP:-}
step "step1 imports + CUDA ops" 90 $PY "$PYDIR/step1_ops.py"
step "step2a mtpd progressive --help" 30 $PY -m mtpd.cli progressive --help
step "step2b CUDA dry run, every row, full scale" 150 $PY "$PYDIR/step2_dry_run.py" ${GPU_CHECK_ROWS:-}
step "step3 smoke experiment, --gpus 1 (plain process)" 180 \
  $PY -m mtpd.cli experiment retinanet_r101_x101 --scale smoke --mode progressive --gpus 1 --work-root /tmp/runs_plain
cp /tmp/runs_plain/retinanet_r101_x101/progressive-mgd-seed0/manifest.json "$OUT/manifest_plain.json" 2>/dev/null
step "step3 smoke experiment, torchrun 1 process (NCCL)" 110 \
  env NCCL_DEBUG=VERSION $PY -m torch.distributed.run --standalone --nproc_per_node 1 -m mtpd.cli experiment retinanet_r101_x101 \
  --scale smoke --mode progressive --work-root /tmp/runs_ddp
cp /tmp/runs_ddp/retinanet_r101_x101/progressive-mgd-seed0/manifest.json "$OUT/manifest_ddp.json" 2>/dev/null
grep -h -E 'NCCL version|backend=|nccl' "$LOG" | grep -v '^=== ' | sort | uniq -c | head -5 | cut -c1-200 >> "$SUM"
$PY "$PYDIR/step3_summary.py" plain "$OUT/manifest_plain.json" torchrun "$OUT/manifest_ddp.json" >> "$LOG" 2>&1
step "step4 fp32 vs AMP, RetinaNet R50 <- R101 full scale" 120 $PY "$PYDIR/step4_amp.py"
step "step5 training + COCO eval on the GPU (smoke RepPoints, RetinaNet students)" 120 $PY "$PYDIR/step5_train_gpu.py"

# ---------------------------------------------------------------- summary
{ echo "--- RESULT lines"; grep -h '^RESULT' "$LOG"
  echo "--- errors (first 15)"; grep -n -E 'Traceback|Error|error:|FAILED' "$LOG" | grep -v '^.*RESULT' | head -15 | cut -c1-300
  echo "--- total $(( $(date +%s) - T0 ))s"; } >> "$SUM"
cat "$SUM"
