"""Tests of mtpd.zoo and mtpd.recipes: every paper row at every scale, with real models and MMDetection's own training.

- every smoke and mini model trains one real iteration (mtpd.train.train, i.e. MMDetection's
  train_detector with the project's hooks) on the smoke shapes dataset;
- every row's smoke-scale stage 1 and stage 2 train one iteration as DetectionDistillers, from
  teacher checkpoints written here, stage 2 from the exported stage-1 student;
- every stage config comes from the route the runner takes (`mtpd.experiments.experiment_stages`);
- full-scale configs name MMDetection's zoo checkpoints (checked against the metafiles that ship
  with mmdet and against the APs REFERENCE quotes) and the paper's schedule; bad names fail clearly.
"""
import json, math
from pathlib import Path

import pytest
import torch
import yaml

import mtpd  # noqa: F401  (registers the distiller, MGD and the device-safe heads)
from mtpd.configs import mmdet_config_root
from mtpd.data import CLASSES
from mtpd.data import ensure_shapes
from mtpd.mechanisms import MECHANISMS, distill_loss
from mtpd.experiments import experiment_stages
from mtpd.recipes import _schedule, baseline_config, model_config, teacher_config, training_config
from mtpd.scales import SCALES, get_scale
from mtpd.train import dry_run
from mtpd.zoo import MODELS, ROLES, ROWS, model_name, teacher_checkpoint, zoo_entry

SMALL = ('smoke', 'mini')
TWO_STAGE_ROWS = ('maskrcnn_cascade', 'maskrcnn_swin')


def _role_of(name):
    "(row, role) of the first row that uses model `name`."
    for row, r in ROWS.items():
        for role in ROLES:
            if model_name(row, role) == name: return row, role
    raise KeyError(name)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    "The smoke shapes dataset, generated once for the module (recipes only name it: whoever trains makes it)."
    root = tmp_path_factory.mktemp('data')
    ensure_shapes(root, 'smoke', progress=False)
    return root


def _one_iteration(cfg, work_dir):
    "Train `cfg` for exactly one iteration with the project's trainer (MMDetection's train_detector); return the logged losses."
    from mtpd.train import train
    cfg.runner = dict(type='IterBasedRunner', max_iters=1)
    cfg.log_config.interval = 1
    cfg.log_level = 'WARNING'
    train(cfg, work_dir, seed=0)
    logs = sorted(Path(work_dir).glob('*.log.json'))
    assert logs, f"no training log in {work_dir}"
    rows = [json.loads(l) for l in logs[-1].read_text().splitlines() if l.strip()]
    train_rows = [r for r in rows if r.get('mode') == 'train']
    assert train_rows and train_rows[-1]['iter'] == 1
    assert (Path(work_dir) / 'iter_1.pth').is_file()
    return train_rows[-1]


# ---------------------------------------------------------------------------------------------
# Small scales: every model trains one real iteration

SMALL_MODELS = [(scale, name) for scale in SMALL for name in MODELS]


@pytest.mark.slow
@pytest.mark.parametrize('scale,name', SMALL_MODELS, ids=[f'{s}-{n}' for s, n in SMALL_MODELS])
def test_small_model_trains_one_iteration(scale, name, data_root, tmp_path):
    row, role = _role_of(name)
    model = model_config(row, role, scale)
    # the model of `scale` on the (small, fast) smoke dataset
    cfg = training_config(model, 'smoke', data_root=data_root)
    log = _one_iteration(cfg, tmp_path)
    assert math.isfinite(log['loss']) and log['loss'] > 0
    assert any(k.startswith('loss_') or '.loss_' in k for k in log)


