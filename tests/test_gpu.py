"""mtpd's CUDA code paths (marker `gpu`: skipped where torch sees no CUDA device).

On a GPU host, tools/build_mmcv_cuda.sh builds mmcv-full 1.7.2 with its CUDA ops and then runs
`python -m pytest -m gpu -s tests/test_gpu.py`. The checks:

1. mmcv's CUDA ops (nms, sigmoid_focal_loss, DeformConv2d, ModulatedDeformConv2d, RoIAlign) against
   torchvision, mmdet's pure-PyTorch loss and mmcv's CPU kernels;
2. `mtpd progressive --help`, and the package's `dry_run` on CUDA beside the same call on CPU;
3. every paper row's full-scale distillation stage (1 and 2): built without weights, two forward_train +
   backward steps on a batch of 2 images of 800x1333 (padded to 800x1344), as MMDetection pads them;
4. training and COCO evaluation on the GPU of smoke students, through `mtpd experiment --mode baseline --gpus 1`
   (mmcv's GPU scatter, the device-safe RepPoints head and point assigner);
5. fp32 against torch.autocast(fp16) step time of a full-scale RetinaNet R50 <- R101 distillation step;
6. a smoke-scale progressive experiment on the GPU: one plain process (`--gpus 1`; again with `--fp16
   --teacher-precision bf16`) and one torchrun/NCCL
   process;
7. (only when MTPD_GPU_SWEEP names variants) a small-scale sweep of zoo detector variants.

Measured figures (step times, peak memory, APs) are printed as `RESULT ...` lines (use `-s`) and, when
MTPD_GPU_RESULTS names a file, written there as a JSON list (rewritten after every record, so a run
cut short keeps what it measured). Timings are reported, never asserted.

Settings (environment): MTPD_GPU_RESULTS (JSON file of the figures), MTPD_GPU_ROWS (rows of check 3, default
all), MTPD_GPU_AMP_ITERS / MTPD_GPU_AMP_WARMUP (check 5: 20 / 5), MTPD_GPU_EXPERIMENT_TIMEOUT (check 6, s:
400), MTPD_GPU_SWEEP / _SCALE / _JOBS / _TIMEOUT (check 7). `pytest -m "gpu and not slow"` leaves out the
checks that train (4, 6, 7); `-k` picks checks by name.
"""
import json, math, os, subprocess, sys, time
from pathlib import Path

import pytest

from conftest import ROOT, run_env

pytestmark = pytest.mark.gpu  # the tests that train are `slow` too: `pytest -m "gpu and not slow"` is the quick half

ROW = 'retinanet_r101_x101'  # RetinaNet R50 student <- R101 <- X101-64x4d


# --------------------------------------------------------------------------------------- helpers

@pytest.fixture(scope='module')
def record():
    "record(check, **figures): print a RESULT line and add it to $MTPD_GPU_RESULTS (JSON list) when set."
    path, results = os.environ.get('MTPD_GPU_RESULTS'), []

    def add(check, **figures):
        rec = dict(check=check, **figures)
        results.append(rec)
        print(f"RESULT {check}: " + ', '.join(f'{k} {v}' for k, v in figures.items()), flush=True)
        if path:
            tmp = Path(f'{path}.tmp'); tmp.write_text(json.dumps(results, indent=1, default=str)); os.replace(tmp, path)
        return rec
    return add


def _weightless(model: dict) -> dict:
    "A copy of an MMDetection `model=` that reads no file and downloads nothing (distiller: no teacher/student checkpoint)."
    import copy
    m = copy.deepcopy(model.to_dict() if hasattr(model, 'to_dict') else dict(model))
    def strip(d):
        d.pop('pretrained', None); d.pop('init_cfg', None)
        d['backbone'].pop('init_cfg', None); d['backbone'].pop('pretrained', None)
        return d
    if m.get('type') == 'DetectionDistiller':
        m.update(student=strip(m['student']), teacher=strip(m['teacher']), teacher_ckpt=None, student_ckpt=None,
                 inherit_teacher=False)
    else:
        strip(m)
    return m


