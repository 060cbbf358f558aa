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