def test_small_models_keep_structure():
    "Small analogues: the full config's detector and heads, six classes, no ImageNet weights, stems frozen only where pretrained."
    for scale in SMALL:
        for row in ROWS:
            for role in ROLES:
                full, small = model_config(row, role), model_config(row, role, scale)
                assert small.type == full.type and small.neck.num_outs == full.neck.num_outs
                assert small.get('bbox_head', {}).get('type') == full.get('bbox_head', {}).get('type')
                assert 'pretrained' not in small and 'init_cfg' not in small.backbone
                heads = [small.bbox_head] if 'bbox_head' in small else (
                    list(small.roi_head.bbox_head) if isinstance(small.roi_head.bbox_head, list)
                    else [small.roi_head.bbox_head])
                assert all(h.num_classes == len(CLASSES) for h in heads)
                if small.backbone.type in ('ResNet', 'ResNeXt', 'ZeroInitResNeXt'):  # the paper's frozen stem where pretrained
                    frozen = (1, False) if get_scale(scale).pretrain else (-1, False)  # BatchNorm tracks statistics
                    assert (small.backbone.frozen_stages, small.backbone.norm_eval) == frozen
                if full.backbone.get('dcn'):  # mmcv's DCN whose offsets start at zero (mtpd.backbones)
                    assert full.backbone.dcn.type == 'DCN'
                    assert small.backbone.dcn == dict(type='ZeroOffsetDCN', deform_groups=1, fallback_on_stride=False)
                    assert tuple(small.backbone.stage_with_dcn) == (False, True, True, True)
    # as in the paper: the first teacher is deeper than the student, the second wider (ResNeXt) or deeper (Swin)
    def inner(bb): return bb.groups * bb.base_width if 'ResNeXt' in bb.type else bb.base_channels
    for scale in SMALL:
        for row in ROWS:
            s, t1, t2 = (model_config(row, r, scale).backbone for r in ROLES)
            assert s.depth == 18 and (t1.get('depth', 0) > 18 or t1.type == 'SwinTransformer')
            if t2.type == 'SwinTransformer': assert sum(t2.depths) > sum(t1.depths) and t2.embed_dims == t1.embed_dims
            else: assert t2.type == 'ZeroInitResNeXt' and t2.depth >= t1.depth and inner(t2) > inner(t1)


def test_small_schedules(data_root):
    "Iteration-based, the paper's steps at the same fractions, 2x = twice 1x, warm-up, ~3 checkpoints."
    for scale in SMALL:
        ipe = SCALES[scale].iters_per_epoch
        model = model_config('maskrcnn_swin', 'student', scale)
        c1 = training_config(model, 'smoke', data_root=data_root)  # smoke data: schedules do not depend on it
        runner, lr = _schedule(get_scale(scale), '1x')
        assert runner == dict(type='IterBasedRunner', max_iters=12 * ipe)
        assert lr['step'] == [8 * ipe, 11 * ipe] and lr['by_epoch'] is False and lr['warmup'] == 'linear'
        assert 0 < lr['warmup_iters'] < 8 * ipe and lr['warmup_ratio'] == 0.001
        runner2, lr2 = _schedule(get_scale(scale), '2x')
        assert runner2['max_iters'] == 2 * runner['max_iters'] and lr2['step'] == [16 * ipe, 22 * ipe]
    assert c1.runner == dict(type='IterBasedRunner', max_iters=12 * SCALES['smoke'].iters_per_epoch)


def test_smoke_training_config(data_root):
    cfg = training_config(model_config('maskrcnn_cascade', 'student', 'smoke'), 'smoke', data_root=data_root)
    n = cfg.runner.max_iters
    # AdamW on a CPU budget; deformable convolutions' offsets at a tenth of the rate (mtpd.scales.OFFSET_LR_MULT)
    assert cfg.optimizer == dict(type='AdamW', lr=2e-3, weight_decay=0.05, paramwise_cfg=dict(dcn_offset_lr_mult=0.1))
    assert cfg.optimizer_config == dict(grad_clip=dict(max_norm=35, norm_type=2))
    assert 2 <= n // cfg.checkpoint_config.interval <= 4 and cfg.checkpoint_config.max_keep_ckpts >= 1
    assert [h['type'] for h in cfg.log_config.hooks] == ['TextLoggerHook', 'TensorboardLoggerHook']
    assert cfg.evaluation.metric == ['bbox', 'segm'] and cfg.data.train.pipeline[1]['with_mask']
    assert cfg.find_unused_parameters and cfg.workflow == [('train', 1)] and 'dist_params' not in cfg
    assert training_config(model_config('reppoints_r101_x101dcn', 'student', 'smoke'), 'smoke',
                           data_root=data_root).optimizer.type == 'AdamW'


