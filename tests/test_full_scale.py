"""The full-scale path through the route users take: `mtpd config`, `mtpd experiment`, `mtpd reproduce` and
MMDetection's own `tools/train.py`, on full-size models from MMDetection's shipped configs.

No GPU, COCO or model-zoo weights here: the rehearsal (`mtpd.rehearsal`) stands in for them with a COCO-layout
dataset and zoo-format checkpoints the project writes, and runs the exact full-scale configs for a few iterations."""
import json, subprocess, sys, time
from pathlib import Path

import pytest
from mmcv import Config

from conftest import run_env

ROWS = ('retinanet_r101_x101', 'retinanet_swin', 'maskrcnn_cascade', 'maskrcnn_swin', 'reppoints_r101_x101dcn')


def mtpd(*args, cwd=None, timeout=None):
    "`python -m mtpd.cli ARGS` in a real process with the project's environment."
    return subprocess.run([sys.executable, '-m', 'mtpd.cli', *map(str, args)], capture_output=True, text=True,
                          env=run_env(), cwd=cwd, timeout=timeout)


def written_config(tmp_path, *args) -> Config:
    "The config `mtpd config ARGS` writes (in this process: the CLI's `main`)."
    from mtpd.cli import main
    out = tmp_path / f'cfg{len(list(tmp_path.glob("cfg*.py")))}.py'
    assert main(['config', *map(str, args), '--out', str(out)]) == 0
    return Config.fromfile(str(out))


@pytest.mark.parametrize('policy', ['accumulate', 'scale-lr'])
def test_batch_and_rate_per_process_count(tmp_path, policy):
    "16 images per step at the paper's rate (accumulate) or the rate scaled to the batch (scale-lr), warm-up kept in images."
    rows = []
    for n in (1, 2, 4, 8):
        cfg = written_config(tmp_path, 'maskrcnn_cascade', '--gpus', n, '--batch-policy', policy)
        k = cfg.optimizer_config.get('cumulative_iters', 1)
        rows.append((n, cfg.data.samples_per_gpu, k, n * cfg.data.samples_per_gpu * k, cfg.optimizer.lr,
                     cfg.lr_config.warmup_iters, cfg.optimizer_config.grad_clip.max_norm))
    print('\n'.join(f"{policy}: {r}" for r in rows))
    if policy == 'accumulate':
        assert rows == [(1, 2, 8, 16, 0.02, 4000, 35), (2, 2, 4, 16, 0.02, 2000, 35), (4, 2, 2, 16, 0.02, 1000, 35),
                        (8, 2, 1, 16, 0.02, 500, 35)]
    else:
        assert rows == [(1, 2, 1, 2, 0.0025, 4000, 35), (2, 2, 1, 4, 0.005, 2000, 35), (4, 2, 1, 8, 0.01, 1000, 35),
                        (8, 2, 1, 16, 0.02, 500, 35)]


def test_direct_inheritance_per_family_as_published(tmp_path):
    "MGD's published direct configs inherit the teacher's neck/heads for RetinaNet and RepPoints, not Mask R-CNN."
    got = {r: written_config(tmp_path, r, '--mode', 'direct', '--teacher-ckpt', __file__).model.inherit_teacher
           for r in ('retinanet_r101_x101', 'reppoints_r101_x101dcn', 'maskrcnn_cascade')}
    assert got == {'retinanet_r101_x101': True, 'reppoints_r101_x101dcn': True, 'maskrcnn_cascade': False}
    assert written_config(tmp_path, 'maskrcnn_cascade').model.inherit_teacher is True  # progressive stage 1: all rows


def test_stock_configs_build_and_get_clipping(tmp_path, root):
    """MMDetection's own configs through `mtpd progressive`: the R101 3x teacher (model-level `pretrained` over the
    backbone's `init_cfg`, which MMDetection 2.28 itself refuses to build) builds, and the stock student, which does
    not clip, is clipped at max_norm 35."""
    from mtpd.configs import mmdet_config_root
    cfgs = mmdet_config_root()
    out = mtpd('progressive', cfgs / 'retinanet/retinanet_r50_fpn_1x_coco.py',
               '--teacher', f"{cfgs / 'retinanet/retinanet_r101_fpn_mstrain_640-800_3x_coco.py'}=r101.pth",
               '--work-dir', tmp_path / 'w', '--dry-run')
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("stage 1/1 (teacher retinanet_r101_fpn_mstrain_640-800_3x_coco): forward_train ok, "
                          "8 loss terms (5 distillation), gradient clipping added\n")