def _detector(model: dict) -> dict:
    "The detector whose ground truth a batch needs: the student of a distiller, else the model itself."
    return model['student'] if model.get('type') == 'DetectionDistiller' else model


def _num_classes(det: dict) -> int:
    head = det.get('bbox_head') or det['roi_head']['bbox_head']
    return (head[0] if isinstance(head, (list, tuple)) else head)['num_classes']


def _with_mask(det: dict) -> bool:
    return 'mask_head' in (det.get('roi_head') or {})


def build(model: dict, device):
    "Build `model` (weightless, see `_weightless`) with the heads' own initialisation, in train mode on `device`."
    from mmcv import ConfigDict
    from mmdet.models import build_detector
    import mtpd  # noqa: F401  (registrations)
    from mtpd.configs import quiet_init
    det = build_detector(ConfigDict(model))
    with quiet_init(): det.init_weights()
    return det.to(device).train()


def batch(model: dict, device, n=2, h=800, w=1333, pad=32, seed=0, k=3):
    "A random batch as MMDetection's pipeline makes it: images padded to a multiple of 32, boxes, labels, masks."
    import numpy as np, torch
    from mmdet.core import BitmapMasks
    det = _detector(model)
    g = torch.Generator().manual_seed(seed)
    H, W = math.ceil(h / pad) * pad, math.ceil(w / pad) * pad
    img = torch.randn(n, 3, H, W, generator=g); img[:, :, h:, :] = 0; img[:, :, :, w:] = 0
    metas, bboxes, labels, masks = [], [], [], []
    for i in range(n):
        xy = torch.rand(k, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
        wh = torch.tensor([w, h]) * (0.1 + 0.3 * torch.rand(k, 2, generator=g))
        b = torch.cat([xy, xy + wh], 1); b[:, 0::2] = b[:, 0::2].clamp(max=w - 1); b[:, 1::2] = b[:, 1::2].clamp(max=h - 1)
        bboxes.append(b.to(device)); labels.append(torch.randint(0, _num_classes(det), (k,), generator=g).to(device))
        metas.append(dict(img_shape=(h, w, 3), pad_shape=(H, W, 3), ori_shape=(h, w, 3), batch_input_shape=(H, W),
                          scale_factor=np.ones(4, np.float32), flip=False, filename=f'rand{i}.png'))
        if _with_mask(det):
            m = np.zeros((k, H, W), np.uint8)
            for j, (x0, y0, x1, y1) in enumerate(b.round().int().tolist()): m[j, y0:y1, x0:x1] = 1
            masks.append(BitmapMasks(m, H, W))
    kw = dict(gt_bboxes=bboxes, gt_labels=labels)
    if masks: kw['gt_masks'] = masks
    return img.to(device), metas, kw


def full_stage_model(row, stage) -> dict:
    "The package's full-scale stage config of `row`, as the runner builds it (mtpd.experiments.experiment_stages), weightless."
    from mtpd.experiments import experiment_stages
    cfg = experiment_stages(row, 'full', teacher_ckpts=['/nonexistent/teacher1.pth', '/nonexistent/teacher2.pth'])[stage - 1].config
    return _weightless(cfg.model)


def _finite(log_vars): return [k for k, v in log_vars.items() if not math.isfinite(v)]


def _first_line(e): return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


# --------------------------------------------------------------------------------------- 1. CUDA ops

def test_cuda_ops_match_references(record):
    import numpy, torch, torchvision, mmcv, mmdet, mtpd
    import torch.nn.functional as F
    from mmcv.ops import DeformConv2d, ModulatedDeformConv2d, RoIAlign, nms, sigmoid_focal_loss
    from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
    # mmcv's build-info functions return C++ strings; seen on the H200 (torch 2.11, CUDA 13, the image's g++):
    # get_compiling_cuda_version() crashed the process (SIGSEGV) while every op ran. Asked in a subprocess, recorded.
    info = subprocess.run([sys.executable, '-c', 'from mmcv.ops import get_compiling_cuda_version as v, get_compiler_version as c; '
                           'print(v(), "|", c())'], capture_output=True, text=True, env=run_env(), timeout=120)
    built = info.stdout.strip() if info.returncode == 0 else f'subprocess exit {info.returncode}'
    record('versions', torch=torch.__version__, cuda=torch.version.cuda, torchvision=torchvision.__version__,
           mmcv=mmcv.__version__, mmcv_ops_cuda_and_compiler=built,
           mmdet=mmdet.__version__, mtpd=mtpd.__version__, numpy=numpy.__version__, gpu=torch.cuda.get_device_name(0))
    d = 'cuda'
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # exact fp32 for comparisons
    try:
        torch.manual_seed(0)
        # nms against torchvision's
        b = torch.rand(500, 2, device=d) * 500; boxes = torch.cat([b, b + 20 + torch.rand(500, 2, device=d) * 100], 1)
        scores = torch.rand(500, device=d)
        _, keep = nms(boxes, scores, 0.5)
        ref = torchvision.ops.nms(boxes, scores, 0.5)
        same_nms = torch.equal(keep.sort().values, ref.sort().values)
        # sigmoid focal loss against mmdet's pure-PyTorch version (summed: mmcv's 'mean' divides by rows only)
        pred = torch.randn(1000, 80, device=d, requires_grad=True); tgt = torch.randint(0, 81, (1000,), device=d)
        loss = sigmoid_focal_loss(pred, tgt, 2.0, 0.25, None, 'sum'); loss.backward()
        g_cuda = pred.grad.clone(); pred.grad = None
        loss_ref = py_sigmoid_focal_loss(pred, F.one_hot(tgt, 81)[:, :80].float(), None, 2.0, 0.25, 'sum'); loss_ref.backward()
        focal_grad_diff = (g_cuda - pred.grad).abs().max().item()
        # DeformConv2d: zero offsets == conv2d; random offsets against mmcv's CPU kernel
        dc = DeformConv2d(16, 32, 3, padding=1).to(d)
        x = torch.randn(2, 16, 40, 56, device=d, requires_grad=True)
        y0 = dc(x, torch.zeros(2, 18, 40, 56, device=d))
        zero_off_diff = (y0 - F.conv2d(x, dc.weight, padding=1)).abs().max().item()
        off = torch.randn(2, 18, 40, 56, device=d) * 2
        y = dc(x, off); y.sum().backward()
        dc_cpu = DeformConv2d(16, 32, 3, padding=1); dc_cpu.load_state_dict(dc.state_dict())
        cpu_diff = (y.detach().cpu() - dc_cpu(x.detach().cpu(), off.cpu())).abs().max().item()
        grad_finite = bool(torch.isfinite(x.grad).all())
        mdc = ModulatedDeformConv2d(16, 32, 3, padding=1).to(d)
        ym = mdc(x, torch.randn(2, 18, 40, 56, device=d), torch.rand(2, 9, 40, 56, device=d)); ym.sum().backward()
        ra = RoIAlign((7, 7), 1 / 8, 0)
        feat = torch.randn(2, 8, 50, 50); rois = torch.tensor([[0, 10, 10, 200, 150], [1, 40, 30, 300, 380.]])
        roi_diff = (ra(feat.cuda(), rois.cuda()).cpu() - ra(feat, rois)).abs().max().item()
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    record('cuda ops', nms_kept=f'{keep.numel()}/500', nms_same_as_torchvision=same_nms,
           focal_loss=f'{loss.item():.6f} (pytorch {loss_ref.item():.6f})', focal_grad_max_diff=f'{focal_grad_diff:.2e}',
           deform_zero_offset_vs_conv2d=f'{zero_off_diff:.2e}', deform_vs_cpu_kernel=f'{cpu_diff:.2e}',
           deform_grad_finite=grad_finite, modulated_deform_shape=tuple(ym.shape), roi_align_vs_cpu=f'{roi_diff:.2e}')
    assert keep.device.type == 'cuda' and same_nms  # mmcv's CUDA nms ran: the ops were built with CUDA
    assert loss.item() == pytest.approx(loss_ref.item(), rel=1e-4) and focal_grad_diff < 1e-5
    assert zero_off_diff < 1e-3 and cpu_diff < 1e-3 and grad_finite
    assert torch.isfinite(ym).all() and roi_diff < 1e-4


# --------------------------------------------------------------------------------------- 2. CLI, dry run

def test_cli_help():
    out = subprocess.run([sys.executable, '-m', 'mtpd.cli', 'progressive', '--help'], capture_output=True, text=True,
                         env=run_env(), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert '--teacher' in out.stdout


def test_dry_run_on_cuda_and_cpu(record):
    "The package's own dry run (256 px) of one row on CUDA and on CPU: same loss terms, all finite."
    from mtpd.experiments import experiment_stages
    from mtpd.train import dry_run
    cfg = experiment_stages(ROW, 'full', teacher_ckpts=['/nonexistent/t1.pth', '/nonexistent/t2.pth'])[0].config
    out, secs = {}, {}
    for device in ('cuda', 'cpu'):
        t = time.time(); out[device] = dry_run(cfg, backward=True, device=device); secs[device] = time.time() - t
    det = [k for k in out['cpu'] if k.startswith('loss_') and not k.startswith('loss_mgd')]
    rel = max(abs(out['cuda'][k] - out['cpu'][k]) / max(abs(out['cpu'][k]), 1e-6) for k in det)
    record('dry_run', row=f'{ROW} stage1', cuda_s=f"{secs['cuda']:.1f}", cpu_s=f"{secs['cpu']:.1f}",
           loss_cuda=f"{out['cuda']['loss']:.3f}", loss_cpu=f"{out['cpu']['loss']:.3f}",
           detection_loss_max_rel_diff=f'{rel:.2e}')
    assert set(out['cuda']) == set(out['cpu'])
    assert len([k for k in out['cuda'] if k.startswith('loss_mgd')]) == 5
    assert not _finite(out['cuda']) and not _finite(out['cpu'])


# --------------------------------------------------------------------------------------- 3. full-scale stages

def test_full_scale_stages_forward_backward(record):
    "Every row and stage at full scale: build, then 2 x (forward_train + backward) of 2 images of 800x1333."
    import torch
    from mtpd.zoo import ROWS
    failed = []
    for row in os.environ.get('MTPD_GPU_ROWS', '').split() or list(ROWS):  # MTPD_GPU_ROWS: some rows only
        for stage in (1, 2):
            name = f"{row} stage{stage} (teacher {ROWS[row]['teachers'][stage - 1]})"
            try:
                m = full_stage_model(row, stage)
                img, metas, kw = batch(m, 'cuda')
                t = time.time(); det = build(m, 'cuda'); tb = time.time() - t
                n_s = sum(p.numel() for p in det.student.parameters()); n_t = sum(p.numel() for p in det.teacher.parameters())
                torch.cuda.reset_peak_memory_stats()
                times = []
                for _ in range(2):
                    torch.cuda.synchronize(); t = time.time()
                    total, lv = det._parse_losses(det.forward_train(img, metas, **kw))
                    total.backward(); torch.cuda.synchronize(); times.append(time.time() - t)
                    det.zero_grad(set_to_none=True)
                mgd = [k for k in lv if k.startswith('loss_mgd')]
                record('full-scale stage', stage=name, build_s=f'{tb:.1f}', params_M=f'{n_s / 1e6:.1f} / {n_t / 1e6:.1f}',
                       step_s=f'{times[0]:.2f} first / {times[1]:.3f} second',
                       peak_GiB=f'{torch.cuda.max_memory_allocated() / 2**30:.2f}', loss=f"{lv['loss']:.3f}",
                       mgd_terms=len(mgd), mgd=f'{sum(lv[k] for k in mgd):.3f}', nonfinite=_finite(lv))
                if _finite(lv): failed.append(f'{name}: non-finite {_finite(lv)}')
                if len(mgd) != (4 if row.startswith('maskrcnn') else 5): failed.append(f'{name}: {len(mgd)} MGD terms')
                del det, total
            except Exception as e:
                import traceback; traceback.print_exc()
                record('full-scale stage', stage=name, failed=_first_line(e)); failed.append(f'{name}: {_first_line(e)}')
            torch.cuda.empty_cache()
    assert not failed, '; '.join(failed)


# --------------------------------------------------------------------------------------- 4. training + evaluation

@pytest.mark.slow
@pytest.mark.parametrize('row', ['reppoints_r101_x101dcn', ROW])
def test_smoke_student_trains_and_evaluates_on_gpu(row, record, tmp_path):
    "A smoke student trained and COCO-evaluated on the GPU through `mtpd experiment --mode baseline --gpus 1` (the user's route)."
    work = tmp_path / 'runs'
    cmd = [sys.executable, '-m', 'mtpd.cli', 'experiment', row, '--scale', 'smoke', '--mode', 'baseline', '--gpus', '1',
           '--work-root', str(work)]
    t = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, env=run_env(), timeout=int(os.environ.get('MTPD_GPU_EXPERIMENT_TIMEOUT', 400)))
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    manifest, = (work / row).glob('*/manifest.json')
    stages = json.loads(manifest.read_text())['stages']
    record('smoke student on GPU', row=row, wall_s=f'{time.time() - t:.1f}', iterations=[s['iterations'] for s in stages],
           bbox_AP=[round(100 * s['metrics'].get('bbox_mAP', 0), 2) for s in stages])
    assert stages and all(0 <= s['metrics']['bbox_mAP'] <= 1 for s in stages)


# --------------------------------------------------------------------------------------- 5. AMP

def test_amp_against_fp32_step_time(record):
    "fp32 and torch.autocast(fp16) training steps of a full-scale RetinaNet R50 <- R101 distiller (timed, not asserted)."
    import torch
    n, warm = int(os.environ.get('MTPD_GPU_AMP_ITERS', 20)), int(os.environ.get('MTPD_GPU_AMP_WARMUP', 5))
    m = full_stage_model(ROW, 1)
    det = build(m, 'cuda')
    img, metas, kw = batch(m, 'cuda')
    params = [p for p in det.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9, weight_decay=1e-4)  # small lr: timing, not training
    scaler = torch.amp.GradScaler('cuda', enabled=True)

    def step(amp):
        opt.zero_grad(set_to_none=True)
        with torch.autocast('cuda', dtype=torch.float16, enabled=amp):
            total, lv = det._parse_losses(det.forward_train(img, metas, **kw))
        if amp:
            scaler.scale(total).backward(); scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, 35); scaler.step(opt); scaler.update()
        else:
            total.backward(); torch.nn.utils.clip_grad_norm_(params, 35); opt.step()
        return lv

    ms, lvs = {}, {}
    for amp in (False, True):
        for _ in range(warm): step(amp)
        torch.cuda.reset_peak_memory_stats(); torch.cuda.synchronize(); t = time.perf_counter()
        for _ in range(n): lvs[amp] = step(amp)
        torch.cuda.synchronize(); ms[amp] = 1000 * (time.perf_counter() - t) / n
        record('amp' if amp else 'fp32', ms_per_iter=f'{ms[amp]:.1f}', iters=n, warmup=warm,
               peak_GiB=f'{torch.cuda.max_memory_allocated() / 2**30:.2f}', last_loss=f"{lvs[amp]['loss']:.3f}")
    record('fp32/amp', time_ratio=f'{ms[False] / ms[True]:.2f}x', cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
           matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32, cudnn_benchmark=torch.backends.cudnn.benchmark)
    assert not _finite(lvs[False]) and not _finite(lvs[True])