# ---------------------------------------------------------------------------------------------
# Small scales: every row's two progressive stages train one iteration as distillers

@pytest.fixture(scope='module')
def teacher_ckpts(tmp_path_factory):
    "A checkpoint of every smoke teacher (random weights, written as MMDetection writes them)."
    from mmcv.runner import save_checkpoint
    from mmdet.models import build_detector
    d = tmp_path_factory.mktemp('teachers')
    out = {}
    for row in ROWS:
        for i in (1, 2):
            name = model_name(row, i)
            if name not in out:
                torch.manual_seed(i)
                model = build_detector(model_config(row, i, 'smoke'))
                save_checkpoint(model, str(d / f'{name}.pth'), meta=dict(CLASSES=CLASSES))
                out[name] = d / f'{name}.pth'
    return out


@pytest.mark.slow
@pytest.mark.parametrize('row', list(ROWS))
def test_smoke_stages_train(row, data_root, teacher_ckpts, tmp_path):
    from mtpd.weights import export_student
    ckpts = [str(teacher_ckpts[model_name(row, i)]) for i in (1, 2)]
    s1, s2 = experiment_stages(row, 'smoke', data_root=data_root, teacher_ckpts=ckpts, work_root=tmp_path)
    c1, c2 = s1.config, s2.config
    assert c1.model.inherit_teacher and c1.model.student_ckpt is None
    log1 = _one_iteration(c1, tmp_path / 'stage1')
    mgd = [k for k in log1 if k.startswith('loss_mgd')]
    # Mask R-CNN distills its 4 FPN outputs (P2-P5); a one-stage row at a small scale P3-P6, not its one-position P7
    assert len(mgd) == 4 == len(c1.model.get('distill_levels') or range(4))
    export_student(tmp_path / 'stage1' / 'iter_1.pth', s2.start)  # where the runner exports stage 1
    assert not c2.model.inherit_teacher and c2.model.student_ckpt == str(s2.start)
    log2 = _one_iteration(c2, tmp_path / 'stage2')
    assert math.isfinite(log2['loss']) and len([k for k in log2 if k.startswith('loss_mgd')]) == len(mgd)


def test_smoke_stage1_inherits_matching_weights(teacher_ckpts, data_root):
    "At small scale student and teacher necks/heads have the same shapes, so stage 1 inherits them."
    from mmdet.models import build_detector
    from mtpd.pretrain import ensure_pretrained_backbones
    for row in ('retinanet_r101_x101', 'maskrcnn_cascade', 'reppoints_r101_x101dcn'):
        cfg = experiment_stages(row, 'smoke', data_root=data_root,
                                teacher_ckpts=[str(teacher_ckpts[model_name(row, i)]) for i in (1, 2)])[0].config
        ensure_pretrained_backbones(cfg)  # the student's backbone starts from its pretrained checkpoint
        model = build_detector(cfg.model)
        model.init_weights()
        s, t = model.student.state_dict(), model.teacher.state_dict()
        same = [k for k in s if not k.startswith('backbone.') and k in t and s[k].shape == t[k].shape]
        assert all(torch.equal(s[k], t[k]) for k in same)
        assert any(k.startswith('neck.fpn_convs.0') for k in same)  # the distilled FPN outputs
        heads = [k for k in same if k.startswith(('bbox_head.', 'rpn_head.'))]
        assert heads and len(heads) == len([k for k in s if k.startswith(('bbox_head.', 'rpn_head.'))])
        if row == 'maskrcnn_cascade':  # cascade stage 0 -> the student's single RoI head
            assert torch.equal(s['roi_head.bbox_head.fc_cls.weight'], t['roi_head.bbox_head.0.fc_cls.weight'])
            assert torch.equal(s['roi_head.mask_head.convs.0.conv.weight'], t['roi_head.mask_head.0.convs.0.conv.weight'])


# ---------------------------------------------------------------------------------------------
# Full scale: zoo checkpoints, schedules (every full-scale stage's dry run goes through `mtpd reproduce --dry-run` in
# tests/test_full_scale.py, the route users take)

