import os, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session')
def root(): return ROOT

def run_env():
    "Environment for subprocesses: the project's python first on PATH, quiet, 2 threads."
    env = dict(os.environ)
    env['PATH'] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault('OMP_NUM_THREADS', '2')
    env['PYTHONWARNINGS'] = 'ignore'
    return env


def tiny_model(name, depth=18, base=8, **kw):
    "A scaled-down copy of one of MMDetection's shipped configs (3 classes, 16-channel FPN)."
    from mtpd.configs import load_mmdet_config, scale_down
    from mtpd.heads import device_safe
    small = dict(fpn_channels=16, head_channels=16, fc_channels=32, num_classes=3)
    return device_safe(scale_down(load_mmdet_config(name).model, backbone=dict(depth=depth, base_channels=base),
                                  **{**small, **kw}))

RETINANET = 'retinanet/retinanet_r50_fpn_1x_coco.py'


def small_training_config(model, data_root, max_iters=6, with_mask=False, samples_per_gpu=4):
    "A complete MMDetection training config around `model`: shapes data, SGD, a short iteration schedule."
    from mmcv import Config
    from mtpd.data import shapes_data_config
    return Config(dict(
        model=model, data=shapes_data_config(data_root, img_size=128, samples_per_gpu=samples_per_gpu, with_mask=with_mask),
        optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
        optimizer_config=dict(grad_clip=dict(max_norm=35, norm_type=2)),
        lr_config=dict(policy='step', step=[max_iters * 2 // 3], by_epoch=False),
        runner=dict(type='IterBasedRunner', max_iters=max_iters),
        checkpoint_config=dict(interval=max(max_iters // 3, 1), by_epoch=False, max_keep_ckpts=2),
        log_config=dict(interval=1, hooks=[dict(type='TextLoggerHook', by_epoch=False)]),
        evaluation=dict(interval=max_iters, metric='bbox'), log_level='WARNING'))