# loss terms of a dry-run stage besides the distillation ones: the family's detection losses and the total `loss`
# (RetinaNet: cls, bbox; RepPoints: cls, pts_init, pts_refine; Mask R-CNN: rpn_cls, rpn_bbox, cls, acc, bbox, mask)
DETECTION_TERMS = {'retinanet': 3, 'reppoints': 4, 'maskrcnn': 7}
LEVELS = {'retinanet': 5, 'reppoints': 5, 'maskrcnn': 4}  # FPN levels distilled (Mask R-CNN: P2-P5; its P6 is a max-pool)


def test_dry_run_every_row_and_mode():
    """`mtpd reproduce --scale full --dry-run`: every stage of every table, built by the run's route, one forward_train
    each, with the family's detection losses and the mechanism's loss at every FPN level (none for the baselines)."""
    t0 = time.time()
    out = mtpd('reproduce', '--scale', 'full', '--dry-run', '--gpus', 2)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    print('\n'.join(lines), f"\n{time.time() - t0:.0f} s")
    ok = [l for l in lines if 'forward_train ok' in l]
    # main table: 5 rows x 2 stages (MGD); direct vs progressive adds, for its 3 rows, the baseline, MGD's direct,
    # and CWD's and FGD's direct (1 stage) and progressive (2 stages)
    assert len(ok) == 10 + 3 * (1 + 1 + 2 * 3), lines
    for row in ROWS: assert sum(f' {row} progressive mgd ' in l for l in ok) == 2
    for row in ('retinanet_r101_x101', 'reppoints_r101_x101dcn', 'maskrcnn_cascade'):
        assert any(f' {row} baseline stage 1/1' in l for l in ok)
        for mech in ('mgd', 'cwd', 'fgd'):
            assert any(f' {row} direct {mech} stage 1/1' in l for l in ok)
            assert sum(f' {row} progressive {mech} ' in l for l in ok) == 2
    for l in ok:
        family = next(f for f in DETECTION_TERMS if f' {f}' in l)
        n = 0 if ' baseline ' in l else LEVELS[family]
        assert f'forward_train ok, {DETECTION_TERMS[family] + n} loss terms ({n} distillation), loss ' in l, l


def test_dry_run_of_one_experiment_with_a_mechanism():
    "`mtpd experiment ROW --scale full --dry-run --mechanism M`: the command's own flag reaches the stage it builds."
    out = mtpd('experiment', 'maskrcnn_cascade', '--scale', 'full', '--mode', 'direct', '--mechanism', 'fgd', '--dry-run')
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("maskrcnn_cascade direct stage 1/1 (teacher cascade_mask_rcnn_x101_32x4d_dcn): "
                          "forward_train ok, 11 loss terms (4 distillation), gradient clipping added\n"), out.stdout


def _check_rehearsed(manifest, stages):
    "Every stage of a rehearsed run: 16 images per step from 1 process x 2 images x 8 accumulated, 2 iterations per epoch."
    assert [s['stage'] for s in manifest['stages']] == list(range(1, stages + 1))
    for s in manifest['stages']:
        assert s['batch'] == dict(processes=1, images_per_process=2, accumulation=8, effective_batch=16, lr=s['batch']['lr'])
        assert s['iterations'] == 2 * s['schedule_factor']  # 4 train images, 2 per iteration, one epoch per 1x
        assert 'bbox_mAP' in s['metrics']


@pytest.mark.slow
def test_rehearsal_one_row(tmp_path):
    """`mtpd experiment retinanet_r101_x101 --scale full --rehearsal`: full-size RetinaNet R50 with the R101 and X101
    teachers (zoo-format checkpoints), 1333x800 pipelines, 16 images per step by accumulation, COCO evaluation."""
    t0 = time.time()
    out = mtpd('experiment', 'retinanet_r101_x101', '--scale', 'full', '--rehearsal', '--work-root', tmp_path / 'runs')
    wall = time.time() - t0
    print(out.stdout[-3000:], f"\nrehearsal of retinanet_r101_x101: {wall:.0f} s")
    assert out.returncode == 0, out.stderr[-3000:]
    manifest = json.loads((tmp_path / 'runs' / 'retinanet_r101_x101' / 'progressive-mgd-seed0' / 'manifest.json').read_text())
    _check_rehearsed(manifest, 2)
    teachers = [s['teacher']['checkpoint'] for s in manifest['stages']]
    assert [Path(t).name for t in teachers] == ['retinanet_r101_fpn_mstrain_3x_coco_20210720_214650-7ee888e0.pth',
                                                'retinanet_x101_64x4d_fpn_mstrain_3x_coco_20210719_051838-022c2187.pth']
    assert manifest['stages'][0]['batch']['lr'] == 0.01
    # the stage ran the full-scale config: 1333x800 pipeline, 8 x 2 images per step
    cfg = manifest['stages'][0]['config']
    assert '(1333, 800)' in cfg and 'GradientCumulativeOptimizerHook' in cfg