def test_dry_run_plain_detector_with_backward():
    out = dry_run(baseline_config('retinanet_r101_x101', 'full'), img_size=128, backward=True)
    assert {'loss_cls', 'loss_bbox', 'loss'} <= set(out) and not any(k.startswith('loss_mgd') for k in out)


def _metafile_weights(config):
    "The Weights of the metafile entry for `config`, read independently of mtpd.zoo."
    path = mmdet_config_root() / Path(config).parent / 'metafile.yml'
    models = yaml.safe_load(path.read_text())['Models']
    hits = [m for m in models if m['Config'] == f'configs/{config}']
    assert len(hits) == 1, config
    m = hits[0]
    metrics = {k: v for r in m['Results'] for k, v in r['Metrics'].items()}
    return m['Weights'], metrics


# Teacher APs quoted in REFERENCE section 2 (box, mask): they identify the zoo entries.
REFERENCE_TEACHER_AP = {
    'retinanet_r101': (41.0, None), 'retinanet_x101_64x4d': (41.6, None),
    'cascade_mask_rcnn_r50_dcn': (44.4, 38.6), 'cascade_mask_rcnn_x101_32x4d_dcn': (47.3, 41.1),
    'mask_rcnn_swin_t': (46.0, 41.7), 'mask_rcnn_swin_s': (48.2, 43.2),
    'reppoints_r101': (40.5, None), 'reppoints_x101_dcn': (44.2, None),
}


@pytest.mark.parametrize('row', list(ROWS))
def test_full_zoo_checkpoints(row):
    for i in (1, 2):
        name = model_name(row, i)
        url = teacher_checkpoint(row, i, 'full')
        assert teacher_checkpoint(row, i, 'smoke') is None and teacher_checkpoint(row, i, 'mini') is None
        if name.startswith('retinanet_swin'):  # the authors trained their own: not in MMDetection's zoo
            assert url is None and zoo_entry(name) is None
            assert experiment_stages(row, 'full')[i - 1].config.model.teacher_ckpt is None  # the CLI asks for --teacher-ckpt
            continue
        weights, metrics = _metafile_weights(MODELS[name]['config'])
        assert url == weights and url.startswith('https://download.openmmlab.com/mmdetection/v2.0/')
        box, mask = REFERENCE_TEACHER_AP[name]
        assert metrics['box AP'] == box and metrics.get('mask AP') == mask
        cfg = experiment_stages(row, 'full')[i - 1].config
        assert cfg.model.teacher_ckpt == weights
    d = experiment_stages(row, 'full', 'direct')[0].config
    assert d.model.teacher == experiment_stages(row, 'full')[1].config.model.teacher


@pytest.mark.parametrize('row', list(ROWS))
def test_full_paper_schedule(row):
    "On 8 processes a full-scale stage is the paper's recipe exactly (fewer processes: see tests/test_full_scale.py)."
    two = row in TWO_STAGE_ROWS
    kw = dict(teacher_ckpts=['t1.pth', 't2.pth'], work_root='/w', processes=8)
    c1, c2 = (st.config for st in experiment_stages(row, 'full', **kw))
    for cfg in (c1, c2):
        assert cfg.runner == dict(type='EpochBasedRunner', max_epochs=12)
        assert cfg.lr_config == dict(policy='step', warmup='linear', warmup_iters=500, warmup_ratio=0.001, step=[8, 11])
        assert cfg.optimizer == dict(type='SGD', lr=0.02 if two else 0.01, momentum=0.9, weight_decay=1e-4)
        assert cfg.optimizer_config == dict(grad_clip=dict(max_norm=35, norm_type=2))
        assert cfg.data.samples_per_gpu == 2 and SCALES['full'].gpus == 8
        assert cfg.find_unused_parameters is True and cfg.dist_params == dict(backend='nccl')
        assert cfg.evaluation.metric == (['bbox', 'segm'] if two else ['bbox'])
        assert cfg.model.distill_loss == distill_loss('mgd', 'two_stage' if two else 'one_stage')
    assert (c1.model.inherit_teacher, c1.model.student_ckpt) == (True, None)
    assert (c2.model.inherit_teacher, c2.model.student_ckpt) == (False, f'/w/{row}/progressive-mgd-seed0/stage1/student.pth')
    d = experiment_stages(row, 'full', 'direct', **kw)[0].config
    assert d.runner.max_epochs == 24 and d.lr_config.step == [16, 22]
    assert d.model.teacher == c2.model.teacher  # the strongest teacher
    assert d.model.inherit_teacher == (not two)  # as MGD's published direct configs
    b = baseline_config(row)
    assert b.model.type != 'DetectionDistiller' and b.runner.max_epochs == 12
    assert b.data.train.ann_file == 'data/coco/annotations/instances_train2017.json'