# --------------------------------------------------------------------------------------- 6. experiments

@pytest.mark.slow
@pytest.mark.parametrize('launch', ['plain', 'torchrun', 'fp16'])
def test_smoke_experiment_on_gpu(launch, record, tmp_path, mtpd_cache):
    "A smoke progressive experiment: `--gpus 1` in one plain process (also with `--fp16 --teacher-precision bf16`), or one torchrun process (NCCL)."
    work = tmp_path / 'runs'
    args = ['-m', 'mtpd.cli', 'experiment', ROW, '--scale', 'smoke', '--mode', 'progressive', '--work-root', str(work)]
    env = run_env()
    if launch == 'plain':
        cmd = [sys.executable, *args, '--gpus', '1']
    elif launch == 'fp16':  # mixed-precision training (mmcv's fp16 hooks) and a bf16 teacher forward
        cmd = [sys.executable, *args, '--gpus', '1', '--fp16', '--teacher-precision', 'bf16']
    else:
        for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'): env.pop(k, None)
        env['NCCL_DEBUG'] = 'VERSION'
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '1', *args]
    t = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=int(os.environ.get('MTPD_GPU_EXPERIMENT_TIMEOUT', 400)))
    wall = time.time() - t
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    manifest, = (work / ROW).glob('*/manifest.json')
    m = json.loads(manifest.read_text())
    nccl = sorted({l.strip()[:120] for l in log.splitlines() if 'NCCL version' in l or 'backend=' in l})
    record('smoke experiment', launch=launch, wall_s=f'{wall:.1f}', nccl=nccl, stages=[
        dict(stage=s['stage'], teacher=(s.get('teacher') or {}).get('name'), iterations=s['iterations'],
             bbox_AP=round(100 * s['metrics'].get('bbox_mAP', 0), 2), AP50=round(100 * s['metrics'].get('bbox_mAP_50', 0), 2),
             wall_s=s['wall_time_s']) for s in m['stages']])
    for p in sorted(Path(mtpd_cache).glob('experiments/teachers/*/teacher.json')):
        tj = json.loads(p.read_text())
        record('cached teacher', model=tj['model'], scale=tj['scale'], schedule=tj.get('schedule'),
               bbox_AP=f"{100 * tj['metrics'].get('bbox_mAP', 0):.2f}")
    assert [s['stage'] for s in m['stages']] == [1, 2]
    assert all(0 <= s['metrics']['bbox_mAP'] <= 1 for s in m['stages'])
    if launch == 'fp16':  # its own work dir, and the options in every stage config the manifest records
        assert manifest.parent.name == 'progressive-mgd-teacherbf16-fp16-seed0'
        assert all("loss_scale='dynamic'" in s['config'] and "teacher_precision='bf16'" in s['config'] for s in m['stages'])