def test_mtpd_config_pretrains_whatever_the_callers_threads(tmp_path):
    """`mtpd config` makes the pretrained backbone its file names at the scale's thread count, as training does: the
    cache is keyed by content, not threads, so one and two caller threads must give the same bytes (they did not)."""
    import torch
    made = []
    for threads in (1, 2):
        cache = tmp_path / f'cache{threads}'
        out = subprocess.run([sys.executable, '-m', 'mtpd.cli', 'config', 'retinanet_r101_x101', '--scale', 'smoke',
                              '--mode', 'baseline', '--out', str(tmp_path / f'c{threads}.py')], capture_output=True,
                             text=True, env=dict(run_env(), MTPD_CACHE=str(cache), OMP_NUM_THREADS=str(threads)))
        assert out.returncode == 0, out.stderr[-3000:]
        [ckpt] = (cache / 'data' / 'pretrained').glob('*/*.pth')
        made.append(torch.load(ckpt, map_location='cpu'))
    a, b = (m.get('state_dict', m) for m in made)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_mtpd_config_trains_with_mmdetection_tools(tmp_path):
    """A `mtpd config` file is accepted as is by MMDetection's own `tools/train.py` (one iteration of a smoke-scale
    distillation stage with a teacher checkpoint written by the project) and `tools/test.py` takes the plain one."""
    from mtpd.configs import mmdet_config_root
    from mtpd.recipes import model_config
    from mtpd.rehearsal import zoo_checkpoint
    # `mtpd config` itself makes what the file names and MMDetection cannot make: the shapes and the pretrained backbone
    teacher = zoo_checkpoint('retinanet_r101', tmp_path, model=model_config('retinanet_r101_x101', 1, 'smoke').to_dict())
    cfg = tmp_path / 'stage1.py'
    made = mtpd('config', 'retinanet_r101_x101', '--scale', 'smoke', '--teacher-ckpt', teacher, '--out', cfg)
    assert made.returncode == 0, made.stderr
    tools = mmdet_config_root().parent / 'tools'
    t0 = time.time()
    out = subprocess.run([sys.executable, str(tools / 'train.py'), str(cfg), '--work-dir', str(tmp_path / 'work'),
                          '--cfg-options', 'runner.max_iters=1', 'checkpoint_config.interval=1', 'log_config.interval=1',
                          '--no-validate'],
                         capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    print(out.stdout[-2000:], out.stderr[-2000:], f"\ntools/train.py: {time.time() - t0:.0f} s")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / 'work' / 'iter_1.pth').is_file()
    log = next((tmp_path / 'work').glob('*.log.json')).read_text()
    assert 'loss_mgd_fpn0' in log  # a distillation stage: the MGD losses of the distiller mtpd registered
    # the artifact's workflow: export the student, evaluate it with tools/test.py and the plain config
    assert mtpd('export-student', tmp_path / 'work' / 'iter_1.pth', tmp_path / 'student.pth').returncode == 0
    plain = tmp_path / 'plain.py'
    assert mtpd('config', 'retinanet_r101_x101', '--scale', 'smoke', '--plain', '--teacher-ckpt', teacher, '--out', plain).returncode == 0
    out = subprocess.run([sys.executable, str(tools / 'test.py'), str(plain), str(tmp_path / 'student.pth'), '--eval', 'bbox'],
                         capture_output=True, text=True, env=run_env(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'Evaluating bbox' in out.stdout  # (a student of one iteration detects nothing yet: COCO then reports no AP)


@pytest.mark.rehearsal
def test_rehearsal_reproduce_all_rows(tmp_path):
    """`mtpd reproduce --scale full --rehearsal`: every row through the real table notebooks, the released-students
    table and the report's figures (the Cascade and RepPoints DCN teachers have legacy offset-conv key names)."""
    t0 = time.time()
    out = mtpd('reproduce', '--scale', 'full', '--rehearsal', '--work-root', tmp_path / 'runs')
    print(out.stdout[-3000:], f"\nrehearsal of every table: {time.time() - t0:.0f} s")
    assert out.returncode == 0, out.stderr[-3000:]
    figs = tmp_path / 'runs' / 'figures'
    for name in ('main_results', 'direct_vs_progressive', 'released'):
        assert (figs / f'{name}.json').is_file() and (figs / f'{name}.md').is_file()
    assert {r['row'] for r in json.loads((figs / 'main_results.json').read_text())['rows']} == set(ROWS)
    assert list(figs.glob('*.png'))
    for row in ROWS:
        _check_rehearsed(json.loads((tmp_path / 'runs' / row / 'progressive-mgd-seed0' / 'manifest.json').read_text()), 2)