def test_mgd_settings_are_the_papers_and_scale_with_the_gain():
    "One source: the registry holds REFERENCE section 3's values; small scales multiply only the loss weight."
    assert MECHANISMS['mgd'].defaults == dict(one_stage=dict(alpha_mgd=2e-5, lambda_mgd=0.65),
                                              two_stage=dict(alpha_mgd=5e-7, lambda_mgd=0.45))
    c = experiment_stages('maskrcnn_cascade', 'smoke', data_root='/nowhere', teacher_ckpts=['t1.pth', 't2.pth'])[0].config
    assert c.model.distill_loss == dict(type='MGDLoss', alpha_mgd=5e-7 * MECHANISMS['mgd'].small_gain['two_stage'], lambda_mgd=0.45)


def test_full_models_are_mmdetection_configs():
    from mtpd.configs import load_mmdet_config, resolve_pretrained
    for name, spec in MODELS.items():
        row, role = _role_of(name)
        m = model_config(row, role, 'full')
        ref = resolve_pretrained(load_mmdet_config(spec['config']).model)  # R101/X101 3x: `pretrained` wins
        assert m.type == ref.type and m.neck == ref.neck
        if name == 'retinanet_swin_s':
            assert m.backbone.depths == [2, 2, 18, 2] and 'swin_small' in m.backbone.init_cfg.checkpoint
        else:
            assert m.backbone == ref.backbone
    assert model_config('reppoints_r101_x101dcn', 'teacher2').bbox_head.type == 'DeviceSafeRepPointsHead'


# ---------------------------------------------------------------------------------------------
# Bad names

@pytest.mark.parametrize('call,message', [
    (lambda: model_config('retinanet', 'student'), "unknown row 'retinanet'; valid rows: retinanet_r101_x101, retinanet_swin, maskrcnn_cascade, maskrcnn_swin, reppoints_r101_x101dcn"),
    (lambda: model_config('retinanet_swin', 'teacher', 'full'), "unknown role 'teacher'; valid roles: student, teacher1, teacher2"),
    (lambda: model_config('retinanet_swin', 'student', 'large'), "unknown scale 'large'; valid scales: smoke, mini, full"),
    (lambda: experiment_stages('retinanet_swin', 'full', mechanism='kd'), "unknown mechanism 'kd'; available: mgd, cwd, fgd"),
    (lambda: experiment_stages('retinanet_swin', 'full', 'greedy'), "unknown mode 'greedy'; valid modes: progressive, direct, baseline"),
    (lambda: baseline_config('retinanet_swin', schedule='4x'), "unknown schedule '4x'; valid schedules: 1x, 2x, 3x, 6x"),
    (lambda: teacher_checkpoint('maskrcnn_swin', 0), "unknown teacher index 0; valid teacher indices: 1, 2"),
    (lambda: teacher_config('maskrcnn_swin', 3, 'smoke'), "unknown teacher index 3; valid teacher indices: 1, 2"),
    (lambda: zoo_entry('resnet50'), "unknown model 'resnet50'; valid models: retinanet_r50"),
    (lambda: experiment_stages('maskrcnn_swin', 'mini', rehearsal=True), "a rehearsal rehearses the full scale"),
    (lambda: experiment_stages('maskrcnn_swin', 'full', processes=5), "5 processes x 2 images cannot make the full-scale batch"),
])
def test_bad_names_fail_clearly(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert message in str(e.value) and '\n' not in str(e.value)