# --------------------------------------------------------------------------------------- 7. sweep (opt-in)

@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get('MTPD_GPU_SWEEP'), reason='MTPD_GPU_SWEEP names no variants (NAME=ROW:ROLE:SCHEDULE:KEY=V,...)')
def test_sweep_on_gpu(record, tmp_path):
    """Variants of zoo detectors trained side by side on the GPU (the sweep tool's JSON lines, recorded).
    Seen on the H100 (16 cores): 14 variants at once ran at 0.66 s/iteration each, slower than one on the
    project's 2-core CPU (mmdet's per-step Python work, not the GPU, is the limit): keep the jobs few."""
    tool = ROOT / 'tools' / 'sweep.py'
    cmd = [sys.executable, str(tool)] if tool.is_file() else [sys.executable, '-m', 'mtpd.sweep']
    cmd += ['--scale', os.environ.get('MTPD_GPU_SWEEP_SCALE', 'mini'), '--jobs', os.environ.get('MTPD_GPU_SWEEP_JOBS', '4'),
            '--work', str(tmp_path / 'sweep'), '--out', str(tmp_path / 'sweep.jsonl'), *os.environ['MTPD_GPU_SWEEP'].split()]
    out = subprocess.run(cmd, capture_output=True, text=True, env=run_env(),
                         timeout=int(os.environ.get('MTPD_GPU_SWEEP_TIMEOUT', 300)))
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    for line in (tmp_path / 'sweep.jsonl').read_text().splitlines():
        record('sweep', **json.loads(line))
