"""One real mmcv training iteration of a DetectionDistiller through MMDetection's own `train_detector`.

The distiller must need no change to MMDetection's training path: the test builds the model with
`build_detector` and calls `mmdet.apis.train_detector` directly (not mtpd's wrapper).
"""
import copy

import pytest
import torch
from mmcv import Config

import mtpd  # noqa: F401  (registers the distiller)
from conftest import tiny_model

pytestmark = pytest.mark.slow  # each test trains a distiller (MMDetection train_detector)

FAMILIES = {  # student config, teacher config (the paper's pairing of detector types)
    'retinanet': ('retinanet/retinanet_r50_fpn_1x_coco.py', 'retinanet/retinanet_r50_fpn_1x_coco.py'),
    'mask_rcnn': ('mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py', 'dcn/cascade_mask_rcnn_r50_fpn_dconv_c3-c5_1x_coco.py'),
    'reppoints': ('reppoints/reppoints_moment_r50_fpn_gn-neck+head_1x_coco.py',) * 2,
}


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    from mtpd.data import ensure_shapes
    return ensure_shapes(tmp_path_factory.mktemp('data'), 'smoke', progress=False)


@pytest.mark.parametrize('family', list(FAMILIES))
def test_one_train_detector_iteration(family, shapes, tmp_path):
    from mmdet.apis import train_detector
    from mmdet.datasets import build_dataset
    from mmdet.models import build_detector
    from mtpd.data import CLASSES, shapes_data_config
    s, t = FAMILIES[family]
    n = len(CLASSES)
    model_cfg = dict(type='DetectionDistiller', student=tiny_model(s, num_classes=n),
                     teacher=tiny_model(t, depth=50, fpn_channels=24, num_classes=n))
    cfg = Config(dict(
        model=model_cfg, data=shapes_data_config(shapes, img_size=128, samples_per_gpu=2, with_mask=family == 'mask_rcnn'),
        optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
        optimizer_config=dict(grad_clip=dict(max_norm=35, norm_type=2)),
        lr_config=dict(policy='fixed'), runner=dict(type='IterBasedRunner', max_iters=1),
        checkpoint_config=dict(interval=1, by_epoch=False),
        log_config=dict(interval=1, hooks=[dict(type='TextLoggerHook', by_epoch=False)]),
        work_dir=str(tmp_path), device='cpu', gpu_ids=[0], seed=0, resume_from=None, load_from=None,
        workflow=[('train', 1)], log_level='WARNING', find_unused_parameters=True))
    model = build_detector(cfg.model)
    model.init_weights()
    datasets = [build_dataset(cfg.data.train)]
    model.CLASSES = datasets[0].CLASSES
    student0 = copy.deepcopy(model.student.state_dict())
    teacher0 = copy.deepcopy(model.teacher.state_dict())
    train_detector(model, datasets, cfg, distributed=False, validate=False)

    changed = [k for k, v in model.student.state_dict().items()
               if v.dtype.is_floating_point and not torch.equal(v, student0[k])]
    assert any(k.startswith('neck.') for k in changed) and any(k.startswith('backbone.') for k in changed)
    teacher1 = model.teacher.state_dict()
    assert all(torch.equal(teacher1[k], teacher0[k]) for k in teacher0)  # bit-identical, buffers included
    assert not model.teacher.training
    ckpt = torch.load(tmp_path / 'latest.pth', map_location='cpu', weights_only=False)
    assert {k.split('.')[0] for k in ckpt['state_dict']} == {'student', 'distill_losses'}
    # the log shows one MGD term per distilled FPN level next to the detection losses
    import json
    rec = [json.loads(l) for f in tmp_path.glob('*.log.json') for l in f.read_text().splitlines()][-1]
    assert len([k for k in rec if k.startswith('loss_mgd_fpn')]) == {'retinanet': 5, 'mask_rcnn': 4, 'reppoints': 5}[family]
